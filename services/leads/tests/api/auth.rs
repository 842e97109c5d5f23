//! Bearer tokens at the door: what is refused, and a deactivated member who
//! still holds a valid token.

use base64::Engine;
use leadflow_auth::{Claims, Ed25519KeyPair, Role, TokenMinter};
use leadflow_proto::leads::v1 as pb;
use tonic::Code;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::*;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test]
async fn bad_tokens_are_unauthenticated() {
    let app = spawn_app().await;
    let exp_future = chrono::Utc::now().timestamp() as u64 + 600;
    let claims = |exp: u64| Claims {
        sub: OWNER.into(),
        org: app.org.clone(),
        role: "owner".into(),
        iss: "leadflow-test".into(),
        exp,
    };
    let attacker = Ed25519KeyPair::generate();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("not a bearer header", Some(format!("Basic {}", b64("owner:pw")))),
        ("garbage", Some("Bearer not.a.jwt".into())),
        ("expired", Some(format!("Bearer {}", app.auth.minter.mint_claims(&claims(1_600_000_000))))),
        (
            "signed by another key",
            Some(format!(
                "Bearer {}",
                TokenMinter::ed25519(attacker.private_pem.as_bytes(), "leadflow-test").unwrap().mint_claims(&claims(exp_future))
            )),
        ),
        (
            "alg none",
            Some(format!(
                "Bearer {}.{}.",
                b64(r#"{"alg":"none","typ":"JWT"}"#),
                b64(&serde_json::to_string(&claims(exp_future)).unwrap())
            )),
        ),
        (
            "HS256 in production",
            Some(format!(
                "Bearer {}",
                TokenMinter::hs256(b"0123456789abcdef0123456789abcdef", "leadflow-test").mint_claims(&claims(exp_future))
            )),
        ),
        (
            "missing org claim",
            Some(format!(
                "Bearer {}",
                app.auth.minter.mint_json(&serde_json::json!({"sub": OWNER, "role": "owner", "iss": "leadflow-test", "exp": exp_future}))
            )),
        ),
    ];
    for (label, header) in cases {
        let mut request = tonic::Request::new(pb::ListLeadsRequest::default());
        if let Some(header) = header {
            request
                .metadata_mut()
                .insert("authorization", header.parse().unwrap());
        }
        let err = app.leads().list_leads(request).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{label}: {err:?}");
    }
    // The real thing works.
    assert!(
        app.leads()
            .list_leads(req(pb::ListLeadsRequest::default(), &app.owner()))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn health_checks_need_no_token() {
    let app = spawn_app().await;
    let response = HealthClient::new(app.channel())
        .check(tonic_health::pb::HealthCheckRequest {
            service: "leadflow.leads.v1.LeadService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        response.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}

#[tokio::test]
async fn reflection_lists_the_leads_services_without_a_token() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let app = spawn_app().await;
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(app.channel())
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.message().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "leadflow.leads.v1.LeadService",
        "leadflow.leads.v1.TeamService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[tokio::test]
async fn a_deactivated_member_is_refused_even_with_a_valid_token() {
    let app = spawn_app().await;
    app.add_member("ana", Role::Sales).await;
    let ana = app.token("ana", Role::Sales);
    assert!(
        app.leads()
            .list_leads(req(pb::ListLeadsRequest::default(), &ana))
            .await
            .is_ok()
    );

    app.team()
        .upsert_member(req(
            pb::UpsertMemberRequest {
                user_id: "ana".into(),
                display_name: "Ana".into(),
                email: String::new(),
                role: role_pb(Role::Sales) as i32,
                active: Some(false),
            },
            &app.owner(),
        ))
        .await
        .unwrap();
    for result in [
        app.leads()
            .list_leads(req(pb::ListLeadsRequest::default(), &ana))
            .await
            .map(drop),
        app.leads()
            .create_lead(req(new_lead("x"), &ana))
            .await
            .map(drop),
        app.team()
            .list_members(req(pb::ListMembersRequest::default(), &ana))
            .await
            .map(drop),
    ] {
        let err = result.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
        assert!(err.message().contains("deactivated"), "{}", err.message());
    }
}
