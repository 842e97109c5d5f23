//! The sentence an operator reads in a lead's history: why this lead went
//! (or did not go) to whom, naming the weights, caps and shifts that
//! mattered, and never longer than a few dozen names.

use super::{Plan, Pool, SkipReason};

/// A sentence an operator can read: why this lead went (or did not go) to whom.
pub fn explain(plan: &Plan, assignee: Option<&str>) -> String {
    match plan {
        Plan::Off => "routing is off, so the lead stays unassigned".into(),
        Plan::NoCandidates { skipped, notes } => {
            let mut text = format!("nobody could take the lead: {}", notes.join("; "));
            append_skipped(&mut text, skipped);
            text
        }
        Plan::Held {
            retry_at,
            skipped,
            notes,
            ..
        } => {
            let mut text = format!("held: {}", notes.join("; "));
            if let Some(at) = retry_at {
                text.push_str(&format!(
                    "; routed again at {}",
                    at.format("%Y-%m-%d %H:%M UTC")
                ));
            }
            append_skipped(&mut text, skipped);
            text
        }
        Plan::Pick(p) if p.preferred_owner => format!(
            "{}: assigned to {} (no rotation moved)",
            p.notes.join("; "),
            assignee.unwrap_or("nobody")
        ),
        Plan::Pick(p) => {
            let pool = match &p.pool {
                Pool::Rule(name) => format!("rule {name:?}"),
                Pool::Rotation => "the rotation".into(),
                Pool::Team => "the whole sales team".into(),
            };
            let people: Vec<String> = match &p.weights {
                None => p.eligible.clone(),
                Some(weights) => p
                    .eligible
                    .iter()
                    .zip(weights)
                    .map(|(id, w)| format!("{id} weight {w}"))
                    .collect(),
            };
            let mut text = format!(
                "{}{} over {} ({}): assigned to {}",
                if p.weights.is_some() { "weighted " } else { "" },
                p.strategy.label(),
                pool,
                some_of(people.into_iter(), p.eligible.len()),
                assignee.unwrap_or("nobody")
            );
            if !p.notes.is_empty() {
                text = format!("{}; {text}", p.notes.join("; "));
            }
            if p.fallback_used {
                text.push_str(" (fallback to the whole team)");
            }
            append_skipped(&mut text, &p.skipped);
            text
        }
    }
}

/// People an explanation names at most; the rest are counted. The
/// explanation is stored in each lead's history, and a team of thousands
/// must not make every history row hundreds of kilobytes.
pub const EXPLAINED_PEOPLE: usize = 20;

/// "a, b, c" or "a, b, … and 980 more".
pub(super) fn some_of(items: impl Iterator<Item = String>, total: usize) -> String {
    let shown: Vec<String> = items.take(EXPLAINED_PEOPLE).collect();
    match total.saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

fn append_skipped(text: &mut String, skipped: &[(String, SkipReason)]) {
    if !skipped.is_empty() {
        let list = some_of(
            skipped
                .iter()
                .map(|(id, r)| format!("{id} ({})", r.label())),
            skipped.len(),
        );
        text.push_str(&format!("; skipped {list}"));
    }
}
