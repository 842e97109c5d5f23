//! `leadctl leads …`: create, list, get, claim, unassign, assign, history, status.

use std::time::Duration;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use leadflow_proto::common::v1::LeadSource;
use leadflow_proto::leads::v1 as pb;
use leadflow_proto::leads::v1::lead_service_client::LeadServiceClient;

use crate::client::{Api, Failure, Service};
use crate::output::{self, Format, Table, enum_name, or_dash, time};
use crate::parse;

#[derive(Subcommand, Debug)]
pub enum LeadsCommand {
    /// Create a lead. Without --owner, routing assigns it (when it is on).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        email: String,
        #[arg(long, default_value = "")]
        phone: String,
        #[arg(long, default_value = "")]
        company: String,
        /// team, ai_assistant, website, facebook, google, csv_import or other.
        #[arg(long, value_parser = parse::source)]
        source: LeadSource,
        /// A tag (repeat for more).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Assign to this member at once (routing is skipped).
        #[arg(long)]
        owner: Option<String>,
        /// Makes retries safe: the same key returns the same lead.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// List leads, oldest first (ListLeads' default order), with the same filters as ListLeads.
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// Leads per page (at most 500).
        #[arg(long, default_value_t = 50)]
        limit: i32,
        /// Continue from a previous page.
        #[arg(long, default_value = "")]
        page_token: String,
        /// Follow every page.
        #[arg(long)]
        all: bool,
    },
    /// Show one lead.
    Get { id: String },
    /// Take an unassigned lead (sales reps and managers).
    Claim { id: String },
    /// Put a lead back in the unassigned pool.
    Unassign { id: String },
    /// Assign leads, by id or by filter, to a member (owner, admin, manager).
    Assign {
        /// Lead ids. Without ids, the filter flags choose the leads.
        ids: Vec<String>,
        /// The member who gets them.
        #[arg(long)]
        to: String,
        /// Also move leads that already have an owner (a reassignment).
        #[arg(long)]
        reassign: bool,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Who assigned what, when, and why.
    History { id: String },
    /// Move a lead along the pipeline.
    Status {
        id: String,
        /// new, contacted, qualified, won, lost or dormant.
        #[arg(value_parser = parse::status)]
        status: pb::LeadStatus,
    },
}

/// The ListLeads filter as flags.
#[derive(Args, Debug, Default)]
pub struct FilterArgs {
    /// A user id, `unassigned`, or `me`.
    #[arg(long)]
    owner: Option<String>,
    /// A status (repeat for any of several).
    #[arg(long = "status", value_parser = parse::status)]
    statuses: Vec<pb::LeadStatus>,
    /// A source (repeat for any of several).
    #[arg(long = "source", value_parser = parse::source)]
    sources: Vec<LeadSource>,
    /// A tag (repeat: leads with any of them).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Created at or after (2026-11-01 or RFC 3339).
    #[arg(long, value_parser = parse::time)]
    created_after: Option<prost_types::Timestamp>,
    /// Created before.
    #[arg(long, value_parser = parse::time)]
    created_before: Option<prost_types::Timestamp>,
    /// Text in the name, email or company.
    #[arg(long)]
    query: Option<String>,
}

impl FilterArgs {
    fn is_empty(&self) -> bool {
        self.owner.is_none()
            && self.statuses.is_empty()
            && self.sources.is_empty()
            && self.tags.is_empty()
            && self.created_after.is_none()
            && self.created_before.is_none()
            && self.query.is_none()
    }

    fn to_proto(&self, api: &Api) -> Result<pb::LeadFilter, Failure> {
        let owner = match self.owner.as_deref() {
            Some("me") => token_subject(api)?,
            Some(owner) => owner.to_owned(),
            None => String::new(),
        };
        Ok(pb::LeadFilter {
            owner,
            statuses: self.statuses.iter().map(|s| *s as i32).collect(),
            sources: self.sources.iter().map(|s| *s as i32).collect(),
            tags: self.tags.clone(),
            created_after: self.created_after,
            created_before: self.created_before,
            query: self.query.clone().unwrap_or_default(),
        })
    }
}

