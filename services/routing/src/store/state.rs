//! The routing state: round-robin cursors, remembered decisions and the
//! per-rep open-lead counts, behind one small interface with two
//! implementations: Redis (any number of replicas, Redis Cluster included)
//! and memory (`make run` without Redis, one replica only).
//!
//! Every change is atomic: a Lua script in Redis, a mutex in memory. Both
//! pick by the rules of [`crate::domain::decision`] (memory by calling
//! [`crate::domain::decision::choose`], Redis in `scripts/pick.lua`), and one
//! conformance suite runs against both.

use std::collections::HashMap;

pub use crate::domain::decision::Snapshot;
use crate::domain::decision::{Cap, CapHit, PoolPlan};
use crate::domain::settings::Strategy;

/// A fact from the leads database: who owns a lead, whether it is open, and
/// the lead's own change counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    /// The lead the fact is about.
    pub lead_id: String,
    /// `None`: unassigned.
    pub owner_id: Option<String>,
    /// Only open leads count towards their owner's workload.
    pub open: bool,
    /// The lead's change counter: an older fact never overwrites a newer one.
    pub version: i64,
}

/// The state store's generation: it changes when the state was lost (e.g.
/// Redis restarted without persistence), so callers know to reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// The generation marker, new whenever the state was found empty.
    pub id: String,
    /// The state was found empty and a new generation started just now.
    pub reset: bool,
}

/// The result of a pick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picked {
    /// Who gets the lead.
    pub assignee: String,
    /// A retry: the decision made earlier for this lead, nothing moved.
    pub replayed: bool,
    /// The state's generation, so the caller knows when to reconcile.
    pub generation: Generation,
    /// Nothing was picked: newer settings were published than the ones the
    /// pick was planned with. The caller reloads them and plans again, so a
    /// settings change takes effect at the next lead on every replica.
    pub newer_settings: bool,
    /// The reps passed over because they were at a cap, and which cap.
    pub capped: Vec<(String, CapHit)>,
    /// Nothing was picked: every eligible rep was at a cap (the lead is held).
    pub all_capped: bool,
}

/// One pick to make: a lead's question to a non-empty pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick<'a> {
    /// The lead the decision is remembered for.
    pub lead_id: &'a str,
    /// Which question about the lead this is (1 and up); each is remembered apart.
    pub attempt: u32,
    /// The pool's cursor key ([`crate::domain::decision::Pool::key`]).
    pub pool: &'a str,
    /// How the pool's rep is chosen.
    pub strategy: Strategy,
    /// The pool's eligible user ids, ascending and never empty.
    eligible: &'a [String],
    /// Their weights, in `eligible`'s order (`None`: unweighted pool).
    weights: Option<&'a [u32]>,
    /// The settings version the pool was planned with (0: not fenced).
    settings_version: i64,
    /// Each eligible rep's caps, in `eligible`'s order (`None`: nobody capped).
    caps: Option<&'a [Cap]>,
}

impl<'a> Pick<'a> {
    /// A pick from `eligible`; an empty pool is refused (a caller's bug).
    pub fn new(
        lead_id: &'a str,
        attempt: u32,
        pool: &'a str,
        strategy: Strategy,
        eligible: &'a [String],
    ) -> Result<Self, StateError> {
        if eligible.is_empty() {
            return Err(StateError("empty pool".into()));
        }
        Ok(Pick {
            lead_id,
            attempt,
            pool,
            strategy,
            eligible,
            weights: None,
            settings_version: 0,
            caps: None,
        })
    }

    /// The same pick with caps (one per eligible rep), checked atomically
    /// with the pick.
    pub fn capped(self, caps: Option<&'a [Cap]>) -> Result<Self, StateError> {
        if caps.is_some_and(|c| c.len() != self.eligible.len()) {
            return Err(StateError("caps do not match the pool".into()));
        }
        Ok(Pick { caps, ..self })
    }

    /// The eligible reps' caps, if anyone is capped.
    pub fn caps(&self) -> Option<&'a [Cap]> {
        self.caps
    }

    /// The same pick, planned with settings `version`: refused with
    /// [`Picked::newer_settings`] once a newer version was published.
    pub fn planned_with(self, version: i64) -> Self {
        Pick {
            settings_version: version,
            ..self
        }
    }

    /// The settings version the pool was planned with.
    pub fn settings_version(&self) -> i64 {
        self.settings_version
    }

    /// The same pick with `weights` (one per eligible rep, each at least 1).
    pub fn weighted(self, weights: Option<&'a [u32]>) -> Result<Self, StateError> {
        if weights.is_some_and(|w| w.len() != self.eligible.len() || w.contains(&0)) {
            return Err(StateError("weights do not match the pool".into()));
        }
        Ok(Pick { weights, ..self })
    }

    /// The pick a plan's pool asks for; `pool_key` is `plan.pool.key()`.
    pub fn of(
        lead_id: &'a str,
        attempt: u32,
        pool_key: &'a str,
        plan: &'a PoolPlan,
    ) -> Result<Self, StateError> {
        Pick::new(lead_id, attempt, pool_key, plan.strategy, &plan.eligible)?
            .weighted(plan.weights.as_deref())?
            .capped(plan.caps.as_deref())
    }

    /// The eligible user ids, ascending and non-empty.
    pub fn eligible(&self) -> &'a [String] {
        self.eligible
    }

    /// The eligible reps' weights, if the pool has any.
    pub fn weights(&self) -> Option<&'a [u32]> {
        self.weights
    }
}

