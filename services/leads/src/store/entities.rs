//! sea-orm entities of the leads database. Enum-like columns hold the stable
//! names from [`crate::domain::lead`]; timestamps are UTC.

/// The team directory: one row per (organisation, user).
pub mod member {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        pub display_name: String,
        pub email: String,
        pub role: String,
        pub active: bool,
        pub available: bool,
        pub created_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Who changed which member, from what to what.
pub mod member_change {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "member_changes")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub org_id: String,
        pub user_id: String,
        pub actor_id: String,
        /// JSON of the member before the change (absent for a new member).
        pub before: Option<String>,
        pub after: String,
        pub at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Leads.
pub mod lead {
    use sea_orm::entity::prelude::*;

    /// Serialisable: an idempotency key keeps the lead as it was created.
    #[derive(
        Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize,
    )]
    #[sea_orm(table_name = "leads")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub org_id: String,
        pub name: String,
        pub email: String,
        pub phone: String,
        pub company: String,
        pub source: String,
        /// JSON array of strings, for display; `lead_tags` is what filters use.
        pub tags: String,
        pub status: String,
        pub owner_id: Option<String>,
        pub assigned_at: Option<ChronoDateTimeUtc>,
        pub assigned_by: Option<String>,
        pub assignment_method: Option<String>,
        /// The lead's change counter, bumped in the same UPDATE as every change
        /// of owner or status. Routing ignores ownership news older than it has.
        pub version: i64,
        pub created_by: String,
        /// Microseconds since the epoch: the immutable paging key.
        pub created_at_us: i64,
        pub created_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One row per (lead, tag), so tag filters are an indexed lookup on both
/// Postgres and SQLite.
pub mod lead_tag {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "lead_tags")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub lead_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub tag: String,
        pub org_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The lead's history: every change, who made it and how.
pub mod lead_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "lead_events")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub org_id: String,
        pub lead_id: String,
        pub kind: String,
        pub actor_id: String,
        pub method: Option<String>,
        pub from_owner_id: Option<String>,
        pub to_owner_id: Option<String>,
        pub from_status: Option<String>,
        pub to_status: Option<String>,
        pub batch_id: Option<String>,
        pub explanation: Option<String>,
        pub at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// CreateLead idempotency keys, per organisation, kept at least 24 hours.
pub mod idempotency_key {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        /// Fingerprint of the request body that first used the key.
        pub request_hash: String,
        pub lead_id: String,
        pub created_at: ChronoDateTimeUtc,
        /// The lead as CreateLead answered it the first time (JSON): a replay
        /// answers the same, never the lead's current state (a rep who lost
        /// the lead since must not read its new owner). Absent for keys
        /// stored before it was kept.
        pub response: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The transactional outbox: events written with the change they report.
pub mod outbox {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        /// The event id receivers deduplicate on.
        #[sea_orm(primary_key)]
        pub id: i64,
        pub org_id: String,
        /// ownership, notify or route.
        pub kind: String,
        /// JSON of `domain::events::OutboxEvent`.
        pub payload: String,
        /// pending, delivered or dead.
        pub status: String,
        pub attempts: i32,
        pub last_error: Option<String>,
        pub next_attempt_at: ChronoDateTimeUtc,
        /// While in the future, one dispatcher owns the row.
        pub lease_until: Option<ChronoDateTimeUtc>,
        /// The fencing token of the claim holding the lease.
        pub lease_token: Option<i64>,
        pub created_at: ChronoDateTimeUtc,
        pub delivered_at: Option<ChronoDateTimeUtc>,
        /// The W3C trace context of the change, so the delivery continues its trace.
        pub traceparent: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
