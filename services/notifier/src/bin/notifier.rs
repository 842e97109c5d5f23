//! `notifier`: the notifier service binary. `notifier` (or `notifier serve`)
//! serves; `notifier migrate` applies migrations; `notifier vapid-keys`
//! prints a fresh VAPID key pair.

/// mimalloc instead of glibc malloc: 19% fewer instructions per RouteLead
/// (callgrind; see services/bench/NOTES.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use leadflow_notifier::Config;

#[derive(Parser)]
#[command(
    name = "notifier",
    version,
    about = "leadflow notifier: the bell, Web Push and email"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve gRPC and deliver (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Print a new VAPID key pair as environment variables.
    VapidKeys,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::VapidKeys => {
            let (private, public) = leadflow_notifier::channels::webpush::generate_vapid_keys();
            println!("NOTIFIER_VAPID_PRIVATE_KEY={private}");
            println!("# public key (GetVapidPublicKey returns it): {public}");
            Ok(())
        }
        Command::Serve => {
            let _telemetry = leadflow_telemetry::init("notifier");
            let listener = leadflow_server::bind(cli.config.listen_addr, "notifier").await?;
            leadflow_notifier::run(cli.config, listener, leadflow_server::shutdown_signal()).await
        }
        Command::Migrate => {
            let _telemetry = leadflow_telemetry::init("notifier");
            let store =
                leadflow_notifier::store::Store::connect(cli.config.database_url.expose(), 1)
                    .await?;
            store.migrate().await?;
            tracing::info!("migrations applied");
            Ok(())
        }
    }
}
