//! TeamService: the directory, the owner/admin rules and availability.

use std::sync::Arc;

use leadflow_auth::Role;
use leadflow_proto::leads::v1 as pb;
use tonic::Code;

use crate::helpers::*;

fn upsert(user_id: &str, role: Role, active: Option<bool>) -> pb::UpsertMemberRequest {
    pb::UpsertMemberRequest {
        user_id: user_id.into(),
        display_name: format!("User {user_id}"),
        email: format!("{user_id}@example.com"),
        role: role_pb(role) as i32,
        active,
    }
}

#[tokio::test]
async fn the_last_active_owner_cannot_be_demoted_or_deactivated() {
    let app = spawn_app().await;
    let owner = app.owner();
    for change in [
        upsert(OWNER, Role::Admin, None),
        upsert(OWNER, Role::Owner, Some(false)),
    ] {
        let err = app
            .team()
            .upsert_member(req(change, &owner))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition);
        assert!(err.message().contains("last active owner"));
    }
    // With a second owner, the first may step down.
    app.team()
        .upsert_member(req(upsert("owner-2", Role::Owner, None), &owner))
        .await
        .unwrap();
    let demoted = app
        .team()
        .upsert_member(req(upsert(OWNER, Role::Admin, None), &owner))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(demoted.role, role_pb(Role::Admin) as i32);
}

#[tokio::test]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    let app = Arc::new(spawn_app().await);
    app.add_member("owner-2", Role::Owner).await;
    let a = {
        let app = app.clone();
        tokio::spawn(async move {
            app.team()
                .upsert_member(req(
                    upsert(OWNER, Role::Sales, None),
                    &app.token("owner-2", Role::Owner),
                ))
                .await
        })
    };
    let b = {
        let app = app.clone();
        tokio::spawn(async move {
            app.team()
                .upsert_member(req(upsert("owner-2", Role::Sales, None), &app.owner()))
                .await
        })
    };
    let results = [a.await.unwrap(), b.await.unwrap()];
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    let owners = app
        .store
        .list_members(&app.org, false, false)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.role == Role::Owner)
        .count();
    assert_eq!(owners, 1);
}

#[tokio::test]
async fn only_an_owner_grants_owner_or_admin_and_changes_are_recorded() {
    let app = spawn_app().await;
    app.add_member("adm", Role::Admin).await;
    let admin = app.token("adm", Role::Admin);
    let sync = app.token("directory-sync", Role::Integration);
    for (token, grant) in [
        (&admin, Role::Admin),
        (&admin, Role::Owner),
        (&sync, Role::Admin),
    ] {
        let err = app
            .team()
            .upsert_member(req(upsert("eve", grant, None), token))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{grant}");
    }
    // An admin cannot demote the owner either.
    let err = app
        .team()
        .upsert_member(req(upsert(OWNER, Role::Sales, None), &admin))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // The directory sync adds and updates ordinary members.
    app.team()
        .upsert_member(req(upsert("eve", Role::Sales, None), &sync))
        .await
        .unwrap();
    let eve = app
        .team()
        .upsert_member(req(upsert("eve", Role::Manager, None), &sync))
        .await
        .unwrap()
        .into_inner();
    assert!(eve.active, "absent `active` keeps the member active");
    assert!(eve.sales_capable);
    assert_eq!(
        app.store
            .member_change_count(&app.org, "eve")
            .await
            .unwrap(),
        2
    );
}

#[tokio::test]
async fn availability_is_set_by_the_member_or_a_manager_and_listing_filters_work() {
    let app = spawn_app().await;
    app.add_member("ana", Role::Sales).await;
    app.add_member("ben", Role::Sales).await;
    app.add_member("acct", Role::Accounting).await;
    app.team()
        .upsert_member(req(upsert("old", Role::Sales, Some(false)), &app.owner()))
        .await
        .unwrap();

    let err = app
        .team()
        .set_availability(req(
            pb::SetAvailabilityRequest {
                user_id: "ben".into(),
                available: false,
            },
            &app.token("ana", Role::Sales),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let away = app
        .team()
        .set_availability(req(
            pb::SetAvailabilityRequest {
                user_id: "ben".into(),
                available: false,
            },
            &app.owner(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!away.available);
    let missing = app
        .team()
        .set_availability(req(
            pb::SetAvailabilityRequest {
                user_id: "nobody".into(),
                available: false,
            },
            &app.owner(),
        ))
        .await;
    assert_eq!(code(&missing), Code::NotFound);

    let list = |sales_capable_only, include_inactive| {
        let app = &app;
        async move {
            app.team()
                .list_members(req(
                    pb::ListMembersRequest {
                        sales_capable_only,
                        include_inactive,
                    },
                    &app.token("acct", Role::Accounting),
                ))
                .await
                .unwrap()
                .into_inner()
                .members
                .into_iter()
                .map(|m| m.user_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(false, false).await, ["acct", "ana", "ben", OWNER]);
    assert_eq!(list(true, false).await, ["ana", "ben", OWNER]);
    assert_eq!(list(true, true).await, ["ana", "ben", "old", OWNER]);
}

#[tokio::test]
async fn held_and_unassigned_are_refused_as_user_ids_since_the_owner_filter_uses_them() {
    let app = spawn_app().await;
    for word in ["held", "unassigned"] {
        let err = app
            .team()
            .upsert_member(req(upsert(word, Role::Sales, None), &app.owner()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains("user_id"), "{}", err.message());
        assert!(err.message().contains("reserved"), "{}", err.message());
    }
    // `held` as a filter lists held leads (none here), not a member's.
    let held = app
        .all_leads(pb::LeadFilter {
            owner: "held".into(),
            ..Default::default()
        })
        .await;
    assert!(held.is_empty());
}
