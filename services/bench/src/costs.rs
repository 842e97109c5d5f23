//! What one unit of work costs the machine, read before and after a phase:
//! write transactions (transaction ids taken: every transaction that wrote,
//! durable or not), WAL syncs (the fsyncs that make commits durable; commits
//! arriving together share one), and the CPU time of Postgres, Redis and the
//! leadflow process. A ratio to a limit says how far leadflow is from it;
//! these say why.
//!
//! CPU comes from /proc (Linux): every `postgres` process's own and reaped
//! children's time (a backend that exits mid-phase is counted through the
//! postmaster that reaps it), every `redis-server`, and leadflow's pid. The
//! load generator (this process, pgbench, redis-benchmark) is not counted on
//! either side.

use sea_orm::sqlx::{self, PgPool, postgres::PgPoolOptions};
use serde::Serialize;

/// Reads the counters.
pub struct Meter {
    admin: PgPool,
    /// The leadflow process whose CPU is counted, if any.
    leadflow_pid: Option<u32>,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    next_xid: i64,
    wal_syncs: i64,
    postgres_cpu: f64,
    redis_cpu: f64,
    leadflow_cpu: f64,
}

/// Costs per unit of work (a lead, a call, an INSERT).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Cost {
    pub write_transactions: f64,
    pub wal_syncs: f64,
    pub postgres_cpu_ms: f64,
    pub redis_cpu_ms: f64,
    pub leadflow_cpu_ms: f64,
}

impl Cost {
    /// CPU of everything measured (leadflow, Postgres, Redis).
    pub fn cpu_ms(&self) -> f64 {
        self.leadflow_cpu_ms + self.postgres_cpu_ms + self.redis_cpu_ms
    }
}

impl Meter {
    pub async fn new(admin_url: &str, leadflow_pid: Option<u32>) -> anyhow::Result<Meter> {
        Ok(Meter {
            admin: PgPoolOptions::new()
                .max_connections(1)
                .connect(admin_url)
                .await?,
            leadflow_pid,
        })
    }

    pub async fn read(&self) -> anyhow::Result<Reading> {
        // Cumulative statistics are flushed lazily; see the latest.
        sqlx::query("SELECT pg_stat_clear_snapshot()")
            .execute(&self.admin)
            .await?;
        let (next_xid, wal_syncs): (i64, i64) = sqlx::query_as(
            "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint, \
             (SELECT wal_sync FROM pg_stat_wal)",
        )
        .fetch_one(&self.admin)
        .await?;
        let mut reading = Reading {
            next_xid,
            wal_syncs,
            postgres_cpu: 0.0,
            redis_cpu: 0.0,
            leadflow_cpu: 0.0,
        };
        for (pid, comm, ticks) in processes() {
            let seconds = ticks as f64 / TICKS_PER_SECOND;
            if Some(pid) == self.leadflow_pid {
                reading.leadflow_cpu += seconds;
            } else if comm == "postgres" {
                reading.postgres_cpu += seconds;
            } else if comm == "redis-server" {
                reading.redis_cpu += seconds;
            }
        }
        Ok(reading)
    }

    /// What each of `units` cost between two readings.
    pub fn cost(before: &Reading, after: &Reading, units: usize) -> Cost {
        let per = |d: f64| d / units.max(1) as f64;
        Cost {
            write_transactions: per((after.next_xid - before.next_xid) as f64),
            wal_syncs: per((after.wal_syncs - before.wal_syncs) as f64),
            postgres_cpu_ms: per(after.postgres_cpu - before.postgres_cpu) * 1e3,
            redis_cpu_ms: per(after.redis_cpu - before.redis_cpu) * 1e3,
            leadflow_cpu_ms: per(after.leadflow_cpu - before.leadflow_cpu) * 1e3,
        }
    }

    pub async fn close(self) {
        self.admin.close().await;
    }
}

/// (pid, command name, CPU ticks of the process and its reaped children).
fn processes() -> Vec<(u32, String, u64)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            parse_stat(&stat).map(|(comm, ticks)| (pid, comm, ticks))
        })
        .collect()
}

/// Command name and utime + stime + cutime + cstime from `/proc/<pid>/stat`.
fn parse_stat(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    // After ") ": state is field 3; utime..cstime are fields 14..17.
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    let ticks = fields
        .get(11..15)?
        .iter()
        .map(|f| f.parse::<i64>().unwrap_or(0).max(0) as u64)
        .sum();
    Some((comm, ticks))
}

/// /proc reports times in USER_HZ ticks, which Linux fixes at 100 per second
/// for user space on every architecture it ships.
const TICKS_PER_SECOND: f64 = 100.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_the_name_and_all_four_times() {
        // A command name with spaces and a parenthesis, as /proc allows.
        let line = "42 (post gres) x) S 1 42 42 0 -1 4194560 100 0 0 0 150 25 7 3 20 0 1 0 100 0 0";
        assert_eq!(parse_stat(line), Some(("post gres) x".into(), 185)));
    }

    #[test]
    fn costs_are_per_unit() {
        let before = Reading {
            next_xid: 100,
            wal_syncs: 10,
            postgres_cpu: 1.0,
            redis_cpu: 0.5,
            leadflow_cpu: 2.0,
        };
        let after = Reading {
            next_xid: 400,
            wal_syncs: 60,
            postgres_cpu: 2.0,
            redis_cpu: 0.6,
            leadflow_cpu: 4.0,
        };
        let cost = Meter::cost(&before, &after, 100);
        assert_eq!(cost.write_transactions, 3.0);
        assert_eq!(cost.wal_syncs, 0.5);
        assert!((cost.postgres_cpu_ms - 10.0).abs() < 1e-9);
        assert!((cost.redis_cpu_ms - 1.0).abs() < 1e-9);
        assert!((cost.leadflow_cpu_ms - 20.0).abs() < 1e-9);
    }
}