/// The state store was unreachable or failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StateError(
    /// What failed, for the log (the caller sees UNAVAILABLE only).
    pub String,
);

impl From<StateError> for crate::error::RoutingError {
    fn from(e: StateError) -> Self {
        crate::error::RoutingError::StateUnavailable(e.0)
    }
}

/// Routing's state, per organisation.
#[tonic::async_trait]
pub trait RoutingState: Send + Sync + 'static {
    /// Picks the assignee for `lead_id` from `eligible` (ascending, non-empty)
    /// with `strategy`, moves the pool's cursor, counts the lead for the
    /// assignee at once, and remembers the decision per lead and `attempt`: a
    /// retry returns it without moving anything, while the remembered
    /// assignee is still in `eligible`. One who is not any more (deactivated,
    /// away, no longer sales-capable) is replaced: the lead is decided again
    /// and the earlier provisional count released.
    async fn pick(
        &self,
        org_id: &str,
        lead_id: &str,
        attempt: u32,
        pool: &str,
        strategy: Strategy,
        eligible: &[String],
    ) -> Result<Picked, StateError> {
        let pick = Pick::new(lead_id, attempt, pool, strategy, eligible)?;
        self.pick_with(org_id, &pick).await
    }

    /// [`RoutingState::pick`], with its question in one value.
    async fn pick_with(&self, org_id: &str, pick: &Pick<'_>) -> Result<Picked, StateError>;

    /// Applies ownership facts; a fact older than the one applied is ignored.
    async fn apply(&self, org_id: &str, changes: &[Ownership]) -> Result<Generation, StateError>;

    /// Starts an authoritative reconcile: returns its epoch. Every entry
    /// written from now on (a pick, an ownership change, a confirmation) is
    /// marked with it.
    async fn begin_reconcile(&self, org_id: &str) -> Result<i64, StateError>;

    /// Merges the leads database's truth in by version (the same version
    /// also corrects) and marks each entry named as confirmed. Returns how
    /// many entries were corrected.
    async fn reconcile(&self, org_id: &str, truth: &[Ownership]) -> Result<u64, StateError>;

    /// Drops the entries of closed leads routing need not remember (Redis
    /// runs with noeviction), unless an entry is newer than its fact.
    /// Returns how many counted entries were dropped.
    async fn forget(&self, org_id: &str, closed: &[Ownership]) -> Result<u64, StateError>;

    /// Ends the reconcile `epoch`: every entry neither confirmed nor written
    /// since it began is removed (a pick for a lead that was never stored).
    /// Returns how many were removed.
    async fn sweep(&self, org_id: &str, epoch: i64) -> Result<u64, StateError>;

    /// Open leads per rep (reps with none may be absent).
    async fn workload(&self, org_id: &str) -> Result<HashMap<String, i64>, StateError>;

    /// The cursors and counts now, for a dry run that must not change them.
    async fn snapshot(&self, org_id: &str) -> Result<Snapshot, StateError>;

    /// Publishes that settings `version` is saved (the highest one wins):
    /// from now on a pick planned with an older version is refused with
    /// [`Picked::newer_settings`].
    async fn publish_settings(&self, org_id: &str, version: i64) -> Result<(), StateError>;

    /// Raises per-day counters ([`crate::domain::decision::Cap::daily_key`]
    /// → count) to at least the given counts, never lowering one: reconcile
    /// restores them from the leads database after a state loss, and a pick
    /// counted meanwhile is not undone. Counters of days before `keep_from`
    /// (`YYYY-MM-DD`) are dropped first, so the counters stay a few days'
    /// worth. Returns how many were raised.
    async fn restore_daily(
        &self,
        org_id: &str,
        counts: &[(String, i64)],
        keep_from: &str,
    ) -> Result<u64, StateError>;

    /// How many leads routing keeps an entry for (tests, and the bound on
    /// what Redis holds).
    async fn entries(&self, org_id: &str) -> Result<u64, StateError>;
}

/// Whether a daily counter's key ([`crate::domain::decision::Cap::daily_key`]:
/// `user \n YYYY-MM-DD`) is of a day before `day` (dates compare as text).
pub fn daily_key_before(key: &str, day: &str) -> bool {
    key.rsplit_once('\n').is_some_and(|(_, d)| d < day)
}

/// A new generation id.
pub fn new_generation() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
