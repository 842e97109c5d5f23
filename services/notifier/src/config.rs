//! Every setting of the notifier, parsed once from flags or environment
//! variables. Secrets (the VAPID private key, the SMTP URL) never print.

use std::net::SocketAddr;
use std::time::Duration;

use leadflow_auth::AuthArgs;
use leadflow_server::ServerArgs;

leadflow_db::database_args! {
    /// Where the notifier keeps its data, and how it opens it.
    pub struct NotifierDatabase {
        service: "notifier",
        env: "NOTIFIER",
        sqlite_file: "notifier.db",
        max_connections: 16,
        holds: "inbox, preferences, subscriptions, delivery queue",
    }
}

#[derive(clap::Args, Clone)]
pub struct Config {
    /// Where the gRPC server listens.
    #[arg(long, env = "NOTIFIER_LISTEN_ADDR", default_value = "0.0.0.0:50053")]
    pub listen_addr: SocketAddr,
    /// The notifier database; see [`NotifierDatabase`].
    #[command(flatten)]
    pub database: NotifierDatabase,
    /// VAPID private key (raw P-256, base64url); `notifier vapid-keys` makes one.
    /// Without it, Web Push is off.
    #[arg(long, env = "NOTIFIER_VAPID_PRIVATE_KEY", hide_env_values = true)]
    pub vapid_private_key: Option<String>,
    /// The VAPID `sub` claim: how push services reach the operator.
    #[arg(
        long,
        env = "NOTIFIER_VAPID_SUBJECT",
        default_value = "mailto:ops@leadflow.invalid"
    )]
    pub vapid_subject: String,
    /// Push-service hosts subscriptions may point at (comma-separated; a host
    /// matches an entry or any subdomain of it). Default: the major browsers'.
    #[arg(long, env = "NOTIFIER_PUSH_ALLOWLIST", value_delimiter = ',')]
    pub push_allowlist: Vec<String>,
    /// Tests only: accept http://127.0.0.1 push endpoints.
    #[arg(long, env = "NOTIFIER_PUSH_ALLOW_LOOPBACK", default_value_t = false, action = clap::ArgAction::Set)]
    pub push_allow_loopback: bool,
    /// How long a push service keeps an undelivered message (the TTL header).
    #[arg(long, env = "NOTIFIER_PUSH_TTL_SECS", default_value_t = 86_400)]
    pub push_ttl_secs: u32,
    /// `smtp://host:port`, `smtps://host:port`, `smtp://…?tls=required`, or
    /// `file://folder` (each mail as an .eml file).
    #[arg(
        long,
        env = "NOTIFIER_SMTP_URL",
        default_value = "file://data/mail",
        hide_env_values = true
    )]
    pub smtp_url: String,
    /// The From of every email.
    #[arg(
        long,
        env = "NOTIFIER_MAIL_FROM",
        default_value = "leadflow <leadflow@localhost>"
    )]
    pub mail_from: String,
    /// Where the CRM web app lives, for links in emails and pushes.
    #[arg(
        long,
        env = "NOTIFIER_APP_URL",
        default_value = "http://localhost:3000"
    )]
    pub app_url: String,
    /// Bounds one push or email send.
    #[arg(long, env = "NOTIFIER_SEND_TIMEOUT_MS", default_value_t = 10_000)]
    pub send_timeout_ms: u64,
    /// Attempts per delivery before it is DEAD.
    #[arg(long, env = "NOTIFIER_MAX_ATTEMPTS", default_value_t = 8)]
    pub max_attempts: u32,
    /// The first retry delay; it doubles per attempt (with jitter).
    #[arg(long, env = "NOTIFIER_RETRY_BASE_MS", default_value_t = 2_000)]
    pub retry_base_ms: u64,
    /// The longest retry delay.
    #[arg(long, env = "NOTIFIER_RETRY_CAP_SECS", default_value_t = 600)]
    pub retry_cap_secs: u64,
    /// How often the worker looks for due deliveries when not woken.
    #[arg(long, env = "NOTIFIER_POLL_MS", default_value_t = 1_000)]
    pub poll_ms: u64,
    /// Which tokens are accepted, shared by every service.
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Timeouts, limits and shutdown timing, shared by every service.
    #[command(flatten)]
    pub server: ServerArgs,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen_addr", &self.listen_addr)
            .field("database", &self.database)
            .field(
                "vapid_private_key",
                &self.vapid_private_key.as_ref().map(|_| "<redacted>"),
            )
            .field("smtp_url", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn send_timeout(&self) -> Duration {
        Duration::from_millis(self.send_timeout_ms)
    }
}

impl leadflow_server::ServiceConfig for Config {
    fn listen_addr(&self) -> SocketAddr {
        self.listen_addr
    }
}
