//! AssignLeads, by ids or by filter: the assignee is checked, the store
//! locks the chosen leads and the domain decides on what is locked.

use leadflow_auth::Caller;

use super::Leads;
use crate::domain::assign::{self, AssignOutcome, AssignRequest, AssignSelection};
use crate::domain::permissions;
use crate::error::LeadsError;
use crate::store::outbox::collecting;

/// A parsed AssignLeads call.
#[derive(Debug, Clone)]
pub struct AssignInput {
    /// Who gets the leads.
    pub assignee_id: String,
    /// Which leads.
    pub selection: AssignSelection,
    /// Whether leads owned by someone else are taken over.
    pub allow_reassign: bool,
}

impl Leads {
    /// AssignLeads (reassigning too, with `allow_reassign`), in one
    /// transaction under one batch id.
    pub async fn assign(
        &self,
        caller: &Caller,
        input: AssignInput,
    ) -> Result<AssignOutcome, LeadsError> {
        permissions::may_assign(caller)?;
        let assignee = self
            .store
            .member(&caller.org_id, &input.assignee_id)
            .await?;
        if !assignee.is_some_and(|m| m.can_own_leads()) {
            return Err(LeadsError::FailedPrecondition(
                "assignee_id must be an active, sales-capable member of the team".into(),
            ));
        }
        let request = AssignRequest {
            single: matches!(&input.selection, AssignSelection::Ids(ids) if ids.len() == 1),
            assignee_id: input.assignee_id,
            actor_id: caller.user_id.clone(),
            allow_reassign: input.allow_reassign,
            batch_id: uuid::Uuid::now_v7().hyphenated().to_string(),
        };
        let (plan, written) = collecting(self.store.assign(
            &caller.org_id,
            &input.selection,
            &request,
            |chosen, missing| assign::plan(&request, chosen, missing),
        ))
        .await;
        let plan = plan?;
        self.wiring.fast.send(written);
        self.committed();
        Ok(plan.outcome(request.batch_id))
    }
}
