//! The leads database schema, as sea-orm migrations.
//!
//! Migrations run at start-up (unless turned off) and through the `migrate`
//! subcommand. On Postgres they run under a transaction-scoped advisory lock,
//! so two pods starting together never migrate at once: the second waits, then
//! finds nothing left to do.

use sea_orm_migration::prelude::*;

/// Arbitrary but fixed: the advisory lock id for leads migrations ("LEADS" in ASCII).
pub const MIGRATION_LOCK_ID: i64 = 0x4c_45_41_44_53;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_outbox::Migration),
            Box::new(m0003_outbox_trace::Migration),
            Box::new(m0004_instance::Migration),
            Box::new(m0005_outbox_lease_token::Migration),
            Box::new(m0006_idempotency_response::Migration),
            Box::new(m0007_member_schedule::Migration),
            Box::new(m0008_due_timers::Migration),
            Box::new(m0009_sla::Migration),
            Box::new(m0010_contact_index::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        // Its own name, so the three services can share one database in a pinch.
        "leads_migrations".into_iden()
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

    fn text_null(name: &'static str) -> ColumnDef {
        ColumnDef::new(name).text().null().to_owned()
    }

    fn time(name: &'static str) -> ColumnDef {
        ColumnDef::new(name)
            .timestamp_with_time_zone()
            .not_null()
            .to_owned()
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.create_table(
                Table::create()
                    .table("members")
                    .if_not_exists()
                    .col(text("org_id"))
                    .col(text("user_id"))
                    .col(text("display_name"))
                    .col(text("email"))
                    .col(text("role"))
                    .col(ColumnDef::new("active").boolean().not_null())
                    .col(ColumnDef::new("available").boolean().not_null())
                    .col(time("created_at"))
                    .col(time("updated_at"))
                    .primary_key(Index::create().col("org_id").col("user_id"))
                    .to_owned(),
            )
            .await?;

            m.create_table(
                Table::create()
                    .table("member_changes")
                    .if_not_exists()
                    .col(
                        ColumnDef::new("id")
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(text("org_id"))
                    .col(text("user_id"))
                    .col(text("actor_id"))
                    .col(text_null("before"))
                    .col(text("after"))
                    .col(time("at"))
                    .to_owned(),
            )
            .await?;
            m.create_index(
                Index::create()
                    .name("member_changes_by_member")
                    .table("member_changes")
                    .col("org_id")
                    .col("user_id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

            m.create_table(
                Table::create()
                    .table("leads")
                    .if_not_exists()
                    .col(ColumnDef::new("id").text().not_null().primary_key())
                    .col(text("org_id"))
                    .col(text("name"))
                    .col(text("email"))
                    .col(text("phone"))
                    .col(text("company"))
                    .col(text("source"))
                    .col(text("tags"))
                    .col(text("status"))
                    .col(text_null("owner_id"))
                    .col(
                        ColumnDef::new("assigned_at")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(text_null("assigned_by"))
                    .col(text_null("assignment_method"))
                    .col(ColumnDef::new("version").big_integer().not_null())
                    .col(text("created_by"))
                    .col(ColumnDef::new("created_at_us").big_integer().not_null())
                    .col(time("created_at"))
                    .col(time("updated_at"))
                    .to_owned(),
            )
            .await?;
            // Paging (and every list) walks this index in either direction.
            m.create_index(
                Index::create()
                    .name("leads_by_org_created")
                    .table("leads")
                    .col("org_id")
                    .col("created_at_us")
                    .col("id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
            m.create_index(
                Index::create()
                    .name("leads_by_org_owner")
                    .table("leads")
                    .col("org_id")
                    .col("owner_id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

            m.create_table(
                Table::create()
                    .table("lead_tags")
                    .if_not_exists()
                    .col(text("lead_id"))
                    .col(text("tag"))
                    .col(text("org_id"))
                    .primary_key(Index::create().col("lead_id").col("tag"))
                    .to_owned(),
            )
            .await?;
            m.create_index(
                Index::create()
                    .name("lead_tags_by_org_tag")
                    .table("lead_tags")
                    .col("org_id")
                    .col("tag")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

            m.create_table(
                Table::create()
                    .table("lead_events")
                    .if_not_exists()
                    .col(
                        ColumnDef::new("id")
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(text("org_id"))
                    .col(text("lead_id"))
                    .col(text("kind"))
                    .col(text("actor_id"))
                    .col(text_null("method"))
                    .col(text_null("from_owner_id"))
                    .col(text_null("to_owner_id"))
                    .col(text_null("from_status"))
                    .col(text_null("to_status"))
                    .col(text_null("batch_id"))
                    .col(text_null("explanation"))
                    .col(time("at"))
                    .to_owned(),
            )
            .await?;
            m.create_index(
                Index::create()
                    .name("lead_events_by_lead")
                    .table("lead_events")
                    .col("lead_id")
                    .col("id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

            m.create_table(
                Table::create()
                    .table("idempotency_keys")
                    .if_not_exists()
                    .col(text("org_id"))
                    .col(text("key"))
                    .col(text("request_hash"))
                    .col(text("lead_id"))
                    .col(time("created_at"))
                    .primary_key(Index::create().col("org_id").col("key"))
                    .to_owned(),
            )
            .await?;
            m.create_index(
                Index::create()
                    .name("idempotency_keys_by_age")
                    .table("idempotency_keys")
                    .col("created_at")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
            Ok(())
        }
    }
}

mod m0002_outbox {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0002_outbox"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.create_table(
                Table::create()
                    .table("outbox")
                    .if_not_exists()
                    .col(
                        ColumnDef::new("id")
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("org_id").text().not_null())
                    .col(ColumnDef::new("kind").text().not_null())
                    .col(ColumnDef::new("payload").text().not_null())
                    .col(ColumnDef::new("status").text().not_null())
                    .col(ColumnDef::new("attempts").integer().not_null())
                    .col(ColumnDef::new("last_error").text().null())
                    .col(
                        ColumnDef::new("next_attempt_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new("lease_until")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new("created_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new("delivered_at")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
            m.create_index(
                Index::create()
                    .name("outbox_due")
                    .table("outbox")
                    .col("status")
                    .col("next_attempt_at")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
        }
    }
}

mod m0003_outbox_trace {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0003_outbox_trace"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.alter_table(
                Table::alter()
                    .table("outbox")
                    .add_column(ColumnDef::new("traceparent").text().null())
                    .to_owned(),
            )
            .await
        }
    }
}

/// This database's own identity: a random id made once, when the database
/// is created. Notify keys carry it, so a re-created database (whose outbox
/// ids start again at 1) never reuses a key the notifier already knows.
mod m0004_instance {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0004_instance"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.create_table(
                Table::create()
                    .table("leads_instance")
                    .if_not_exists()
                    .col(ColumnDef::new("id").text().not_null().primary_key())
                    .to_owned(),
            )
            .await?;
            let insert = Query::insert()
                .into_table("leads_instance")
                .columns(["id"])
                .values_panic([uuid::Uuid::new_v4().simple().to_string().into()])
                .to_owned();
            m.exec_stmt(insert).await
        }
    }
}

/// The fencing token of an outbox lease (see `leadflow_db::queue`).
mod m0005_outbox_lease_token {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0005_outbox_lease_token"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.alter_table(
                Table::alter()
                    .table("outbox")
                    .add_column(ColumnDef::new("lease_token").big_integer().null())
                    .to_owned(),
            )
            .await
        }
    }
}

/// The response an idempotency key replays.
mod m0006_idempotency_response {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0006_idempotency_response"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.alter_table(
                Table::alter()
                    .table("idempotency_keys")
                    .add_column(ColumnDef::new("response").text().null())
                    .to_owned(),
            )
            .await
        }
    }
}

/// Each member's working hours and time off (JSON of `leadflow_schedule::Schedule`).
mod m0007_member_schedule {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0007_member_schedule"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.alter_table(
                Table::alter()
                    .table("members")
                    .add_column(ColumnDef::new("schedule").text().null())
                    .to_owned(),
            )
            .await
        }
    }
}

