//! Which notifications a live stream still has to send, when transactions
//! commit out of order.
//!
//! Ids are taken when a transaction inserts, but transactions commit in any
//! order: id 11 can be visible before id 10. So a watcher does not just read
//! "after the last id sent"; it reads again from its floor and skips what it
//! already sent, and the floor only moves past an id once that id was sent
//! [`LATE_COMMIT_WINDOW`] ago. A notification committed late still arrives
//! (after a newer one), as long as it commits within the window of a newer
//! one, which a Notify transaction always does.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

/// How long a watcher keeps re-reading below the newest id it sent, for a
/// notification whose transaction took an older id but committed later.
pub const LATE_COMMIT_WINDOW: Duration = Duration::from_secs(10);
/// Most sent ids a watcher remembers within that window.
pub const MAX_RECENT: usize = 1_000;

/// What a watcher sent within the late-commit window: ids re-read there are
/// skipped, and the floor moves past an id once it leaves the window.
#[derive(Debug, Default)]
pub struct SentWindow {
    /// Sent ids in the order they were sent, with when: the oldest leaves first.
    recent: VecDeque<(i64, Instant)>,
    /// The same ids, to answer [`SentWindow::has`] without a scan.
    ids: HashSet<i64>,
}

impl SentWindow {
    /// Whether `id` was sent within the window.
    pub fn has(&self, id: i64) -> bool {
        self.ids.contains(&id)
    }

    /// The ids of `ids` not sent yet, in their order.
    pub fn unsent(&self, ids: Vec<i64>) -> Vec<i64> {
        ids.into_iter().filter(|id| !self.has(*id)).collect()
    }

    /// Remembers a sent id; past [`MAX_RECENT`] (a flood) the oldest leaves
    /// the window early.
    pub fn record(&mut self, id: i64, floor: &mut i64) {
        self.recent.push_back((id, Instant::now()));
        self.ids.insert(id);
        while self.recent.len() > MAX_RECENT {
            self.forget_oldest(floor);
        }
    }

    /// Lets go of the ids sent longer than [`LATE_COMMIT_WINDOW`] ago.
    pub fn expire(&mut self, floor: &mut i64) {
        while self
            .recent
            .front()
            .is_some_and(|(_, at)| at.elapsed() > LATE_COMMIT_WINDOW)
        {
            self.forget_oldest(floor);
        }
    }

    fn forget_oldest(&mut self, floor: &mut i64) {
        if let Some((id, _)) = self.recent.pop_front() {
            self.ids.remove(&id);
            *floor = (*floor).max(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watcher_skips_what_it_sent_and_a_flood_moves_the_floor_past_the_oldest() {
        let mut window = SentWindow::default();
        let mut floor = 10;
        window.record(12, &mut floor);
        window.record(11, &mut floor); // committed late, sent after 12
        assert!(window.has(11) && window.has(12) && !window.has(13));
        window.expire(&mut floor);
        assert_eq!(
            floor, 10,
            "within the window the floor stays, so late commits are re-read"
        );

        for id in 13..13 + MAX_RECENT as i64 {
            window.record(id, &mut floor);
        }
        // Two over the limit: the two sent first left the window.
        assert_eq!(floor, 12);
        assert!(!window.has(11) && !window.has(12) && window.has(13));
    }

    #[test]
    fn a_late_commit_below_the_newest_sent_id_is_still_unsent() {
        let mut window = SentWindow::default();
        let mut floor = 10;
        window.record(12, &mut floor);
        assert_eq!(window.unsent(vec![11, 12, 13]), [11, 13]);
        assert_eq!(floor, 10);
    }
}
