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

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;

#[derive(Parser, Debug)]
#[command(name = "leadctl", version, about = "The leadflow command line")]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Where to connect, as whom, and how to print.
#[derive(Args, Debug)]
struct Global {
    /// The config file with profiles [default: ~/.config/leadctl/config.toml,
    /// else ./data/leadctl.toml].
    #[arg(long, global = true, env = "LEADCTL_CONFIG")]
    config: Option<PathBuf>,
    /// The profile to use (default: the file's `current`).
    #[arg(short, long, global = true, env = "LEADCTL_PROFILE")]
    profile: Option<String>,
    /// The leads service, e.g. http://127.0.0.1:50051.
    #[arg(long, global = true, env = "LEADCTL_LEADS_ADDR")]
    leads_addr: Option<String>,
    /// The routing service, e.g. http://127.0.0.1:50052.
    #[arg(long, global = true, env = "LEADCTL_ROUTING_ADDR")]
    routing_addr: Option<String>,
    /// The notifier, e.g. http://127.0.0.1:50053.
    #[arg(long, global = true, env = "LEADCTL_NOTIFIER_ADDR")]
    notifier_addr: Option<String>,
    /// The bearer token.
    #[arg(long, global = true, env = "LEADCTL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A file holding the bearer token.
    #[arg(long, global = true, env = "LEADCTL_TOKEN_FILE")]
    token_file: Option<PathBuf>,
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

fn run_api(global: Global, command: Command) -> anyhow::Result<()> {
    let target = profile::resolve(profile::Overrides {
        config: global.config,
        profile: global.profile,
        leads: global.leads_addr,
        routing: global.routing_addr,
        notifier: global.notifier_addr,
        token: global.token,
        token_file: global.token_file,
    })?;
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
