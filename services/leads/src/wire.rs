//! The common.v1 enums (roles, lead sources) in both directions: the one
//! mapping the gRPC face (`grpc/`) and the clients of the other services
//! (`peers/`) share, so neither imports from the other.

use leadflow_auth::Role;
use leadflow_proto::common::v1 as common;

use crate::domain::lead::LeadSource;

pub fn role_to_pb(role: Role) -> common::Role {
    match role {
        Role::Owner => common::Role::Owner,
        Role::Admin => common::Role::Admin,
        Role::Manager => common::Role::Manager,
        Role::Sales => common::Role::Sales,
        Role::Accounting => common::Role::Accounting,
        Role::Integration | Role::Service => common::Role::Unspecified,
    }
}

/// `None` for an unspecified or unknown value.
pub fn role_from_pb(raw: i32) -> Option<Role> {
    match common::Role::try_from(raw).ok()? {
        common::Role::Unspecified => None,
        common::Role::Owner => Some(Role::Owner),
        common::Role::Admin => Some(Role::Admin),
        common::Role::Manager => Some(Role::Manager),
        common::Role::Sales => Some(Role::Sales),
        common::Role::Accounting => Some(Role::Accounting),
    }
}

pub fn source_to_pb(source: LeadSource) -> common::LeadSource {
    match source {
        LeadSource::Team => common::LeadSource::Team,
        LeadSource::AiAssistant => common::LeadSource::AiAssistant,
        LeadSource::Website => common::LeadSource::Website,
        LeadSource::Facebook => common::LeadSource::Facebook,
        LeadSource::Google => common::LeadSource::Google,
        LeadSource::CsvImport => common::LeadSource::CsvImport,
        LeadSource::Other => common::LeadSource::Other,
    }
}

pub fn source_from_pb(raw: i32) -> Option<LeadSource> {
    Some(match common::LeadSource::try_from(raw).ok()? {
        common::LeadSource::Unspecified => return None,
        common::LeadSource::Team => LeadSource::Team,
        common::LeadSource::AiAssistant => LeadSource::AiAssistant,
        common::LeadSource::Website => LeadSource::Website,
        common::LeadSource::Facebook => LeadSource::Facebook,
        common::LeadSource::Google => LeadSource::Google,
        common::LeadSource::CsvImport => LeadSource::CsvImport,
        common::LeadSource::Other => LeadSource::Other,
    })
}
