//! What routing said about a lead, as the leads service acts on it.
//!
//! One type for the two places that ask: CreateLead (with a short deadline,
//! while the caller waits) and the dispatcher's late routing of a lead
//! created while routing was away. Both read routing's answer through
//! [`crate::peers`] into this type, and both turn it into a change with the
//! rules in [`super::change`].

use super::sla::SlaPolicy;

/// Routing's pool name as the leads service keeps it: the rule's name, or
/// `default`.
fn pool_name(rule: String) -> String {
    if rule.is_empty() {
        "default".into()
    } else {
        rule
    }
}

/// The outcome of asking routing about a new lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutingOutcome {
    /// Routing was not asked (an explicit owner, or no routing configured).
    NotAsked,
    /// Routing chose `assignee`.
    Routed {
        /// Who gets the lead.
        assignee: String,
        /// Why, for the lead's history.
        explanation: String,
        /// The SLA of the pool that routed it, if it has one, and that
        /// pool's name: the holder must act before it runs out.
        sla: Option<(SlaPolicy, String)>,
    },
    /// Routing is off or nobody can take it: the lead stays unassigned.
    NotRouted {
        /// Why, for the lead's history.
        explanation: String,
    },
    /// Someone in the pool could take it, but not now (everyone capped, off
    /// shift or on time off): the lead is held, unassigned, and asked about
    /// again as soon as capacity may have freed, and at `retry_at`.
    Held {
        /// Who is capped or off shift and until when, for the lead's history.
        explanation: String,
        /// The pool that holds it (the rule's name, or `default`): held
        /// leads wait their turn per pool.
        pool: String,
        /// The earliest moment someone of the pool may take it, if known.
        retry_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Routing could not be reached: the lead is routed later by the outbox.
    Pending {
        /// What happened, for the lead's history.
        explanation: String,
    },
}

impl RoutingOutcome {
    /// Routing's answer: `Routed` only when it named someone.
    pub fn answered(routed: bool, assignee: String, explanation: String) -> RoutingOutcome {
        if routed && !assignee.is_empty() {
            RoutingOutcome::Routed {
                assignee,
                explanation,
                sla: None,
            }
        } else {
            RoutingOutcome::NotRouted { explanation }
        }
    }

    /// A routed outcome with the SLA of `pool` (routing's rule name, or
    /// empty for the default pool).
    pub fn with_sla(self, sla: Option<SlaPolicy>, pool: String) -> RoutingOutcome {
        match self {
            RoutingOutcome::Routed {
                assignee,
                explanation,
                ..
            } => RoutingOutcome::Routed {
                assignee,
                explanation,
                sla: sla.map(|sla| (sla, pool_name(pool))),
            },
            other => other,
        }
    }

    /// Routing held the lead.
    pub fn held(
        explanation: String,
        pool: String,
        retry_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> RoutingOutcome {
        RoutingOutcome::Held {
            explanation,
            pool: pool_name(pool),
            retry_at,
        }
    }

    /// Routing did not answer (`code` says how it failed).
    pub fn unreachable(code: impl std::fmt::Debug) -> RoutingOutcome {
        RoutingOutcome::Pending {
            explanation: format!(
                "routing was unavailable ({code:?}); the lead is routed as soon as it is back"
            ),
        }
    }

    /// Whether routing may have counted a pick for the lead (it was asked
    /// and did not refuse), so an id never stored must be released.
    pub fn may_have_picked(&self) -> bool {
        matches!(
            self,
            RoutingOutcome::Routed { .. } | RoutingOutcome::Pending { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_named_assignee_is_routed() {
        assert_eq!(
            RoutingOutcome::answered(true, "ana".into(), "round robin".into()),
            RoutingOutcome::Routed {
                assignee: "ana".into(),
                explanation: "round robin".into(),
                sla: None,
            }
        );
        assert!(matches!(
            RoutingOutcome::answered(true, String::new(), "nobody".into()),
            RoutingOutcome::NotRouted { .. }
        ));
        assert!(matches!(
            RoutingOutcome::answered(false, "ana".into(), "off".into()),
            RoutingOutcome::NotRouted { .. }
        ));
    }

    #[test]
    fn an_unanswered_question_may_still_have_picked() {
        assert!(RoutingOutcome::unreachable("DeadlineExceeded").may_have_picked());
        assert!(!RoutingOutcome::NotAsked.may_have_picked());
        assert!(
            !RoutingOutcome::NotRouted {
                explanation: String::new()
            }
            .may_have_picked()
        );
    }
}
