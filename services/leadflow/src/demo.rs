//! The demo organisation `make run` starts with: a team a newcomer can route
//! leads to at once. It is created through the public gRPC API, exactly as a
//! customer's onboarding would, and only when the organisation has no members
//! yet, so a restart neither duplicates it nor undoes what the user changed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use leadflow_auth::{Caller, Role, TokenMinter};
use leadflow_leads::grpc::convert::role_to_pb;
use leadflow_proto::leads::v1 as leads_pb;
use leadflow_proto::leads::v1::team_service_client::TeamServiceClient;
use leadflow_proto::routing::v1 as routing_pb;
use leadflow_proto::routing::v1::routing_service_client::RoutingServiceClient;
use tonic::transport::{Channel, Endpoint};

/// The demo organisation's id (the `org` claim of its tokens).
pub const ORG: &str = "demo";

/// One person of the demo team.
pub struct Person {
    /// Token subject, token file and leadctl profile name, and [`ROTATION`]'s entry.
    pub user_id: &'static str,
    /// The name the team listing and the startup banner show.
    pub display_name: &'static str,
    /// What this person's token may do; the banner shows it so a newcomer picks a profile.
    pub role: Role,
    /// `false` for the rep left in the rotation, so routing is seen skipping him.
    pub active: bool,
}

/// The team: an owner, a manager, three sales reps, an accountant and an
/// inactive rep (who stays in the rotation, so routing shows it skipping him).
pub const TEAM: &[Person] = &[
    person("olivia", "Olivia Owner", Role::Owner, true),
    person("max", "Max Manager", Role::Manager, true),
    person("ana", "Ana Sales", Role::Sales, true),
    person("ben", "Ben Sales", Role::Sales, true),
    person("cara", "Cara Sales", Role::Sales, true),
    person("tom", "Tom Accounting", Role::Accounting, true),
    person("ian", "Ian Inactive", Role::Sales, false),
];

/// Round robin over the sales reps, in this order.
pub const ROTATION: &[&str] = &["ana", "ben", "cara", "ian"];

const fn person(
    user_id: &'static str,
    display_name: &'static str,
    role: Role,
    active: bool,
) -> Person {
    Person {
        user_id,
        display_name,
        role,
        active,
    }
}

/// How long the printed demo tokens stay valid (they are re-minted at every start).
pub const TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// What seeding did.
#[derive(Debug, PartialEq, Eq)]
pub struct Seeded {
    /// Whether the team was added now (the organisation had none); logged at startup.
    pub members_created: bool,
    /// Whether round robin was turned on now; settings a user saved are never replaced.
    pub routing_configured: bool,
}

/// Creates the demo team and turns round robin on, unless already there.
pub async fn seed(leads: &str, routing: &str, minter: &TokenMinter) -> anyhow::Result<Seeded> {
    let owner = bearer(minter, &Caller::new("olivia", ORG, Role::Owner))?;
    let mut team = TeamServiceClient::new(channel(leads)?);
    let existing = team
        .list_members(authed(
            leads_pb::ListMembersRequest {
                sales_capable_only: false,
                include_inactive: true,
            },
            &owner,
        ))
        .await
        .context("listing the demo organisation's members")?
        .into_inner()
        .members;
    let members_created = existing.is_empty();
    if members_created {
        for person in TEAM {
            team.upsert_member(authed(
                leads_pb::UpsertMemberRequest {
                    user_id: person.user_id.into(),
                    display_name: person.display_name.into(),
                    email: format!("{}@demo.leadflow.test", person.user_id),
                    role: role_to_pb(person.role) as i32,
                    active: Some(person.active),
                },
                &owner,
            ))
            .await
            .with_context(|| format!("adding {} to the demo organisation", person.user_id))?;
        }
    }

    let mut settings = RoutingServiceClient::new(channel(routing)?);
    let current = settings
        .get_routing_settings(authed(routing_pb::GetRoutingSettingsRequest {}, &owner))
        .await
        .context("reading the demo organisation's routing settings")?
        .into_inner();
    // Version 0: never saved. Anything else is the user's, and stays.
    let routing_configured = current.version == 0;
    if routing_configured {
        settings
            .update_routing_settings(authed(
                routing_pb::UpdateRoutingSettingsRequest {
                    settings: Some(routing_pb::RoutingSettings {
                        enabled: true,
                        strategy: routing_pb::Strategy::RoundRobin as i32,
                        rotation_user_ids: ROTATION.iter().map(|u| (*u).to_owned()).collect(),
                        ..Default::default()
                    }),
                    expected_version: 0,
                },
                &owner,
            ))
            .await
            .context("turning on round robin for the demo organisation")?;
    }
    Ok(Seeded {
        members_created,
        routing_configured,
    })
}

/// Addresses of the three services, as `http://host:port`.
pub struct Addresses {
    /// Where seeding creates the team, and every leadctl profile's `leads` entry.
    pub leads: String,
    /// Where seeding turns round robin on, and every profile's `routing` entry.
    pub routing: String,
    /// Every profile's `notifier` entry, so `leadctl notifications` works at once.
    pub notifier: String,
}

/// Writes one token file per demo person under `data_dir/tokens` and a
/// leadctl profile file (`data_dir/leadctl.toml`) with one profile each;
/// returns the profile file's path.
pub fn write_profiles(
    data_dir: &Path,
    minter: &TokenMinter,
    addresses: &Addresses,
) -> anyhow::Result<PathBuf> {
    let tokens = data_dir.join("tokens");
    std::fs::create_dir_all(&tokens)?;
    let mut profiles = String::from(
        "# Written by `leadflow --demo` at every start: one profile per person of the\n\
         # demo organisation. Use one with `leadctl --profile ana …`.\n\
         current = \"olivia\"\n",
    );
    for person in TEAM {
        let token = bearer(minter, &Caller::new(person.user_id, ORG, person.role))?;
        let file = tokens.join(format!("{}.token", person.user_id));
        crate::dev::write_private(&file, &format!("{token}\n"))?;
        profiles.push_str(&format!(
            "\n[profiles.{user}]\nleads = \"{leads}\"\nrouting = \"{routing}\"\nnotifier = \"{notifier}\"\ntoken_file = \"tokens/{user}.token\"\n",
            user = person.user_id,
            leads = addresses.leads,
            routing = addresses.routing,
            notifier = addresses.notifier,
        ));
    }
    let path = data_dir.join("leadctl.toml");
    std::fs::write(&path, profiles).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn bearer(minter: &TokenMinter, caller: &Caller) -> anyhow::Result<String> {
    Ok(minter.mint(caller, TOKEN_TTL))
}

fn channel(url: &str) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect_lazy())
}

fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .expect("a JWT is valid header text"),
    );
    request
}
