//! sea-orm entities of the notifier database.

/// The in-app inbox.
pub mod notification {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifications")]
    pub struct Model {
        /// Increasing: inbox order and the live stream's resume point.
        #[sea_orm(primary_key)]
        pub id: i64,
        pub org_id: String,
        pub recipient_id: String,
        pub idempotency_key: String,
        pub kind: String,
        pub title: String,
        pub body: String,
        /// JSON of `domain::notification::Subject`.
        pub subject: String,
        pub actor_id: String,
        pub read_at: Option<ChronoDateTimeUtc>,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Per-agent channel preferences (absent: push on, email off).
pub mod preference {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "preferences")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        pub email_enabled: bool,
        pub push_enabled: bool,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Browser push subscriptions; an endpoint belongs to one recipient.
pub mod push_subscription {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "push_subscriptions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub endpoint: String,
        pub org_id: String,
        pub user_id: String,
        pub p256dh: String,
        pub auth: String,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The durable delivery queue: one row per notification, channel and target.
pub mod delivery {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "deliveries")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub org_id: String,
        pub notification_id: i64,
        /// `web_push` or `email`.
        pub channel: String,
        /// The push endpoint or the email address.
        pub target: String,
        /// pending, retrying, delivered, failed, dead.
        pub status: String,
        pub attempts: i32,
        pub last_error: Option<String>,
        pub next_attempt_at: ChronoDateTimeUtc,
        /// While set and in the future, one worker owns the row.
        pub lease_until: Option<ChronoDateTimeUtc>,
        /// The fencing token of the claim holding the lease.
        pub lease_token: Option<i64>,
        pub delivered_at: Option<ChronoDateTimeUtc>,
        pub created_at: ChronoDateTimeUtc,
        /// The W3C trace context of the Notify, so each attempt joins its trace.
        pub traceparent: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Every attempt of every delivery, for ListDeliveries.
pub mod delivery_attempt {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "delivery_attempts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub delivery_id: i64,
        pub number: i32,
        pub at: ChronoDateTimeUtc,
        pub outcome: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
