//! The routing database schema. Like every leadflow service, migrations run
//! under a Postgres advisory lock so that pods starting together are safe.

use sea_orm_migration::prelude::*;

/// The advisory lock id for routing migrations ("ROUTE" in ASCII).
pub const MIGRATION_LOCK_ID: i64 = 0x52_4f_55_54_45;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_directory::Migration),
            Box::new(leadflow_db::directory::ScheduleMigration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "routing_migrations".into_iden()
    }
}

mod m0001_initial {
    //! The settings table and the audit log.

    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0001_initial"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.create_table(
                Table::create()
                    .table("routing_settings")
                    .if_not_exists()
                    .col(ColumnDef::new("org_id").text().not_null().primary_key())
                    .col(ColumnDef::new("settings").text().not_null())
                    .col(ColumnDef::new("version").big_integer().not_null())
                    .col(ColumnDef::new("updated_by").text().not_null())
                    .col(
                        ColumnDef::new("updated_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
            m.create_table(
                Table::create()
                    .table("routing_audit")
                    .if_not_exists()
                    .col(
                        ColumnDef::new("id")
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("org_id").text().not_null())
                    .col(ColumnDef::new("actor_id").text().not_null())
                    .col(ColumnDef::new("at").timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new("before").text().null())
                    .col(ColumnDef::new("after").text().not_null())
                    .col(ColumnDef::new("version").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
            m.create_index(
                Index::create()
                    .name("routing_audit_by_org")
                    .table("routing_audit")
                    .col("org_id")
                    .col("id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
        }
    }
}

mod m0002_directory {
    //! The team directory routing keeps (see `leadflow_db::directory`).

    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0002_directory"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.create_table(leadflow_db::directory::create_table()).await
        }
    }
}