/// The `sub` claim of our own token (for `--owner me`). The token is read,
/// not verified: the server verifies it on every call.
fn token_subject(api: &Api) -> Result<String, Failure> {
    use base64::Engine;
    let sub = api.target.token.as_deref().and_then(|token| {
        let payload = token.split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?;
        let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        claims.get("sub")?.as_str().map(str::to_owned)
    });
    sub.ok_or_else(|| Failure("`--owner me` needs a token with a `sub` claim".into()))
}

/// Most ids one AssignLeads call takes; longer lists go in chunks.
const ASSIGN_CHUNK: usize = 1_000;

pub async fn run(api: &Api, format: Format, command: LeadsCommand) -> anyhow::Result<()> {
    let mut leads = LeadServiceClient::new(api.channel(Service::Leads, false)?);
    let fail = |status| api.failure(Service::Leads, status);
    match command {
        LeadsCommand::Create {
            name,
            email,
            phone,
            company,
            source,
            tags,
            owner,
            idempotency_key,
        } => {
            let lead = leads
                .create_lead(api.request(pb::CreateLeadRequest {
                    idempotency_key: idempotency_key.unwrap_or_default(),
                    name,
                    email,
                    phone,
                    company,
                    source: source as i32,
                    tags,
                    owner_id: owner.unwrap_or_default(),
                })?)
                .await
                .map_err(fail)?
                .into_inner();
            print_lead(format, &lead);
        }
        LeadsCommand::Get { id } => {
            let lead = leads
                .get_lead(api.request(pb::GetLeadRequest { id })?)
                .await
                .map_err(fail)?
                .into_inner();
            print_lead(format, &lead);
        }
        LeadsCommand::Claim { id } => {
            let lead = leads
                .claim_lead(api.request(pb::ClaimLeadRequest { id })?)
                .await
                .map_err(fail)?
                .into_inner();
            print_lead(format, &lead);
        }
        LeadsCommand::Unassign { id } => {
            let lead = leads
                .unassign_lead(api.request(pb::UnassignLeadRequest { id })?)
                .await
                .map_err(fail)?
                .into_inner();
            print_lead(format, &lead);
        }
        LeadsCommand::Status { id, status } => {
            let lead = leads
                .update_lead_status(api.request(pb::UpdateLeadStatusRequest {
                    id,
                    status: status as i32,
                })?)
                .await
                .map_err(fail)?
                .into_inner();
            print_lead(format, &lead);
        }
        LeadsCommand::List {
            filter,
            limit,
            mut page_token,
            all,
        } => {
            let filter = filter.to_proto(api)?;
            let mut pages = Vec::new();
            loop {
                let page = leads
                    .list_leads(api.request(pb::ListLeadsRequest {
                        filter: Some(filter.clone()),
                        page_size: limit,
                        page_token: page_token.clone(),
                        order_by: String::new(),
                    })?)
                    .await
                    .map_err(fail)?
                    .into_inner();
                page_token = page.next_page_token.clone();
                pages.push(page);
                if !all || page_token.is_empty() {
                    break;
                }
            }
            print_lead_pages(format, pages, all);
        }
        LeadsCommand::History { id } => {
            let history = leads
                .get_lead_history(api.request(pb::GetLeadHistoryRequest { id })?)
                .await
                .map_err(fail)?
                .into_inner();
            match format {
                Format::Json => output::print_json(&history),
                Format::Id => history.events.iter().for_each(|e| println!("{}", e.id)),
                Format::Table => {
                    let mut table =
                        Table::new(&["TIME", "EVENT", "BY", "METHOD", "FROM", "TO", "DETAIL"]);
                    for event in &history.events {
                        let (from, to) = if event.kind == pb::LeadEventKind::StatusChanged as i32 {
                            (
                                enum_name(
                                    pb::LeadStatus::try_from(event.from_status)
                                        .ok()
                                        .map(|s| s.as_str_name()),
                                ),
                                enum_name(
                                    pb::LeadStatus::try_from(event.to_status)
                                        .ok()
                                        .map(|s| s.as_str_name()),
                                ),
                            )
                        } else {
                            (or_dash(&event.from_owner_id), or_dash(&event.to_owner_id))
                        };
                        let mut detail = event.routing_explanation.clone();
                        if !event.batch_id.is_empty() {
                            detail = format!("batch {}", event.batch_id);
                        }
                        table.row(vec![
                            time(event.time.as_ref()),
                            enum_name(
                                pb::LeadEventKind::try_from(event.kind)
                                    .ok()
                                    .map(|k| k.as_str_name()),
                            ),
                            or_dash(&event.actor_id),
                            method(event.method),
                            from,
                            to,
                            or_dash(&detail),
                        ]);
                    }
                    table.print();
                }
            }
        }
        LeadsCommand::Assign {
            ids,
            to,
            reassign,
            filter,
        } => {
            let outcome = if ids.is_empty() {
                if filter.is_empty() {
                    return Err(Failure(
                        "give lead ids, or filter flags (--owner unassigned, --source, …) to choose the leads"
                            .into(),
                    )
                    .into());
                }
                assign_by_filter(api, &mut leads, filter.to_proto(api)?, to, reassign, format)
                    .await?
            } else {
                if !filter.is_empty() {
                    return Err(Failure("give lead ids or filter flags, not both".into()).into());
                }
                assign_by_ids(api, &mut leads, ids, to, reassign, format).await?
            };
            match format {
                Format::Json => output::print_json(&outcome),
                Format::Id => outcome
                    .assigned_lead_ids
                    .iter()
                    .for_each(|id| println!("{id}")),
                Format::Table => {
                    println!("assigned {} lead(s)", outcome.assigned);
                    if !outcome.skipped.is_empty() {
                        let mut table = Table::new(&["SKIPPED LEAD", "REASON", "OWNER"]);
                        for skip in &outcome.skipped {
                            table.row(vec![
                                skip.lead_id.clone(),
                                enum_name(
                                    pb::AssignSkipReason::try_from(skip.reason)
                                        .ok()
                                        .map(|r| r.as_str_name()),
                                ),
                                or_dash(&skip.owner_id),
                            ]);
                        }
                        table.print();
                    }
                }
            }
        }
    }
    Ok(())
}

