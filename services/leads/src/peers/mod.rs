//! The leads service's clients of routing and the notifier.
//!
//! Calls carry a `service` token minted for the organisation concerned and
//! signed with the leads service's own key, so routing and the notifier know
//! both who calls (leadflow itself) and for which organisation. Messages are
//! built and answers read in [`wire`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use leadflow_auth::{Caller, Role, TokenMinter};
use leadflow_proto::notifier::v1 as notifier_pb;
use leadflow_proto::notifier::v1::notifier_service_client::NotifierServiceClient;
use leadflow_proto::routing::v1 as routing_pb;
use leadflow_proto::routing::v1::routing_service_client::RoutingServiceClient;
use tonic::transport::Channel;

use crate::balance::{balanced_channel, system_resolver};

use crate::domain::contact::ContactMatch;
use crate::domain::events::{DirectoryFact, OwnershipFact};
use crate::domain::lead::LeadSource;
use crate::domain::member::Member;

pub mod wire;

pub use wire::{Notification, RouteAnswer, notify_request, source_of};

/// The identity leads calls the other services with.
const SERVICE_USER: &str = "leadflow-leads";
/// Lifetime of a minted service token; a new one is minted halfway through.
const TOKEN_TTL: Duration = Duration::from_secs(600);
/// Facts per ApplyOwnershipChanges / ReconcileWorkload call.
pub const FACTS_PER_CALL: usize = 1_000;
/// Most candidates routing takes in one RouteLead. A bigger team sends only
/// the members who can take a lead (active, available, sales-capable): the
/// others would only be listed as skipped.
pub const MAX_CANDIDATES: usize = 50_000;
/// The attempt of a lead's first routing question (at creation, and late
/// routing of a lead created while routing was away: the same question, so
/// a pick routing made after the deadline is replayed, not made twice).
pub const FIRST_ATTEMPT: i32 = 1;

/// What routing is asked about a lead.
#[derive(Debug, Clone, Copy)]
pub struct RouteQuestion<'a> {
    /// Routing remembers its decision per lead and attempt, so a retried question is replayed.
    pub lead_id: &'a str,
    /// Where the lead came from: routing's rules match on it.
    pub source: LeadSource,
    /// The lead's tags: routing's rules match on them too.
    pub tags: &'a [String],
    /// [`FIRST_ATTEMPT`], or higher for a re-route.
    pub attempt: i32,
    /// Reps routing must skip: an SLA chain's holders so far.
    pub exclude: &'a [String],
    /// The owners of the contact's open leads (sticky ownership).
    pub preferred: &'a [ContactMatch],
}

/// One request of an authoritative reconcile session (see routing's
/// ReconcileWorkloadRequest).
#[derive(Debug, Default)]
pub struct ReconcileStep<'a> {
    /// A chunk of this database's ownership truth; entries it confirms survive `finish`.
    pub truth: &'a [OwnershipFact],
    /// Closed leads with no ownership event pending, whose entries routing may drop.
    pub forget: &'a [OwnershipFact],
    /// Opens the session; routing answers with the epoch `finish` must name.
    pub begin: bool,
    /// Closes the session: routing removes the entries no chunk confirmed since `begin`.
    pub finish: bool,
    /// The session `finish` closes (routing's answer to `begin`); unused otherwise.
    pub epoch: i64,
    /// Leads routing gave each rep lately, per 15-minute bucket (rep,
    /// bucket start, count): routing restores its per-day counters from them.
    pub routed: &'a [(String, chrono::DateTime<chrono::Utc>, i64)],
}

/// Service tokens per organisation, minted once and reused while fresh (the
/// receivers remember verified tokens, so reuse is cheap for them too).
pub struct ServiceTokens {
    /// Signs with the leads service's own key, which routing and the notifier trust.
    minter: TokenMinter,
    /// Token and mint time per organisation; re-minted after half of [`TOKEN_TTL`].
    cache: Mutex<HashMap<String, (String, Instant)>>,
}

impl ServiceTokens {
    pub fn new(minter: TokenMinter) -> Self {
        ServiceTokens {
            minter,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn for_org(&self, org_id: &str) -> String {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((token, minted)) = cache.get(org_id)
            && minted.elapsed() < TOKEN_TTL / 2
        {
            return token.clone();
        }
        let token = self
            .minter
            .mint(&Caller::new(SERVICE_USER, org_id, Role::Service), TOKEN_TTL);
        cache.insert(org_id.to_owned(), (token.clone(), Instant::now()));
        token
    }
}

/// A channel balanced over every address of the peer's name (see
/// [`crate::balance`]), re-resolved every `dns_refresh`.
fn channel(url: &str, dns_refresh: Duration) -> anyhow::Result<Channel> {
    balanced_channel(url, dns_refresh, system_resolver(), |endpoint| {
        endpoint
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
    })
}

/// Routing and the notifier, as far as they are configured.
pub struct Peers {
    /// `None` without a routing URL: leads stay unassigned and ownership is not reported.
    routing: Option<RoutingServiceClient<Channel>>,
    /// `None` without a notifier URL: notifications and directory facts are not sent to it.
    notifier: Option<NotifierServiceClient<Channel>>,
    /// Authenticates every call as leadflow itself, for the organisation concerned.
    tokens: ServiceTokens,
    /// The short deadline of RouteLead while a CreateLead waits.
    route_deadline: Duration,
    /// The deadline of calls the outbox makes.
    call_timeout: Duration,
}

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peers")
            .field("routing", &self.routing.is_some())
            .field("notifier", &self.notifier.is_some())
            .finish_non_exhaustive()
    }
}

