//! What a buyer asks about, measured against the running stack.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use leadflow_auth::Role;
use leadflow_proto::common::v1 as common;
use leadflow_proto::leads::v1 as leads_pb;
use leadflow_proto::leads::v1::lead_service_client::LeadServiceClient;
use leadflow_proto::notifier::v1 as notifier_pb;
use leadflow_proto::notifier::v1::notification_event::Event;
use leadflow_proto::notifier::v1::notifier_service_client::NotifierServiceClient;
use leadflow_proto::routing::v1 as routing_pb;
use leadflow_proto::routing::v1::routing_service_client::RoutingServiceClient;
use leadflow_testkit::authed;
use sea_orm::sqlx::{self, postgres::PgPoolOptions};
use serde::Serialize;
use tonic::transport::Channel;

use crate::costs::{Cost, Meter};
use crate::load::{Figure, measure, quantiles};
use crate::stack::{Infra, Ports, REPS, channel};

/// HTTP/2 connections the load generator spreads its callers over, as a few
/// client replicas would hold.
const CONNECTIONS: usize = 8;

fn channels(port: u16) -> Arc<Vec<Channel>> {
    Arc::new((0..CONNECTIONS).map(|_| channel(port)).collect())
}

/// RouteLead, as the leads service calls it, at each caller count.
pub async fn route_lead(
    infra: &Infra,
    ports: Ports,
    org: &str,
    callers: &[usize],
    seconds: u64,
    meter: &Meter,
) -> anyhow::Result<Vec<Figure>> {
    let token = Arc::new(infra.token(org, "leadflow-leads", Role::Service));
    let candidates: Arc<Vec<routing_pb::Candidate>> = Arc::new(
        REPS.iter()
            .map(|id| routing_pb::Candidate {
                user_id: (*id).into(),
                role: common::Role::Sales as i32,
                active: true,
                available: true,
            })
            .collect(),
    );
    let channels = channels(ports.routing);
    let mut figures = Vec::new();
    for &n in callers {
        let (channels, token, candidates) = (channels.clone(), token.clone(), candidates.clone());
        let before = meter.read().await?;
        let mut figure = measure(n, Duration::from_secs(seconds), move |caller| {
            let mut client = RoutingServiceClient::new(channels[caller % CONNECTIONS].clone());
            let (token, candidates) = (token.clone(), candidates.clone());
            async move {
                let decision = client
                    .route_lead(authed(
                        routing_pb::RouteLeadRequest {
                            lead_id: uuid::Uuid::now_v7().to_string(),
                            source: common::LeadSource::Website as i32,
                            tags: vec![],
                            candidates: candidates.to_vec(),
                            attempt: 1,
                            exclude_user_ids: vec![],
                            preferred_owners: vec![],
                        },
                        &token,
                    ))
                    .await?
                    .into_inner();
                anyhow::ensure!(
                    REPS.contains(&decision.assignee_id.as_str()),
                    "RouteLead assigned nobody: {}",
                    decision.explanation
                );
                Ok(())
            }
        })
        .await;
        figure.cost = Some(Meter::cost(&before, &meter.read().await?, figure.ok));
        figures.push(figure);
    }
    Ok(figures)
}

fn create_request(name: String) -> leads_pb::CreateLeadRequest {
    leads_pb::CreateLeadRequest {
        name,
        email: "lead@example.com".into(),
        source: common::LeadSource::Website as i32,
        ..Default::default()
    }
}

/// One CreateLead that must come back routed to one of the reps.
async fn create_routed(
    client: &mut LeadServiceClient<Channel>,
    token: &str,
) -> anyhow::Result<leads_pb::Lead> {
    let lead = client
        .create_lead(authed(create_request("Bench Lead".into()), token))
        .await?
        .into_inner();
    anyhow::ensure!(
        REPS.contains(&lead.owner_id.as_str()),
        "lead {} came back unassigned",
        lead.id
    );
    Ok(lead)
}

/// CreateLead end to end at one caller count: the calls, then the time until
/// every routed lead's in-app notification is stored.
#[derive(Debug, Clone, Serialize)]
pub struct CreateLeadFigure {
    /// The calls themselves (routed and persisted with the outbox).
    pub calls: Figure,
    /// Leads per second until the last notification was stored.
    pub end_to_end_per_second: f64,
    /// How long after the last call the last notification was stored.
    pub drain_ms: f64,
    /// What one lead cost, from its call until its notification was stored.
    pub cost: Cost,
}

