//! The routing service's use cases, one method per RPC, free of the wire:
//! the gRPC handlers parse a request into the inputs below, call one method
//! and convert its answer. Decisions themselves come from
//! [`crate::domain::decision`]; this layer reads settings and state, hands
//! the pool to the state store and writes what changed.

use chrono::{DateTime, Utc};
use leadflow_db::OwnDatabase;
use leadflow_schedule::{SharedClock, system_clock};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leadflow_auth::Caller;
use leadflow_db::directory::{Directory, DirectoryFact};
use leadflow_server::page::{PageLimits, cut, fingerprint};

use crate::domain::decision::{self, Candidate, Decision, Lead};
use crate::domain::permissions::Permission;
use crate::domain::settings::{Settings, VersionedSettings};
use crate::error::RoutingError;
use crate::store::{AuditEntry, Generation, Ownership, Pick, RoutingState, SettingsStore};

/// ListRoutingAudit's page sizes.
pub const AUDIT_PAGES: PageLimits = PageLimits {
    default_size: 50,
    max_size: 200,
};

/// What an audit page token is bound to: the audit list of one organisation.
pub fn audit_fingerprint(org_id: &str) -> [u8; 32] {
    fingerprint("routing-audit", &org_id)
}

/// What RouteLead reads per organisation, cached this briefly per replica.
///
/// Settings: an update on this replica is seen at once; one on another
/// replica is published to the state store, which refuses a pick planned
/// with older settings, so the next lead on every replica uses the new
/// settings. Only if publishing failed (the state store was down) does a
/// replica keep older settings, for at most the TTL.
///
/// Schedules (read when working hours or caps are on): a directory change
/// applied on this replica is seen at once; one applied on another replica
/// within the TTL (a second by default). Without the cache every RouteLead
/// would be a SQL query.
#[derive(Debug)]
struct OrgCache<T> {
    /// How long an entry is reused.
    ttl: Duration,
    /// org id -> (value, when it was read).
    entries: Mutex<HashMap<String, (T, Instant)>>,
}

impl<T: Clone> OrgCache<T> {
    fn new(ttl: Duration) -> Self {
        OrgCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, org_id: &str) -> Option<T> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(org_id)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(s, _)| s.clone())
    }

    fn put(&self, org_id: &str, value: T) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert(org_id.to_owned(), (value, Instant::now()));
    }

    fn forget(&self, org_id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(org_id);
    }
}

/// An organisation's schedules by user id.
type Schedules = Arc<HashMap<String, leadflow_schedule::Schedule>>;

/// UpdateRoutingSettings: new settings on top of the version the caller read.
#[derive(Debug, Clone)]
pub struct SettingsUpdate {
    /// The validated new settings.
    pub settings: Settings,
    /// The version they replace (compare-and-set; 0 for the first save).
    pub expected_version: i64,
}

/// ListRoutingAudit: one page, newest first.
#[derive(Debug, Clone)]
pub struct AuditPage {
    /// How many entries at most.
    pub size: u64,
    /// Only entries older than this id (the previous page's last); `None`: the newest.
    pub before_id: Option<i64>,
    /// What the next page token is sealed with ([`audit_fingerprint`]).
    pub fingerprint: [u8; 32],
}

/// RouteLead: one question about one lead.
#[derive(Debug, Clone)]
pub struct RouteLead {
    /// The lead the decision is remembered for.
    pub lead_id: String,
    /// What the rules match on.
    pub lead: Lead,
    /// The team as the leads service saw it when it asked.
    pub candidates: Vec<Candidate>,
    /// Which question about the lead (1 and up); a retry repeats it.
    pub attempt: u32,
    /// The owners of the contact's open leads (sticky ownership).
    pub preferred: Vec<decision::sticky::PreferredOwner>,
}

/// What RouteLead decided, and what the state store said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// The decision itself.
    pub decision: Decision,
    /// The state store returned the decision made earlier for this question.
    pub replayed: bool,
    /// The state's generation, when the state store was asked (a pick).
    pub generation: Option<Generation>,
}

/// SimulateRouting: leads decided over a scratch copy of the state.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// Draft settings to try; `None`: the saved ones.
    pub draft: Option<Settings>,
    /// The leads, in the order they would arrive.
    pub leads: Vec<Lead>,
    /// The team to route among; empty: the organisation's directory.
    pub candidates: Vec<Candidate>,
    /// The moment to decide at; `None`: now.
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

