//! `leadctl team …`: list, upsert, availability.

use clap::Subcommand;
use leadflow_proto::common::v1::Role;
use leadflow_proto::leads::v1 as pb;
use leadflow_proto::leads::v1::team_service_client::TeamServiceClient;

use crate::client::{Api, Service};
use crate::output::{self, Format, Table, enum_name, or_dash};
use crate::parse;

#[derive(Subcommand, Debug)]
pub enum TeamCommand {
    /// The organisation's members.
    List {
        /// Include deactivated members.
        #[arg(long)]
        all: bool,
        /// Only members who can own leads.
        #[arg(long)]
        sales_capable: bool,
    },
    /// Add a member or change one (owner, admin).
    Upsert {
        user_id: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        email: String,
        /// owner, admin, manager, sales or accounting.
        #[arg(long, value_parser = parse::role)]
        role: Role,
        /// Deactivate (true keeps or makes them active; unset leaves it as it is).
        #[arg(long, value_parser = parse::on_off)]
        active: Option<bool>,
    },
    /// Mark a member available (on) or away (off) for routing.
    Availability {
        user_id: String,
        /// on or off.
        #[arg(value_parser = parse::on_off)]
        available: bool,
    },
}

pub async fn run(api: &Api, format: Format, command: TeamCommand) -> anyhow::Result<()> {
    let mut team = TeamServiceClient::new(api.channel(Service::Leads, false)?);
    let fail = |status| api.failure(Service::Leads, status);
    match command {
        TeamCommand::List { all, sales_capable } => {
            let members = team
                .list_members(api.request(pb::ListMembersRequest {
                    sales_capable_only: sales_capable,
                    include_inactive: all,
                })?)
                .await
                .map_err(fail)?
                .into_inner();
            match format {
                Format::Json => output::print_json(&members),
                Format::Id => members
                    .members
                    .iter()
                    .for_each(|m| println!("{}", m.user_id)),
                Format::Table => {
                    let mut table =
                        Table::new(&["USER", "NAME", "ROLE", "ACTIVE", "AVAILABLE", "EMAIL"]);
                    for m in &members.members {
                        table.row(member_row(m));
                    }
                    table.print();
                }
            }
        }
        TeamCommand::Upsert {
            user_id,
            name,
            email,
            role,
            active,
        } => {
            let member = team
                .upsert_member(api.request(pb::UpsertMemberRequest {
                    user_id,
                    display_name: name,
                    email,
                    role: role as i32,
                    active,
                })?)
                .await
                .map_err(fail)?
                .into_inner();
            print_member(format, &member);
        }
        TeamCommand::Availability { user_id, available } => {
            let member = team
                .set_availability(api.request(pb::SetAvailabilityRequest { user_id, available })?)
                .await
                .map_err(fail)?
                .into_inner();
            print_member(format, &member);
        }
    }
    Ok(())
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.into()
}

fn member_row(m: &pb::Member) -> Vec<String> {
    vec![
        m.user_id.clone(),
        m.display_name.clone(),
        enum_name(Role::try_from(m.role).ok().map(|r| r.as_str_name())),
        yes_no(m.active),
        yes_no(m.available),
        or_dash(&m.email),
    ]
}

fn print_member(format: Format, member: &pb::Member) {
    match format {
        Format::Json => output::print_json(member),
        Format::Id => println!("{}", member.user_id),
        Format::Table => {
            let mut table = Table::new(&["USER", "NAME", "ROLE", "ACTIVE", "AVAILABLE", "EMAIL"]);
            table.row(member_row(member));
            table.print();
        }
    }
}
