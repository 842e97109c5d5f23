//! The choice of one rep from a pool: plain or smooth-weighted round robin,
//! and balancing by open leads (per unit of weight). Plain functions of the
//! pool and its state; `scripts/pick.lua` runs the same rules in Redis.

use std::collections::HashMap;

use crate::domain::settings::Strategy;

/// Round robin: the smallest eligible id after the pool's cursor (the last
/// assigned id), wrapping around. Because the cursor is an id, not an index,
/// people joining or leaving (even the one it names) skip or repeat no one.
/// `eligible` must be ascending and non-empty.
pub fn next_round_robin<'a>(eligible: &'a [String], cursor: Option<&str>) -> &'a str {
    cursor
        .and_then(|last| eligible.iter().find(|id| id.as_str() > last))
        .unwrap_or(&eligible[0])
}

/// Balanced by workload: the fewest open leads wins; ties go to the first in
/// rotation order after the pool's cursor, so the same rep is not always
/// favoured. `eligible` must be ascending and non-empty.
pub fn pick_balanced<'a>(
    eligible: &'a [String],
    load: &HashMap<String, i64>,
    cursor: Option<&str>,
) -> &'a str {
    &eligible[balanced_index(eligible, None, load, cursor)]
}

/// [`pick_balanced`] with weights: the fewest open leads per unit of weight
/// wins (compared exactly, by cross-multiplying), so a rep of weight 2
/// carries twice the open leads of a rep of weight 1.
fn balanced_index(
    eligible: &[String],
    weights: Option<&[u32]>,
    load: &HashMap<String, i64>,
    cursor: Option<&str>,
) -> usize {
    let n = eligible.len();
    let start = cursor
        .and_then(|last| eligible.iter().position(|id| id.as_str() > last))
        .unwrap_or(0);
    let count = |i: usize| load.get(&eligible[i]).copied().unwrap_or(0) as i128;
    let weight = |i: usize| weights.map_or(1, |w| w[i]) as i128;
    (0..n)
        .map(|k| (start + k) % n)
        .reduce(|best, i| {
            // count(i) / weight(i) < count(best) / weight(best)
            if count(i) * weight(best) < count(best) * weight(i) {
                i
            } else {
                best
            }
        })
        .expect("a non-empty pool has a least-loaded rep")
}

/// Smooth weighted round robin, as nginx does it: every eligible rep's
/// current weight grows by its weight, the highest (the first in rotation
/// order on a tie) gets the lead and drops by the pool's total. From all
/// zeros, after every multiple of the total W each rep has had exactly its
/// weight's share, and after any n leads nobody is a whole lead ahead:
/// countᵢ − n·wᵢ/W < 1. Reps not eligible now keep their current weight
/// untouched (frozen while skipped); a new rep starts at 0.
/// Returns the index picked and the new current weights, in `weights` order.
pub fn smooth_weighted(weights: &[u32], current: &[i64]) -> (usize, Vec<i64>) {
    let total: i64 = weights.iter().map(|&w| i64::from(w)).sum();
    let mut next: Vec<i64> = current
        .iter()
        .zip(weights)
        .map(|(c, &w)| c + i64::from(w))
        .collect();
    let best = (0..next.len())
        .reduce(|best, i| if next[i] > next[best] { i } else { best })
        .expect("a non-empty pool");
    next[best] -= total;
    (best, next)
}

/// What a choice reads of one pool's state.
#[derive(Debug, Clone, Copy)]
pub struct PoolState<'s> {
    /// The last user id assigned from the pool.
    pub cursor: Option<&'s str>,
    /// User id -> open leads (all pools).
    pub load: &'s HashMap<String, i64>,
    /// The pool's smooth-weighted current weights (absent: 0).
    pub current: Option<&'s HashMap<String, i64>>,
    /// Routed leads per rep and local day ([`Cap::daily_key`]); absent: 0.
    pub daily: Option<&'s HashMap<String, i64>>,
}

/// A rep chosen, and what the choice changes besides the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice<'a> {
    /// Who gets the lead.
    pub assignee: &'a str,
    /// Weighted round robin only: the eligible reps' new current weights.
    pub current: Vec<(&'a str, i64)>,
}

/// The one choice of a rep: `strategy` over `eligible` (ascending,
/// non-empty) with `weights` (in `eligible`'s order, `None`: all 1), from
/// the pool's state. `scripts/pick.lua` is the same rule, run atomically
/// inside Redis.
pub fn choose_in<'a>(
    strategy: Strategy,
    eligible: &'a [String],
    weights: Option<&[u32]>,
    state: PoolState<'_>,
) -> Choice<'a> {
    match (strategy, weights) {
        (Strategy::RoundRobin, None) => Choice {
            assignee: next_round_robin(eligible, state.cursor),
            current: Vec::new(),
        },
        (Strategy::RoundRobin, Some(weights)) => {
            let before: Vec<i64> = eligible
                .iter()
                .map(|id| state.current.and_then(|c| c.get(id)).copied().unwrap_or(0))
                .collect();
            let (best, after) = smooth_weighted(weights, &before);
            Choice {
                assignee: &eligible[best],
                current: eligible.iter().map(String::as_str).zip(after).collect(),
            }
        }
        (Strategy::BalancedWorkload, weights) => Choice {
            assignee: &eligible[balanced_index(eligible, weights, state.load, state.cursor)],
            current: Vec::new(),
        },
    }
}

