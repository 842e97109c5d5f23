//! Redis going away and coming back: RouteLead answers UNAVAILABLE within its
//! deadline, the server stays up, and recovers by itself.

use std::time::{Duration, Instant};

use leadflow_auth::Role;
use leadflow_proto::common::v1 as common;
use leadflow_routing::store::RedisTarget;
use leadflow_testkit::redis::RedisProcess;
use tonic::Code;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_unavailable_in_time_and_routing_recovers_when_it_returns() {
    let mut redis = tokio::task::spawn_blocking(RedisProcess::start)
        .await
        .unwrap();
    let app = spawn_routing(1, StateKind::Redis(RedisTarget::Single(redis.url()))).await;
    app.set(round_robin()).await;
    let team = [rep("ana"), rep("ben")];
    assert_eq!(
        app.route(&lead_id(), common::LeadSource::Team, &team)
            .await
            .assignee_id,
        "ana"
    );

    redis.stop();
    let service = app.token(Role::Service);
    for _ in 0..3 {
        let started = Instant::now();
        let err = app
            .client(0)
            .route_lead(req(
                route_request(&lead_id(), common::LeadSource::Team, &team),
                &service,
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
        assert!(
            started.elapsed() < STATE_TIMEOUT + Duration::from_secs(1),
            "answered in {:?}",
            started.elapsed()
        );
    }
    // The server itself is fine: settings still answer.
    assert!(
        app.client(0)
            .get_routing_settings(req(Default::default(), &app.token(Role::Manager)))
            .await
            .is_ok()
    );

    redis.resume();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match app
            .client(0)
            .route_lead(req(
                route_request(&lead_id(), common::LeadSource::Team, &team),
                &service,
            ))
            .await
        {
            Ok(d) => {
                let d = d.into_inner();
                assert!(
                    d.state_reset,
                    "the restarted Redis lost its state, and RouteLead says so"
                );
                break;
            }
            Err(e) => {
                assert_eq!(e.code(), Code::Unavailable);
                assert!(
                    Instant::now() < deadline,
                    "routing did not recover after Redis returned"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}
