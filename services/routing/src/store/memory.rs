//! The in-memory routing state for `make run` without Redis. One process
//! only: a second replica would keep its own cursors. It follows the same
//! rules as the Lua scripts (the conformance suite runs against both), and
//! picks with the one domain choice, [`crate::domain::decision::choose_in`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::state::{
    Generation, Ownership, Pick, Picked, RoutingState, Snapshot, StateError, new_generation,
};
use crate::domain::decision::{CapHit, choose_under_caps};

/// One organisation's routing state: what Redis keeps under its hash tag.
#[derive(Debug, Default)]
struct OrgState {
    /// Every pool's cursor and every rep's open-lead count.
    view: Snapshot,
    /// (lead id, attempt) -> (assignee, expiry).
    decisions: HashMap<(String, u32), (String, Instant)>,
    /// lead id -> (version, counted owner or "").
    owners: HashMap<String, (i64, String)>,
    /// lead id -> the reconcile epoch it was last written or confirmed in.
    touched: HashMap<String, i64>,
    /// The current reconcile epoch (0 before the first).
    epoch: i64,
    /// The generation marker; `None` until the state is first used.
    generation: Option<String>,
    /// The newest settings version published.
    settings_version: i64,
}

impl OrgState {
    fn generation(&mut self) -> Generation {
        match &self.generation {
            Some(id) => Generation {
                id: id.clone(),
                reset: false,
            },
            None => {
                let id = new_generation();
                self.generation = Some(id.clone());
                Generation { id, reset: true }
            }
        }
    }

    /// Removes an entry and its count.
    fn drop_entry(&mut self, lead_id: &str) -> Option<String> {
        let (_, owner) = self.owners.remove(lead_id)?;
        self.touched.remove(lead_id);
        if !owner.is_empty() {
            self.view.count(&owner, -1);
        }
        Some(owner)
    }

    /// The same rule as ownership.lua. Returns whether the counted owner changed.
    fn merge(&mut self, fact: &Ownership, reconcile: bool) -> bool {
        let (cur_version, cur_owner) = self
            .owners
            .get(&fact.lead_id)
            .cloned()
            .unwrap_or((-1, String::new()));
        if !(fact.version > cur_version || (reconcile && fact.version == cur_version)) {
            if reconcile {
                // Newer here than in the snapshot: still confirmed.
                self.touched.insert(fact.lead_id.clone(), self.epoch);
            }
            return false;
        }
        let new_owner = if fact.open {
            fact.owner_id.clone().unwrap_or_default()
        } else {
            String::new()
        };
        let changed = cur_owner != new_owner;
        if changed {
            if !cur_owner.is_empty() {
                self.view.count(&cur_owner, -1);
            }
            if !new_owner.is_empty() {
                self.view.count(&new_owner, 1);
            }
        }
        self.owners
            .insert(fact.lead_id.clone(), (fact.version, new_owner));
        self.touched.insert(fact.lead_id.clone(), self.epoch);
        changed
    }

    /// The decision remembered for `pick`, while its assignee is still
    /// eligible. One who is not any more has the provisional count released.
    fn replay(&mut self, pick: &Pick<'_>, now: Instant) -> Option<String> {
        self.decisions.retain(|_, (_, expires)| *expires > now);
        let key = (pick.lead_id.to_owned(), pick.attempt);
        let (assignee, _) = self.decisions.get(&key).cloned()?;
        if pick.eligible().contains(&assignee) {
            return Some(assignee);
        }
        if self.owners.get(pick.lead_id) == Some(&(0, assignee)) {
            self.drop_entry(pick.lead_id);
        }
        None
    }

    /// Chooses afresh, moves the cursor, counts the lead provisionally
    /// (version 0) unless an entry exists, and remembers the decision.
    /// `None` when every eligible rep is at a cap; the capped reps either way.
    fn decide(
        &mut self,
        pick: &Pick<'_>,
        expires: Instant,
    ) -> (Option<String>, Vec<(String, CapHit)>) {
        let state = self.view.pool(pick.pool);
        let capped = choose_under_caps(
            pick.strategy,
            pick.eligible(),
            pick.weights(),
            pick.caps(),
            state,
        );
        let hits = capped
            .capped
            .iter()
            .map(|&(id, hit)| (id.to_owned(), hit))
            .collect();
        let Some(choice) = capped.choice else {
            return (None, hits);
        };
        let assignee = choice.assignee.to_owned();
        self.view.record(pick.pool, &choice);
        if let Some(caps) = pick.caps() {
            let i = pick
                .eligible()
                .iter()
                .position(|e| *e == assignee)
                .expect("chosen from the pool");
            self.view.count_day(&assignee, &caps[i].day);
        }
        if !self.owners.contains_key(pick.lead_id) {
            self.owners
                .insert(pick.lead_id.to_owned(), (0, assignee.clone()));
            self.touched.insert(pick.lead_id.to_owned(), self.epoch);
            self.view.count(&assignee, 1);
        }
        self.decisions.insert(
            (pick.lead_id.to_owned(), pick.attempt),
            (assignee.clone(), expires),
        );
        (Some(assignee), hits)
    }
}

