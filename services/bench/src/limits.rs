//! The physical limits leadflow's figures are compared with, measured in the
//! same run on the same machine:
//! - Redis: `redis-benchmark` calling (EVALSHA) a round-robin script as small
//!   as routing's: read the cursor, pick the next rep, write it back;
//! - Postgres durable commits: `pgbench` running single-row INSERTs;
//! - what database-backed CRMs do for round robin: a cursor row under
//!   `SELECT … FOR UPDATE` (the baseline of the routing issue).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use sea_orm::sqlx::{self, postgres::PgPoolOptions};

use crate::load::{Figure, measure, quantiles};
use crate::stack::REPS;

/// Round robin in one script: the limit of any Redis-backed router.
const RR_SCRIPT: &str = "local last = redis.call('GET', KEYS[1]) or '' \
local pick = ARGV[1] \
for i = 1, #ARGV do if ARGV[i] == last then pick = ARGV[(i % #ARGV) + 1] break end end \
redis.call('SET', KEYS[1], pick) return pick";

fn host_port(redis_url: &str) -> (String, String) {
    let rest = redis_url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or("127.0.0.1:6379");
    let rest = rest.rsplit('@').next().unwrap_or(rest);
    match rest.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.to_owned()),
        None => (rest.to_owned(), "6379".to_owned()),
    }
}

/// `redis-benchmark` EVALSHA of [`RR_SCRIPT`] with `clients` connections.
pub fn redis_evalsha(
    redis_url: &str,
    clients: usize,
    seconds: u64,
    prefix: &str,
) -> anyhow::Result<Figure> {
    let (host, port) = host_port(redis_url);
    let load = Command::new("redis-cli")
        .args(["-h", &host, "-p", &port, "SCRIPT", "LOAD", RR_SCRIPT])
        .output()
        .context("running redis-cli (install redis-tools)")?;
    anyhow::ensure!(
        load.status.success(),
        "SCRIPT LOAD failed: {}",
        String::from_utf8_lossy(&load.stderr)
    );
    let sha = String::from_utf8(load.stdout)?.trim().to_owned();
    // About `seconds` of work at the rate this machine reaches (~20k/s for one
    // client, ~80k/s for many).
    let requests = seconds as usize * if clients == 1 { 20_000 } else { 80_000 };
    let key = format!("{prefix}:{{rr}}:cursor");
    let mut args: Vec<String> = vec![
        "-h".into(),
        host,
        "-p".into(),
        port,
        "-c".into(),
        clients.to_string(),
        "-n".into(),
        requests.to_string(),
        "--csv".into(),
        "EVALSHA".into(),
        sha,
        "1".into(),
        key,
    ];
    args.extend(REPS.iter().map(|r| (*r).to_owned()));
    let out = Command::new("redis-benchmark")
        .args(&args)
        .output()
        .context("running redis-benchmark")?;
    anyhow::ensure!(
        out.status.success(),
        "redis-benchmark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut figure = parse_redis_csv(&String::from_utf8(out.stdout)?, clients)?;
    figure.ok = requests;
    Ok(figure)
}

/// The `--csv` output: a header, then
/// `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"`.
fn parse_redis_csv(text: &str, clients: usize) -> anyhow::Result<Figure> {
    let row = text
        .lines()
        .filter(|l| !l.starts_with("\"test\""))
        .find(|l| l.contains("EVALSHA"))
        .with_context(|| format!("no EVALSHA row in redis-benchmark output: {text}"))?;
    let fields: Vec<f64> = row
        .split(',')
        .skip(1)
        .map(|f| f.trim_matches('"').parse().unwrap_or(0.0))
        .collect();
    anyhow::ensure!(fields.len() >= 7, "unexpected redis-benchmark row: {row}");
    Ok(Figure {
        callers: clients,
        ok: 0,
        per_second: fields[0],
        p50_ms: fields[3],
        p99_ms: fields[5],
        max_ms: fields[6],
        ..Figure::default()
    })
}

/// `pgbench` of single-row INSERTs (each its own durable commit).
pub fn pgbench_insert(
    db_url: &str,
    db_name: &str,
    clients: usize,
    seconds: u64,
    dir: &Path,
) -> anyhow::Result<Figure> {
    let psql = |sql: &str| {
        Command::new("psql")
            .args([db_url, "-qAtc", sql])
            .output()
            .context("running psql")
    };
    psql(
        "CREATE TABLE IF NOT EXISTS bench_insert (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL)",
    )?;
    let script = dir.join("insert.sql");
    std::fs::write(
        &script,
        "INSERT INTO bench_insert (payload) VALUES ('a lead');\n",
    )?;
    let logs = dir.join(format!("pgbench-{clients}"));
    std::fs::create_dir_all(&logs)?;
    let (host, port, user) = pg_parts(db_url);
    let out = Command::new("pgbench")
        .args(["-n", "-h", &host, "-p", &port, "-U", &user])
        .args([
            "-c",
            &clients.to_string(),
            "-j",
            &clients.min(2).to_string(),
        ])
        .args(["-T", &seconds.to_string(), "-f"])
        .arg(&script)
        .arg("-l")
        .arg(format!("--log-prefix={}", logs.join("tx").display()))
        .arg(db_name)
        .output()
        .context("running pgbench (install postgresql-client)")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "pgbench failed: {}{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    let tps: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no tps in pgbench output: {text}"))?;
    let failed: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("number of failed transactions: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // Per-transaction log lines: client, transaction, latency (µs), …
    let mut latencies = Vec::new();
    for entry in std::fs::read_dir(&logs)? {
        for line in std::fs::read_to_string(entry?.path())?.lines() {
            if let Some(us) = line
                .split_whitespace()
                .nth(2)
                .and_then(|v| v.parse::<u64>().ok())
            {
                latencies.push(Duration::from_micros(us));
            }
        }
    }
    let (p50_ms, p99_ms, max_ms) = quantiles(&mut latencies);
    Ok(Figure {
        callers: clients,
        ok: latencies.len(),
        errors: failed,
        seconds: seconds as f64,
        per_second: tps,
        p50_ms,
        p99_ms,
        max_ms,
        first_error: None,
        cost: None,
    })
}

