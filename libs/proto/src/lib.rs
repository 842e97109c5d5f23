//! Generated code for the leadflow gRPC contract (`/proto`, fixed by API.md).
//!
//! Every service and every client in the workspace uses these types, so the
//! wire contract is compiled exactly once.

#![allow(clippy::all, missing_docs)]

/// The descriptor set of every leadflow proto, for tonic-reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/leadflow_descriptor.bin"));

/// Types shared across services (roles, lead sources).
pub mod common {
    pub mod v1 {
        tonic::include_proto!("leadflow.common.v1");
    }
}

/// TeamService and LeadService.
pub mod leads {
    pub mod v1 {
        tonic::include_proto!("leadflow.leads.v1");
    }
}

/// RoutingService.
pub mod routing {
    pub mod v1 {
        tonic::include_proto!("leadflow.routing.v1");
    }
}

/// NotifierService.
pub mod notifier {
    pub mod v1 {
        tonic::include_proto!("leadflow.notifier.v1");
    }
}
