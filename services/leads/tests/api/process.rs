//! The `leads` binary as an operator runs it: migrations from two processes at
//! once, SQLite by default, and a clean exit on SIGTERM.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use leadflow_auth::{Caller, Role, TokenMinter};
use leadflow_proto::leads::v1 as pb;
use leadflow_proto::leads::v1::lead_service_client::LeadServiceClient;
use leadflow_testkit::{TestDb, authed};
use tonic_health::pb::health_client::HealthClient;

const SECRET: &str = "process-test-secret-0123456789";

fn leads_bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leads"));
    cmd.env_clear()
        .env("RUST_LOG", "warn")
        .env("LEADFLOW_AUTH_HS256_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_serving(addr: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "leads exited during start-up"
        );
        if let Ok(channel) = tonic::transport::Endpoint::from_shared(addr.to_owned())
            .unwrap()
            .connect()
            .await
        {
            let status = HealthClient::new(channel)
                .check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await;
            if status.is_ok() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "leads never became SERVING");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "leads did not exit within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn two_processes_migrating_one_postgres_database_at_once_both_succeed() {
    let db = TestDb::new().await;
    let mut children: Vec<Child> = (0..2)
        .map(|_| {
            leads_bin()
                .arg("migrate")
                .env("LEADS_DATABASE_URL", &db.url)
                .spawn()
                .unwrap()
        })
        .collect();
    for child in &mut children {
        assert!(wait_exit(child, Duration::from_secs(60)).await.success());
    }
    // And again: nothing left to do, still fine.
    let mut again = leads_bin()
        .arg("migrate")
        .env("LEADS_DATABASE_URL", &db.url)
        .spawn()
        .unwrap();
    assert!(
        wait_exit(&mut again, Duration::from_secs(60))
            .await
            .success()
    );
}

#[tokio::test]
async fn the_binary_serves_sqlite_by_default_and_exits_cleanly_on_sigterm() {
    let dir =
        std::env::temp_dir().join(format!("leadflow-leads-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let addr = format!("http://127.0.0.1:{port}");
    let mut child = leads_bin()
        .current_dir(&dir)
        .env("LEADS_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .spawn()
        .unwrap();
    wait_serving(&addr, &mut child).await;
    assert!(
        dir.join("data/leads.db").exists(),
        "the default database is a SQLite file under ./data"
    );

    let token = TokenMinter::hs256(SECRET.as_bytes(), "dev").mint(
        &Caller::new("u-1", "org-1", Role::Manager),
        Duration::from_secs(60),
    );
    let mut client = LeadServiceClient::connect(addr.clone()).await.unwrap();
    let lead = client
        .create_lead(authed(
            pb::CreateLeadRequest {
                name: "Jane Doe".into(),
                source: leadflow_proto::common::v1::LeadSource::Website as i32,
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    drop(client);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait_exit(&mut child, Duration::from_secs(10)).await;
    assert!(status.success(), "exit status after SIGTERM: {status:?}");

    // The lead survived the restart.
    let mut child = leads_bin()
        .current_dir(&dir)
        .env("LEADS_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .spawn()
        .unwrap();
    wait_serving(&addr, &mut child).await;
    let mut client = LeadServiceClient::connect(addr).await.unwrap();
    let again = client
        .get_lead(authed(
            pb::GetLeadRequest {
                id: lead.id.clone(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, lead);
    child.kill().ok();
    child.wait().ok();
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn production_refuses_the_development_clock_naming_the_setting() {
    let dir =
        std::env::temp_dir().join(format!("leadflow-leads-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("offset"), "900").unwrap();
    let output = leads_bin()
        .current_dir(&dir)
        .env("LEADFLOW_ENV", "production")
        .env("LEADFLOW_DEV_CLOCK_FILE", dir.join("offset"))
        .env("LEADS_LISTEN_ADDR", format!("127.0.0.1:{}", free_port()))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("LEADFLOW_DEV_CLOCK_FILE") && stderr.contains("production"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
