//! The notifier database schema, migrated under a Postgres advisory lock.

use sea_orm_migration::prelude::*;

/// The advisory lock id for notifier migrations ("NOTIF" in ASCII).
pub const MIGRATION_LOCK_ID: i64 = 0x4e_4f_54_49_46;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_delivery_trace::Migration),
            Box::new(m0003_delivery_lease_token::Migration),
            Box::new(m0004_directory::Migration),
            Box::new(leadflow_db::directory::ScheduleMigration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "notifier_migrations".into_iden()
    }
}

mod m0001_initial {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0001_initial"
        }
    }

    fn text(name: &'static str) -> ColumnDef {
        ColumnDef::new(name).text().not_null().to_owned()
    }

    fn time(name: &'static str) -> ColumnDef {
        ColumnDef::new(name)
            .timestamp_with_time_zone()
            .not_null()
            .to_owned()
    }

    fn id() -> ColumnDef {
        ColumnDef::new("id")
            .big_integer()
            .not_null()
            .auto_increment()
            .primary_key()
            .to_owned()
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.create_table(
                Table::create()
                    .table("notifications")
                    .if_not_exists()
                    .col(id())
                    .col(text("org_id"))
                    .col(text("recipient_id"))
                    .col(text("idempotency_key"))
                    .col(text("kind"))
                    .col(text("title"))
                    .col(text("body"))
                    .col(text("subject"))
                    .col(text("actor_id"))
                    .col(ColumnDef::new("read_at").timestamp_with_time_zone().null())
                    .col(time("created_at"))
                    .to_owned(),
            )
            .await?;
            m.create_index(
                Index::create()
                    .name("notifications_key")
                    .table("notifications")
                    .col("org_id")
                    .col("idempotency_key")
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
            m.create_index(
                Index::create()
                    .name("notifications_inbox")
                    .table("notifications")
                    .col("org_id")
                    .col("recipient_id")
                    .col("id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

            m.create_table(
                Table::create()
                    .table("preferences")
                    .if_not_exists()
                    .col(text("org_id"))
                    .col(text("user_id"))
                    .col(ColumnDef::new("email_enabled").boolean().not_null())
                    .col(ColumnDef::new("push_enabled").boolean().not_null())
                    .col(time("updated_at"))
                    .primary_key(Index::create().col("org_id").col("user_id"))
                    .to_owned(),
            )
            .await?;

            m.create_table(
                Table::create()
                    .table("push_subscriptions")
                    .if_not_exists()
                    .col(ColumnDef::new("endpoint").text().not_null().primary_key())
                    .col(text("org_id"))
                    .col(text("user_id"))
                    .col(text("p256dh"))
                    .col(text("auth"))
                    .col(time("created_at"))
                    .to_owned(),
            )
            .await?;
            m.create_index(
                Index::create()
                    .name("push_subscriptions_by_user")
                    .table("push_subscriptions")
                    .col("org_id")
                    .col("user_id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

            m.create_table(
                Table::create()
                    .table("deliveries")
                    .if_not_exists()
                    .col(id())
                    .col(text("org_id"))
                    .col(ColumnDef::new("notification_id").big_integer().not_null())
                    .col(text("channel"))
                    .col(text("target"))
                    .col(text("status"))
                    .col(ColumnDef::new("attempts").integer().not_null())
                    .col(ColumnDef::new("last_error").text().null())
                    .col(time("next_attempt_at"))
                    .col(
                        ColumnDef::new("lease_until")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new("delivered_at")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(time("created_at"))
                    .to_owned(),
            )
            .await?;
            m.create_index(
                Index::create()
                    .name("deliveries_once")
                    .table("deliveries")
                    .col("notification_id")
                    .col("channel")
                    .col("target")
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
            m.create_index(
                Index::create()
                    .name("deliveries_due")
                    .table("deliveries")
                    .col("status")
                    .col("next_attempt_at")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

            m.create_table(
                Table::create()
                    .table("delivery_attempts")
                    .if_not_exists()
                    .col(id())
                    .col(ColumnDef::new("delivery_id").big_integer().not_null())
                    .col(ColumnDef::new("number").integer().not_null())
                    .col(time("at"))
                    .col(text("outcome"))
                    .to_owned(),
            )
            .await?;
            m.create_index(
                Index::create()
                    .name("delivery_attempts_by_delivery")
                    .table("delivery_attempts")
                    .col("delivery_id")
                    .col("number")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
        }
    }
}

mod m0002_delivery_trace {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0002_delivery_trace"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.alter_table(
                Table::alter()
                    .table("deliveries")
                    .add_column(ColumnDef::new("traceparent").text().null())
                    .to_owned(),
            )
            .await
        }
    }
}

/// The fencing token of a delivery lease (see `leadflow_db::queue`).
mod m0003_delivery_lease_token {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0003_delivery_lease_token"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.alter_table(
                Table::alter()
                    .table("deliveries")
                    .add_column(ColumnDef::new("lease_token").big_integer().null())
                    .to_owned(),
            )
            .await
        }
    }
}

/// The team directory the notifier keeps (see `leadflow_db::directory`).
mod m0004_directory {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0004_directory"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.create_table(leadflow_db::directory::create_table()).await
        }
    }
}
