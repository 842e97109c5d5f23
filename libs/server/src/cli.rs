//! The one `main` of every service binary: `serve` (the default) and
//! `migrate` subcommands, telemetry, and the listening socket.
//!
//! A service implements [`ServiceMain`] once, in its library; its binary and
//! `leadflow` (which hosts several services in one process) both start it
//! through that trait, so the three binaries cannot drift apart in flags,
//! exit codes or start-up order.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use clap::{CommandFactory, FromArgMatches};
use tokio::net::TcpListener;

/// What the chassis reads from every service's settings.
pub trait ServiceConfig: clap::Args + Send + 'static {
    /// Where the gRPC server listens.
    fn listen_addr(&self) -> SocketAddr;
}

/// The signal that starts a service's drain (SIGTERM, or `leadflow`'s own).
pub type Signal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What the chassis needs to know to start one service.
pub trait ServiceMain {
    /// The binary's name, also its telemetry service name (`leads`).
    const NAME: &'static str;
    /// One line for `--help`.
    const ABOUT: &'static str;
    /// Every setting, from flags or the environment.
    type Config: ServiceConfig;

    /// Serves on `listener` until `shutdown` resolves, then drains.
    fn serve(
        config: Self::Config,
        listener: TcpListener,
        shutdown: Signal,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Applies pending database migrations (for init containers).
    fn migrate(config: Self::Config) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// The configuration from the environment alone, as `leadflow` reads it
    /// for each service it hosts.
    fn config_from_env() -> Self::Config {
        ConfigOnly::<Self::Config>::parse_from_name(Self::NAME).config
    }
}

/// A service's own subcommands beyond `serve` and `migrate` (the notifier's
/// `vapid-keys`); they run without telemetry and without serving.
pub trait ExtraCommands<S: ServiceMain>: clap::Subcommand + Send {
    /// Runs the command.
    fn run(self, config: S::Config) -> anyhow::Result<()>;
}

/// For services with only `serve` and `migrate`.
#[derive(clap::Subcommand, Debug, Clone, Copy)]
enum NoExtraCommands {}

impl<S: ServiceMain> ExtraCommands<S> for NoExtraCommands {
    fn run(self, _: S::Config) -> anyhow::Result<()> {
        match self {}
    }
}

#[derive(clap::Parser, Debug)]
struct Cli<C: clap::Args, E: clap::Subcommand> {
    /// What to do (default: serve).
    #[command(subcommand)]
    command: Option<Command<E>>,
    /// The service's settings.
    #[command(flatten)]
    config: C,
}

#[derive(clap::Subcommand, Debug)]
enum Command<E: clap::Subcommand> {
    /// Serve gRPC (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// The service's own subcommands.
    #[command(flatten)]
    Extra(E),
}

#[derive(clap::Parser, Debug)]
struct ConfigOnly<C: clap::Args> {
    /// The service's settings.
    #[command(flatten)]
    config: C,
}

impl<C: clap::Args> ConfigOnly<C> {
    fn parse_from_name(name: &'static str) -> Self {
        let matches = Self::command().name(name).get_matches_from([name]);
        Self::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
    }
}

/// Parses the command line and runs what it asks for.
pub async fn main<S: ServiceMain>() -> anyhow::Result<()> {
    main_with::<S, NoExtraCommands>().await
}

/// [`main`] for a service with its own subcommands `E`.
pub async fn main_with<S: ServiceMain, E: ExtraCommands<S>>() -> anyhow::Result<()> {
    let matches = Cli::<S::Config, E>::command()
        .name(S::NAME)
        .about(S::ABOUT)
        .version(env!("CARGO_PKG_VERSION"))
        .get_matches();
    let cli = Cli::<S::Config, E>::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    match cli.command.unwrap_or(Command::Serve) {
        Command::Extra(command) => command.run(cli.config),
        Command::Serve => {
            let _telemetry = leadflow_telemetry::init(S::NAME);
            let listener = crate::bind(cli.config.listen_addr(), S::NAME).await?;
            S::serve(cli.config, listener, Box::pin(crate::shutdown_signal())).await
        }
        Command::Migrate => {
            let _telemetry = leadflow_telemetry::init(S::NAME);
            S::migrate(cli.config).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
    }
}
