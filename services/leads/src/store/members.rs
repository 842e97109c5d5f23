//! The team directory.

use leadflow_auth::Role;
use leadflow_schedule::Schedule;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::Store;
use super::entities::{member, member_change};
use super::queries::{fetch_all, fetch_one};
use crate::domain::events::{DirectoryFact, OutboxEvent, directory_fact};
use crate::domain::member::{Member, MemberUpsert};
use crate::error::LeadsError;

/// Roles stored as their claim spelling.
fn role_from_db(text: &str) -> Result<Role, LeadsError> {
    text.parse()
        .map_err(|_| LeadsError::Internal(format!("unknown stored role {text:?}")))
}

impl TryFrom<member::Model> for Member {
    type Error = LeadsError;

    fn try_from(m: member::Model) -> Result<Self, Self::Error> {
        Ok(Member {
            role: role_from_db(&m.role)?,
            user_id: m.user_id,
            display_name: m.display_name,
            email: m.email,
            active: m.active,
            available: m.available,
            created_at: m.created_at,
            updated_at: m.updated_at,
            schedule: m
                .schedule
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| LeadsError::Internal(format!("stored schedule: {e}")))?,
        })
    }
}

fn snapshot(m: &Member) -> String {
    serde_json::json!({
        "display_name": m.display_name,
        "email": m.email,
        "role": m.role.as_str(),
        "active": m.active,
        "available": m.available,
        "schedule": m.schedule,
    })
    .to_string()
}

/// The roles that may own leads, as stored.
pub(crate) const SALES_CAPABLE_ROLES: [&str; 4] = ["owner", "admin", "manager", "sales"];

/// One member of the org, if they exist.
pub(crate) async fn find_member(
    db: &impl ConnectionTrait,
    org_id: &str,
    user_id: &str,
) -> Result<Option<Member>, LeadsError> {
    fetch_one(db, member_by_id(org_id, user_id)).await
}

/// The select of one member by their key.
fn member_by_id(org_id: &str, user_id: &str) -> sea_orm::Select<member::Entity> {
    member::Entity::find_by_id((org_id.to_owned(), user_id.to_owned()))
}

impl Store {
    /// One member of the org, if they exist.
    pub async fn member(&self, org_id: &str, user_id: &str) -> Result<Option<Member>, LeadsError> {
        find_member(&self.db, org_id, user_id).await
    }

    /// The members among `user_ids` (unknown ids are left out), by user id.
    pub async fn members_among(
        &self,
        org_id: &str,
        user_ids: &[&str],
    ) -> Result<std::collections::HashMap<String, Member>, LeadsError> {
        if user_ids.is_empty() {
            return Ok(Default::default());
        }
        let members: Vec<Member> = fetch_all(
            &self.db,
            member::Entity::find()
                .filter(member::Column::OrgId.eq(org_id))
                .filter(member::Column::UserId.is_in(user_ids.iter().copied())),
        )
        .await?;
        Ok(members
            .into_iter()
            .map(|m| (m.user_id.clone(), m))
            .collect())
    }

    /// Members ordered by user id (the routing rotation order).
    pub async fn list_members(
        &self,
        org_id: &str,
        sales_capable_only: bool,
        include_inactive: bool,
    ) -> Result<Vec<Member>, LeadsError> {
        let mut query = member::Entity::find().filter(member::Column::OrgId.eq(org_id));
        if sales_capable_only {
            query = query.filter(member::Column::Role.is_in(SALES_CAPABLE_ROLES));
        }
        if !include_inactive {
            query = query.filter(member::Column::Active.eq(true));
        }
        fetch_all(&self.db, query.order_by_asc(member::Column::UserId)).await
    }

    /// Creates or updates a member in one transaction with its audit row.
    ///
    /// `authorize` sees the member as it is (locked) and the number of other
    /// active owners, so the permission and last-owner rules are decided on
    /// current data even when two upserts race.
    pub async fn upsert_member(
        &self,
        org_id: &str,
        actor_id: &str,
        upsert: &MemberUpsert,
        authorize: impl FnOnce(Option<&Member>, u64) -> Result<(), LeadsError>,
    ) -> Result<Member, LeadsError> {
        let txn = leadflow_db::begin_write(&self.db).await?;
        // Lock the org's active owners first: two concurrent demotions of the
        // last two owners then run one after the other, and the second sees
        // only one owner left.
        let owners = member::Entity::find()
            .filter(member::Column::OrgId.eq(org_id))
            .filter(member::Column::Role.eq(Role::Owner.as_str()))
            .filter(member::Column::Active.eq(true))
            .order_by_asc(member::Column::UserId)
            .lock_exclusive()
            .all(&txn)
            .await?;
        let existing: Option<Member> =
            fetch_one(&txn, member_by_id(org_id, &upsert.user_id).lock_exclusive()).await?;
        let other_owners = owners
            .iter()
            .filter(|o| o.user_id != upsert.user_id)
            .count() as u64;
        authorize(existing.as_ref(), other_owners)?;

        let at = self.now();
        let mut model = member::ActiveModel {
            org_id: Set(org_id.to_owned()),
            user_id: Set(upsert.user_id.clone()),
            display_name: Set(upsert.display_name.clone()),
            email: Set(upsert.email.clone()),
            role: Set(upsert.role.as_str().to_owned()),
            active: Set(upsert.active.unwrap_or(true)),
            updated_at: Set(at),
            ..Default::default()
        };
        let (saved, before) = match existing {
            Some(old) => {
                model.active = Set(upsert.active.unwrap_or(old.active));
                (model.update(&txn).await?, Some(snapshot(&old)))
            }
            None => {
                model.available = Set(true);
                model.created_at = Set(at);
                (model.insert(&txn).await?, None)
            }
        };
        let saved = Member::try_from(saved)?;
        record_change(&txn, org_id, actor_id, &saved, before).await?;
        txn.commit().await?;
        Ok(saved)
    }