pub async fn create_lead(
    infra: &Infra,
    ports: Ports,
    org: &str,
    callers: &[usize],
    seconds: u64,
    meter: &Meter,
) -> anyhow::Result<Vec<CreateLeadFigure>> {
    let token = Arc::new(infra.token(org, "owner", Role::Owner));
    let channels = channels(ports.leads);
    let notifier = PgPoolOptions::new()
        .max_connections(2)
        .connect(&infra.notifier_db.url)
        .await?;
    let mut figures = Vec::new();
    for &n in callers {
        let newest = newest_notification(&notifier).await?;
        let (channels, token2) = (channels.clone(), token.clone());
        let reading = meter.read().await?;
        let started = Instant::now();
        let calls = measure(n, Duration::from_secs(seconds), move |caller| {
            let mut client = LeadServiceClient::new(channels[caller % CONNECTIONS].clone());
            let token = token2.clone();
            async move { create_routed(&mut client, &token).await.map(drop) }
        })
        .await;
        let calls_done = Instant::now();
        let deadline = Instant::now() + Duration::from_secs(60);
        while notifications_since(&notifier, org, newest).await? < calls.ok as i64 {
            anyhow::ensure!(
                Instant::now() < deadline,
                "notifications did not all arrive within 60 s"
            );
            tokio::time::sleep(POLL).await;
        }
        let all_done = started.elapsed();
        figures.push(CreateLeadFigure {
            end_to_end_per_second: calls.ok as f64 / all_done.as_secs_f64(),
            drain_ms: calls_done.elapsed().as_secs_f64() * 1e3,
            cost: Meter::cost(&reading, &meter.read().await?, calls.ok),
            calls,
        });
    }
    notifier.close().await;
    Ok(figures)
}

/// How often the bench looks for the last notification: often enough to add
/// at most 1% to a 5 s phase, rarely enough not to load the system measured.
const POLL: Duration = Duration::from_millis(50);

async fn newest_notification(pool: &sqlx::PgPool) -> anyhow::Result<i64> {
    let (id,): (i64,) = sqlx::query_as("SELECT coalesce(max(id), 0) FROM notifications")
        .fetch_one(pool)
        .await?;
    Ok(id)
}

/// Notifications of `org` stored after the id `after` (a primary-key range:
/// cheap however many came before).
async fn notifications_since(pool: &sqlx::PgPool, org: &str, after: i64) -> anyhow::Result<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM notifications WHERE id > $1 AND org_id = $2")
            .bind(after)
            .bind(org)
            .fetch_one(pool)
            .await?;
    Ok(n)
}