/// Held leads (routing answered HELD) and the one durable timer table that
/// retries them, shared with the SLA deadlines: `leads.held_at` marks a lead
/// held (the `held` owner filter reads it), and `due_timers` is a leased
/// queue (see `leadflow_db::queue`) whose `next_attempt_at` is the moment the
/// timer is due.
mod m0008_due_timers {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0008_due_timers"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            m.alter_table(
                Table::alter()
                    .table("leads")
                    .add_column(ColumnDef::new("held_at").timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
            let time = |name: &'static str| {
                ColumnDef::new(name)
                    .timestamp_with_time_zone()
                    .not_null()
                    .to_owned()
            };
            m.create_table(
                Table::create()
                    .table("due_timers")
                    .if_not_exists()
                    .col(
                        ColumnDef::new("id")
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("org_id").text().not_null())
                    .col(ColumnDef::new("lead_id").text().not_null())
                    .col(ColumnDef::new("kind").text().not_null())
                    .col(ColumnDef::new("pool").text().not_null())
                    .col(time("queued_at"))
                    .col(ColumnDef::new("status").text().not_null())
                    .col(ColumnDef::new("attempts").integer().not_null())
                    .col(ColumnDef::new("last_error").text().null())
                    .col(time("next_attempt_at"))
                    .col(
                        ColumnDef::new("lease_until")
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new("lease_token").big_integer().null())
                    .to_owned(),
            )
            .await?;
            m.create_index(
                Index::create()
                    .name("due_timers_due")
                    .table("due_timers")
                    .col("status")
                    .col("next_attempt_at")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
            m.create_index(
                Index::create()
                    .name("due_timers_lead")
                    .table("due_timers")
                    .col("org_id")
                    .col("lead_id")
                    .col("kind")
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
            // Reconcile reads the last two days' routed leads per org.
            m.create_index(
                Index::create()
                    .name("lead_events_kind_at")
                    .table("lead_events")
                    .col("org_id")
                    .col("kind")
                    .col("at")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
            m.create_index(
                Index::create()
                    .name("due_timers_pool")
                    .table("due_timers")
                    .col("org_id")
                    .col("kind")
                    .col("pool")
                    .col("queued_at")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
        }
    }
}

/// Routing SLAs: `leads.accept_by` (the running deadline, for the API and
/// for operators), `leads.accepted_at` (AcceptLead), and `due_timers.detail`
/// (an SLA timer's chain). The timers themselves are `due_timers` rows of
/// kind `sla`, due at the deadline.
mod m0009_sla {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0009_sla"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            // SQLite adds one column per ALTER TABLE.
            for column in ["accept_by", "accepted_at"] {
                m.alter_table(
                    Table::alter()
                        .table("leads")
                        .add_column(ColumnDef::new(column).timestamp_with_time_zone().null())
                        .to_owned(),
                )
                .await?;
            }
            m.alter_table(
                Table::alter()
                    .table("due_timers")
                    .add_column(ColumnDef::new("detail").text().null())
                    .to_owned(),
            )
            .await
        }
    }
}

