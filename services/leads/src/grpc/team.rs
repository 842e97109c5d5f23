//! TeamService: the team directory.

use leadflow_proto::leads::v1::{self as pb, team_service_server::TeamService};
use tonic::{Request, Response, Status};

use super::active_caller;
use super::convert::{member_to_pb, member_upsert, schedule_input};
use crate::domain::lead::parse_user_id;
use crate::domain::member::{MemberUpsert, check_last_owner};
use crate::domain::permissions;
use crate::error::LeadsError;
use crate::store::Store;

/// The TeamService handlers.
#[derive(Debug, Clone)]
pub struct TeamApi {
    /// The team directory lives in the leads database.
    store: Store,
}

impl TeamApi {
    pub fn new(store: Store) -> Self {
        TeamApi { store }
    }

    /// SetAvailability: `user_id` marked available or away, if the caller
    /// may (their own, or anyone's for owners, admins and managers).
    async fn availability(
        &self,
        caller: &leadflow_auth::Caller,
        user_id: &str,
        available: bool,
    ) -> Result<crate::domain::member::Member, LeadsError> {
        parse_user_id("user_id", user_id)?;
        permissions::may_set_availability(caller, user_id)?;
        self.store
            .set_availability(&caller.org_id, &caller.user_id, user_id, available)
            .await?
            .ok_or_else(|| LeadsError::NotFound("no such team member".into()))
    }

    /// SetSchedule: `user_id`'s working hours and time off, if the caller
    /// may (as for SetAvailability: their own, or anyone's for owners, admins
    /// and managers).
    async fn schedule(
        &self,
        caller: &leadflow_auth::Caller,
        user_id: &str,
        schedule: Option<leadflow_schedule::Schedule>,
    ) -> Result<crate::domain::member::Member, LeadsError> {
        permissions::may_set_schedule(caller, user_id)?;
        self.store
            .set_schedule(&caller.org_id, &caller.user_id, user_id, schedule)
            .await?
            .ok_or_else(|| LeadsError::NotFound("no such team member".into()))
    }

    /// UpsertMember: the role rules and the last-owner rule are checked on
    /// the member as locked inside the store's transaction.
    async fn upsert(
        &self,
        caller: &leadflow_auth::Caller,
        upsert: &MemberUpsert,
    ) -> Result<crate::domain::member::Member, LeadsError> {
        self.store
            .upsert_member(
                &caller.org_id,
                &caller.user_id,
                upsert,
                |existing, other_owners| {
                    let new_active = upsert.active.unwrap_or(existing.is_none_or(|m| m.active));
                    let changes_role_or_active =
                        existing.is_none_or(|m| m.role != upsert.role || m.active != new_active);
                    permissions::may_upsert_member(
                        caller,
                        existing.map(|m| m.role),
                        upsert.role,
                        changes_role_or_active,
                    )?;
                    match existing {
                        Some(existing) => {
                            check_last_owner(existing, upsert.role, new_active, other_owners)
                        }
                        None => Ok(()),
                    }
                },
            )
            .await
    }
}

#[tonic::async_trait]
impl TeamService for TeamApi {
    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "UpsertMember"))]
    async fn upsert_member(
        &self,
        request: Request<pb::UpsertMemberRequest>,
    ) -> Result<Response<pb::Member>, Status> {
        let caller = active_caller(&self.store, &request).await?;
        let upsert = member_upsert(request.into_inner())?;
        let member = self.upsert(&caller, &upsert).await?;
        Ok(Response::new(member_to_pb(member)))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "ListMembers"))]
    async fn list_members(
        &self,
        request: Request<pb::ListMembersRequest>,
    ) -> Result<Response<pb::ListMembersResponse>, Status> {
        let caller = active_caller(&self.store, &request).await?;
        permissions::may_list_members(&caller)?;
        let req = request.into_inner();
        let members = self
            .store
            .list_members(&caller.org_id, req.sales_capable_only, req.include_inactive)
            .await?;
        Ok(Response::new(pb::ListMembersResponse {
            members: members.into_iter().map(member_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "SetSchedule"))]
    async fn set_schedule(
        &self,
        request: Request<pb::SetScheduleRequest>,
    ) -> Result<Response<pb::Member>, Status> {
        let caller = active_caller(&self.store, &request).await?;
        let (user_id, schedule) = schedule_input(request.into_inner())?;
        let member = self.schedule(&caller, &user_id, schedule).await?;
        Ok(Response::new(member_to_pb(member)))
    }

    #[tracing::instrument(skip_all, fields(rpc.system = "grpc", rpc.method = "SetAvailability"))]
    async fn set_availability(
        &self,
        request: Request<pb::SetAvailabilityRequest>,
    ) -> Result<Response<pb::Member>, Status> {
        let caller = active_caller(&self.store, &request).await?;
        let req = request.into_inner();
        let member = self
            .availability(&caller, req.user_id.trim(), req.available)
            .await?;
        Ok(Response::new(member_to_pb(member)))
    }
}
