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
        /// The tenant; every query filters on it.
        pub org_id: String,
        /// Whose inbox the notification is in.
        pub recipient_id: String,
        /// Unique per organisation, so a retried Notify finds its row.
        pub idempotency_key: String,
        /// `domain::notification::Kind`, as stored.
        pub kind: String,
        /// The one line the bell shows.
        pub title: String,
        /// The text below the title.
        pub body: String,
        /// JSON of `domain::notification::Subject`.
        pub subject: String,
        /// Who caused it; empty when nobody did.
        pub actor_id: String,
        /// Null while unread: what the unread count counts.
        pub read_at: Option<ChronoDateTimeUtc>,
        /// When it was stored.
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
        /// The agent's organisation (half of the key).
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: String,
        /// The agent (the other half).
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        /// Whether the agent opted in to email.
        pub email_enabled: bool,
        /// Whether the agent's browsers are pushed to.
        pub push_enabled: bool,
        /// When the agent last changed them.
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
        /// The push service URL: unique, a capability only the browser knows.
        #[sea_orm(primary_key, auto_increment = false)]
        pub endpoint: String,
        /// The organisation it is registered in; it never moves to another.
        pub org_id: String,
        /// The recipient whose browser it is.
        pub user_id: String,
        /// The browser's public key, base64url.
        pub p256dh: String,
        /// The browser's auth secret, base64url.
        pub auth: String,
        /// When it was registered (or moved to this recipient).
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
        /// Claim order among deliveries due at the same time.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The tenant of the notification.
        pub org_id: String,
        /// The notification sent; with channel and target, unique.
        pub notification_id: i64,
        /// `web_push` or `email`.
        pub channel: String,
        /// The push endpoint or the email address.
        pub target: String,
        /// pending, retrying, delivered, failed, dead.
        pub status: String,
        /// Attempts taken, counted when each is claimed.
        pub attempts: i32,
        /// Why the last attempt failed, for ListDeliveries.
        pub last_error: Option<String>,
        /// When it is next due.
        pub next_attempt_at: ChronoDateTimeUtc,
        /// While set and in the future, one worker owns the row.
        pub lease_until: Option<ChronoDateTimeUtc>,
        /// The fencing token of the claim holding the lease.
        pub lease_token: Option<i64>,
        /// When it was delivered, once it was.
        pub delivered_at: Option<ChronoDateTimeUtc>,
        /// When it was queued.
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
        /// The attempt row.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The delivery attempted.
        pub delivery_id: i64,
        /// 1 for the first attempt, and so on.
        pub number: i32,
        /// When the attempt ended.
        pub at: ChronoDateTimeUtc,
        /// What it came to: `delivered`, `retry: …`, `failed: …`, `dead: …`.
        pub outcome: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