/// [`choose_in`] without weights: plain round robin or plain balancing.
pub fn choose<'a>(
    strategy: Strategy,
    eligible: &'a [String],
    cursor: Option<&str>,
    load: &HashMap<String, i64>,
) -> &'a str {
    let state = PoolState {
        cursor,
        load,
        current: None,
        daily: None,
    };
    choose_in(strategy, eligible, None, state).assignee
}

/// One eligible rep's caps at the decision's moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cap {
    /// No more routed leads while they own this many open ones (0: no cap).
    pub max_open: u32,
    /// At most this many routed leads per local day (0: no cap).
    pub max_per_day: u32,
    /// Their local day now, `YYYY-MM-DD`: which daily counter counts.
    pub day: String,
    /// When that day ends for them (their next local midnight).
    pub day_ends: chrono::DateTime<chrono::Utc>,
    /// Their time zone's name, for explanations.
    pub zone: String,
}

impl Cap {
    /// The daily counter of `user_id` on `day` (a field of the state's daily hash).
    pub fn daily_key(user_id: &str, day: &str) -> String {
        format!("{user_id}\n{day}")
    }
}

/// Which cap held a rep back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapHit {
    /// At their open-lead cap.
    Open {
        /// Open leads they own.
        open: i64,
        /// Their cap.
        max: u32,
    },
    /// At their cap of routed leads for their local day.
    Day {
        /// Routed leads today.
        today: i64,
        /// Their cap.
        max: u32,
    },
}

/// A choice among the reps under their caps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CappedChoice<'a> {
    /// `None`: every eligible rep is at a cap (the lead is held).
    pub choice: Option<Choice<'a>>,
    /// The reps passed over for a cap, and which.
    pub capped: Vec<(&'a str, CapHit)>,
}

/// The cap that holds `i` back, if any.
fn cap_hit(
    id: &str,
    cap: &Cap,
    load: &HashMap<String, i64>,
    daily: Option<&HashMap<String, i64>>,
) -> Option<CapHit> {
    let open = load.get(id).copied().unwrap_or(0);
    if cap.max_open > 0 && open >= i64::from(cap.max_open) {
        return Some(CapHit::Open {
            open,
            max: cap.max_open,
        });
    }
    let today = daily
        .and_then(|d| d.get(&Cap::daily_key(id, &cap.day)))
        .copied()
        .unwrap_or(0);
    (cap.max_per_day > 0 && today >= i64::from(cap.max_per_day)).then_some(CapHit::Day {
        today,
        max: cap.max_per_day,
    })
}

/// [`choose_in`] among the reps of `eligible` under their `caps` (one per
/// rep, in order; `None`: nobody is capped). A capped rep is passed over as
/// if absent: their round-robin place and current weight stay as they are.
/// `scripts/pick.lua` checks the same caps in the same script as the pick.
pub fn choose_under_caps<'a>(
    strategy: Strategy,
    eligible: &'a [String],
    weights: Option<&[u32]>,
    caps: Option<&[Cap]>,
    state: PoolState<'_>,
) -> CappedChoice<'a> {
    let Some(caps) = caps else {
        return CappedChoice {
            choice: Some(choose_in(strategy, eligible, weights, state)),
            capped: Vec::new(),
        };
    };
    let mut capped = Vec::new();
    let mut open = Vec::new();
    for (i, (id, cap)) in eligible.iter().zip(caps).enumerate() {
        match cap_hit(id, cap, state.load, state.daily) {
            Some(hit) => capped.push((id.as_str(), hit)),
            None => open.push(i),
        }
    }
    if open.is_empty() {
        return CappedChoice {
            choice: None,
            capped,
        };
    }
    let under: Vec<String> = open.iter().map(|&i| eligible[i].clone()).collect();
    let under_weights: Option<Vec<u32>> = weights.map(|w| open.iter().map(|&i| w[i]).collect());
    let choice = choose_in(strategy, &under, under_weights.as_deref(), state);
    let by_id = |id: &str| {
        let i = open[under
            .iter()
            .position(|u| u == id)
            .expect("chosen from under")];
        eligible[i].as_str()
    };
    let current = choice
        .current
        .iter()
        .map(|&(id, weight)| (by_id(id), weight))
        .collect();
    let assignee = by_id(choice.assignee);
    CappedChoice {
        choice: Some(Choice { assignee, current }),
        capped,
    }
}
