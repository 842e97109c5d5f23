//! Reading leads: one lead, a page of a filtered list, a lead's history, and
//! the ownership truth the reconciler sends routing. Also the one mapping of
//! stored rows to domain types.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
};

use super::Store;
use super::entities::{lead, lead_event, lead_tag};
use crate::domain::contact::{self, ContactMatch, MatchBy};
use crate::domain::events::OwnershipFact;
use crate::domain::filter::{LeadQuery, OwnerFilter, PageCursor, SortOrder};
use crate::domain::lead::{EventKind, Lead, LeadEvent, LeadStatus};
use crate::domain::permissions::LeadScope;
use crate::domain::stored::StoredName;
use crate::error::LeadsError;

fn corrupt(what: &str, value: &str) -> LeadsError {
    LeadsError::Internal(format!("unknown stored {what} {value:?}"))
}

/// A stored name read back; one the service does not know is a corrupt row
/// (`what` names the column in the error).
pub(super) fn stored<T: StoredName>(what: &str, text: &str) -> Result<T, LeadsError> {
    T::parse_stored(text).ok_or_else(|| corrupt(what, text))
}

/// [`stored`], for a nullable column.
pub(super) fn stored_opt<T: StoredName>(
    what: &str,
    text: Option<&str>,
) -> Result<Option<T>, LeadsError> {
    text.map(|text| stored(what, text)).transpose()
}

/// The stored spelling of a nullable name.
pub(super) fn name_of<T: StoredName>(value: Option<T>) -> Option<String> {
    value.map(|value| value.as_str().to_owned())
}

/// The bucket of [`Store::routed_counts`]: 15 minutes, since every time
/// zone's offset is a multiple of it, so no bucket straddles a local midnight.
const ROUTED_BUCKET_SECS: i64 = 15 * 60;

impl TryFrom<lead::Model> for Lead {
    type Error = LeadsError;

    fn try_from(m: lead::Model) -> Result<Self, Self::Error> {
        Ok(Lead {
            source: stored("source", &m.source)?,
            status: stored("status", &m.status)?,
            assignment_method: stored_opt("method", m.assignment_method.as_deref())?,
            tags: serde_json::from_str(&m.tags).map_err(|_| corrupt("tags", &m.tags))?,
            id: m.id,
            name: m.name,
            email: m.email,
            phone: m.phone,
            company: m.company,
            owner_id: m.owner_id,
            assigned_at: m.assigned_at,
            assigned_by: m.assigned_by,
            version: m.version,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
            held_since: m.held_at,
            accept_by: m.accept_by,
            accepted_at: m.accepted_at,
        })
    }
}

impl TryFrom<lead_event::Model> for LeadEvent {
    type Error = LeadsError;

    fn try_from(m: lead_event::Model) -> Result<Self, Self::Error> {
        Ok(LeadEvent {
            kind: stored("event kind", &m.kind)?,
            method: stored_opt("method", m.method.as_deref())?,
            from_status: stored_opt("status", m.from_status.as_deref())?,
            to_status: stored_opt("status", m.to_status.as_deref())?,
            id: m.id,
            lead_id: m.lead_id,
            actor_id: m.actor_id,
            from_owner_id: m.from_owner_id,
            to_owner_id: m.to_owner_id,
            batch_id: m.batch_id,
            explanation: m.explanation,
            at: m.at,
        })
    }
}

/// A domain type read from a row of `E`: a row it cannot read is corrupt.
pub(super) trait FromRow<E: EntityTrait>: TryFrom<E::Model, Error = LeadsError> {}

impl<E: EntityTrait, T: TryFrom<E::Model, Error = LeadsError>> FromRow<E> for T {}

/// Runs `select` and reads every row as its domain type.
pub(super) async fn fetch_all<E: EntityTrait, T: FromRow<E>>(
    db: &impl ConnectionTrait,
    select: Select<E>,
) -> Result<Vec<T>, LeadsError> {
    select.all(db).await?.into_iter().map(T::try_from).collect()
}

/// [`fetch_all`] of the first row only.
pub(super) async fn fetch_one<E: EntityTrait, T: FromRow<E>>(
    db: &impl ConnectionTrait,
    select: Select<E>,
) -> Result<Option<T>, LeadsError> {
    Ok(fetch_all(db, select.limit(1)).await?.pop())
}

/// One lead of the org, if it exists.
pub(super) async fn find_lead(
    db: &impl ConnectionTrait,
    org_id: &str,
    lead_id: &str,
) -> Result<Option<Lead>, LeadsError> {
    fetch_one(
        db,
        lead::Entity::find_by_id(lead_id.to_owned()).filter(lead::Column::OrgId.eq(org_id)),
    )
    .await
}

