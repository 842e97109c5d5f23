//! OperationsService: dead letters and reconcile on demand, for operators.

use std::sync::Arc;

use leadflow_auth::{Caller, Role};
use leadflow_proto::leads::v1::{self as pb, operations_service_server::OperationsService};
use tonic::{Request, Response, Status};

use super::active_caller;
use super::convert::timestamp;
use crate::dispatch::Reconciler;
use crate::error::LeadsError;
use crate::store::Store;

/// Most ids in one RetryDeadLetters call.
pub const MAX_RETRY_IDS: usize = 1_000;

/// The OperationsService handlers.
#[derive(Clone)]
pub struct OperationsApi {
    /// Dead letters are read and re-queued in the leads database.
    store: Store,
    /// ReconcileWorkload runs the same reconcile as the periodic worker.
    reconciler: Arc<Reconciler>,
    /// Wakes the outbox dispatcher after a retry.
    wake: Arc<tokio::sync::Notify>,
}

impl OperationsApi {
    pub fn new(store: Store, reconciler: Arc<Reconciler>, wake: Arc<tokio::sync::Notify>) -> Self {
        OperationsApi {
            store,
            reconciler,
            wake,
        }
    }

    async fn operator<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let caller = active_caller(&self.store, request).await?;
        if !matches!(caller.role, Role::Owner | Role::Admin) {
            return Err(LeadsError::PermissionDenied(
                "only an owner or admin may operate the outbox".into(),
            )
            .into());
        }
        Ok(caller)
    }
}

#[tonic::async_trait]
impl OperationsService for OperationsApi {
    async fn list_dead_letters(
        &self,
        request: Request<pb::ListDeadLettersRequest>,
    ) -> Result<Response<pb::ListDeadLettersResponse>, Status> {
        let caller = self.operator(&request).await?;
        let limit = DEAD_LETTER_PAGE
            .size(request.get_ref().page_size)
            .map_err(LeadsError::from)?;
        let letters = self.store.dead_letters(&caller.org_id, limit).await?;
        Ok(Response::new(pb::ListDeadLettersResponse {
            dead_letters: letters.into_iter().map(dead_letter_to_pb).collect(),
        }))
    }

    async fn retry_dead_letters(
        &self,
        request: Request<pb::RetryDeadLettersRequest>,
    ) -> Result<Response<pb::RetryDeadLettersResponse>, Status> {
        let caller = self.operator(&request).await?;
        let ids = dead_letter_ids(&request.get_ref().ids)?;
        let retried = self.store.retry_dead_letters(&caller.org_id, &ids).await?;
        self.wake.notify_one();
        Ok(Response::new(pb::RetryDeadLettersResponse {
            retried: retried as i64,
        }))
    }

    async fn reconcile_now(
        &self,
        request: Request<pb::ReconcileNowRequest>,
    ) -> Result<Response<pb::ReconcileNowResponse>, Status> {
        let caller = self.operator(&request).await?;
        let corrected = self
            .reconciler
            .reconcile(&caller.org_id)
            .await
            .map_err(|e| Status::unavailable(format!("reconcile failed: {e}")))?;
        Ok(Response::new(pb::ReconcileNowResponse { corrected }))
    }
}

/// ListDeadLetters' page sizes.
const DEAD_LETTER_PAGE: leadflow_server::page::PageLimits = leadflow_server::page::PageLimits {
    default_size: 100,
    max_size: 1000,
};

fn dead_letter_to_pb(d: crate::store::DeadLetter) -> pb::DeadLetter {
    pb::DeadLetter {
        id: d.id.to_string(),
        kind: d.kind,
        attempts: d.attempts,
        last_error: d.last_error.unwrap_or_default(),
        created_at: Some(timestamp(d.created_at)),
    }
}

/// RetryDeadLetters' ids, at most [`MAX_RETRY_IDS`].
fn dead_letter_ids(ids: &[String]) -> Result<Vec<i64>, LeadsError> {
    if ids.len() > MAX_RETRY_IDS {
        return Err(LeadsError::invalid(
            "ids",
            format!("at most {MAX_RETRY_IDS} per call (none: every dead letter)"),
        ));
    }
    ids.iter()
        .map(|id| {
            id.parse::<i64>()
                .map_err(|_| LeadsError::invalid("ids", "are dead-letter ids"))
        })
        .collect()
}