/// Routing state in this process's memory.
#[derive(Debug)]
pub struct MemoryState {
    /// Every organisation's state, behind one lock (each change is atomic).
    orgs: Mutex<HashMap<String, OrgState>>,
    /// How long a lead's decision is remembered for a retry.
    decision_ttl: Duration,
}

impl MemoryState {
    pub fn new(decision_ttl: Duration) -> Self {
        MemoryState {
            orgs: Mutex::new(HashMap::new()),
            decision_ttl,
        }
    }

    fn with_org<T>(&self, org_id: &str, f: impl FnOnce(&mut OrgState) -> T) -> T {
        let mut orgs = self
            .orgs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(orgs.entry(org_id.to_owned()).or_default())
    }
}

#[tonic::async_trait]
impl RoutingState for MemoryState {
    async fn pick_with(&self, org_id: &str, pick: &Pick<'_>) -> Result<Picked, StateError> {
        let ttl = self.decision_ttl;
        Ok(self.with_org(org_id, |org| {
            let generation = org.generation();
            let now = Instant::now();
            let mut picked = Picked {
                assignee: String::new(),
                replayed: false,
                generation,
                newer_settings: false,
                capped: Vec::new(),
                all_capped: false,
            };
            match org.replay(pick, now) {
                Some(assignee) => {
                    picked.assignee = assignee;
                    picked.replayed = true;
                }
                None if org.settings_version > pick.settings_version() => {
                    picked.newer_settings = true;
                }
                None => {
                    let (assignee, capped) = org.decide(pick, now + ttl);
                    picked.all_capped = assignee.is_none();
                    picked.assignee = assignee.unwrap_or_default();
                    picked.capped = capped;
                }
            }
            picked
        }))
    }

    async fn apply(&self, org_id: &str, changes: &[Ownership]) -> Result<Generation, StateError> {
        Ok(self.with_org(org_id, |org| {
            let generation = org.generation();
            for change in changes {
                org.merge(change, false);
            }
            generation
        }))
    }

    async fn begin_reconcile(&self, org_id: &str) -> Result<i64, StateError> {
        Ok(self.with_org(org_id, |org| {
            org.generation();
            org.epoch += 1;
            org.epoch
        }))
    }

    async fn reconcile(&self, org_id: &str, truth: &[Ownership]) -> Result<u64, StateError> {
        Ok(self.with_org(org_id, |org| {
            org.generation();
            truth.iter().filter(|fact| org.merge(fact, true)).count() as u64
        }))
    }

    async fn forget(&self, org_id: &str, closed: &[Ownership]) -> Result<u64, StateError> {
        Ok(self.with_org(org_id, |org| {
            let mut dropped = 0;
            for fact in closed {
                if org
                    .owners
                    .get(&fact.lead_id)
                    .is_some_and(|(version, _)| *version <= fact.version)
                    && org.drop_entry(&fact.lead_id).is_some_and(|o| !o.is_empty())
                {
                    dropped += 1;
                }
            }
            dropped
        }))
    }

    async fn sweep(&self, org_id: &str, epoch: i64) -> Result<u64, StateError> {
        Ok(self.with_org(org_id, |org| {
            let stale: Vec<String> = org
                .owners
                .keys()
                .filter(|lead| org.touched.get(*lead).is_none_or(|at| *at < epoch))
                .cloned()
                .collect();
            for lead in &stale {
                org.drop_entry(lead);
            }
            stale.len() as u64
        }))
    }

    async fn entries(&self, org_id: &str) -> Result<u64, StateError> {
        Ok(self.with_org(org_id, |org| org.owners.len() as u64))
    }

    async fn workload(&self, org_id: &str) -> Result<HashMap<String, i64>, StateError> {
        Ok(self.with_org(org_id, |org| org.view.load.clone()))
    }

    async fn snapshot(&self, org_id: &str) -> Result<Snapshot, StateError> {
        Ok(self.with_org(org_id, |org| org.view.clone()))
    }

    async fn restore_daily(
        &self,
        org_id: &str,
        counts: &[(String, i64)],
        keep_from: &str,
    ) -> Result<u64, StateError> {
        Ok(self.with_org(org_id, |org| {
            org.view
                .daily
                .retain(|key, _| !super::state::daily_key_before(key, keep_from));
            let mut raised = 0;
            for (key, count) in counts {
                let have = org.view.daily.entry(key.clone()).or_insert(0);
                if *count > *have {
                    *have = *count;
                    raised += 1;
                }
            }
            raised
        }))
    }

    async fn publish_settings(&self, org_id: &str, version: i64) -> Result<(), StateError> {
        self.with_org(org_id, |org| {
            org.settings_version = org.settings_version.max(version);
        });
        Ok(())
    }
}