type LeadClient = LeadServiceClient<tonic::transport::Channel>;

/// One server-side batch (one notification per assignee). The server does
/// not report progress within a call, so a spinner shows it is working, with
/// the number of matching leads counted first.
async fn assign_by_filter(
    api: &Api,
    leads: &mut LeadClient,
    filter: pb::LeadFilter,
    to: String,
    reassign: bool,
    format: Format,
) -> anyhow::Result<pb::AssignLeadsResponse> {
    let fail = |status| api.failure(Service::Leads, status);
    let matching = leads
        .list_leads(api.request(pb::ListLeadsRequest {
            filter: Some(filter.clone()),
            page_size: 1,
            ..Default::default()
        })?)
        .await
        .map_err(fail)?
        .into_inner()
        .total_size;
    let spinner = progress(format, None);
    spinner.set_message(format!(
        "assigning up to {matching} matching lead(s) to {to}"
    ));
    spinner.enable_steady_tick(Duration::from_millis(100));
    let result = leads
        .assign_leads(api.request(pb::AssignLeadsRequest {
            lead_ids: Vec::new(),
            filter: Some(filter),
            assignee_id: to,
            allow_reassign: reassign,
        })?)
        .await
        .map_err(fail);
    spinner.finish_and_clear();
    Ok(result?.into_inner())
}

/// Ids in chunks of [`ASSIGN_CHUNK`], with a progress bar over the leads.
/// Each chunk is its own batch: a failure stops at a chunk boundary, and what
/// was assigned before it stays assigned (the message says how far it got).
async fn assign_by_ids(
    api: &Api,
    leads: &mut LeadClient,
    ids: Vec<String>,
    to: String,
    reassign: bool,
    format: Format,
) -> anyhow::Result<pb::AssignLeadsResponse> {
    let bar = progress(format, Some(ids.len() as u64));
    let mut total = pb::AssignLeadsResponse::default();
    for (done, chunk) in ids.chunks(ASSIGN_CHUNK).enumerate() {
        let response = leads
            .assign_leads(api.request(pb::AssignLeadsRequest {
                lead_ids: chunk.to_vec(),
                filter: None,
                assignee_id: to.clone(),
                allow_reassign: reassign,
            })?)
            .await;
        let response = match response {
            Ok(response) => response.into_inner(),
            Err(status) => {
                bar.abandon();
                let sentence = api.failure(Service::Leads, status).0;
                if done == 0 {
                    return Err(Failure(sentence).into());
                }
                return Err(Failure(format!(
                    "{} lead(s) were assigned, then: {sentence}",
                    total.assigned
                ))
                .into());
            }
        };
        total.assigned += response.assigned;
        total.skipped.extend(response.skipped);
        total.assigned_lead_ids.extend(response.assigned_lead_ids);
        total.batch_id = response.batch_id;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(total)
}

/// A bar (with a length) or a spinner, on stderr; hidden for scripts.
fn progress(format: Format, length: Option<u64>) -> ProgressBar {
    if format != Format::Table {
        return ProgressBar::hidden();
    }
    match length {
        Some(length) => ProgressBar::new(length).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} leads ({eta} left)")
                .expect("a valid template"),
        ),
        None => ProgressBar::new_spinner(),
    }
}

