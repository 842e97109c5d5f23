//! `leadflow`: any subset of the three services in one process, like the
//! single-binary mode of Loki or Tempo. `leadflow all` runs everything;
//! `leadflow leads routing` runs two. Each service is configured by its own
//! environment variables (see the README) and listens on its own port; they
//! talk to each other over gRPC exactly as in a cluster. When leads runs with
//! routing or the notifier and `LEADS_ROUTING_URL` / `LEADS_NOTIFIER_URL` are
//! unset, it calls the ones in this process.
//!
//! In development (the default) it also looks after a newcomer: databases
//! default to SQLite files in `--data-dir`, development secrets are generated
//! there once ([`dev`]), and `--demo` creates a demo organisation and prints
//! tokens and leadctl profiles for it ([`demo`]). With
//! `LEADFLOW_ENV=production` none of that happens, and each service refuses
//! development secrets, HS256 and SQLite, naming the setting to change.

mod demo;
mod dev;

/// mimalloc instead of glibc malloc: the gRPC path allocates on every call,
/// glibc's malloc and free were a fifth of RouteLead's instructions, and
/// mimalloc takes 19% off the total (callgrind; see services/bench/NOTES.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use leadflow_auth::{AuthArgs, Mode, TokenMinter};
use leadflow_leads::LeadsService;
use leadflow_notifier::NotifierService;
use leadflow_routing::RoutingService;
use leadflow_server::{ServiceConfig, ServiceMain};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Service {
    All,
    Leads,
    Routing,
    Notifier,
}

#[derive(Parser, Debug)]
#[command(
    name = "leadflow",
    version,
    about = "leadflow: leads, routing and notifier in one process"
)]
struct Cli {
    /// Which services to run.
    #[arg(value_enum, required = true)]
    services: Vec<Service>,
    /// Development: where SQLite files, mail (.eml), development secrets,
    /// demo tokens and leadctl profiles live.
    #[arg(long, env = "LEADFLOW_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Development: create the demo organisation (`demo`) if it is not there,
    /// and print tokens for its people. Needs leads and routing in this process.
    #[arg(long, env = "LEADFLOW_DEMO", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    demo: bool,
}

