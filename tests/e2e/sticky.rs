//! Sticky ownership, end to end: a returning contact goes to the rep who
//! owns their open lead (the same email whatever its case and spaces, or,
//! when asked for, the same company domain, never a free-mail one); an away
//! owner is passed over with the reason in the history; a closed lead does
//! not match; and the rotation's order is untouched by sticky picks.

use std::time::Duration;

use leadflow_auth::Role;
use leadflow_e2e::*;
use leadflow_proto::common::v1 as common;
use leadflow_proto::leads::v1 as leads_pb;
use leadflow_proto::routing::v1 as routing_pb;

async fn sticky(stack: &Stack, match_email: bool, match_domain: bool) {
    stack
        .change_routing(|settings| {
            settings.sticky = Some(routing_pb::StickyPolicy {
                match_email,
                match_domain,
                lookback_days: 0,
            })
        })
        .await;
}

/// A website lead from `email`; its owner and routing's explanation.
async fn from(stack: &Stack, email: &str) -> (String, String) {
    let lead = stack
        .leads()
        .create_lead(req(
            leads_pb::CreateLeadRequest {
                name: format!("Lead {email}"),
                email: email.into(),
                source: common::LeadSource::Website as i32,
                ..Default::default()
            },
            &stack.token("website", Role::Integration),
        ))
        .await
        .expect("create")
        .into_inner();
    let history = stack
        .leads()
        .get_lead_history(req(
            leads_pb::GetLeadHistoryRequest {
                id: lead.id.clone(),
            },
            &stack.owner(),
        ))
        .await
        .unwrap()
        .into_inner()
        .events;
    let explanation = history
        .iter()
        .find(|e| e.kind == leads_pb::LeadEventKind::Routed as i32)
        .map(|e| e.routing_explanation.clone())
        .unwrap_or_default();
    (lead.owner_id, explanation)
}

async fn away(stack: &Stack, user: &str, away: bool) {
    stack
        .team()
        .set_availability(req(
            leads_pb::SetAvailabilityRequest {
                user_id: user.into(),
                available: !away,
            },
            &stack.owner(),
        ))
        .await
        .expect("availability");
    // Routing reads availability from the candidates leads sends: at once.
}

#[tokio::test]
async fn a_returning_contact_goes_to_their_own_rep_and_the_rotation_keeps_its_order() {
    let stack = Stack::up().await;
    stack.team_of(&["ana", "ben", "cara"]).await;
    stack
        .routing_on(routing_pb::Strategy::RoundRobin, &["ana", "ben", "cara"])
        .await;
    sticky(&stack, true, true).await;
    let mut rotation = Vec::new();
    let sticky_pick = |(owner, why): &(String, String)| {
        assert!(why.starts_with("returning contact: "), "{why}");
        owner.clone()
    };
    let rotation_pick = |rotation: &mut Vec<String>, (owner, why): (String, String)| {
        assert!(!why.contains("returning contact"), "{why}");
        rotation.push(owner.clone());
        owner
    };

    let first = rotation_pick(&mut rotation, from(&stack, "jane@acme.com").await);
    assert_eq!(first, "ana");
    // The same email, another case, surrounding spaces.
    let again = from(&stack, "  JANE@Acme.COM ").await;
    assert_eq!(sticky_pick(&again), "ana");
    assert!(again.1.contains("with the same email"), "{}", again.1);
    rotation_pick(&mut rotation, from(&stack, "x@other.org").await);
    // The same company domain, with domain matching on.
    let colleague = from(&stack, "bob@acme.com").await;
    assert_eq!(sticky_pick(&colleague), "ana");
    assert!(
        colleague.1.contains("the same email domain"),
        "{}",
        colleague.1
    );
    // With it off, a colleague is a stranger.
    sticky(&stack, true, false).await;
    let stranger = rotation_pick(&mut rotation, from(&stack, "carl@acme.com").await);
    assert_ne!(stranger, "ana");
    sticky(&stack, true, true).await;
    // gmail.com never matches by domain.
    rotation_pick(&mut rotation, from(&stack, "g1@gmail.com").await);
    rotation_pick(&mut rotation, from(&stack, "g2@gmail.com").await);
    // An away owner: the pool decides, and the history says why.
    let pat = rotation_pick(&mut rotation, from(&stack, "pat@zeta.io").await);
    away(&stack, &pat, true).await;
    let (owner, why) = from(&stack, "pat@zeta.io").await;
    assert_ne!(owner, pat);
    assert!(
        why.starts_with(&format!("returning contact: {pat} owns open lead"))
            && why.contains(&format!("but {pat} is away")),
        "{why}"
    );
    rotation.push(owner);
    away(&stack, &pat, false).await;
    // A closed lead does not match.
    let (lou_owner, _) = from(&stack, "lou@omega.io").await;
    rotation.push(lou_owner.clone());
    let lou_lead = stack
        .all_leads()
        .await
        .into_iter()
        .find(|l| l.email == "lou@omega.io")
        .expect("lou's lead");
    stack
        .leads()
        .update_lead_status(req(
            leads_pb::UpdateLeadStatusRequest {
                id: lou_lead.id,
                status: leads_pb::LeadStatus::Won as i32,
            },
            &stack.owner(),
        ))
        .await
        .unwrap();
    let after_won = rotation_pick(&mut rotation, from(&stack, "lou@omega.io").await);
    assert_ne!(after_won, lou_owner, "a won lead's owner is not preferred");

    // Every pick the rotation made went round in order, as if the sticky
    // picks had never happened.
    let cycle = ["ana", "ben", "cara"];
    let expected: Vec<&str> = (0..rotation.len()).map(|i| cycle[i % 3]).collect();
    assert_eq!(rotation, expected);
    // The sticky picks count in the workload: ana has three open leads.
    eventually(Duration::from_secs(10), "ana's workload", || async {
        let members = stack
            .routing()
            .get_workload(req(routing_pb::GetWorkloadRequest {}, &stack.owner()))
            .await
            .ok()?
            .into_inner()
            .members;
        let open = members.iter().find(|m| m.user_id == "ana")?.open_leads;
        let mine = stack
            .all_leads()
            .await
            .iter()
            .filter(|l| l.owner_id == "ana" && l.status != leads_pb::LeadStatus::Won as i32)
            .count() as i64;
        (open == mine).then_some(())
    })
    .await;
}
