//! `leadctl team …`: list, upsert, availability.

use clap::Subcommand;
use leadflow_proto::common::v1::Role;
use leadflow_proto::leads::v1 as pb;
use leadflow_proto::leads::v1::team_service_client::TeamServiceClient;

use crate::client::{Api, Service};
use crate::output::{self, Format, enum_value, or_dash, yes_no};
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
        /// The member's user id (the `sub` of their tokens).
        user_id: String,
        /// The name shown on leads and in notifications.
        #[arg(long)]
        name: String,
        /// Where their email notifications go.
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
        /// The member's user id.
        user_id: String,
        /// on or off.
        #[arg(value_parser = parse::on_off, action = clap::ArgAction::Set)]
        available: bool,
    },
}

/// The generated client of the leads service's team API.
type TeamClient = TeamServiceClient<tonic::transport::Channel>;

/// A member table's columns ([`member_row`]).
const MEMBER_HEADER: [&str; 6] = ["USER", "NAME", "ROLE", "ACTIVE", "AVAILABLE", "EMAIL"];

/// Runs one `team` command.
pub async fn run(api: &Api, format: Format, command: TeamCommand) -> anyhow::Result<()> {
    let mut team = api.client(Service::Leads, false, TeamClient::new)?;
    let member = match command {
        TeamCommand::List { all, sales_capable } => {
            let request = pb::ListMembersRequest {
                sales_capable_only: sales_capable,
                include_inactive: all,
            };
            let members = team.call(request, TeamClient::list_members).await?;
            let ids = members.members.iter().map(|m| &m.user_id);
            output::print(format, &members, ids, || {
                output::print_table(&MEMBER_HEADER, members.members.iter().map(member_row));
            });
            return Ok(());
        }
        TeamCommand::Upsert {
            user_id,
            name,
            email,
            role,
            active,
        } => {
            let request = pb::UpsertMemberRequest {
                user_id,
                display_name: name,
                email,
                role: role as i32,
                active,
            };
            team.call(request, TeamClient::upsert_member).await?
        }
        TeamCommand::Availability { user_id, available } => {
            let request = pb::SetAvailabilityRequest { user_id, available };
            team.call(request, TeamClient::set_availability).await?
        }
    };
    output::print(format, &member, [&member.user_id], || {
        output::print_table(&MEMBER_HEADER, [member_row(&member)]);
    });
    Ok(())
}

/// A member as one table row, under [`MEMBER_HEADER`].
fn member_row(m: &pb::Member) -> Vec<String> {
    vec![
        m.user_id.clone(),
        m.display_name.clone(),
        enum_value(m.role, Role::as_str_name),
        yes_no(m.active),
        yes_no(m.available),
        or_dash(&m.email),
    ]
}