/// The three configurations, read from the environment.
struct Configs {
    /// Leads' settings; development defaults and in-process peer URLs are filled in.
    leads: leadflow_leads::Config,
    /// Routing's settings; its listen address is leads' routing URL when hosted here.
    routing: leadflow_routing::Config,
    /// The notifier's settings; its address is leads' notifier URL when hosted here.
    notifier: leadflow_notifier::Config,
}

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("leadflow: {error:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _telemetry = leadflow_telemetry::init("leadflow");
    let wants = |s: Service| cli.services.contains(&Service::All) || cli.services.contains(&s);
    let mut configs = Configs {
        leads: LeadsService::config_from_env(),
        routing: RoutingService::config_from_env(),
        notifier: NotifierService::config_from_env(),
    };
    let minter = match configs.leads.auth.mode {
        Mode::Production => {
            refuse_development_setup(&cli, &configs)?;
            None
        }
        Mode::Development => Some(prepare_development(&cli.data_dir, &mut configs)?),
    };
    // Services hosted together find each other unless told otherwise.
    if wants(Service::Routing) && configs.leads.routing_url.is_none() {
        configs.leads.routing_url = Some(local_url(configs.routing.listen_addr));
    }
    if wants(Service::Notifier) && configs.leads.notifier_url.is_none() {
        configs.leads.notifier_url = Some(local_url(configs.notifier.listen_addr));
    }
    if cli.demo && !(wants(Service::Leads) && wants(Service::Routing)) {
        anyhow::bail!("--demo needs leads and routing in this process: run `leadflow all --demo`");
    }

    // One signal stops every service; each drains as it would alone.
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = std::sync::Arc::new(stop_tx);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let addresses = demo::Addresses {
        leads: local_url(configs.leads.listen_addr),
        routing: local_url(configs.routing.listen_addr),
        notifier: local_url(configs.notifier.listen_addr),
    };
    let mut hosted = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    let Configs {
        leads,
        routing,
        notifier,
    } = configs;
    if wants(Service::Routing) {
        host::<RoutingService>(routing, stopped(), &mut hosted, &mut tasks).await?;
    }
    if wants(Service::Notifier) {
        host::<NotifierService>(notifier, stopped(), &mut hosted, &mut tasks).await?;
    }
    if wants(Service::Leads) {
        host::<LeadsService>(leads, stopped(), &mut hosted, &mut tasks).await?;
    }
    let on_signal = stop_tx.clone();
    tokio::spawn(async move {
        leadflow_server::shutdown_signal().await;
        let _ = on_signal.send(true);
    });

    // Once everything serves: the demo, then the banner.
    {
        let stop_tx = stop_tx.clone();
        let data_dir = cli.data_dir.clone();
        let demo = cli.demo;
        tokio::spawn(async move {
            let welcome = async {
                for (_, addr) in &hosted {
                    leadflow_server::wait_until_serving(&local_url(*addr), Duration::from_secs(60))
                        .await
                        .map_err(anyhow::Error::msg)?;
                }
                let profiles = match (demo, &minter) {
                    (true, Some(minter)) => {
                        let seeded =
                            demo::seed(&addresses.leads, &addresses.routing, minter).await?;
                        tracing::info!(?seeded, "demo organisation ready");
                        Some(demo::write_profiles(&data_dir, minter, &addresses)?)
                    }
                    _ => None,
                };
                println!("{}", banner(&hosted, &data_dir, profiles.as_deref()));
                anyhow::Ok(())
            };
            if let Err(error) = welcome.await {
                eprintln!("leadflow: {error:#}; stopping");
                let _ = stop_tx.send(true);
            }
        });
    }

    let mut failed = None;
    while let Some(done) = tasks.join_next().await {
        let (name, result) = done?;
        if let Err(error) = result {
            tracing::error!(service = name, %error, "service stopped with an error; stopping the others");
            let _ = stop_tx.send(true);
            failed.get_or_insert(anyhow::anyhow!("{name}: {error:#}"));
        }
    }
    match failed {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Binds `S`'s listener and serves it as one task of this process, until
/// `shutdown`; each service drains as it would alone.
async fn host<S: ServiceMain>(
    config: S::Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    hosted: &mut Vec<(&'static str, SocketAddr)>,
    tasks: &mut tokio::task::JoinSet<(&'static str, anyhow::Result<()>)>,
) -> anyhow::Result<()> {
    let addr = config.listen_addr();
    let listener = leadflow_server::bind(addr, S::NAME).await?;
    hosted.push((S::NAME, addr));
    tasks.spawn(async move {
        (
            S::NAME,
            S::serve(config, listener, Box::pin(shutdown)).await,
        )
    });
    Ok(())
}

/// Development defaults: SQLite and mail under the data directory (unless
/// the variables are set), development keys trusted and used for signing,
/// and a VAPID key so Web Push works. Returns the minter for demo tokens.
fn prepare_development(data_dir: &Path, configs: &mut Configs) -> anyhow::Result<TokenMinter> {
    let (secrets, generated) = dev::DevSecrets::load_or_generate(data_dir)?;
    if generated {
        tracing::info!(dir = %data_dir.display(), "generated development secrets");
    }
    let data = data_dir.display();
    let unset = |name: &str| std::env::var_os(name).is_none();
    if unset("LEADS_DATABASE_URL") {
        configs.leads.database.url = sqlite(data_dir, "leads.db");
    }
    if unset("ROUTING_DATABASE_URL") {
        configs.routing.database.url = sqlite(data_dir, "routing.db");
    }
    if unset("NOTIFIER_DATABASE_URL") {
        configs.notifier.database.url = sqlite(data_dir, "notifier.db");
    }
    if unset("NOTIFIER_SMTP_URL") {
        configs.notifier.smtp_url = format!("file://{data}/mail");
    }
    for auth in [
        &mut configs.leads.auth,
        &mut configs.routing.auth,
        &mut configs.notifier.auth,
    ] {
        trust(auth, &secrets.verifying_key);
    }
    if configs.leads.service_key_file.is_none() {
        configs.leads.service_key_file = Some(secrets.signing_key.clone());
    }
    if configs.notifier.vapid_private_key.is_none() {
        configs.notifier.vapid_private_key = Some(secrets.vapid_private.clone());
    }
    tracing::debug!(vapid_public = %secrets.vapid_public, "development VAPID key");
    let pem = std::fs::read(&secrets.signing_key)?;
    Ok(TokenMinter::ed25519(&pem, "leadflow-dev")?)
}

/// In development every service also trusts the development key.
fn trust(auth: &mut AuthArgs, key: &Path) {
    if !auth.auth_public_keys.iter().any(|k| k == key) {
        auth.auth_public_keys.push(key.to_owned());
    }
}

/// Production: no demo, and no development VAPID key (the PEM keys, HS256 and
/// SQLite are refused by each service as it starts).
fn refuse_development_setup(cli: &Cli, configs: &Configs) -> anyhow::Result<()> {
    if cli.demo {
        anyhow::bail!(
            "--demo (LEADFLOW_DEMO) creates an organisation with well-known users and is for \
             development; unset it, or set LEADFLOW_ENV=development"
        );
    }
    if let (Some(configured), Some(dev)) = (
        configs.notifier.vapid_private_key.as_deref(),
        dev::DevSecrets::existing_vapid_private(&cli.data_dir),
    ) && configured == dev
    {
        anyhow::bail!(
            "NOTIFIER_VAPID_PRIVATE_KEY is the development key generated by `make run`; with \
             LEADFLOW_ENV=production give one made for this deployment (`notifier vapid-keys`)"
        );
    }
    Ok(())
}

fn sqlite(data_dir: &Path, file: &str) -> leadflow_db::DatabaseUrl {
    leadflow_db::DatabaseUrl::new(format!("sqlite://{}/{file}?mode=rwc", data_dir.display()))
}

/// How a local client reaches a listen address (0.0.0.0 → 127.0.0.1).
fn local_url(addr: SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        addr.ip().to_string()
    };
    format!("http://{host}:{}", addr.port())
}

/// What a newcomer reads first: where things are, how to stop, what to try.
fn banner(hosted: &[(&str, SocketAddr)], data_dir: &Path, profiles: Option<&Path>) -> String {
    let mut out = String::from("\nleadflow is running\n");
    let order = |name: &str| {
        ["leads", "routing", "notifier"]
            .iter()
            .position(|n| *n == name)
    };
    let mut hosted = hosted.to_vec();
    hosted.sort_by_key(|(name, _)| order(name));
    for (name, addr) in &hosted {
        out.push_str(&format!("  {name:<9} {}\n", local_url(*addr)));
    }
    out.push_str(&format!(
        "  data      {}/ (SQLite files, mail as .eml in mail/)\n  stop      Ctrl-C (or SIGTERM)\n",
        data_dir.display()
    ));
    let Some(profiles) = profiles else {
        return out;
    };
    let leadctl = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("leadctl")))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "leadctl".into());
    let tokens = data_dir.join("tokens");
    out.push_str(&format!(
        "\ndemo organisation `{org}`: bearer tokens in {tokens}/<user>.token\n",
        org = demo::ORG,
        tokens = tokens.display()
    ));
    for person in demo::TEAM {
        out.push_str(&format!(
            "  {:<7} {:<11} {}{}\n",
            person.user_id,
            person.role.as_str(),
            person.display_name,
            if person.active { "" } else { " (inactive)" }
        ));
    }
    for user in ["olivia", "ana"] {
        if let Ok(token) = std::fs::read_to_string(tokens.join(format!("{user}.token"))) {
            out.push_str(&format!(
                "\n{user}'s token (for grpcurl -H \"authorization: Bearer …\"):\n  {}\n",
                token.trim()
            ));
        }
    }
    out.push_str(&format!(
        "\ntry (leadctl profiles: {profiles}):\n  export LEADCTL_CONFIG={config}\n  \
         {leadctl} leads create --name \"Jane Doe\" --source website\n  \
         {leadctl} --profile ana notifications list\n  \
         {leadctl} leads list --owner ana\n",
        profiles = profiles.display(),
        config = absolute(profiles).display(),
    ));
    out
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_reach_a_wildcard_listener_on_loopback() {
        assert_eq!(
            local_url("0.0.0.0:50051".parse().unwrap()),
            "http://127.0.0.1:50051"
        );
        assert_eq!(
            local_url("127.0.0.2:7".parse().unwrap()),
            "http://127.0.0.2:7"
        );
    }
}
