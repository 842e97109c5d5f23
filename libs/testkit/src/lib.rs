//! Test support shared by every service's integration tests.
//!
//! Tests talk to real things: a real Postgres database created fresh for each
//! test (so tests run in parallel and leave nothing behind), and real gRPC
//! servers on port 0. Tokens are real Ed25519 JWTs verified in production mode.

pub mod push;
pub mod redis;
pub mod smtp;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use leadflow_auth::{Caller, Ed25519KeyPair, Mode, Role, TokenMinter, TokenVerifier};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

/// The Postgres server tests create their databases on. Override with
/// `LEADFLOW_TEST_POSTGRES_URL` (a URL to an administrative database).
pub fn postgres_admin_url() -> String {
    std::env::var("LEADFLOW_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database of its own for one test, dropped when the test ends.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    name: String,
    admin_url: String,
}

impl TestDb {
    /// Creates an empty database named after a fresh UUID.
    pub async fn new() -> TestDb {
        let admin_url = postgres_admin_url();
        let name = format!("lf_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("Postgres must be running for tests ({admin_url}): {e}"));
        admin
            .execute_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("CREATE DATABASE \"{name}\""),
            ))
            .await
            .expect("create test database");
        admin.close().await.ok();
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(base, _)| base);
        TestDb {
            url: format!("{base}/{name}"),
            name,
            admin_url,
        }
    }
}

impl TestDb {
    /// Runs SQL (several statements allowed) as the test's own superuser:
    /// a trigger that refuses a row, a row written as a crash left it.
    pub async fn execute(&self, sql: &str) {
        let db = Database::connect(&self.url).await.expect("connect test db");
        db.execute_unprepared(sql).await.expect("test SQL");
        db.close().await.ok();
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs outside async; use a thread with its own small runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = Database::connect(&admin_url).await.ok()?;
                admin
                    .execute_raw(Statement::from_string(
                        DbBackend::Postgres,
                        format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                    ))
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("note: test database {} was not dropped", self.name);
        }
    }
}

/// Real tokens for tests: an Ed25519 key pair, a production-mode verifier
/// that trusts it, and a minter that signs with it.
#[derive(Clone)]
pub struct TestAuth {
    pub keys: Arc<Ed25519KeyPair>,
    pub minter: TokenMinter,
    pub verifier: Arc<TokenVerifier>,
}

impl Default for TestAuth {
    fn default() -> Self {
        Self::new()
    }
}

impl TestAuth {
    pub fn new() -> TestAuth {
        let keys = Ed25519KeyPair::generate();
        let minter =
            TokenMinter::ed25519(keys.private_pem.as_bytes(), "leadflow-test").expect("test key");
        let verifier = TokenVerifier::new(Mode::Production)
            .with_public_key_pem(keys.public_pem.as_bytes(), None)
            .expect("test public key");
        TestAuth {
            keys: Arc::new(keys),
            minter,
            verifier: Arc::new(verifier),
        }
    }

    /// A valid 10-minute token.
    pub fn token(&self, user_id: &str, org_id: &str, role: Role) -> String {
        self.minter.mint(
            &Caller::new(user_id, org_id, role),
            Duration::from_secs(600),
        )
    }
}

/// Wraps a message in a request carrying `authorization: Bearer <token>`.
pub fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .expect("a token is valid ASCII"),
    );
    request
}

/// A server running in the background on an ephemeral port.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl TestServer {
    /// Binds 127.0.0.1:0 and runs `serve(listener, shutdown)` in a task.
    pub async fn spawn<F, Fut>(serve: F) -> TestServer
    where
        F: FnOnce(TcpListener, std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        Self::spawn_on(0, serve).await
    }

    /// Like [`TestServer::spawn`] on a given port (to bring a stopped
    /// service back where its clients expect it).
    pub async fn spawn_on<F, Fut>(port: u16, serve: F) -> TestServer
    where
        F: FnOnce(TcpListener, std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = Box::pin(async move {
            let _ = stopped.await;
        });
        let task = tokio::spawn(serve(listener, shutdown));
        TestServer {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A channel to the server (connects lazily, so no race with start-up).
    pub fn channel(&self) -> Channel {
        Endpoint::from_shared(self.url())
            .expect("valid url")
            .connect_timeout(Duration::from_secs(5))
            .connect_lazy()
    }

    /// Triggers graceful shutdown and waits for the server to exit.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await?
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
