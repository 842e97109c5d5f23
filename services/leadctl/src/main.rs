//! `leadctl`: the leadflow command line, over the public gRPC API.
//!
//! A platform engineer pokes a running leadflow with it the way they use
//! kubectl: `leadctl leads list --owner ana`, `leadctl routing show`,
//! `leadctl notifications watch`. Addresses and the token come from flags,
//! environment variables or a named profile ([`profile`]). Output is a table,
//! or JSON with `-o json`, or bare ids with `-o id`. Any failure is one
//! sentence on stderr and exit code 1 (2 for a usage error).

mod client;
mod commands;
mod output;
mod parse;
mod profile;

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;

#[derive(Parser, Debug)]
#[command(name = "leadctl", version, about = "The leadflow command line")]
struct Cli {
    /// The flags every command takes.
    #[command(flatten)]
    global: Global,
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// Where to connect, as whom, and how to print.
#[derive(Args, Debug)]
struct Global {
    /// The config file, the profile, and addresses and a token over the
    /// profile's.
    #[command(flatten)]
    target: profile::Overrides,
    /// table (for people), json (for scripts) or id (ids only, one per line).
    #[arg(short, long, global = true, value_enum, default_value = "table")]
    output: Format,
    /// How long one call may take, in seconds.
    #[arg(long, global = true, default_value_t = 30)]
    timeout_secs: u64,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create, find, claim, assign and follow leads.
    #[command(subcommand)]
    Leads(commands::leads::LeadsCommand),
    /// The organisation's members.
    #[command(subcommand)]
    Team(commands::team::TeamCommand),
    /// Auto-assignment settings, their audit log, dry runs and workload.
    #[command(subcommand)]
    Routing(commands::routing::RoutingCommand),
    /// Outbox events that kept failing (owner, admin).
    #[command(subcommand)]
    Outbox(commands::outbox::OutboxCommand),
    /// The in-app bell.
    #[command(subcommand)]
    Notifications(commands::notifications::NotificationsCommand),
    /// Bearer tokens for development.
    #[command(subcommand)]
    Token(commands::token::TokenCommand),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        // Minting needs no connection and no token.
        Command::Token(command) => commands::token::run(command),
        command => run_api(cli.global, command),
    };
    if let Err(error) = result {
        eprintln!("leadctl: {}", one_sentence(&error));
        std::process::exit(1);
    }
}

/// Runs a command that calls the API, on a runtime of one thread.
fn run_api(global: Global, command: Command) -> anyhow::Result<()> {
    let target = profile::resolve(global.target)?;
    let api = client::Api::new(target, Duration::from_secs(global.timeout_secs));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let format = global.output;
    runtime.block_on(async move {
        match command {
            Command::Leads(c) => commands::leads::run(&api, format, c).await,
            Command::Team(c) => commands::team::run(&api, format, c).await,
            Command::Routing(c) => commands::routing::run(&api, format, c).await,
            Command::Outbox(c) => commands::outbox::run(&api, format, c).await,
            Command::Notifications(c) => commands::notifications::run(&api, format, c).await,
            Command::Token(_) => unreachable!("handled without a connection"),
        }
    })
}

/// The error and its causes as one line.
fn one_sentence(error: &anyhow::Error) -> String {
    let text = format!("{error:#}");
    let text = text.replace('\n', " ");
    if text.ends_with('.') {
        text
    } else {
        format!("{text}.")
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap checks every command's arguments only when that command is
    /// parsed (and only in debug builds); this checks them all at once, so a
    /// malformed one (`team availability` once panicked on every call) fails
    /// here instead of in an operator's terminal.
    #[test]
    fn every_command_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn availability_takes_on_or_off() {
        use clap::Parser;
        let cli = super::Cli::try_parse_from(["leadctl", "team", "availability", "u1", "off"])
            .expect("parses");
        assert!(format!("{cli:?}").contains("available: false"), "{cli:?}");
        assert!(
            super::Cli::try_parse_from(["leadctl", "team", "availability", "u1", "maybe"]).is_err()
        );
    }

    #[test]
    fn routing_set_takes_weights_limits_and_working_hours_together() {
        use clap::Parser;
        let cli = super::Cli::try_parse_from([
            "leadctl",
            "routing",
            "set",
            "--weight",
            "ana=3",
            "--limit",
            "ben=open:20,day:10",
            "--default-limit",
            "none",
            "--respect-working-hours",
            "on",
        ])
        .expect("parses");
        let text = format!("{cli:?}");
        assert!(text.contains("max_open_leads: 20"), "{text}");
        assert!(text.contains("DefaultLimit(None)"), "{text}");
        assert!(text.contains("respect_working_hours: Some(true)"), "{text}");
    }
}
