//! `leadctl token mint`: development tokens, signed with the dev signing key
//! `make run` generated (EdDSA) or an HS256 secret.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use leadflow_auth::{Caller, Role, TokenMinter};

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Mint a token for development: EdDSA with a private key file (make run
    /// writes data/dev-signing-key.pem), or HS256 with a secret file.
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
        /// An Ed25519 private key (PKCS#8 PEM) to sign with.
        #[arg(long, env = "LEADCTL_SIGNING_KEY", conflicts_with = "secret_file")]
        ed25519_key: Option<PathBuf>,
        /// A file holding an HS256 development secret.
        #[arg(long, env = "LEADFLOW_AUTH_HS256_SECRET_FILE")]
        secret_file: Option<PathBuf>,
        /// The token's `iss`; the services accept only issuers they trust.
        #[arg(long, default_value = "leadflow-dev")]
        issuer: String,
        /// Lifetime in minutes.
        #[arg(long, default_value_t = 60)]
        ttl_minutes: u64,
    },
}

pub fn run(command: TokenCommand) -> anyhow::Result<()> {
    let TokenCommand::Mint {
        user,
        org,
        role,
        ed25519_key,
        secret_file,
        issuer,
        ttl_minutes,
    } = command;
    let role: Role = role.parse().context("--role")?;
    let minter = match (ed25519_key, secret_file) {
        (Some(key), _) => {
            let pem = std::fs::read(&key)
                .with_context(|| format!("cannot read the key {}", key.display()))?;
            TokenMinter::ed25519(&pem, issuer)?
        }
        (None, Some(file)) => {
            let secret = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            TokenMinter::hs256(secret.trim().as_bytes(), issuer)
        }
        (None, None) => {
            anyhow::bail!(
                "give --ed25519-key (make run writes data/dev-signing-key.pem) or --secret-file"
            )
        }
    };
    let token = minter.mint(
        &Caller::new(user, org, role),
        Duration::from_secs(ttl_minutes * 60),
    );
    println!("{token}");
    Ok(())
}