/// host, port, user of a `postgres://user@host:port/db` URL.
fn pg_parts(url: &str) -> (String, String, String) {
    let rest = url
        .trim_start_matches("postgres://")
        .trim_start_matches("postgresql://");
    let authority = rest.split('/').next().unwrap_or(rest);
    let (user, hostport) = authority
        .rsplit_once('@')
        .unwrap_or(("postgres", authority));
    let user = user.split(':').next().unwrap_or("postgres");
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
    (host.to_owned(), port.to_owned(), user.to_owned())
}

/// Round robin as a database-backed CRM does it: a cursor row, locked per pick.
pub async fn postgres_row_lock(
    db_url: &str,
    callers: &[usize],
    seconds: u64,
) -> anyhow::Result<Vec<Figure>> {
    let pool = PgPoolOptions::new()
        .max_connections(callers.iter().copied().max().unwrap_or(1) as u32)
        .connect(db_url)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS rr_cursor (org_id TEXT PRIMARY KEY, last_user TEXT NOT NULL)",
    )
    .execute(&pool)
    .await?;
    sqlx::query("INSERT INTO rr_cursor VALUES ('bench', '') ON CONFLICT DO NOTHING")
        .execute(&pool)
        .await?;
    let mut figures = Vec::new();
    for &n in callers {
        let pool = pool.clone();
        figures.push(
            measure(n, Duration::from_secs(seconds), move |_| {
                let pool = pool.clone();
                async move {
                    let mut txn = pool.begin().await?;
                    let (last,): (String,) = sqlx::query_as(
                        "SELECT last_user FROM rr_cursor WHERE org_id = 'bench' FOR UPDATE",
                    )
                    .fetch_one(&mut *txn)
                    .await?;
                    let next = REPS
                        .iter()
                        .find(|r| **r > last.as_str())
                        .unwrap_or(&REPS[0]);
                    sqlx::query("UPDATE rr_cursor SET last_user = $1 WHERE org_id = 'bench'")
                        .bind(*next)
                        .execute(&mut *txn)
                        .await?;
                    txn.commit().await?;
                    Ok(())
                }
            })
            .await,
        );
    }
    pool.close().await;
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_benchmark_csv_rows_are_read() {
        let text = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\
                    \"EVALSHA 2ac 1 k rep-1\",\"76923.08\",\"0.780\",\"0.120\",\"0.743\",\"1.135\",\"1.391\",\"3.351\"\n";
        let figure = parse_redis_csv(text, 64).unwrap();
        assert_eq!(figure.per_second, 76923.08);
        assert_eq!(figure.p50_ms, 0.743);
        assert_eq!(figure.p99_ms, 1.391);
    }

    #[test]
    fn postgres_urls_split_into_pgbench_flags() {
        assert_eq!(
            pg_parts("postgres://postgres@127.0.0.1:5432/lf_test_x"),
            ("127.0.0.1".into(), "5432".into(), "postgres".into())
        );
        assert_eq!(
            host_port("redis://127.0.0.1:6379/0"),
            ("127.0.0.1".into(), "6379".into())
        );
    }
}
