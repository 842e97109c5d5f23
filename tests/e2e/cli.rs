//! The first ten minutes, as a user lives them: the built `leadflow all
//! --demo` on a fresh data directory, and the README's leadctl tour against
//! it. Then SIGTERM (a clean exit) and a restart on the same data (the leads
//! are still there, the demo organisation is not created twice).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use leadflow_e2e::workspace_bin;
use leadflow_testkit::free_port;

/// `leadflow all --demo` as `make run` starts it, in `dir`.
struct Leadflow {
    child: Child,
    stdout: PathBuf,
}

impl Leadflow {
    fn start(dir: &Path, ports: [u16; 3]) -> Leadflow {
        let stdout = dir.join(format!("leadflow-{}.out", uuid::Uuid::new_v4().simple()));
        let child = Command::new(workspace_bin("leadflow"))
            .current_dir(dir)
            .args(["all", "--demo"])
            .env_clear()
            .env("RUST_LOG", "warn")
            .env("LEADS_LISTEN_ADDR", format!("127.0.0.1:{}", ports[0]))
            .env("ROUTING_LISTEN_ADDR", format!("127.0.0.1:{}", ports[1]))
            .env("NOTIFIER_LISTEN_ADDR", format!("127.0.0.1:{}", ports[2]))
            .env("LEADS_OUTBOX_POLL_MS", "200")
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start leadflow");
        let started = Leadflow { child, stdout };
        started.wait_for_banner();
        started
    }

