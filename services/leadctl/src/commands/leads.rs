//! `leadctl leads …`: create, list, get, claim, accept, unassign, assign, history, status.

use std::time::Duration;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use leadflow_proto::common::v1::LeadSource;
use leadflow_proto::leads::v1 as pb;
use leadflow_proto::leads::v1::lead_service_client::LeadServiceClient;

use crate::client::{Api, Client, Failure, Service};
use crate::output::{self, Format, enum_name, enum_value, or_dash, time};
use crate::parse;

#[derive(Subcommand, Debug)]
pub enum LeadsCommand {
    /// Create a lead. Without --owner, routing assigns it (when it is on).
    Create {
        /// The contact's name (required).
        #[arg(long)]
        name: String,
        /// The contact's email address.
        #[arg(long, default_value = "")]
        email: String,
        /// The contact's phone number.
        #[arg(long, default_value = "")]
        phone: String,
        /// The contact's company.
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
    List(ListArgs),
    /// Show one lead.
    Get {
        /// The lead's id.
        id: String,
    },
    /// Take an unassigned lead (sales reps and managers).
    Claim {
        /// The lead's id.
        id: String,
    },
    /// Accept a lead routed to you: you are on it, which meets its routing
    /// SLA (the lead's owner only).
    Accept {
        /// The lead's id.
        id: String,
    },
    /// Put a lead back in the unassigned pool.
    Unassign {
        /// The lead's id.
        id: String,
    },
    /// Assign leads, by id or by filter, to a member (owner, admin, manager).
    Assign(AssignArgs),
    /// Who assigned what, when, and why.
    History {
        /// The lead's id.
        id: String,
    },
    /// Move a lead along the pipeline.
    Status {
        /// The lead's id.
        id: String,
        /// new, contacted, qualified, won, lost or dormant.
        #[arg(value_parser = parse::status)]
        status: pb::LeadStatus,
    },
}

/// `leads list`: a filter and how many pages.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Which leads.
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
}

/// `leads assign`: the leads (by id or by filter) and who gets them.
#[derive(Args, Debug)]
pub struct AssignArgs {
    /// Lead ids. Without ids, the filter flags choose the leads.
    ids: Vec<String>,
    /// The member who gets them.
    #[arg(long)]
    to: String,
    /// Also move leads that already have an owner (a reassignment).
    #[arg(long)]
    reassign: bool,
    /// Which leads, when no ids are given.
    #[command(flatten)]
    filter: FilterArgs,
}

/// The ListLeads filter as flags.
#[derive(Args, Debug, Default)]
pub struct FilterArgs {
    /// A user id, `unassigned`, `held` (unassigned leads routing holds
    /// until someone can take them), or `me`.
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
    /// No filter flag was given.
    fn is_empty(&self) -> bool {
        self.owner.is_none()
            && self.statuses.is_empty()
            && self.sources.is_empty()
            && self.tags.is_empty()
            && self.created_after.is_none()
            && self.created_before.is_none()
            && self.query.is_none()
    }

    /// The filter as ListLeads and AssignLeads take it (`me` resolved).
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

/// The generated client of the leads service.
type LeadClient = LeadServiceClient<tonic::transport::Channel>;
/// That client with the token and the error sentences.
type Leads<'a> = Client<'a, LeadClient>;

/// Runs one `leads` command.
pub async fn run(api: &Api, format: Format, command: LeadsCommand) -> anyhow::Result<()> {
    let mut leads = api.client(Service::Leads, false, LeadClient::new)?;
    // Most commands answer with one lead; the others print their own answer.
    let lead = match command {
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
            let request = pb::CreateLeadRequest {
                idempotency_key: idempotency_key.unwrap_or_default(),
                name,
                email,
                phone,
                company,
                source: source as i32,
                tags,
                owner_id: owner.unwrap_or_default(),
            };
            leads.call(request, LeadClient::create_lead).await?
        }
        LeadsCommand::Get { id } => {
            let request = pb::GetLeadRequest { id };
            leads.call(request, LeadClient::get_lead).await?
        }
        LeadsCommand::Claim { id } => {
            let request = pb::ClaimLeadRequest { id };
            leads.call(request, LeadClient::claim_lead).await?
        }
        LeadsCommand::Accept { id } => {
            let request = pb::AcceptLeadRequest { id };
            leads.call(request, LeadClient::accept_lead).await?
        }
        LeadsCommand::Unassign { id } => {
            let request = pb::UnassignLeadRequest { id };
            leads.call(request, LeadClient::unassign_lead).await?
        }
        LeadsCommand::Status { id, status } => {
            let status = status as i32;
            let request = pb::UpdateLeadStatusRequest { id, status };
            leads.call(request, LeadClient::update_lead_status).await?
        }
        LeadsCommand::List(args) => return list(&mut leads, format, args).await,
        LeadsCommand::History { id } => return history(&mut leads, format, id).await,
        LeadsCommand::Assign(args) => return assign(&mut leads, format, args).await,
    };
    print_lead(format, &lead);
    Ok(())
}