/// The SQL condition for "leads of this org that this caller sees and that
/// match the filter".
pub(super) fn lead_condition(org_id: &str, scope: &LeadScope, query: &LeadQuery) -> Condition {
    let mut cond = Condition::all().add(lead::Column::OrgId.eq(org_id));
    if let LeadScope::UnassignedOrOwnedBy(me) = scope {
        cond = cond.add(
            Condition::any()
                .add(lead::Column::OwnerId.is_null())
                .add(lead::Column::OwnerId.eq(me.as_str())),
        );
    }
    match &query.owner {
        OwnerFilter::Any => {}
        OwnerFilter::Unassigned => cond = cond.add(lead::Column::OwnerId.is_null()),
        OwnerFilter::Held => {
            cond = cond
                .add(lead::Column::OwnerId.is_null())
                .add(lead::Column::HeldAt.is_not_null())
        }
        OwnerFilter::User(user) => cond = cond.add(lead::Column::OwnerId.eq(user.as_str())),
    }
    if !query.statuses.is_empty() {
        cond = cond.add(lead::Column::Status.is_in(query.statuses.iter().map(|s| s.as_str())));
    }
    if !query.sources.is_empty() {
        cond = cond.add(lead::Column::Source.is_in(query.sources.iter().map(|s| s.as_str())));
    }
    if !query.tags.is_empty() {
        // A correlated EXISTS probes lead_tags' primary key (lead_id, tag)
        // once per candidate lead. `id IN (tagged ids of the org)` read the
        // same, but right after an import the statistics say "one row" and
        // Postgres joined it by nested-loop scanning: 10,000 imported leads
        // took 7 s to select instead of 50 ms (make bench, bulk assign).
        cond = cond.add(Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(lead_tag::Entity)
                .and_where(
                    Expr::col((lead_tag::Entity, lead_tag::Column::LeadId))
                        .equals((lead::Entity, lead::Column::Id)),
                )
                .and_where(lead_tag::Column::Tag.is_in(query.tags.iter().map(String::as_str)))
                .to_owned(),
        ));
    }
    if let Some(after) = query.created_after {
        cond = cond.add(lead::Column::CreatedAtUs.gte(after.timestamp_micros()));
    }
    if let Some(before) = query.created_before {
        cond = cond.add(lead::Column::CreatedAtUs.lt(before.timestamp_micros()));
    }
    if let Some(text) = &query.text {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        let mut any = Condition::any();
        for column in [
            lead::Column::Name,
            lead::Column::Email,
            lead::Column::Company,
        ] {
            any = any.add(
                Expr::expr(Func::lower(Expr::col((lead::Entity, column))))
                    .like(LikeExpr::new(pattern.clone()).escape('\\')),
            );
        }
        cond = cond.add(any);
    }
    cond
}

fn after_cursor(order: SortOrder, cursor: &PageCursor) -> Condition {
    let (t, id) = (cursor.created_at_us, cursor.id.as_str());
    match order {
        SortOrder::CreatedAsc => Condition::any().add(lead::Column::CreatedAtUs.gt(t)).add(
            Condition::all()
                .add(lead::Column::CreatedAtUs.eq(t))
                .add(lead::Column::Id.gt(id)),
        ),
        SortOrder::CreatedDesc => Condition::any().add(lead::Column::CreatedAtUs.lt(t)).add(
            Condition::all()
                .add(lead::Column::CreatedAtUs.eq(t))
                .add(lead::Column::Id.lt(id)),
        ),
    }
}

impl Store {
    /// One lead of the org, if it exists.
    pub async fn lead(&self, org_id: &str, lead_id: &str) -> Result<Option<Lead>, LeadsError> {
        find_lead(&self.db, org_id, lead_id).await
    }

    /// Sticky ownership's question about a new lead's `email`: the newest
    /// open, owned lead with the same email, and the newest with the same
    /// company domain. One statement of two index ranges, each read newest
    /// first and stopped at its first row (a round trip and a statement
    /// fewer than two queries: it runs on every CreateLead with an email).
    /// Routing decides which match the settings allow.
    pub async fn contact_matches(
        &self,
        org_id: &str,
        email: &str,
    ) -> Result<Vec<ContactMatch>, LeadsError> {
        let Some(email_key) = contact::match_email(email) else {
            return Ok(Vec::new());
        };
        // An impossible domain when there is none: the second range is empty.
        let domain = contact::company_domain(email).unwrap_or_default();
        let backend = self.db.get_database_backend();
        let open = LeadStatus::ALL
            .iter()
            .filter(|s| s.is_open())
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let (p1, p2, p3) = match backend {
            sea_orm::DbBackend::Postgres => ("$1", "$2", "$3"),
            _ => ("?1", "?2", "?3"),
        };
        let arm = |by: &str, column: &str, key: &str| {
            format!(
                "SELECT * FROM (SELECT '{by}' AS match_by, id, owner_id, created_at FROM leads \
                 WHERE org_id = {p1} AND {column} = {key} AND owner_id IS NOT NULL \
                 AND status IN ({open}) ORDER BY created_at_us DESC LIMIT 1) AS {by}"
            )
        };
        let sql = format!(
            "{} UNION ALL {}",
            arm("e", "email_key", p2),
            arm("d", "email_domain", p3)
        );
        let rows = self
            .db
            .query_all_raw(sea_orm::Statement::from_sql_and_values(
                backend,
                sql,
                [org_id.into(), email_key.into(), domain.into()],
            ))
            .await?;
        let mut matches = Vec::with_capacity(rows.len());
        for row in rows {
            let owner_id: Option<String> = row.try_get("", "owner_id")?;
            let Some(owner_id) = owner_id else { continue };
            matches.push(ContactMatch {
                owner_id,
                by: match row.try_get::<String>("", "match_by")?.as_str() {
                    "e" => MatchBy::Email,
                    _ => MatchBy::Domain,
                },
                lead_id: row.try_get("", "id")?,
                lead_created_at: row.try_get("", "created_at")?,
            });
        }
        Ok(matches)
    }