/// ReconcileWorkload: one step of an authoritative reconcile.
#[derive(Debug, Clone)]
pub struct Reconcile {
    /// The leads database's facts to merge in (same version corrects).
    pub truth: Vec<Ownership>,
    /// Closed leads routing may forget.
    pub forget: Vec<Ownership>,
    /// Start a reconcile: a new epoch.
    pub begin: bool,
    /// End the reconcile `epoch`: sweep what it did not confirm.
    pub finish: bool,
    /// The epoch `begin` returned (when not beginning now).
    pub epoch: i64,
    /// Routed leads per rep and 15-minute bucket (start, count), to restore
    /// the per-day counters from.
    pub routed: Vec<(String, DateTime<Utc>, i64)>,
}

/// What a reconcile step changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    /// Entries corrected, forgotten or swept.
    pub corrected: u64,
    /// The reconcile's epoch (new when it began now).
    pub epoch: i64,
}

/// The routing service's use cases, shared by every handler.
#[derive(Clone)]
pub struct Routing {
    /// Settings and their audit log.
    settings: SettingsStore,
    /// Who is still active, as the leads directory last said.
    directory: Arc<Directory>,
    /// Cursors, decisions and workload (Redis or memory).
    state: Arc<dyn RoutingState>,
    /// Settings RouteLead read lately, per organisation.
    cache: Arc<OrgCache<Arc<VersionedSettings>>>,
    /// Schedules RouteLead read lately, per organisation.
    schedules: Arc<OrgCache<Schedules>>,
    /// "Now" for working hours and time off (a manual clock in tests).
    clock: SharedClock,
}

impl Routing {
    pub fn new(
        settings: SettingsStore,
        state: Arc<dyn RoutingState>,
        settings_cache_ttl: Duration,
    ) -> Self {
        Routing {
            directory: Arc::new(Directory::new(settings.connection().clone())),
            settings,
            state,
            cache: Arc::new(OrgCache::new(settings_cache_ttl)),
            schedules: Arc::new(OrgCache::new(settings_cache_ttl)),
            clock: system_clock(),
        }
    }

    /// The same use cases reading `clock` for "now" (tests move it).
    pub fn with_clock(self, clock: SharedClock) -> Self {
        Routing { clock, ..self }
    }