/// `leads list`: one page, or with `--all` every page as one answer.
async fn list(leads: &mut Leads<'_>, format: Format, args: ListArgs) -> anyhow::Result<()> {
    let filter = args.filter.to_proto(leads.api())?;
    let mut page_token = args.page_token;
    // The pages as one answer: the leads of all, the last page's total and
    // next page (none after the last, so `--all` ends up with none).
    let mut listed = pb::ListLeadsResponse::default();
    loop {
        let request = pb::ListLeadsRequest {
            filter: Some(filter.clone()),
            page_size: args.limit,
            page_token,
            order_by: String::new(),
        };
        let page = leads.call(request, LeadClient::list_leads).await?;
        listed.leads.extend(page.leads);
        listed.total_size = page.total_size;
        listed.next_page_token = page.next_page_token;
        page_token = listed.next_page_token.clone();
        if !args.all || page_token.is_empty() {
            break;
        }
    }
    let ids = listed.leads.iter().map(|lead| &lead.id);
    output::print(format, &listed, ids, || {
        let header = ["ID", "NAME", "SOURCE", "STATUS", "OWNER", "CREATED"];
        output::print_table(&header, listed.leads.iter().map(lead_row));
        let (shown, total) = (listed.leads.len(), listed.total_size);
        match listed.next_page_token.as_str() {
            "" => eprintln!("{shown} of {total} lead(s)"),
            next => eprintln!("{shown} of {total} lead(s); next page: --page-token {next}"),
        }
    });
    Ok(())
}

/// `leads history`: the lead's events, oldest first.
async fn history(leads: &mut Leads<'_>, format: Format, id: String) -> anyhow::Result<()> {
    let request = pb::GetLeadHistoryRequest { id };
    let history = leads.call(request, LeadClient::get_lead_history).await?;
    let ids = history.events.iter().map(|e| &e.id);
    output::print(format, &history, ids, || {
        let header = ["TIME", "EVENT", "BY", "METHOD", "FROM", "TO", "DETAIL"];
        output::print_table(&header, history.events.iter().map(event_row));
    });
    Ok(())
}

/// `leads assign`: by ids in chunks, or by filter in one call.
async fn assign(leads: &mut Leads<'_>, format: Format, args: AssignArgs) -> anyhow::Result<()> {
    let AssignArgs {
        ids,
        to,
        reassign,
        filter,
    } = args;
    let outcome = if ids.is_empty() {
        if filter.is_empty() {
            return Err(Failure(
                "give lead ids, or filter flags (--owner unassigned, --source, …) to choose the leads"
                    .into(),
            )
            .into());
        }
        let filter = filter.to_proto(leads.api())?;
        assign_by_filter(leads, filter, to, reassign, format).await?
    } else {
        if !filter.is_empty() {
            return Err(Failure("give lead ids or filter flags, not both".into()).into());
        }
        assign_by_ids(leads, ids, to, reassign, format).await?
    };
    output::print(format, &outcome, &outcome.assigned_lead_ids, || {
        println!("assigned {} lead(s)", outcome.assigned);
        if !outcome.skipped.is_empty() {
            let header = ["SKIPPED LEAD", "REASON", "OWNER"];
            output::print_table(&header, outcome.skipped.iter().map(skip_row));
        }
    });
    Ok(())
}

/// One server-side batch (one notification per assignee). The server does
/// not report progress within a call, so a spinner shows it is working, with
/// the number of matching leads counted first.
async fn assign_by_filter(
    leads: &mut Leads<'_>,
    filter: pb::LeadFilter,
    to: String,
    reassign: bool,
    format: Format,
) -> anyhow::Result<pb::AssignLeadsResponse> {
    let count = pb::ListLeadsRequest {
        filter: Some(filter.clone()),
        page_size: 1,
        ..Default::default()
    };
    let matching = leads.call(count, LeadClient::list_leads).await?.total_size;
    let spinner = progress(format, None);
    spinner.set_message(format!(
        "assigning up to {matching} matching lead(s) to {to}"
    ));
    spinner.enable_steady_tick(Duration::from_millis(100));
    let request = pb::AssignLeadsRequest {
        lead_ids: Vec::new(),
        filter: Some(filter),
        assignee_id: to,
        allow_reassign: reassign,
    };
    let result = leads.call(request, LeadClient::assign_leads).await;
    spinner.finish_and_clear();
    Ok(result?)
}

