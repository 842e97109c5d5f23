//! A seeded fuzz of every request validator, against the real servers: for
//! any generated request, each RPC answers OK or a caller's error (never
//! INTERNAL, UNKNOWN or UNAVAILABLE, which a panic or a database error would
//! give), and the servers stay up. Fixed seed and budget, so it is
//! repeatable and short; `LEADFLOW_FUZZ_CASES` runs more.

use leadflow_auth::Role;
use leadflow_e2e::*;
use leadflow_proto::leads::v1 as leads_pb;
use leadflow_proto::notifier::v1 as notifier_pb;
use leadflow_proto::routing::v1 as routing_pb;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The generator; `extreme` makes every list 40,000 long (the first case,
/// so the caps are always exercised).
struct Gen(StdRng, bool);

impl Gen {
    fn pick<T: Clone>(&mut self, from: &[T]) -> T {
        from[self.0.gen_range(0..from.len())].clone()
    }

    fn text(&mut self) -> String {
        let pieces = [
            "",
            "a",
            "ana",
            "unassigned",
            "me",
            " ",
            "Jane Doe",
            "山田",
            "👨\u{200d}👩\u{200d}👧",
            "🇫🇷",
            "\r\n",
            "\u{0}",
            "\u{7f}",
            "%_\\",
            "'; DROP TABLE leads; --",
            "a@b.co",
            "https://fcm.googleapis.com/fcm/send/x",
            "http://127.0.0.1:1/x",
            "=",
            "e\u{301}",
        ];
        match self.0.gen_range(0..10) {
            0 => String::new(),
            1 => self.pick(&pieces).repeat(self.0.gen_range(1..2_000)),
            2 => (0..self.0.gen_range(0..300))
                .map(|_| char::from_u32(self.0.gen_range(0..0x11_0000)).unwrap_or('?'))
                .collect(),
            _ => (0..self.0.gen_range(1..4))
                .map(|_| self.pick(&pieces))
                .collect(),
        }
    }

    /// `usual` half of the time, any text otherwise.
    fn or_text(&mut self, usual: &str) -> String {
        if self.0.r#gen() {
            usual.to_owned()
        } else {
            self.text()
        }
    }

    /// Generates a nested value with ordinary lengths (a 40,000-long list
    /// of 40,000-long lists would only test the message size limit).
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let extreme = std::mem::replace(&mut self.1, false);
        let value = f(self);
        self.1 = extreme;
        value
    }

    fn int(&mut self) -> i32 {
        match self.0.gen_range(0..6) {
            0 => self.pick(&[0, 1, -1, i32::MAX, i32::MIN, 100, 101, 1_000, 1_001]),
            1 => self.0.r#gen(),
            _ => self.0.gen_range(-2..12),
        }
    }

    /// A length: mostly small, sometimes at or past a cap, now and then huge.
    fn len(&mut self) -> usize {
        if self.1 {
            return 40_000;
        }
        match self.0.gen_range(0..20) {
            0 => self.pick(&[1_001, 10_001, 50_001]),
            1 => 40_000,
            2..=5 => self.0.gen_range(0..64),
            _ => self.0.gen_range(0..4),
        }
    }

    fn texts(&mut self) -> Vec<String> {
        let n = self.len();
        // Huge lists repeat one value (the bytes stay under the message limit).
        if n > 100 {
            let one: String = self.text().chars().take(8).collect();
            return vec![one; n];
        }
        (0..n).map(|_| self.text()).collect()
    }

    fn ints(&mut self) -> Vec<i32> {
        let n = self.len();
        (0..n).map(|_| self.int()).collect()
    }

    fn timestamp(&mut self) -> Option<prost_types::Timestamp> {
        self.0.gen_bool(0.5).then(|| prost_types::Timestamp {
            seconds: self.pick(&[0, -1, i64::MAX, i64::MIN, 1_800_000_000, 253_402_300_800]),
            nanos: self.pick(&[0, -1, 999_999_999, 1_000_000_000, i32::MAX]),
        })
    }

    fn filter(&mut self) -> Option<leads_pb::LeadFilter> {
        self.0.gen_bool(0.7).then(|| leads_pb::LeadFilter {
            owner: self.text(),
            statuses: self.ints(),
            sources: self.ints(),
            tags: self.texts(),
            created_after: self.timestamp(),
            created_before: self.timestamp(),
            query: self.text(),
        })
    }

    fn create(&mut self) -> leads_pb::CreateLeadRequest {
        leads_pb::CreateLeadRequest {
            idempotency_key: self.text(),
            name: self.text(),
            email: self.text(),
            phone: self.text(),
            company: self.text(),
            source: self.int(),
            tags: self.texts(),
            owner_id: self.text(),
        }
    }

    fn candidates(&mut self) -> Vec<routing_pb::Candidate> {
        let n = self.len();
        (0..n)
            .map(|i| routing_pb::Candidate {
                user_id: if n > 100 {
                    format!("u{i}")
                } else {
                    self.text()
                },
                role: self.int(),
                active: self.0.r#gen(),
                available: self.0.r#gen(),
            })
            .collect()
    }

    fn facts(&mut self) -> Vec<routing_pb::OwnershipChange> {
        let n = self.len();
        (0..n)
            .map(|i| routing_pb::OwnershipChange {
                lead_id: if n > 100 {
                    format!("l{i}")
                } else {
                    self.text()
                },
                owner_id: self.text(),
                open: self.0.r#gen(),
                version: self.int() as i64,
            })
            .collect()
    }

    fn routed(&mut self) -> Vec<routing_pb::RoutedCount> {
        (0..self.len())
            .map(|_| routing_pb::RoutedCount {
                user_id: self.text(),
                since: self.timestamp(),
                count: self.int(),
            })
            .collect()
    }

    fn rule(&mut self) -> routing_pb::RoutingRule {
        routing_pb::RoutingRule {
            name: self.text(),
            sources: self.ints(),
            tags: self.texts(),
            user_ids: self.texts(),
            strategy: self.int(),
            weights: self.weights(),
            sla: self.0.gen_bool(0.5).then(|| self.sla()),
        }
    }

    fn weights(&mut self) -> std::collections::HashMap<String, i32> {
        let ids = self.texts();
        ids.into_iter().map(|id| (id, self.int())).collect()
    }

    fn settings(&mut self) -> Option<routing_pb::RoutingSettings> {
        self.0.gen_bool(0.8).then(|| routing_pb::RoutingSettings {
            enabled: self.0.r#gen(),
            strategy: self.int(),
            rotation_user_ids: self.texts(),
            rules: (0..self.pick(&[0, 1, 2, 51]))
                .map(|i| {
                    if i == 0 {
                        self.rule()
                    } else {
                        self.nested(Gen::rule)
                    }
                })
                .collect(),
            weights: self.weights(),
            limits: (0..self.len()).map(|_| self.limit(true)).collect(),
            default_limit: self.0.gen_bool(0.5).then(|| self.limit(false)),
            respect_working_hours: self.0.r#gen(),
            sla: self.0.gen_bool(0.5).then(|| self.sla()),
            sticky: self.0.gen_bool(0.5).then(|| routing_pb::StickyPolicy {
                match_email: self.0.r#gen(),
                match_domain: self.0.r#gen(),
                lookback_days: self.int(),
            }),
            ..Default::default()
        })
    }

    fn sla(&mut self) -> routing_pb::SlaPolicy {
        routing_pb::SlaPolicy {
            accept_within_minutes: self.int(),
            max_hops: self.int(),
            count_working_hours_only: self.0.r#gen(),
        }
    }

    fn limit(&mut self, named: bool) -> routing_pb::MemberLimit {
        routing_pb::MemberLimit {
            user_id: if named { self.text() } else { String::new() },
            max_open_leads: self.int(),
            max_new_per_day: self.int(),
        }
    }
}