    /// Marks a member available or away. `None` if there is no such member.
    pub async fn set_availability(
        &self,
        org_id: &str,
        actor_id: &str,
        user_id: &str,
        available: bool,
    ) -> Result<Option<Member>, LeadsError> {
        self.change_member(org_id, actor_id, user_id, |before, model| {
            model.available = Set(available);
            before.available != available
        })
        .await
    }

    /// Replaces a member's schedule (`None`: any time). `None` if there is
    /// no such member.
    pub async fn set_schedule(
        &self,
        org_id: &str,
        actor_id: &str,
        user_id: &str,
        schedule: Option<Schedule>,
    ) -> Result<Option<Member>, LeadsError> {
        let json = schedule
            .as_ref()
            .map(|s| serde_json::to_string(s).expect("a schedule always serialises"));
        self.change_member(org_id, actor_id, user_id, |before, model| {
            model.schedule = Set(json);
            before.schedule != schedule
        })
        .await
    }

    /// One change to member `user_id` under a row lock: `change` sets the new
    /// values on the row and says whether anything differs from `before`.
    /// A change is audited and its directory fact queued in the same
    /// transaction; no change writes nothing.
    async fn change_member(
        &self,
        org_id: &str,
        actor_id: &str,
        user_id: &str,
        change: impl FnOnce(&Member, &mut member::ActiveModel) -> bool,
    ) -> Result<Option<Member>, LeadsError> {
        let txn = leadflow_db::begin_write(&self.db).await?;
        let Some(old) = member_by_id(org_id, user_id)
            .lock_exclusive()
            .one(&txn)
            .await?
        else {
            return Ok(None);
        };
        let before = Member::try_from(old.clone())?;
        let mut model: member::ActiveModel = old.into();
        if !change(&before, &mut model) {
            return Ok(Some(before));
        }
        model.updated_at = Set(self.now());
        let saved = Member::try_from(model.update(&txn).await?)?;
        record_change(&txn, org_id, actor_id, &saved, Some(snapshot(&before))).await?;
        txn.commit().await?;
        Ok(Some(saved))
    }

    /// How many audit rows a member has (tests and operators use it).
    pub async fn member_change_count(
        &self,
        org_id: &str,
        user_id: &str,
    ) -> Result<u64, LeadsError> {
        change_count(&self.db, org_id, user_id).await
    }
}

/// How many audit rows a member has: their change counter.
async fn change_count(
    db: &impl ConnectionTrait,
    org_id: &str,
    user_id: &str,
) -> Result<u64, LeadsError> {
    Ok(member_change::Entity::find()
        .filter(member_change::Column::OrgId.eq(org_id))
        .filter(member_change::Column::UserId.eq(user_id))
        .count(db)
        .await?)
}

/// Writes the audit row of a change to `after` and its directory fact.
async fn record_change(
    db: &impl ConnectionTrait,
    org_id: &str,
    actor_id: &str,
    after: &Member,
    before: Option<String>,
) -> Result<(), LeadsError> {
    member_change::ActiveModel {
        org_id: Set(org_id.to_owned()),
        user_id: Set(after.user_id.clone()),
        actor_id: Set(actor_id.to_owned()),
        before: Set(before),
        after: Set(snapshot(after)),
        at: Set(after.updated_at),
        ..Default::default()
    }
    .insert(db)
    .await?;
    // The change's fact for the other services' directories, in the same
    // transaction; its version is the member's number of changes (the row
    // is locked, so it only grows).
    let version = change_count(db, org_id, &after.user_id).await? as i64;
    super::outbox::enqueue(
        db,
        org_id,
        vec![OutboxEvent::Directory {
            members: vec![directory_fact(after, version)],
        }],
    )
    .await?;
    Ok(())
}

impl Store {
    /// Every member of the org as a directory fact, for a full sync.
    pub async fn directory_facts(&self, org_id: &str) -> Result<Vec<DirectoryFact>, LeadsError> {
        let versions: std::collections::HashMap<String, i64> = member_change::Entity::find()
            .select_only()
            .column(member_change::Column::UserId)
            .column_as(member_change::Column::Id.count(), "n")
            .filter(member_change::Column::OrgId.eq(org_id))
            .group_by(member_change::Column::UserId)
            .into_tuple::<(String, i64)>()
            .all(&self.db)
            .await?
            .into_iter()
            .collect();
        Ok(self
            .list_members(org_id, false, true)
            .await?
            .into_iter()
            .map(|m| directory_fact(&m, versions.get(&m.user_id).copied().unwrap_or(0)))
            .collect())
    }
}
