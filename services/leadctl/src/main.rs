//! `leadctl`: the leadflow command line.
//!
//! For now it mints development tokens (`leadctl token mint`), so a newcomer
//! can call a `make run` system with grpcurl. The full CLI over the public
//! API (leads, team, routing, notifications) grows here.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use leadflow_auth::{Caller, Role, TokenMinter};

#[derive(Parser, Debug)]
#[command(name = "leadctl", version, about = "The leadflow command line")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Mint a token for development: HS256 with the dev secret, or EdDSA with
    /// a private key file.
    Mint {
        /// The user id (`sub`).
        #[arg(long)]
        user: String,
        /// The organisation id (`org`).
        #[arg(long)]
        org: String,
        /// owner, admin, manager, sales, accounting, integration or service.
        #[arg(long)]
        role: String,
        /// A file holding the HS256 development secret.
        #[arg(
            long,
            env = "LEADFLOW_AUTH_HS256_SECRET_FILE",
            conflicts_with = "ed25519_key"
        )]
        secret_file: Option<PathBuf>,
        /// An Ed25519 private key (PKCS#8 PEM) to sign with instead.
        #[arg(long)]
        ed25519_key: Option<PathBuf>,
        #[arg(long, default_value = "leadflow-dev")]
        issuer: String,
        /// Lifetime in minutes.
        #[arg(long, default_value_t = 60)]
        ttl_minutes: u64,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Token(TokenCommand::Mint {
            user,
            org,
            role,
            secret_file,
            ed25519_key,
            issuer,
            ttl_minutes,
        }) => {
            let role: Role = role.parse().context("--role")?;
            let minter = match (secret_file, ed25519_key) {
                (_, Some(key)) => {
                    let pem = std::fs::read(&key)
                        .with_context(|| format!("reading {}", key.display()))?;
                    TokenMinter::ed25519(&pem, issuer)?
                }
                (Some(file), None) => {
                    let secret = std::fs::read_to_string(&file)
                        .with_context(|| format!("reading {}", file.display()))?;
                    TokenMinter::hs256(secret.trim().as_bytes(), issuer)
                }
                (None, None) => anyhow::bail!("give --secret-file (development) or --ed25519-key"),
            };
            let token = minter.mint(
                &Caller::new(user, org, role),
                Duration::from_secs(ttl_minutes * 60),
            );
            println!("{token}");
            Ok(())
        }
    }
}
