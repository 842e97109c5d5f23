//! sea-orm entities of the leads database. Enum-like columns hold the stable
//! names from [`crate::domain::lead`]; timestamps are UTC.

/// The team directory: one row per (organisation, user).
pub mod member {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "members")]
    pub struct Model {
        /// The member's organisation: every directory lookup is scoped by it.
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: String,
        /// The member's user id, the one their token carries and leads name as owner.
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        /// How the UI and the notifier (as the recipient's name) refer to the member.
        pub display_name: String,
        /// Where the notifier emails the member; empty when there is no address.
        pub email: String,
        /// The `Role` stored name: decides who may own leads, and goes out in directory facts.
        pub role: String,
        /// False once deactivated: they may not own leads and every service refuses them.
        pub active: bool,
        /// False while away: routing skips them (SetAvailability flips it).
        pub available: bool,
        /// When the member was first upserted.
        pub created_at: ChronoDateTimeUtc,
        /// When the member last changed; their audit row's `at` is the same time.
        pub updated_at: ChronoDateTimeUtc,
        /// JSON of their `leadflow_schedule::Schedule`; `None` until SetSchedule (any time).
        pub schedule: Option<String>,
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
        /// The audit row's key; a member's row count (not this id) is their directory version.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The organisation of the changed member.
        pub org_id: String,
        /// The member who changed: counting their rows gives their directory-fact version.
        pub user_id: String,
        /// Who made the change (the caller's user id), for the audit trail.
        pub actor_id: String,
        /// JSON of the member before the change (absent for a new member).
        pub before: Option<String>,
        /// JSON of the member after the change (name, email, role, active, available).
        pub after: String,
        /// When the change was made: the member's new `updated_at`.
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
        /// The lead's UUIDv7 (`new_lead_id`): the tie-break after `created_at_us` when paging.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The lead's organisation: every query filters by it first.
        pub org_id: String,
        /// Who the lead is, as reps and notifications name it; the text query searches it.
        pub name: String,
        /// Contact email (may be empty); the text query searches it.
        pub email: String,
        /// Contact phone (may be empty), for the rep to call.
        pub phone: String,
        /// The lead's company (may be empty); the text query searches it.
        pub company: String,
        /// The `LeadSource` stored name: routing rules and the `sources` filter match on it.
        pub source: String,
        /// JSON array of strings, for display; `lead_tags` is what filters use.
        pub tags: String,
        /// The `LeadStatus` stored name; closed ones no longer count toward the owner's workload.
        pub status: String,
        /// The rep who owns it; NULL in the unassigned pool (a claim only takes a NULL one).
        pub owner_id: Option<String>,
        /// When it got its current owner; NULL while unassigned.
        pub assigned_at: Option<ChronoDateTimeUtc>,
        /// Who gave it its current owner (a user id, or routing's actor); NULL while unassigned.
        pub assigned_by: Option<String>,
        /// The `AssignmentMethod` stored name of how it got its owner; NULL while unassigned.
        pub assignment_method: Option<String>,
        /// The lead's change counter, bumped in the same UPDATE as every change
        /// of owner or status. Routing ignores ownership news older than it has.
        pub version: i64,
        /// Who created it (a user or an integration), as the API reports it.
        pub created_by: String,
        /// Microseconds since the epoch: the immutable paging key.
        pub created_at_us: i64,
        /// When it was created, as the API reports it (`created_at_us` is what pages).
        pub created_at: ChronoDateTimeUtc,
        /// When it last changed: every guarded UPDATE of the lead sets it.
        pub updated_at: ChronoDateTimeUtc,
        /// Set while routing holds the lead (everyone capped or off shift);
        /// any change of owner or status clears it. Absent in idempotency
        /// records written before holds existed.
        #[serde(default)]
        pub held_at: Option<ChronoDateTimeUtc>,
        /// While a routing SLA runs: its deadline (the SLA timer's due time).
        /// Every change of owner or status clears it.
        #[serde(default)]
        pub accept_by: Option<ChronoDateTimeUtc>,
        /// When the current owner accepted the lead; a new owner clears it.
        #[serde(default)]
        pub accepted_at: Option<ChronoDateTimeUtc>,
        /// The email as sticky ownership matches it (`domain::contact`):
        /// trimmed, lower case; NULL when empty. Indexed per organisation.
        #[serde(default)]
        pub email_key: Option<String>,
        /// The email's company domain; NULL when none or a free-mail one.
        /// Indexed per organisation.
        #[serde(default)]
        pub email_domain: Option<String>,
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
        /// The tagged lead: tag filters probe (lead_id, tag), the primary key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub lead_id: String,
        /// One of the lead's tags, exactly as a tag filter matches it.
        #[sea_orm(primary_key, auto_increment = false)]
        pub tag: String,
        /// The lead's organisation, copied so `lead_tags_by_org_tag` indexes tags per org.
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
        /// Auto-increment: a lead's history is read back in this order.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The lead's organisation: history reads are scoped by it.
        pub org_id: String,
        /// The lead it happened to (indexed with `id` for GetLeadHistory).
        pub lead_id: String,
        /// The `EventKind` stored name: what happened (created, routed, claimed, ...).
        pub kind: String,
        /// Who did it: a user id, or `ROUTING_ACTOR` when routing assigned the lead.
        pub actor_id: String,
        /// The `AssignmentMethod` stored name when the owner changed; NULL otherwise.
        pub method: Option<String>,
        /// The owner before (NULL: there was none, or the owner did not change).
        pub from_owner_id: Option<String>,
        /// The owner after (NULL: there is none, or the owner did not change).
        pub to_owner_id: Option<String>,
        /// The `LeadStatus` stored name before a status change.
        pub from_status: Option<String>,
        /// The `LeadStatus` stored name after creation or a status change.
        pub to_status: Option<String>,
        /// The AssignLeads batch the entry belongs to, so one bulk action reads as one.
        pub batch_id: Option<String>,
        /// Routing's explanation of its pick, when routing was asked.
        pub explanation: Option<String>,
        /// When the change was written.
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
        /// Keys are scoped per organisation: two orgs may use the same key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub org_id: String,
        /// The caller's CreateLead `idempotency_key`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        /// Fingerprint of the request body that first used the key.
        pub request_hash: String,
        /// The lead the key created: what a replay reads when `response` is absent.
        pub lead_id: String,
        /// When the key was first used: the pruner forgets keys by it (kept at least 24 h).
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
        /// The organisation the event belongs to: delivered as it, dead letters listed per org.
        pub org_id: String,
        /// ownership, notify, route or directory.
        pub kind: String,
        /// JSON of `domain::events::OutboxEvent`.
        pub payload: String,
        /// pending, delivered or dead.
        pub status: String,
        /// Attempts so far, counted when a dispatcher claims the row; `MAX_ATTEMPTS` makes it dead.
        pub attempts: i32,
        /// Why the latest attempt failed, for operators reading dead letters.
        pub last_error: Option<String>,
        /// Not claimed before this time: the retry backoff (`outbox_due` indexes it with status).
        pub next_attempt_at: ChronoDateTimeUtc,
        /// While in the future, one dispatcher owns the row.
        pub lease_until: Option<ChronoDateTimeUtc>,
        /// The fencing token of the claim holding the lease.
        pub lease_token: Option<i64>,
        /// When the change was written: the backlog gauge reports the oldest pending one's age.
        pub created_at: ChronoDateTimeUtc,
        /// When it was delivered: the pruner forgets delivered events older than the retention.
        pub delivered_at: Option<ChronoDateTimeUtc>,
        /// The W3C trace context of the change, so the delivery continues its trace.
        pub traceparent: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The durable timers: a leased queue of moments at which something must
/// happen to a lead: a held lead is asked about again (`held_retry`), or a
/// routed lead's SLA runs out (`sla`).
pub mod due_timer {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "due_timers")]
    pub struct Model {
        /// The row the worker's lease and fencing token name.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The lead's organisation: the wake after freed capacity is per org.
        pub org_id: String,
        /// The lead the timer is for (one timer per lead and kind).
        pub lead_id: String,
        /// What is due: `held_retry` or `sla`.
        pub kind: String,
        /// Routing's pool (the rule's name, or `default`): only each pool's
        /// oldest held lead asks routing again (every 500 ms); the rest wait
        /// their turn.
        pub pool: String,
        /// When the lead was held: held leads go out oldest first.
        pub queued_at: ChronoDateTimeUtc,
        /// pending or dead.
        pub status: String,
        /// Failed attempts in a row (a HELD answer is not a failure and resets it).
        pub attempts: i32,
        /// Why the latest attempt failed, for operators.
        pub last_error: Option<String>,
        /// When the timer is due.
        pub next_attempt_at: ChronoDateTimeUtc,
        /// While in the future, one worker owns the row.
        pub lease_until: Option<ChronoDateTimeUtc>,
        /// The fencing token of the claim holding the lease.
        pub lease_token: Option<i64>,
        /// An SLA timer's chain (`domain::sla::SlaChain` as JSON): who holds
        /// the lead, who held it before, which hop. NULL for held retries.
        pub detail: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
