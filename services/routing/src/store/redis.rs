//! The routing state in Redis: every change is one Lua script (EVALSHA, loaded
//! again on NOSCRIPT), so two leads arriving at the same instant on any number
//! of routing replicas still go to different reps, in order.
//!
//! Keys of one organisation share a hash tag — `lf:{org-1}:cursors`,
//! `lf:{org-1}:load`, … — so each script touches a single slot and the store
//! works unchanged on Redis Cluster. Redis must not evict these keys
//! (`maxmemory-policy noeviction`); losing them all at once (a restart without
//! persistence, a failover) is detected through the generation marker.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, Script, ScriptInvocation, Value};
use tokio::sync::Mutex;

use super::state::{
    Generation, Ownership, Pick, Picked, RoutingState, Snapshot, StateError, new_generation,
};
use crate::domain::decision::{Cap, CapHit};
use crate::domain::settings::Strategy;

/// Facts per script call: bounded, so a big reconcile never blocks Redis for long.
const FACTS_PER_SCRIPT: usize = 500;

/// Where the state lives.
#[derive(Clone)]
pub enum RedisTarget {
    /// One Redis server (`redis://host:port/db`).
    Single(String),
    /// Redis Cluster, by its seed nodes.
    Cluster(Vec<String>),
}

/// Shows hosts, never passwords (the target is logged at start-up).
impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |url: &str| leadflow_db::DatabaseUrl::new(url).redacted();
        match self {
            RedisTarget::Single(url) => f.debug_tuple("Single").field(&redact(url)).finish(),
            RedisTarget::Cluster(nodes) => f
                .debug_tuple("Cluster")
                .field(&nodes.iter().map(|n| redact(n)).collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// A connection to either kind of deployment.
#[derive(Clone)]
enum Conn {
    /// One server, reconnecting by itself.
    Single(ConnectionManager),
    /// Redis Cluster, routing each command to its slot's master.
    Cluster(redis::cluster_async::ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Routing state in Redis or Redis Cluster.
pub struct RedisState {
    /// The deployment to connect to.
    target: RedisTarget,
    /// Connected lazily and kept: routing starts (and stays up) while Redis
    /// is down, and answers UNAVAILABLE until it is back.
    conn: Mutex<Option<Conn>>,
    /// Namespaces the keys (tests give each run its own).
    prefix: String,
    /// How long a lead's decision is remembered for a retry.
    decision_ttl: Duration,
    /// The most one state operation may take, connecting included.
    timeout: Duration,
    /// scripts/pick.lua: the atomic pick.
    pick_script: Script,
    /// Raises the published settings version (never lowers it).
    publish_script: Script,
    /// scripts/ownership.lua: ownership facts and the reconcile steps.
    ownership_script: Script,
    /// Raises per-day counters (never lowers them).
    restore_daily_script: Script,
}

impl std::fmt::Debug for RedisState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisState")
            .field("prefix", &self.prefix)
            .field("decision_ttl", &self.decision_ttl)
            .finish_non_exhaustive()
    }
}

impl RedisState {
    pub fn new(
        target: RedisTarget,
        prefix: impl Into<String>,
        decision_ttl: Duration,
        timeout: Duration,
    ) -> Self {
        RedisState {
            target,
            conn: Mutex::new(None),
            prefix: prefix.into(),
            decision_ttl,
            timeout,
            pick_script: Script::new(include_str!("../../scripts/pick.lua")),
            publish_script: Script::new(PUBLISH_SETTINGS),
            ownership_script: Script::new(include_str!("../../scripts/ownership.lua")),
            restore_daily_script: Script::new(RESTORE_DAILY),
        }
    }

    fn key(&self, org_id: &str, name: &str) -> String {
        format!("{}:{{{org_id}}}:{name}", self.prefix)
    }

    async fn connect(&self) -> Result<Conn, StateError> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let failed = |e: redis::RedisError| StateError(format!("connecting to Redis: {e}"));
        let conn = match &self.target {
            RedisTarget::Single(url) => {
                let client = redis::Client::open(url.as_str()).map_err(failed)?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_secs(1));
                Conn::Single(
                    client
                        .get_connection_manager_with_config(config)
                        .await
                        .map_err(failed)?,
                )
            }
            RedisTarget::Cluster(nodes) => {
                let client = redis::cluster::ClusterClient::builder(nodes.clone())
                    .connection_timeout(self.timeout)
                    .response_timeout(self.timeout)
                    .retries(2)
                    .build()
                    .map_err(failed)?;
                Conn::Cluster(client.get_async_connection().await.map_err(failed)?)
            }
        };
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Runs one state operation within the timeout.
    async fn run<T>(
        &self,
        what: &str,
        op: impl AsyncFnOnce(Conn) -> redis::RedisResult<T>,
    ) -> Result<T, StateError> {
        let attempt = async {
            let conn = self.connect().await?;
            op(conn)
                .await
                .map_err(|e| StateError(format!("{what}: {e}")))
        };
        tokio::time::timeout(self.timeout, attempt)
            .await
            .map_err(|_| {
                StateError(format!(
                    "{what}: Redis did not answer within {:?}",
                    self.timeout
                ))
            })?
    }

    /// Runs a prepared script within the timeout.
    async fn invoke<T: FromRedisValue>(
        &self,
        what: &str,
        call: ScriptInvocation<'_>,
    ) -> Result<T, StateError> {
        self.run(what, async move |mut conn| {
            call.invoke_async(&mut conn).await
        })
        .await
    }

    /// Runs one command within the timeout.
    async fn query<T: FromRedisValue>(&self, what: &str, cmd: Cmd) -> Result<T, StateError> {
        self.run(what, async move |mut conn| cmd.query_async(&mut conn).await)
            .await
    }

    /// Runs ownership.lua in `mode` over `facts`, [`FACTS_PER_SCRIPT`] at a
    /// time (at least once, so an empty call still reads the generation).
    /// Returns (entries changed, generation, epoch).
    async fn merge(
        &self,
        org_id: &str,
        facts: &[Ownership],
        mode: &str,
    ) -> Result<(u64, Generation, i64), StateError> {
        let mut changed = 0;
        let mut generation = Generation {
            id: String::new(),
            reset: false,
        };
        let mut epoch = 0;
        let chunks: Vec<&[Ownership]> = if facts.is_empty() {
            vec![&[]]
        } else {
            facts.chunks(FACTS_PER_SCRIPT).collect()
        };
        for chunk in chunks {
            let mut call = self.ownership_call(org_id, mode);
            for fact in chunk {
                call.arg(&fact.lead_id)
                    .arg(fact.owner_id.as_deref().unwrap_or(""))
                    .arg(if fact.open { "1" } else { "0" })
                    .arg(fact.version);
            }
            let (n, id, reset, at): (u64, String, i64, i64) =
                self.invoke("ownership script", call).await?;
            changed += n;
            generation.reset |= reset == 1;
            generation.id = id;
            epoch = at;
        }
        Ok((changed, generation, epoch))
    }

    fn ownership_call(&self, org_id: &str, mode: &str) -> redis::ScriptInvocation<'_> {
        let mut call = self.ownership_script.prepare_invoke();
        call.key(self.key(org_id, "owners"))
            .key(self.key(org_id, "load"))
            .key(self.key(org_id, "gen"))
            .key(self.key(org_id, "touched"))
            .key(self.key(org_id, "epoch"))
            .arg(mode)
            .arg(new_generation());
        call
    }

    /// The key of a remembered decision. The first question keeps the key it
    /// had before attempts were numbered, so an upgrade replays it.
    fn decision_key(&self, org_id: &str, lead_id: &str, attempt: u32) -> String {
        match attempt {
            0 | 1 => self.key(org_id, &format!("decision:{lead_id}")),
            n => self.key(org_id, &format!("decision:{lead_id}:{n}")),
        }
    }
}