    /// `candidates` with their directory schedules, when the settings respect
    /// working hours or cap anyone (a day cap counts the rep's own local day),
    /// since the directory is the one truth about schedules: callers do not
    /// send them.
    async fn with_schedules<'c>(
        &self,
        org_id: &str,
        settings: &Settings,
        candidates: &'c [Candidate],
    ) -> Result<std::borrow::Cow<'c, [Candidate]>, RoutingError> {
        if !settings.respect_working_hours && !settings.has_limits() {
            return Ok(std::borrow::Cow::Borrowed(candidates));
        }
        let schedules = match self.schedules.get(org_id) {
            Some(schedules) => schedules,
            None => {
                let schedules = Arc::new(self.directory.all_schedules(org_id).await?);
                self.schedules.put(org_id, schedules.clone());
                schedules
            }
        };
        Ok(std::borrow::Cow::Owned(
            candidates
                .iter()
                .map(|c| Candidate {
                    schedule: schedules.get(&c.user_id).cloned(),
                    ..c.clone()
                })
                .collect(),
        ))
    }

    /// The organisation's directory as candidates (SimulateRouting without a team).
    async fn directory_candidates(&self, org_id: &str) -> Result<Vec<Candidate>, RoutingError> {
        Ok(self
            .directory
            .members(org_id)
            .await?
            .into_iter()
            .map(|f| Candidate {
                role: f.role.parse().ok(),
                user_id: f.user_id,
                active: f.active,
                available: f.available,
                schedule: f.schedule,
                already_held: false,
            })
            .collect())
    }

    /// The caller, if the directory does not say they were deactivated
    /// (machine identities are not members) and `may` lets them.
    pub async fn admit(&self, caller: Caller, may: Permission) -> Result<Caller, RoutingError> {
        if caller.role.is_person()
            && self
                .directory
                .is_deactivated(&caller.org_id, &caller.user_id)
                .await?
        {
            return Err(RoutingError::PermissionDenied(
                "your membership of this organisation was deactivated".into(),
            ));
        }
        may(&caller)?;
        Ok(caller)
    }

    /// GetRoutingSettings: the saved settings (never the cache).
    pub async fn settings(&self, org_id: &str) -> Result<VersionedSettings, RoutingError> {
        self.settings.get(org_id).await
    }

    /// UpdateRoutingSettings: saves and audits; this replica sees it at once.
    pub async fn update_settings(
        &self,
        caller: &Caller,
        update: SettingsUpdate,
    ) -> Result<VersionedSettings, RoutingError> {
        let (org, actor) = (&caller.org_id, &caller.user_id);
        let saved = self
            .settings
            .update(org, actor, &update.settings, update.expected_version)
            .await?;
        self.cache.put(org, Arc::new(saved.clone()));
        if let Err(error) = self.state.publish_settings(org, saved.version).await {
            tracing::warn!(org = %org, %error, "settings saved but not published to the routing state; other replicas see them within the settings cache TTL");
        }
        Ok(saved)
    }

    /// ListRoutingAudit: one page and the next page's token.
    pub async fn audit(
        &self,
        org_id: &str,
        page: AuditPage,
    ) -> Result<(Vec<AuditEntry>, String), RoutingError> {
        let rows = self
            .settings
            .audit(org_id, page.before_id, page.size + 1)
            .await?;
        Ok(cut(rows, page.size, &page.fingerprint, |entry| entry.id))
    }

    /// RouteLead: the pool comes from [`decision::plan`]; the state store
    /// chooses from it atomically with moving its cursor.
    pub async fn route_lead(&self, org_id: &str, ask: RouteLead) -> Result<Routed, RoutingError> {
        let settings = self.current_settings(org_id).await?;
        match self.route_with(org_id, &ask, &settings).await? {
            Some(routed) => Ok(routed),
            // Newer settings were saved on another replica: read them and plan again.
            None => {
                let settings = Arc::new(self.settings.get(org_id).await?);
                self.cache.put(org_id, settings.clone());
                self.route_with(org_id, &ask, &settings)
                    .await?
                    .ok_or_else(|| RoutingError::Aborted("routing settings changed; retry".into()))
            }
        }
    }

    /// [`Routing::route_lead`] with `settings`; `None` when newer ones exist.
    async fn route_with(
        &self,
        org_id: &str,
        ask: &RouteLead,
        settings: &VersionedSettings,
    ) -> Result<Option<Routed>, RoutingError> {
        let lead = &ask.lead;
        let candidates = self
            .with_schedules(org_id, &settings.settings, &ask.candidates)
            .await?;
        let at = self.clock.now();
        let mut plan = decision::plan(&settings.settings, &candidates, lead.source, &lead.tags, at);
        let sticky = settings.settings.sticky.as_ref();
        if let Some(owner) = decision::sticky::preferred(sticky, &ask.preferred, at)
            && !matches!(plan, decision::Plan::Off)
        {
            match decision::sticky::sticky_pool(&settings.settings, &candidates, owner, &plan, at) {
                Ok(pool) => {
                    let attempt = ask.attempt + decision::sticky::STICKY_ATTEMPT_OFFSET;
                    let key = decision::sticky::STICKY_POOL_KEY;
                    let pick =
                        Pick::of(&ask.lead_id, attempt, key, &pool)?.planned_with(settings.version);
                    let picked = self.state.pick_with(org_id, &pick).await?;
                    if picked.newer_settings {
                        return Ok(None);
                    }
                    if !picked.all_capped {
                        return Ok(Some(Routed {
                            decision: Decision::new(
                                decision::Plan::Pick(pool),
                                Some(picked.assignee),
                            ),
                            replayed: picked.replayed,
                            generation: Some(picked.generation),
                        }));
                    }
                    let hit = picked.capped.first().map(|(_, hit)| *hit);
                    plan = plan.with_note(decision::sticky::capped_note(owner, hit));
                }
                Err(note) => plan = plan.with_note(note),
            }
        }
        let Some(pool) = plan.pool() else {
            let decision = Decision::new(plan, None);
            return Ok(Some(Routed {
                decision,
                replayed: false,
                generation: None,
            }));
        };
        let key = pool.pool.key();
        let pick = Pick::of(&ask.lead_id, ask.attempt, &key, pool)?.planned_with(settings.version);
        let picked = self.state.pick_with(org_id, &pick).await?;
        if picked.newer_settings {
            return Ok(None);
        }
        if picked.generation.reset {
            tracing::warn!(org = %org_id, "routing state was empty: a new generation started; workload needs a reconcile");
        }
        let capped: Vec<(&str, decision::CapHit)> = picked
            .capped
            .iter()
            .map(|(id, hit)| (id.as_str(), *hit))
            .collect();
        let plan = plan.after_caps(&capped, !picked.all_capped);
        let assignee = (!picked.all_capped).then_some(picked.assignee);
        Ok(Some(Routed {
            decision: Decision::new(plan, assignee),
            replayed: picked.replayed,
            generation: Some(picked.generation),
        }))
    }

    /// SimulateRouting: [`decision::dry_run`] over a scratch copy of the live
    /// state, so the dry run moves nothing real.
    pub async fn simulate(
        &self,
        org_id: &str,
        simulation: Simulation,
    ) -> Result<Vec<Decision>, RoutingError> {
        let settings = match simulation.draft {
            Some(draft) => draft,
            None => self.settings.get(org_id).await?.settings,
        };
        let mut scratch = self.state.snapshot(org_id).await?;
        let team = match simulation.candidates.is_empty() {
            true => self.directory_candidates(org_id).await?,
            false => simulation.candidates,
        };
        let candidates = self.with_schedules(org_id, &settings, &team).await?;
        let at = simulation.at.unwrap_or_else(|| self.clock.now());
        Ok(decision::dry_run(
            &settings,
            &candidates,
            &simulation.leads,
            &mut scratch,
            at,
        ))
    }

    /// ApplyOwnershipChanges.
    pub async fn apply_ownership(
        &self,
        org_id: &str,
        facts: &[Ownership],
    ) -> Result<(), RoutingError> {
        self.state.apply(org_id, facts).await?;
        Ok(())
    }

    /// GetWorkload: reps with open leads, by user id.
    pub async fn workload(&self, org_id: &str) -> Result<Vec<(String, i64)>, RoutingError> {
        let mut members: Vec<(String, i64)> = self
            .state
            .workload(org_id)
            .await?
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect();
        members.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(members)
    }

    /// ReconcileWorkload: begin (optionally), merge and forget, finish
    /// (optionally).
    pub async fn reconcile(&self, org: &str, step: Reconcile) -> Result<Reconciled, RoutingError> {
        let epoch = if step.begin {
            self.state.begin_reconcile(org).await?
        } else {
            step.epoch
        };
        let mut corrected = self.state.reconcile(org, &step.truth).await?;
        corrected += self.state.forget(org, &step.forget).await?;
        if !step.routed.is_empty() {
            let today = self.routed_today(org, &step.routed).await?;
            // Every zone's today is within a day of UTC's: older counters go.
            let keep_from = (self.clock.now() - chrono::Duration::days(2))
                .date_naive()
                .to_string();
            corrected += self.state.restore_daily(org, &today, &keep_from).await?;
        }
        if step.finish {
            corrected += self.state.sweep(org, epoch).await?;
        }
        Ok(Reconciled { corrected, epoch })
    }

    /// The per-day counters `routed` adds up to: each bucket counted on its
    /// rep's local day, and only today's kept (the directory's schedule
    /// gives the zone; UTC without one).
    async fn routed_today(
        &self,
        org: &str,
        routed: &[(String, DateTime<Utc>, i64)],
    ) -> Result<Vec<(String, i64)>, RoutingError> {
        let mut users: Vec<String> = routed.iter().map(|(u, _, _)| u.clone()).collect();
        users.sort_unstable();
        users.dedup();
        let schedules = self.directory.schedules(org, &users).await?;
        Ok(decision::routed_today(&schedules, routed, self.clock.now()))
    }

    /// ApplyDirectoryChanges.
    pub async fn apply_directory(
        &self,
        org_id: &str,
        facts: &[DirectoryFact],
    ) -> Result<(), RoutingError> {
        self.directory.apply(org_id, facts).await?;
        self.schedules.forget(org_id);
        Ok(())
    }

    /// The settings RouteLead uses: cached briefly per replica, and shared
    /// rather than copied per lead.
    async fn current_settings(&self, org_id: &str) -> Result<Arc<VersionedSettings>, RoutingError> {
        if let Some(settings) = self.cache.get(org_id) {
            return Ok(settings);
        }
        let settings = Arc::new(self.settings.get(org_id).await?);
        self.cache.put(org_id, settings.clone());
        Ok(settings)
    }
}
