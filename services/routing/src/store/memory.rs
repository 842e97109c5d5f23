//! The in-memory routing state for `make run` without Redis. One process
//! only: a second replica would keep its own cursors.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::state::{
    Generation, Ownership, Picked, RoutingState, Snapshot, StateError, new_generation,
};
use crate::domain::decision::{next_round_robin, pick_balanced};
use crate::domain::settings::Strategy;

#[derive(Debug, Default)]
struct OrgState {
    cursors: HashMap<String, String>,
    /// (lead id, attempt) -> (assignee, expiry).
    decisions: HashMap<(String, u32), (String, Instant)>,
    /// lead id -> (version, counted owner or "").
    owners: HashMap<String, (i64, String)>,
    /// lead id -> the reconcile epoch it was last written or confirmed in.
    touched: HashMap<String, i64>,
    epoch: i64,
    load: HashMap<String, i64>,
    generation: Option<String>,
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

    fn add_load(&mut self, user: &str, delta: i64) {
        let count = self.load.entry(user.to_owned()).or_default();
        *count += delta;
        if *count <= 0 {
            self.load.remove(user);
        }
    }

    /// Removes an entry and its count.
    fn drop_entry(&mut self, lead_id: &str) -> Option<String> {
        let (_, owner) = self.owners.remove(lead_id)?;
        self.touched.remove(lead_id);
        if !owner.is_empty() {
            self.add_load(&owner, -1);
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
                self.add_load(&cur_owner, -1);
            }
            if !new_owner.is_empty() {
                self.add_load(&new_owner, 1);
            }
        }
        self.owners
            .insert(fact.lead_id.clone(), (fact.version, new_owner));
        self.touched.insert(fact.lead_id.clone(), self.epoch);
        changed
    }
}

/// Routing state in this process's memory.
#[derive(Debug)]
pub struct MemoryState {
    orgs: Mutex<HashMap<String, OrgState>>,
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
    async fn pick(
        &self,
        org_id: &str,
        lead_id: &str,
        attempt: u32,
        pool: &str,
        strategy: Strategy,
        eligible: &[String],
    ) -> Result<Picked, StateError> {
        if eligible.is_empty() {
            return Err(StateError("empty pool".into()));
        }
        let ttl = self.decision_ttl;
        Ok(self.with_org(org_id, |org| {
            let generation = org.generation();
            let now = Instant::now();
            org.decisions.retain(|_, (_, expires)| *expires > now);
            let key = (lead_id.to_owned(), attempt);
            if let Some((assignee, _)) = org.decisions.get(&key).cloned() {
                if eligible.contains(&assignee) {
                    return Picked {
                        assignee,
                        replayed: true,
                        generation,
                    };
                }
                // No longer eligible: release its provisional count.
                if org.owners.get(lead_id) == Some(&(0, assignee.clone())) {
                    org.drop_entry(lead_id);
                }
            }
            let cursor = org.cursors.get(pool).map(String::as_str);
            let assignee = match strategy {
                Strategy::RoundRobin => next_round_robin(eligible, cursor),
                Strategy::BalancedWorkload => pick_balanced(eligible, &org.load, cursor),
            }
            .to_owned();
            org.cursors.insert(pool.to_owned(), assignee.clone());
            if !org.owners.contains_key(lead_id) {
                org.owners.insert(lead_id.to_owned(), (0, assignee.clone()));
                org.touched.insert(lead_id.to_owned(), org.epoch);
                org.add_load(&assignee, 1);
            }
            org.decisions.insert(key, (assignee.clone(), now + ttl));
            Picked {
                assignee,
                replayed: false,
                generation,
            }
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
        Ok(self.with_org(org_id, |org| org.load.clone()))
    }

    async fn snapshot(&self, org_id: &str) -> Result<Snapshot, StateError> {
        Ok(self.with_org(org_id, |org| Snapshot {
            cursors: org.cursors.clone(),
            load: org.load.clone(),
        }))
    }
}