    /// One page of leads, plus how many match in all.
    pub async fn list_leads(
        &self,
        org_id: &str,
        scope: &LeadScope,
        query: &LeadQuery,
        order: SortOrder,
        after: Option<&PageCursor>,
        limit: u64,
    ) -> Result<(Vec<Lead>, u64), LeadsError> {
        let matching = lead_condition(org_id, scope, query);
        let total = lead::Entity::find()
            .filter(matching.clone())
            .count(&self.db)
            .await?;
        let mut select = lead::Entity::find().filter(matching);
        if let Some(cursor) = after {
            select = select.filter(after_cursor(order, cursor));
        }
        select = match order {
            SortOrder::CreatedAsc => select
                .order_by_asc(lead::Column::CreatedAtUs)
                .order_by_asc(lead::Column::Id),
            SortOrder::CreatedDesc => select
                .order_by_desc(lead::Column::CreatedAtUs)
                .order_by_desc(lead::Column::Id),
        };
        Ok((fetch_all(&self.db, select.limit(limit)).await?, total))
    }

    /// A lead's history, oldest first.
    pub async fn history(&self, org_id: &str, lead_id: &str) -> Result<Vec<LeadEvent>, LeadsError> {
        let events = lead_event::Entity::find()
            .filter(lead_event::Column::OrgId.eq(org_id))
            .filter(lead_event::Column::LeadId.eq(lead_id))
            .order_by_asc(lead_event::Column::Id);
        fetch_all(&self.db, events).await
    }

    /// How many leads routing gave each rep since `since`, per 15-minute
    /// bucket (rep, bucket start, count), sorted by rep: what routing's
    /// per-day counters are restored from after it lost its state.
    pub async fn routed_counts(
        &self,
        org_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>, i64)>, LeadsError> {
        use sea_orm::QuerySelect;
        let rows: Vec<(Option<String>, DateTime<Utc>)> = lead_event::Entity::find()
            .select_only()
            .column(lead_event::Column::ToOwnerId)
            .column(lead_event::Column::At)
            .filter(lead_event::Column::OrgId.eq(org_id))
            .filter(lead_event::Column::Kind.eq(EventKind::Routed.as_str()))
            .filter(lead_event::Column::ToOwnerId.is_not_null())
            .filter(lead_event::Column::At.gte(since))
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut buckets: std::collections::BTreeMap<(String, i64), i64> = Default::default();
        for (owner, at) in rows {
            if let Some(owner) = owner {
                let start = at.timestamp().div_euclid(ROUTED_BUCKET_SECS) * ROUTED_BUCKET_SECS;
                *buckets.entry((owner, start)).or_default() += 1;
            }
        }
        Ok(buckets
            .into_iter()
            .filter_map(|((owner, start), n)| Some((owner, DateTime::from_timestamp(start, 0)?, n)))
            .collect())
    }

    /// The truth routing reconciles against: every lead of the org as an
    /// ownership fact, in id order, after `after_id`.
    pub async fn ownership_truth(
        &self,
        org_id: &str,
        after_id: &str,
        limit: u64,
    ) -> Result<Vec<OwnershipFact>, LeadsError> {
        let rows: Vec<(String, Option<String>, String, i64)> = lead::Entity::find()
            .select_only()
            .column(lead::Column::Id)
            .column(lead::Column::OwnerId)
            .column(lead::Column::Status)
            .column(lead::Column::Version)
            .filter(lead::Column::OrgId.eq(org_id))
            .filter(lead::Column::Id.gt(after_id))
            .order_by_asc(lead::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(lead_id, owner_id, status, version)| OwnershipFact {
                lead_id,
                owner_id,
                open: LeadStatus::parse_stored(&status).is_none_or(LeadStatus::is_open),
                version,
            })
            .collect())
    }

    /// Every organisation with leads (for the periodic reconcile).
    pub async fn organisations(&self) -> Result<Vec<String>, LeadsError> {
        Ok(lead::Entity::find()
            .select_only()
            .column(lead::Column::OrgId)
            .distinct()
            .into_tuple::<String>()
            .all(&self.db)
            .await?)
    }
}