fn request<T>(message: T, token: &str, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(timeout);
    leadflow_telemetry::inject(request.metadata_mut());
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

impl Peers {
    pub fn new(
        routing_url: Option<&str>,
        notifier_url: Option<&str>,
        tokens: ServiceTokens,
        route_deadline: Duration,
        dns_refresh: Duration,
    ) -> anyhow::Result<Peers> {
        Ok(Peers {
            routing: routing_url
                .map(|url| channel(url, dns_refresh))
                .transpose()?
                .map(RoutingServiceClient::new),
            notifier: notifier_url
                .map(|url| channel(url, dns_refresh))
                .transpose()?
                .map(NotifierServiceClient::new),
            tokens,
            route_deadline,
            call_timeout: Duration::from_secs(5),
        })
    }

    pub fn routes(&self) -> bool {
        self.routing.is_some()
    }

    pub fn notifies(&self) -> bool {
        self.notifier.is_some()
    }

    /// Asks routing who gets a lead. `Err` when routing is unreachable or slow.
    pub async fn route(
        &self,
        org_id: &str,
        question: RouteQuestion<'_>,
        team: &[Member],
        deadline: Option<Duration>,
    ) -> Result<RouteAnswer, tonic::Status> {
        let Some(client) = &self.routing else {
            return Err(tonic::Status::failed_precondition(
                "routing is not configured",
            ));
        };
        let message = wire::route_request(question, team);
        let token = self.tokens.for_org(org_id);
        let timeout = deadline.unwrap_or(self.route_deadline);
        let mut client = client.clone();
        let call = client.route_lead(request(message, &token, timeout));
        let decision = bounded(timeout, call).await?.into_inner();
        Ok(wire::route_answer(decision))
    }

    /// Reports ownership changes to routing (idempotent by version).
    pub async fn apply(&self, org_id: &str, facts: &[OwnershipFact]) -> Result<(), tonic::Status> {
        let Some(client) = &self.routing else {
            return Ok(());
        };
        let token = self.tokens.for_org(org_id);
        for chunk in facts.chunks(FACTS_PER_CALL) {
            let message = routing_pb::ApplyOwnershipChangesRequest {
                changes: wire::ownership_changes(chunk),
            };
            bounded(
                self.call_timeout,
                client
                    .clone()
                    .apply_ownership_changes(request(message, &token, self.call_timeout)),
            )
            .await?;
        }
        Ok(())
    }

    /// Sends one step of a reconcile session to routing; returns (entries
    /// corrected, the session's epoch).
    pub async fn reconcile(
        &self,
        org_id: &str,
        step: ReconcileStep<'_>,
    ) -> Result<(i64, i64), tonic::Status> {
        let Some(client) = &self.routing else {
            return Ok((0, 0));
        };
        let token = self.tokens.for_org(org_id);
        let message = routing_pb::ReconcileWorkloadRequest {
            leads: wire::ownership_changes(step.truth),
            forget: wire::ownership_changes(step.forget),
            begin: step.begin,
            finish: step.finish,
            epoch: step.epoch,
            routed: wire::routed_counts(step.routed),
        };
        let answer = bounded(
            self.call_timeout,
            client
                .clone()
                .reconcile_workload(request(message, &token, self.call_timeout)),
        )
        .await?
        .into_inner();
        Ok((answer.corrected, answer.epoch))
    }

    /// Publishes directory facts to routing and the notifier (idempotent by
    /// version; both must take them).
    pub async fn apply_directory(
        &self,
        org_id: &str,
        facts: &[DirectoryFact],
    ) -> Result<(), tonic::Status> {
        let token = self.tokens.for_org(org_id);
        for chunk in facts.chunks(FACTS_PER_CALL) {
            let message = wire::directory_changes(chunk);
            if let Some(client) = &self.routing {
                bounded(
                    self.call_timeout,
                    client.clone().apply_directory_changes(request(
                        message.clone(),
                        &token,
                        self.call_timeout,
                    )),
                )
                .await?;
            }
            if let Some(client) = &self.notifier {
                bounded(
                    self.call_timeout,
                    client.clone().apply_directory_changes(request(
                        message,
                        &token,
                        self.call_timeout,
                    )),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Hands a notification to the notifier (idempotent on `key`).
    pub async fn notify(
        &self,
        org_id: &str,
        message: notifier_pb::NotifyRequest,
    ) -> Result<(), tonic::Status> {
        let Some(client) = &self.notifier else {
            return Ok(());
        };
        let token = self.tokens.for_org(org_id);
        bounded(
            self.call_timeout,
            client
                .clone()
                .notify(request(message, &token, self.call_timeout)),
        )
        .await?;
        Ok(())
    }
}

/// A call that gives up after `timeout` on this side too: while no peer
/// address is ready, the balancer would otherwise hold it indefinitely.
async fn bounded<T>(
    timeout: Duration,
    call: impl std::future::Future<Output = Result<T, tonic::Status>>,
) -> Result<T, tonic::Status> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or_else(|_| {
            Err(tonic::Status::deadline_exceeded(
                "the peer did not answer in time",
            ))
        })
}