#[tonic::async_trait]
impl RoutingState for RedisState {
    #[tracing::instrument(name = "redis EVALSHA pick.lua", skip_all, fields(db.system = "redis", db.operation = "EVALSHA"))]
    async fn pick_with(&self, org_id: &str, pick: &Pick<'_>) -> Result<Picked, StateError> {
        let mut call = self.pick_script.prepare_invoke();
        call.key(self.key(org_id, "cursors"))
            .key(self.decision_key(org_id, pick.lead_id, pick.attempt))
            .key(self.key(org_id, "gen"))
            .key(self.key(org_id, "owners"))
            .key(self.key(org_id, "load"))
            .key(self.key(org_id, "touched"))
            .key(self.key(org_id, "epoch"))
            .key(self.key(org_id, "weights"))
            .key(self.key(org_id, "settings"))
            .key(self.key(org_id, "daily"))
            .arg(pick.pool)
            .arg(match pick.strategy {
                Strategy::RoundRobin => "rr",
                Strategy::BalancedWorkload => "balanced",
            })
            .arg(pick.lead_id)
            .arg(self.decision_ttl.as_secs().max(1))
            .arg(new_generation())
            .arg(pick.eligible().len())
            .arg(pick.settings_version())
            .arg(match (pick.weights().is_some(), pick.caps().is_some()) {
                (false, false) => "",
                (true, false) => "w",
                (false, true) => "c",
                (true, true) => "wc",
            })
            .arg(pick.eligible());
        if let Some(weights) = pick.weights() {
            call.arg(weights);
            for id in pick.eligible() {
                call.arg(format!("{}\n{id}", pick.pool));
            }
        }
        if let Some(caps) = pick.caps() {
            for cap in caps {
                call.arg(cap.max_open);
            }
            for cap in caps {
                call.arg(cap.max_per_day);
            }
            for (id, cap) in pick.eligible().iter().zip(caps) {
                call.arg(Cap::daily_key(id, &cap.day));
            }
        }
        let (assignee, replayed, generation, reset, newer, capped): (
            String,
            i64,
            String,
            i64,
            i64,
            Vec<String>,
        ) = self.invoke("pick script", call).await?;
        let capped = capped
            .iter()
            .map(|entry| parse_capped(entry))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Picked {
            replayed: replayed == 1,
            generation: Generation {
                id: generation,
                reset: reset == 1,
            },
            newer_settings: newer == 1,
            all_capped: assignee.is_empty() && newer == 0,
            assignee,
            capped,
        })
    }

    async fn apply(&self, org_id: &str, changes: &[Ownership]) -> Result<Generation, StateError> {
        Ok(self.merge(org_id, changes, "apply").await?.1)
    }

    async fn begin_reconcile(&self, org_id: &str) -> Result<i64, StateError> {
        Ok(self.merge(org_id, &[], "begin").await?.2)
    }

    async fn reconcile(&self, org_id: &str, truth: &[Ownership]) -> Result<u64, StateError> {
        Ok(self.merge(org_id, truth, "reconcile").await?.0)
    }

    async fn forget(&self, org_id: &str, closed: &[Ownership]) -> Result<u64, StateError> {
        if closed.is_empty() {
            return Ok(0);
        }
        Ok(self.merge(org_id, closed, "forget").await?.0)
    }

    async fn sweep(&self, org_id: &str, epoch: i64) -> Result<u64, StateError> {
        // HSCAN reads the lead ids without blocking Redis; the script then
        // checks each entry atomically, so a pick made between the two is
        // marked with the current epoch and kept.
        let owners = self.key(org_id, "owners");
        let mut cursor = 0u64;
        let mut removed = 0;
        loop {
            let mut scan = redis::cmd("HSCAN");
            scan.arg(&owners)
                .arg(cursor)
                .arg("COUNT")
                .arg(FACTS_PER_SCRIPT);
            let (next, flat): (u64, Vec<String>) = self.query("scanning owners", scan).await?;
            let leads: Vec<&String> = flat.iter().step_by(2).collect();
            if !leads.is_empty() {
                let mut call = self.ownership_call(org_id, "sweep");
                call.arg(epoch);
                for lead in leads {
                    call.arg(lead);
                }
                let (n, _, _, _): (u64, String, i64, i64) =
                    self.invoke("sweep script", call).await?;
                removed += n;
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    async fn entries(&self, org_id: &str) -> Result<u64, StateError> {
        let mut hlen = redis::cmd("HLEN");
        hlen.arg(self.key(org_id, "owners"));
        self.query("counting entries", hlen).await
    }

    async fn workload(&self, org_id: &str) -> Result<HashMap<String, i64>, StateError> {
        self.hgetall("reading workload", org_id, "load").await
    }

    async fn restore_daily(
        &self,
        org_id: &str,
        counts: &[(String, i64)],
        keep_from: &str,
    ) -> Result<u64, StateError> {
        // Picks only ever write today's counters, so dropping older days
        // needs no script.
        let daily = self.key(org_id, "daily");
        let mut hkeys = redis::cmd("HKEYS");
        hkeys.arg(&daily);
        let fields: Vec<String> = self.query("reading daily counters", hkeys).await?;
        let old: Vec<&String> = fields
            .iter()
            .filter(|f| super::state::daily_key_before(f, keep_from))
            .collect();
        for chunk in old.chunks(FACTS_PER_SCRIPT) {
            let mut hdel = redis::cmd("HDEL");
            hdel.arg(&daily).arg(chunk);
            let _: u64 = self.query("dropping old daily counters", hdel).await?;
        }
        let mut raised = 0;
        for chunk in counts.chunks(FACTS_PER_SCRIPT) {
            let mut call = self.restore_daily_script.prepare_invoke();
            call.key(self.key(org_id, "daily"));
            for (key, count) in chunk {
                call.arg(key).arg(count);
            }
            let n: u64 = self.invoke("restore daily counts", call).await?;
            raised += n;
        }
        Ok(raised)
    }

    async fn publish_settings(&self, org_id: &str, version: i64) -> Result<(), StateError> {
        let mut call = self.publish_script.prepare_invoke();
        call.key(self.key(org_id, "settings")).arg(version);
        let _: i64 = self.invoke("publish settings", call).await?;
        Ok(())
    }

    async fn snapshot(&self, org_id: &str) -> Result<Snapshot, StateError> {
        Ok(Snapshot {
            cursors: self.hgetall("reading cursors", org_id, "cursors").await?,
            load: self.workload(org_id).await?,
            current: current_weights(self.hgetall("reading weights", org_id, "weights").await?),
            daily: self
                .hgetall("reading daily counts", org_id, "daily")
                .await?,
        })
    }
}

/// One capped entry of pick.lua: `user\tO\topen\tmax` or `user\tD\ttoday\tmax`.
fn parse_capped(entry: &str) -> Result<(String, CapHit), StateError> {
    let bad = || StateError(format!("pick script: capped entry {entry:?}"));
    let mut parts = entry.split('\t');
    let (id, kind, count, max) = (
        parts.next().ok_or_else(bad)?,
        parts.next().ok_or_else(bad)?,
        parts
            .next()
            .and_then(|c| c.parse::<i64>().ok())
            .ok_or_else(bad)?,
        parts
            .next()
            .and_then(|m| m.parse::<u32>().ok())
            .ok_or_else(bad)?,
    );
    let hit = match kind {
        "O" => CapHit::Open { open: count, max },
        "D" => CapHit::Day { today: count, max },
        _ => return Err(bad()),
    };
    Ok((id.to_owned(), hit))
}

/// Raises KEYS[1] to ARGV[1] if it is higher; returns the version kept.
const PUBLISH_SETTINGS: &str = r#"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local version = tonumber(ARGV[1])
if version > current then
  redis.call('SET', KEYS[1], ARGV[1])
  return version
end
return current
"#;

/// Raises each field ARGV[2i-1] of the daily hash KEYS[1] to ARGV[2i] when
/// higher; returns how many it raised.
const RESTORE_DAILY: &str = r#"
local raised = 0
for i = 1, #ARGV, 2 do
  local have = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  local want = tonumber(ARGV[i + 1])
  if want > have then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    raised = raised + 1
  end
end
return raised
"#;

/// The weights hash (`pool \n user` -> current weight) as pool -> user -> weight.
fn current_weights(flat: HashMap<String, i64>) -> HashMap<String, HashMap<String, i64>> {
    let mut pools: HashMap<String, HashMap<String, i64>> = HashMap::new();
    for (field, weight) in flat {
        if let Some((pool, user)) = field.split_once('\n') {
            pools
                .entry(pool.to_owned())
                .or_default()
                .insert(user.to_owned(), weight);
        }
    }
    pools
}

impl RedisState {
    /// A whole hash of the organisation (HGETALL).
    async fn hgetall<T: FromRedisValue>(
        &self,
        what: &str,
        org_id: &str,
        name: &str,
    ) -> Result<T, StateError> {
        let mut hgetall = redis::cmd("HGETALL");
        hgetall.arg(self.key(org_id, name));
        self.query(what, hgetall).await
    }
}
