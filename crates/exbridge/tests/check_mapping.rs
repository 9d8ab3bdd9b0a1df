//! `exbridge check-mapping` against `exbridge sim`: a file directory whose users match by each
//! identifier, and one that matches nothing. Exit 0 even then; read-only.

mod support;

use std::time::Duration;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_mapping_reports_each_identifier_and_the_misses() {
    let env = Env::new();
    let sim = SimProc::start(&env, 3, 5, 1).await;
    sim.api.add_mailbox("carol@contoso.test", &["carol.private@fabrikam.example"]).await;
    sim.api.add_mailbox("dave@contoso.test", &["emp-4711@contoso.test"]).await;
    let users = serde_json::json!([
        {"id": "u-login", "login_email": "user1@contoso.test"},
        {"id": "u-work", "login_email": "nobody@contoso.test", "work_email": "user2@contoso.test"},
        {"id": "u-personal", "personal_email": "carol.private@fabrikam.example"},
        {"id": "u-uid", "work_email": "gone@contoso.test", "external_uid": "emp-4711"},
        {"id": "u-none", "login_email": "ghost@contoso.test"}
    ]);
    let dir_file = env.path().join("users.json");
    std::fs::write(&dir_file, users.to_string()).unwrap();
    let cfg = ConnectorConfig::new(&env, &sim.ews_url, None);
    let toml = cfg
        .to_toml()
        .replace("source = \"api\"", &format!("source = \"file\"\nfile = {:?}", dir_file.display().to_string()));
    std::fs::write(&cfg.path, toml).unwrap();

    let run =
        tokio::process::Command::new(exe()).args(["check-mapping", "--config", cfg.path.to_str().unwrap()]).output();
    let out = tokio::time::timeout(Duration::from_secs(60), run).await.expect("check-mapping finishes").unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "exit status {}", out.status);
    let line = |id: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{id}: ")))
            .unwrap_or_else(|| panic!("no line for {id}"))
            .to_owned()
    };
    assert!(line("u-login").contains("user1@contoso.test (matched by login_email"));
    assert!(line("u-work").contains("user2@contoso.test (matched by work_email"));
    assert!(line("u-personal").contains("carol@contoso.test (matched by personal_email"));
    assert!(line("u-uid").contains("dave@contoso.test (matched by external_uid"));
    assert!(line("u-none").contains("no mailbox"));
    assert!(stdout.contains("login_email ghost@contoso.test"), "the failed attempt is listed");
    assert!(stdout.contains("4 of 5 user(s) matched a mailbox, 1 did not"));

    // One user only.
    let run = tokio::process::Command::new(exe())
        .args(["check-mapping", "--config", cfg.path.to_str().unwrap(), "--user", "u-uid"])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("1 of 1 user(s) matched"), "{stdout}");

    // A bad configuration is exit 2.
    std::fs::write(&cfg.path, "[server]\nlisten = 3\n").unwrap();
    let out = tokio::process::Command::new(exe())
        .args(["check-mapping", "--config", cfg.path.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