/// Ids in chunks of [`ASSIGN_CHUNK`], with a progress bar over the leads.
/// Each chunk is its own batch: a failure stops at a chunk boundary, and what
/// was assigned before it stays assigned (the message says how far it got).
async fn assign_by_ids(
    leads: &mut Leads<'_>,
    ids: Vec<String>,
    to: String,
    reassign: bool,
    format: Format,
) -> anyhow::Result<pb::AssignLeadsResponse> {
    let bar = progress(format, Some(ids.len() as u64));
    let mut total = pb::AssignLeadsResponse::default();
    for (done, chunk) in ids.chunks(ASSIGN_CHUNK).enumerate() {
        let request = leads.request(pb::AssignLeadsRequest {
            lead_ids: chunk.to_vec(),
            filter: None,
            assignee_id: to.clone(),
            allow_reassign: reassign,
        })?;
        let response = match leads.raw.assign_leads(request).await {
            Ok(response) => response.into_inner(),
            Err(status) => {
                bar.abandon();
                let sentence = leads.failure(status).0;
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

/// How a lead got its owner; `-` when it has none.
fn method(method: i32) -> String {
    match pb::AssignmentMethod::try_from(method) {
        Ok(pb::AssignmentMethod::Unspecified) | Err(_) => "-".into(),
        Ok(m) => enum_name(Some(m.as_str_name())),
    }
}

/// A lead's source, as people type it.
fn source(source: i32) -> String {
    enum_value(source, LeadSource::as_str_name)
}

/// A lead's status, as people type it.
fn status(status: i32) -> String {
    enum_value(status, pb::LeadStatus::as_str_name)
}

/// One lead as a table of fields.
fn print_lead(format: Format, lead: &pb::Lead) {
    output::print(format, lead, [&lead.id], || {
        let owner = if lead.owner_id.is_empty() {
            "(unassigned)".into()
        } else {
            lead.owner_id.clone()
        };
        let rows = [
            ("id", lead.id.clone()),
            ("name", lead.name.clone()),
            ("email", or_dash(&lead.email)),
            ("phone", or_dash(&lead.phone)),
            ("company", or_dash(&lead.company)),
            ("source", source(lead.source)),
            ("tags", or_dash(&lead.tags.join(", "))),
            ("status", status(lead.status)),
            ("owner", owner),
            ("assigned by", or_dash(&lead.assigned_by)),
            ("method", method(lead.assignment_method)),
            ("assigned at", or_dash(&time(lead.assigned_at.as_ref()))),
            ("created at", time(lead.created_at.as_ref())),
            ("created by", or_dash(&lead.created_by)),
            ("version", lead.version.to_string()),
        ];
        let rows = rows.map(|(field, value)| vec![field.to_owned(), value]);
        output::print_table(&["FIELD", "VALUE"], rows);
    });
}

/// A lead in `leads list`.
fn lead_row(lead: &pb::Lead) -> Vec<String> {
    vec![
        lead.id.clone(),
        lead.name.clone(),
        source(lead.source),
        status(lead.status),
        or_dash(&lead.owner_id),
        time(lead.created_at.as_ref()),
    ]
}

/// An event in `leads history`: a status change shows the statuses, any
/// other event the owners.
fn event_row(event: &pb::LeadEvent) -> Vec<String> {
    let (from, to) = if event.kind == pb::LeadEventKind::StatusChanged as i32 {
        (status(event.from_status), status(event.to_status))
    } else {
        (or_dash(&event.from_owner_id), or_dash(&event.to_owner_id))
    };
    let mut detail = event.routing_explanation.clone();
    if !event.batch_id.is_empty() {
        detail = format!("batch {}", event.batch_id);
    }
    vec![
        time(event.time.as_ref()),
        enum_value(event.kind, pb::LeadEventKind::as_str_name),
        or_dash(&event.actor_id),
        method(event.method),
        from,
        to,
        or_dash(&detail),
    ]
}

/// A lead `leads assign` left alone, and why.
fn skip_row(skip: &pb::AssignSkip) -> Vec<String> {
    vec![
        skip.lead_id.clone(),
        enum_value(skip.reason, pb::AssignSkipReason::as_str_name),
        or_dash(&skip.owner_id),
    ]
}