/// Sticky ownership's index: each lead's email as matched and its company
/// domain (`domain::contact`), with an index per organisation on each, newest
/// first, so CreateLead finds a returning contact's newest open lead in one
/// index range. Existing leads are filled in here, in batches.
mod m0010_contact_index {
    use sea_orm::{ConnectionTrait, Statement, Value};
    use sea_orm_migration::prelude::*;

    use crate::domain::contact::{company_domain, match_email};

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0010_contact_index"
        }
    }

    /// Leads filled in per statement batch.
    const BATCH: u64 = 1_000;

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
            for column in ["email_key", "email_domain"] {
                m.alter_table(
                    Table::alter()
                        .table("leads")
                        .add_column(ColumnDef::new(column).text().null())
                        .to_owned(),
                )
                .await?;
                m.create_index(
                    Index::create()
                        .name(format!("leads_{column}"))
                        .table("leads")
                        .col("org_id")
                        .col(column)
                        .col("created_at_us")
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
            }
            let db = m.get_connection();
            let backend = db.get_database_backend();
            let mut after = String::new();
            loop {
                let rows = db
                    .query_all_raw(Statement::from_sql_and_values(
                        backend,
                        match backend {
                            sea_orm::DbBackend::Postgres => {
                                "SELECT id, email FROM leads WHERE id > $1 ORDER BY id LIMIT $2"
                            }
                            _ => "SELECT id, email FROM leads WHERE id > ? ORDER BY id LIMIT ?",
                        },
                        [Value::from(after.clone()), Value::from(BATCH as i64)],
                    ))
                    .await?;
                let Some(last) = rows.last() else {
                    return Ok(());
                };
                after = last.try_get::<String>("", "id")?;
                for row in &rows {
                    let (id, email): (String, String) =
                        (row.try_get("", "id")?, row.try_get("", "email")?);
                    let (key, domain) = (match_email(&email), company_domain(&email));
                    if key.is_none() {
                        continue;
                    }
                    db.execute_raw(Statement::from_sql_and_values(
                        backend,
                        match backend {
                            sea_orm::DbBackend::Postgres => {
                                "UPDATE leads SET email_key = $1, email_domain = $2 WHERE id = $3"
                            }
                            _ => "UPDATE leads SET email_key = ?, email_domain = ? WHERE id = ?",
                        },
                        [Value::from(key), Value::from(domain), Value::from(id)],
                    ))
                    .await?;
                }
            }
        }
    }
}
