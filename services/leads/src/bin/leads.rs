//! `leads`: the leads service binary. `leads` (or `leads serve`) serves;
//! `leads migrate` applies database migrations and exits (for init containers).

/// mimalloc instead of glibc malloc: 19% fewer instructions per RouteLead
/// (callgrind; see services/bench/NOTES.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use leadflow_leads::Config;

#[derive(Parser, Debug)]
#[command(
    name = "leads",
    version,
    about = "leadflow leads service: team directory, leads, assignment"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve gRPC (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _telemetry = leadflow_telemetry::init("leads");
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let listener = leadflow_server::bind(cli.config.listen_addr, "leads").await?;
            leadflow_leads::run(cli.config, listener, leadflow_server::shutdown_signal()).await
        }
        Command::Migrate => {
            let store =
                leadflow_leads::store::Store::connect(cli.config.database_url.expose(), 1).await?;
            store.migrate().await?;
            tracing::info!("migrations applied");
            Ok(())
        }
    }
}