/// What no request may ever cause.
fn check(rpc: &str, result: Result<(), tonic::Status>) {
    if let Err(status) = result {
        assert!(
            !matches!(
                status.code(),
                tonic::Code::Internal | tonic::Code::Unknown | tonic::Code::Unavailable
            ),
            "{rpc}: {status:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_generated_request_gets_internal_unknown_or_a_crash() {
    let stack = Stack::up().await;
    stack.team_of(&["ana", "ben"]).await;
    stack
        .routing_on(routing_pb::Strategy::BalancedWorkload, &["ana", "ben"])
        .await;
    let cases: usize = std::env::var("LEADFLOW_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let mut g = Gen(StdRng::seed_from_u64(0x1ead_f10e), true);
    let owner = stack.owner();
    let service = stack.token("leadflow-leads", Role::Service);
    let ana = stack.token("ana", Role::Sales);
    let (mut leads, mut team, mut ops) = (stack.leads(), stack.team(), stack.operations());
    let (mut routing, mut notifier) = (stack.routing(), stack.notifier());
    for case in 0..cases {
        g.1 = case == 0;
        let r = leads.create_lead(req(g.create(), &owner)).await.map(drop);
        check("CreateLead", r);
        let rows = (0..g.pick(&[0, 1, 3, 1_001]))
            .map(|_| g.nested(Gen::create))
            .collect();
        let route = g.0.r#gen();
        let r = leads
            .batch_create_leads(req(
                leads_pb::BatchCreateLeadsRequest {
                    requests: rows,
                    route,
                },
                &owner,
            ))
            .await
            .map(drop);
        check("BatchCreateLeads", r);
        let r = leads
            .get_lead(req(leads_pb::GetLeadRequest { id: g.text() }, &owner))
            .await
            .map(drop);
        check("GetLead", r);
        let order = ["", "created_at", "created_at desc"][g.0.gen_range(0..3)];
        let list = leads_pb::ListLeadsRequest {
            filter: g.filter(),
            page_size: g.int(),
            page_token: g.text(),
            order_by: g.or_text(order),
        };
        check(
            "ListLeads",
            leads.list_leads(req(list, &ana)).await.map(drop),
        );
        let status = leads_pb::UpdateLeadStatusRequest {
            id: g.text(),
            status: g.int(),
        };
        check(
            "UpdateLeadStatus",
            leads
                .update_lead_status(req(status, &owner))
                .await
                .map(drop),
        );
        check(
            "ClaimLead",
            leads
                .claim_lead(req(leads_pb::ClaimLeadRequest { id: g.text() }, &ana))
                .await
                .map(drop),
        );
        check(
            "UnassignLead",
            leads
                .unassign_lead(req(leads_pb::UnassignLeadRequest { id: g.text() }, &ana))
                .await
                .map(drop),
        );
        let assign = leads_pb::AssignLeadsRequest {
            lead_ids: g.texts(),
            filter: g.filter(),
            assignee_id: g.or_text("ana"),
            allow_reassign: g.0.r#gen(),
        };
        check(
            "AssignLeads",
            leads.assign_leads(req(assign, &owner)).await.map(drop),
        );
        check(
            "GetLeadHistory",
            leads
                .get_lead_history(req(
                    leads_pb::GetLeadHistoryRequest { id: g.text() },
                    &owner,
                ))
                .await
                .map(drop),
        );
        let member = leads_pb::UpsertMemberRequest {
            user_id: g.text(),
            display_name: g.text(),
            email: g.text(),
            role: g.int(),
            active: g.0.gen_bool(0.5).then(|| g.0.r#gen()),
        };
        check(
            "UpsertMember",
            team.upsert_member(req(member, &owner)).await.map(drop),
        );
        let away = leads_pb::SetAvailabilityRequest {
            user_id: g.text(),
            available: g.0.r#gen(),
        };
        check(
            "SetAvailability",
            team.set_availability(req(away, &owner)).await.map(drop),
        );
        check(
            "ListDeadLetters",
            ops.list_dead_letters(req(
                leads_pb::ListDeadLettersRequest { page_size: g.int() },
                &owner,
            ))
            .await
            .map(drop),
        );
        check(
            "RetryDeadLetters",
            ops.retry_dead_letters(req(
                leads_pb::RetryDeadLettersRequest { ids: g.texts() },
                &owner,
            ))
            .await
            .map(drop),
        );

        let update = routing_pb::UpdateRoutingSettingsRequest {
            settings: g.settings(),
            expected_version: g.int() as i64,
        };
        check(
            "UpdateRoutingSettings",
            routing
                .update_routing_settings(req(update, &owner))
                .await
                .map(drop),
        );
        let audit = routing_pb::ListRoutingAuditRequest {
            page_size: g.int(),
            page_token: g.text(),
        };
        check(
            "ListRoutingAudit",
            routing
                .list_routing_audit(req(audit, &owner))
                .await
                .map(drop),
        );
        let route = routing_pb::RouteLeadRequest {
            lead_id: g.text(),
            source: g.int(),
            tags: g.texts(),
            candidates: g.candidates(),
            attempt: g.int(),
            exclude_user_ids: g.texts(),
            preferred_owners: (0..g.pick(&[0, 1, 11]))
                .map(|_| routing_pb::PreferredOwner {
                    user_id: g.text(),
                    r#match: g.int(),
                    lead_id: g.text(),
                    lead_created_at: g.0.gen_bool(0.5).then(|| prost_types::Timestamp {
                        seconds: g.0.gen_range(-100_000_000_000..100_000_000_000),
                        nanos: g.int(),
                    }),
                })
                .collect(),
        };
        check(
            "RouteLead",
            routing.route_lead(req(route, &service)).await.map(drop),
        );
        let simulate = routing_pb::SimulateRoutingRequest {
            settings: g.settings(),
            leads: (0..g.pick(&[0, 1, 5, 1_001]))
                .map(|_| routing_pb::SimulatedLead {
                    source: g.int(),
                    tags: g.nested(Gen::texts),
                })
                .collect(),
            candidates: g.candidates(),
            at: g.0.gen_bool(0.5).then(|| prost_types::Timestamp {
                seconds: g.int() as i64 * 1_000_000,
                nanos: g.int(),
            }),
        };
        check(
            "SimulateRouting",
            routing
                .simulate_routing(req(simulate, &owner))
                .await
                .map(drop),
        );
        let apply = routing_pb::ApplyOwnershipChangesRequest { changes: g.facts() };
        check(
            "ApplyOwnershipChanges",
            routing
                .apply_ownership_changes(req(apply, &service))
                .await
                .map(drop),
        );
        let reconcile = routing_pb::ReconcileWorkloadRequest {
            leads: g.facts(),
            forget: g.facts(),
            begin: g.0.r#gen(),
            finish: g.0.r#gen(),
            epoch: g.int() as i64,
            routed: g.routed(),
        };
        check(
            "ReconcileWorkload",
            routing
                .reconcile_workload(req(reconcile, &service))
                .await
                .map(drop),
        );

        let batch = g.0.r#gen::<bool>();
        let notify = notifier_pb::NotifyRequest {
            idempotency_key: g.text(),
            recipient: g.0.gen_bool(0.8).then(|| notifier_pb::Recipient {
                user_id: g.or_text("ana"),
                email: g.text(),
                display_name: g.text(),
            }),
            kind: g.int(),
            title: g.text(),
            body: g.text(),
            subject: Some(if batch {
                notifier_pb::notify_request::Subject::Batch(notifier_pb::LeadBatch {
                    batch_id: g.text(),
                    count: g.int(),
                    leads: (0..g.pick(&[0, 1, 5, 21]))
                        .map(|_| notifier_pb::LeadRef {
                            id: g.text(),
                            name: g.text(),
                            source: g.int(),
                        })
                        .collect(),
                })
            } else {
                notifier_pb::notify_request::Subject::Lead(notifier_pb::LeadRef {
                    id: g.text(),
                    name: g.text(),
                    source: g.int(),
                })
            }),
            actor_id: g.text(),
        };
        check(
            "Notify",
            notifier.notify(req(notify, &service)).await.map(drop),
        );
        let list = notifier_pb::ListNotificationsRequest {
            page_size: g.int(),
            page_token: g.text(),
            unread_only: g.0.r#gen(),
        };
        check(
            "ListNotifications",
            notifier.list_notifications(req(list, &ana)).await.map(drop),
        );
        check(
            "MarkRead",
            notifier
                .mark_read(req(notifier_pb::MarkReadRequest { ids: g.texts() }, &ana))
                .await
                .map(drop),
        );
        let watch = notifier
            .watch_notifications(req(
                notifier_pb::WatchNotificationsRequest { after_id: g.text() },
                &ana,
            ))
            .await;
        check("WatchNotifications", watch.map(drop));
        let add = notifier_pb::AddPushSubscriptionRequest {
            endpoint: g.text(),
            p256dh: g.text(),
            auth: g.text(),
        };
        check(
            "AddPushSubscription",
            notifier
                .add_push_subscription(req(add, &ana))
                .await
                .map(drop),
        );
        let remove = notifier_pb::RemovePushSubscriptionRequest { endpoint: g.text() };
        check(
            "RemovePushSubscription",
            notifier
                .remove_push_subscription(req(remove, &ana))
                .await
                .map(drop),
        );
        let deliveries = notifier_pb::ListDeliveriesRequest {
            notification_id: g.text(),
        };
        check(
            "ListDeliveries",
            notifier
                .list_deliveries(req(deliveries, &owner))
                .await
                .map(drop),
        );
    }
    // Still serving: a plain lead is created and read back.
    let lead = stack
        .create(
            "After the fuzz",
            leadflow_proto::common::v1::LeadSource::Website,
        )
        .await;
    let read = leads
        .get_lead(req(
            leads_pb::GetLeadRequest {
                id: lead.id.clone(),
            },
            &owner,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.name, "After the fuzz");
}