    /// The banner is printed once every service serves and the demo exists.
    fn wait_for_banner(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(&self.stdout).unwrap_or_default();
            if text.contains("try (leadctl profiles") {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "no banner; stdout so far:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM; whether it exited cleanly (status 0) within 30 s.
    fn terminate(mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Leadflow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `leadctl args…` with the demo's profile file, as the README says.
fn leadctl(dir: &Path, args: &[&str]) -> Output {
    Command::new(workspace_bin("leadctl"))
        .current_dir(dir)
        .args(args)
        .env_clear()
        .env("LEADCTL_CONFIG", dir.join("data/leadctl.toml"))
        .output()
        .expect("run leadctl")
}

/// stdout of a leadctl run that must succeed.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = leadctl(dir, args);
    assert!(
        out.status.success(),
        "leadctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Retries a leadctl command until its stdout satisfies `check` (the outbox
/// delivers after the call returns).
fn until(dir: &Path, args: &[&str], what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = ok(dir, args);
        if check(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last output:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[test]
fn the_readme_tour_works_against_leadflow_all_and_a_restart_keeps_everything() {
    let dir = std::env::temp_dir().join(format!("leadflow-tour-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let ports = [free_port(), free_port(), free_port()];
    let leadflow = Leadflow::start(&dir, ports);
    let banner = leadflow.wait_for_banner();
    assert!(
        banner.contains(&format!("leads     http://127.0.0.1:{}", ports[0])),
        "{banner}"
    );
    assert!(banner.contains("Ctrl-C"), "says how to stop:\n{banner}");
    assert!(
        banner.contains("ian     sales       Ian Inactive (inactive)"),
        "{banner}"
    );
    for secret in [
        "dev-signing-key.pem",
        "dev-signing-key.pub.pem",
        "dev-vapid.keys",
        "tokens/ana.token",
    ] {
        assert!(
            dir.join("data").join(secret).exists(),
            "{secret} generated into ./data"
        );
    }

    // Ben watches his bell live while the tour runs.
    let mut watch = Command::new(workspace_bin("leadctl"))
        .current_dir(&dir)
        .args(["--profile", "ben", "notifications", "watch", "--count", "1"])
        .env_clear()
        .env("LEADCTL_CONFIG", dir.join("data/leadctl.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It says so on stderr once the stream is open.
    let mut said = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(watch.stderr.take().unwrap()),
        &mut said,
    )
    .unwrap();
    assert!(said.contains("watching the bell"), "{said}");

    // 1. A website lead comes in (as olivia, the profile file's current one).
    let created = json(&ok(
        &dir,
        &[
            "leads",
            "create",
            "--name",
            "Jane Doe",
            "--source",
            "website",
            "--email",
            "jane@example.com",
            "-o",
            "json",
        ],
    ));
    let id = created["id"].as_str().unwrap().to_owned();
    // 2. Routing gave it to the first rep of the rotation.
    assert_eq!(created["ownerId"], "ana", "{created}");
    assert_eq!(created["assignmentMethod"], "ROUTING");
    let shown = ok(&dir, &["leads", "get", &id]);
    assert!(shown.contains("owner        ana"), "{shown}");
    let listed = ok(
        &dir,
        &["leads", "list", "--owner", "ana", "--source", "website"],
    );
    assert!(
        listed.contains(&id) && listed.contains("Jane Doe"),
        "{listed}"
    );
    // 3. Ana's bell.
    until(
        &dir,
        &["--profile", "ana", "notifications", "list"],
        "ana's bell",
        |t| t.contains("New lead: Jane Doe (Website)") && t.contains("lead_routed"),
    );

    // The next website lead goes to ben, whose watch prints it live.
    let second = ok(
        &dir,
        &[
            "leads", "create", "--name", "Sam Roe", "--source", "website", "-o", "id",
        ],
    );
    let second = second.trim();
    assert_eq!(
        json(&ok(&dir, &["leads", "get", second, "-o", "json"]))["ownerId"],
        "ben"
    );
    let watched = watch.wait_with_output().unwrap();
    assert!(watched.status.success());
    let watched = String::from_utf8(watched.stdout).unwrap();
    assert!(
        watched.contains("New lead: Sam Roe (Website)"),
        "ben's live bell: {watched}"
    );

    // 4. A manager reassigns; an owner unassigns; cara claims; ben is too late.
    let moved = ok(
        &dir,
        &[
            "--profile",
            "max",
            "leads",
            "assign",
            &id,
            "--to",
            "ben",
            "--reassign",
        ],
    );
    assert!(moved.contains("assigned 1 lead(s)"), "{moved}");
    ok(&dir, &["--profile", "olivia", "leads", "unassign", &id]);
    let claimed = ok(&dir, &["--profile", "cara", "leads", "claim", &id]);
    assert!(claimed.contains("owner        cara"), "{claimed}");
    let late = leadctl(&dir, &["--profile", "ben", "leads", "claim", &id]);
    assert_eq!(late.status.code(), Some(1));
    let said = String::from_utf8(late.stderr).unwrap();
    assert_eq!(said.lines().count(), 1, "one sentence: {said}");
    assert!(
        said.starts_with("leadctl: ") && said.contains("ask an owner or manager"),
        "{said}"
    );

    // 5. The history tells the whole story.
    let history = ok(&dir, &["leads", "history", &id]);
    let kinds: Vec<&str> = history
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert_eq!(
        kinds,
        ["created", "routed", "reassigned", "unassigned", "claimed"],
        "{history}"
    );
    assert!(
        history.contains("skipped ian (inactive)"),
        "the routing explanation: {history}"
    );

    // Cara accepts the lead she claimed; the owner gives the default pool an
    // SLA and turns sticky ownership on.
    let accepted = ok(
        &dir,
        &["--profile", "cara", "leads", "accept", &id, "-o", "json"],
    );
    assert!(json(&accepted)["acceptedAt"].is_string(), "{accepted}");
    let not_hers = leadctl(&dir, &["--profile", "max", "leads", "accept", &id]);
    assert_eq!(not_hers.status.code(), Some(1));
    let set = ok(
        &dir,
        &[
            "routing",
            "set",
            "--sla",
            "15m,hops=2",
            "--sticky",
            "email,domain",
        ],
    );
    assert!(
        set.contains("15m,hops=2") && set.contains("email,domain"),
        "{set}"
    );
    let bad_sla = leadctl(&dir, &["routing", "set", "--sla", "15m,hops=11"]);
    assert_eq!(bad_sla.status.code(), Some(1));
    assert!(
        String::from_utf8(bad_sla.stderr)
            .unwrap()
            .contains("max_hops"),
        "names the field"
    );

    // Bad input: a clear sentence naming the field, a non-zero exit, nothing written.
    let bad = leadctl(
        &dir,
        &["leads", "create", "--name", " ", "--source", "website"],
    );
    assert_eq!(bad.status.code(), Some(1));
    let said = String::from_utf8(bad.stderr).unwrap();
    assert!(
        said.contains("invalid input") && said.contains("name"),
        "{said}"
    );
    // A sales rep may not change routing.
    let denied = leadctl(
        &dir,
        &["--profile", "ana", "routing", "set", "--enabled", "off"],
    );
    assert_eq!(denied.status.code(), Some(1));
    assert!(
        String::from_utf8(denied.stderr)
            .unwrap()
            .contains("not allowed")
    );

    assert!(leadflow.terminate(), "leadflow exits cleanly on SIGTERM");

    // Restart on the same data: same leads, same team, same routing settings.
    let again = Leadflow::start(&dir, ports);
    let ids = ok(&dir, &["leads", "list", "-o", "id"]);
    let mut ids: Vec<&str> = ids.lines().collect();
    ids.sort();
    let mut expected = vec![id.as_str(), second];
    expected.sort();
    assert_eq!(ids, expected, "both leads survive the restart");
    assert_eq!(
        ok(&dir, &["team", "list", "--all", "-o", "id"])
            .lines()
            .count(),
        7,
        "no duplicate demo team"
    );
    assert_eq!(
        ok(&dir, &["routing", "audit", "-o", "id"]).lines().count(),
        2,
        "routing set up once, then the SLA and sticky change"
    );
    let after = ok(&dir, &["leads", "get", &id]);
    assert!(after.contains("owner        cara"), "{after}");
    // Tokens minted before the restart still verify (the key was reused).
    assert!(assert_still_valid(&dir));
    assert!(again.terminate());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A token file from the first start is byte-for-byte reusable: the signing
/// key is the same, so ana's profile still works.
fn assert_still_valid(dir: &Path) -> bool {
    ok(dir, &["--profile", "ana", "notifications", "list"]).contains("Jane Doe")
}

/// `leadflow` with only these variables, as a production deployment would
/// start it; returns its exit code and stderr.
fn start_in_production(dir: &Path, args: &[&str], env: &[(&str, String)]) -> (Option<i32>, String) {
    let out = Command::new(workspace_bin("leadflow"))
        .current_dir(dir)
        .args(args)
        .env_clear()
        .env("RUST_LOG", "off")
        .env("LEADFLOW_ENV", "production")
        .env("LEADS_LISTEN_ADDR", "127.0.0.1:0")
        .env("ROUTING_LISTEN_ADDR", "127.0.0.1:0")
        .env("NOTIFIER_LISTEN_ADDR", "127.0.0.1:0")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run leadflow");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn production_refuses_development_settings_and_names_the_one_to_change() {
    let dir = std::env::temp_dir().join(format!("leadflow-prod-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    // Development keys as make run generates them (marked).
    let pair = leadflow_auth::Ed25519KeyPair::generate();
    let dev_public = dir.join("data/dev-signing-key.pub.pem");
    std::fs::write(
        &dev_public,
        leadflow_auth::mark_as_development(&pair.public_pem),
    )
    .unwrap();
    let real_public = dir.join("idp.pem");
    std::fs::write(&real_public, &pair.public_pem).unwrap();
    let unreachable_pg = "postgres://leadflow@127.0.0.1:1/none".to_owned();

    // The defaults are SQLite.
    let (code, said) = start_in_production(
        &dir,
        &["leads"],
        &[(
            "LEADFLOW_AUTH_PUBLIC_KEYS",
            real_public.display().to_string(),
        )],
    );
    assert_eq!(code, Some(1));
    assert!(
        said.contains("LEADS_DATABASE_URL points at SQLite"),
        "{said}"
    );
    // The demo.
    let (code, said) = start_in_production(&dir, &["all", "--demo"], &[]);
    assert_eq!(code, Some(1));
    assert!(
        said.contains("--demo") && said.contains("LEADFLOW_ENV=development"),
        "{said}"
    );
    // A development key as a trusted key.
    let (code, said) = start_in_production(
        &dir,
        &["leads"],
        &[
            ("LEADS_DATABASE_URL", unreachable_pg.clone()),
            (
                "LEADFLOW_AUTH_PUBLIC_KEYS",
                dev_public.display().to_string(),
            ),
        ],
    );
    assert_eq!(code, Some(1));
    assert!(
        said.contains("development key") && said.contains("LEADFLOW_AUTH_PUBLIC_KEYS"),
        "{said}"
    );
    // HS256.
    let (code, said) = start_in_production(
        &dir,
        &["leads"],
        &[
            ("LEADS_DATABASE_URL", unreachable_pg.clone()),
            (
                "LEADFLOW_AUTH_HS256_SECRET",
                "a-development-secret-0123456789".into(),
            ),
        ],
    );
    assert_eq!(code, Some(1));
    assert!(
        said.contains("LEADFLOW_AUTH_HS256_SECRET is refused in production"),
        "{said}"
    );
    // Routing state in one process.
    let (code, said) = start_in_production(
        &dir,
        &["routing"],
        &[
            ("ROUTING_DATABASE_URL", unreachable_pg.clone()),
            (
                "LEADFLOW_AUTH_PUBLIC_KEYS",
                real_public.display().to_string(),
            ),
        ],
    );
    assert_eq!(code, Some(1));
    assert!(said.contains("ROUTING_STATE_URL=memory"), "{said}");
    // The development clock, in routing as in leads.
    let (code, said) = start_in_production(
        &dir,
        &["routing"],
        &[
            ("ROUTING_DATABASE_URL", unreachable_pg),
            ("ROUTING_STATE_URL", "redis://127.0.0.1:6379".into()),
            (
                "LEADFLOW_DEV_CLOCK_FILE",
                dir.join("offset").display().to_string(),
            ),
            (
                "LEADFLOW_AUTH_PUBLIC_KEYS",
                real_public.display().to_string(),
            ),
        ],
    );
    assert_eq!(code, Some(1));
    assert!(
        said.contains("LEADFLOW_DEV_CLOCK_FILE") && said.contains("LEADFLOW_ENV=production"),
        "{said}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