/// From CreateLead returning to the assignee's WatchNotifications event.
#[derive(Debug, Clone, Serialize)]
pub struct SpeedToLead {
    pub offered_per_second: f64,
    pub leads: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Leads created but never seen on a watcher within 10 s, plus failed calls.
    pub errors: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

pub async fn speed_to_lead(
    infra: &Infra,
    ports: Ports,
    org: &str,
    rate: f64,
    seconds: u64,
) -> anyhow::Result<SpeedToLead> {
    // Every rep watches their bell.
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut watchers = Vec::new();
    for rep in REPS {
        let token = infra.token(org, rep, Role::Sales);
        let mut stream = NotifierServiceClient::new(channel(ports.notifier))
            .watch_notifications(authed(
                notifier_pb::WatchNotificationsRequest::default(),
                &token,
            ))
            .await
            .context("opening a watch")?
            .into_inner();
        let seen = seen.clone();
        watchers.push(tokio::spawn(async move {
            while let Ok(Some(event)) = stream.message().await {
                if let Some(Event::Notification(n)) = event.event
                    && let Some(notifier_pb::notification::Subject::Lead(lead)) = n.subject
                {
                    seen.lock()
                        .unwrap()
                        .entry(lead.id)
                        .or_insert_with(Instant::now);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // the streams are open

    let token = Arc::new(infra.token(org, "owner", Role::Owner));
    let channels = channels(ports.leads);
    let returned: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let failures: Arc<Mutex<(usize, Option<String>)>> = Arc::default();
    let period = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut calls = Vec::new();
    let mut i = 0usize;
    while Instant::now() < end {
        ticker.tick().await;
        let mut client = LeadServiceClient::new(channels[i % CONNECTIONS].clone());
        i += 1;
        let (token, returned, failures) = (token.clone(), returned.clone(), failures.clone());
        calls.push(tokio::spawn(async move {
            match create_routed(&mut client, &token).await {
                Ok(lead) => returned.lock().unwrap().push((lead.id, Instant::now())),
                Err(error) => {
                    let mut f = failures.lock().unwrap();
                    f.0 += 1;
                    f.1.get_or_insert_with(|| format!("{error:#}"));
                }
            }
        }));
    }
    for call in calls {
        call.await?;
    }
    let returned = std::mem::take(&mut *returned.lock().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let all_seen = {
            let seen = seen.lock().unwrap();
            returned.iter().all(|(id, _)| seen.contains_key(id))
        };
        if all_seen {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for watcher in &watchers {
        watcher.abort();
    }
    let seen = seen.lock().unwrap();
    let mut delays = Vec::new();
    let mut missing = 0;
    for (id, at) in &returned {
        match seen.get(id) {
            // Seen before the call returned: zero.
            Some(notified) => delays.push(notified.saturating_duration_since(*at)),
            None => missing += 1,
        }
    }
    let (p50_ms, p99_ms, max_ms) = quantiles(&mut delays);
    let failures = failures.lock().unwrap();
    Ok(SpeedToLead {
        offered_per_second: rate,
        leads: returned.len(),
        p50_ms,
        p99_ms,
        max_ms,
        errors: failures.0 + missing,
        first_error: failures.1.clone().or_else(|| {
            (missing > 0).then(|| format!("{missing} lead(s) never reached a watcher"))
        }),
    })
}

/// AssignLeads of `count` unassigned leads chosen by filter.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Bulk {
    pub leads: usize,
    pub assigned: i32,
    pub wall_ms: f64,
    /// Importing them first (BatchCreateLeads, 1,000 per call), for scale.
    pub import_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Notifications the batch produced (one per assignee is right).
    pub notifications: usize,
    pub assignees: usize,
}

pub async fn bulk_assign(infra: &Infra, ports: Ports, org: &str, count: usize) -> Bulk {
    match try_bulk_assign(infra, ports, org, count).await {
        Ok(bulk) => bulk,
        Err(error) => Bulk {
            leads: count,
            error: Some(format!("{error:#}")),
            ..Bulk::default()
        },
    }
}

async fn try_bulk_assign(
    infra: &Infra,
    ports: Ports,
    org: &str,
    count: usize,
) -> anyhow::Result<Bulk> {
    let imported = Instant::now();
    let owner = infra.token(org, "owner", Role::Owner);
    let mut leads = LeadServiceClient::new(channel(ports.leads));
    let tag = format!("bulk-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    for chunk_start in (0..count).step_by(1_000) {
        let rows = (chunk_start..(chunk_start + 1_000).min(count))
            .map(|i| leads_pb::CreateLeadRequest {
                tags: vec![tag.clone()],
                ..create_request(format!("Imported {i}"))
            })
            .collect();
        let created = leads
            .batch_create_leads(authed(
                leads_pb::BatchCreateLeadsRequest {
                    requests: rows,
                    route: false,
                },
                &owner,
            ))
            .await?
            .into_inner();
        anyhow::ensure!(
            created.results.iter().all(|r| matches!(
                r.outcome,
                Some(leads_pb::batch_create_lead_result::Outcome::Lead(_))
            )),
            "an imported row failed"
        );
    }
    let import_ms = imported.elapsed().as_secs_f64() * 1e3;
    let assignee = REPS[0];
    let started = Instant::now();
    let outcome = leads
        .assign_leads(authed(
            leads_pb::AssignLeadsRequest {
                lead_ids: vec![],
                filter: Some(leads_pb::LeadFilter {
                    owner: "unassigned".into(),
                    tags: vec![tag],
                    ..Default::default()
                }),
                assignee_id: assignee.into(),
                allow_reassign: false,
            },
            &owner,
        ))
        .await?
        .into_inner();
    let wall = started.elapsed();
    anyhow::ensure!(
        outcome.assigned as usize == count,
        "assigned {} of {count}",
        outcome.assigned
    );

    // The batch's notifications, as the assignee's bell shows them.
    let rep = infra.token(org, assignee, Role::Sales);
    let mut notifier = NotifierServiceClient::new(channel(ports.notifier));
    let deadline = Instant::now() + Duration::from_secs(30);
    let notifications = loop {
        let list = notifier
            .list_notifications(authed(
                notifier_pb::ListNotificationsRequest {
                    page_size: 100,
                    ..Default::default()
                },
                &rep,
            ))
            .await?
            .into_inner();
        let of_batch = list
            .notifications
            .iter()
            .filter(|n| {
                matches!(&n.subject, Some(notifier_pb::notification::Subject::Batch(b)) if b.batch_id == outcome.batch_id)
            })
            .count();
        if of_batch > 0 || Instant::now() > deadline {
            break of_batch;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // A moment more, so a duplicate would show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(Bulk {
        leads: count,
        assigned: outcome.assigned,
        wall_ms: wall.as_secs_f64() * 1e3,
        import_ms,
        notifications,
        assignees: 1,
        error: None,
    })
}