fn method(method: i32) -> String {
    match pb::AssignmentMethod::try_from(method) {
        Ok(pb::AssignmentMethod::Unspecified) | Err(_) => "-".into(),
        Ok(m) => enum_name(Some(m.as_str_name())),
    }
}

fn source(source: i32) -> String {
    enum_name(LeadSource::try_from(source).ok().map(|s| s.as_str_name()))
}

fn status(status: i32) -> String {
    enum_name(
        pb::LeadStatus::try_from(status)
            .ok()
            .map(|s| s.as_str_name()),
    )
}

fn print_lead(format: Format, lead: &pb::Lead) {
    match format {
        Format::Json => output::print_json(lead),
        Format::Id => println!("{}", lead.id),
        Format::Table => {
            let mut table = Table::new(&["FIELD", "VALUE"]);
            let rows = [
                ("id", lead.id.clone()),
                ("name", lead.name.clone()),
                ("email", or_dash(&lead.email)),
                ("phone", or_dash(&lead.phone)),
                ("company", or_dash(&lead.company)),
                ("source", source(lead.source)),
                ("tags", or_dash(&lead.tags.join(", "))),
                ("status", status(lead.status)),
                (
                    "owner",
                    if lead.owner_id.is_empty() {
                        "(unassigned)".into()
                    } else {
                        lead.owner_id.clone()
                    },
                ),
                ("assigned by", or_dash(&lead.assigned_by)),
                ("method", method(lead.assignment_method)),
                ("assigned at", or_dash(&time(lead.assigned_at.as_ref()))),
                ("created at", time(lead.created_at.as_ref())),
                ("created by", or_dash(&lead.created_by)),
                ("version", lead.version.to_string()),
            ];
            for (field, value) in rows {
                table.row(vec![field.to_owned(), value]);
            }
            table.print();
        }
    }
}

fn print_lead_pages(format: Format, pages: Vec<pb::ListLeadsResponse>, all: bool) {
    match format {
        Format::Json if pages.len() == 1 => output::print_json(&pages[0]),
        Format::Json => {
            // Every page as one response: the leads, no further page.
            let mut merged = pb::ListLeadsResponse::default();
            for page in pages {
                merged.total_size = page.total_size;
                merged.leads.extend(page.leads);
            }
            output::print_json(&merged);
        }
        Format::Id => pages
            .iter()
            .flat_map(|p| &p.leads)
            .for_each(|lead| println!("{}", lead.id)),
        Format::Table => {
            let mut table = Table::new(&["ID", "NAME", "SOURCE", "STATUS", "OWNER", "CREATED"]);
            let mut shown = 0;
            for lead in pages.iter().flat_map(|p| &p.leads) {
                shown += 1;
                table.row(vec![
                    lead.id.clone(),
                    lead.name.clone(),
                    source(lead.source),
                    status(lead.status),
                    or_dash(&lead.owner_id),
                    time(lead.created_at.as_ref()),
                ]);
            }
            table.print();
            let last = pages.last();
            let total = last.map_or(0, |p| p.total_size);
            let next = last.map(|p| p.next_page_token.as_str()).unwrap_or_default();
            if !all && !next.is_empty() {
                eprintln!("{shown} of {total} lead(s); next page: --page-token {next}");
            } else {
                eprintln!("{shown} of {total} lead(s)");
            }
        }
    }
}
