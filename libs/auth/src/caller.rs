//! The typed identity a handler works with, and the roles it may hold.

use std::fmt;
use std::str::FromStr;

/// A role as it appears in a token's `role` claim.
///
/// The first five are people, whose roles come from the platform's identity
/// provider. `Integration` is a machine that brings leads or members in
/// (website forms, the AI assistant, importers, directory sync). `Service` is
/// leadflow calling itself (leads → routing, leads → notifier).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Owner,
    Admin,
    Manager,
    Sales,
    Accounting,
    Integration,
    Service,
}

impl Role {
    /// Every role, in a fixed order (useful for permission matrices).
    pub const ALL: [Role; 7] = [
        Role::Owner,
        Role::Admin,
        Role::Manager,
        Role::Sales,
        Role::Accounting,
        Role::Integration,
        Role::Service,
    ];

    /// The claim spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Sales => "sales",
            Role::Accounting => "accounting",
            Role::Integration => "integration",
            Role::Service => "service",
        }
    }

    /// A person (a possible team member) rather than a machine identity.
    pub fn is_person(self) -> bool {
        !matches!(self, Role::Integration | Role::Service)
    }

    /// May own, claim and be routed leads. Accounting never is.
    pub fn is_sales_capable(self) -> bool {
        matches!(
            self,
            Role::Owner | Role::Admin | Role::Manager | Role::Sales
        )
    }

    /// Owner, admin or manager: may assign, reassign and unassign any lead.
    pub fn is_lead_manager(self) -> bool {
        matches!(self, Role::Owner | Role::Admin | Role::Manager)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `role` claim that names no known role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// The verified caller of an RPC. The organisation and the user always come
/// from here, never from a request field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Who acts: handlers record it as the actor and match it against owners and members.
    pub user_id: String,
    /// The tenant every store query is scoped to, so one organisation never sees another's data.
    pub org_id: String,
    /// What the caller may do: the permission checks of every service decide on it.
    pub role: Role,
}

impl Caller {
    pub fn new(user_id: impl Into<String>, org_id: impl Into<String>, role: Role) -> Self {
        Caller {
            user_id: user_id.into(),
            org_id: org_id.into(),
            role,
        }
    }

    /// The caller that [`crate::AuthLayer`] verified for this request.
    ///
    /// A missing caller means the layer was not installed in front of the
    /// handler: a wiring bug, reported as UNAUTHENTICATED rather than a panic.
    pub fn from_request<T>(request: &tonic::Request<T>) -> Result<Caller, tonic::Status> {
        request
            .extensions()
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| tonic::Status::unauthenticated("missing bearer token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_through_its_claim_spelling() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("superuser".parse::<Role>().is_err());
        assert!("Owner".parse::<Role>().is_err(), "claims are lower case");
    }

    #[test]
    fn accounting_and_machines_are_never_sales_capable() {
        let capable: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| r.is_sales_capable())
            .collect();
        assert_eq!(
            capable,
            [Role::Owner, Role::Admin, Role::Manager, Role::Sales]
        );
    }
}
