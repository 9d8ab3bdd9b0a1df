//! A real EWS client nobody here wrote — Python's exchangelib — against the simulator.
//!
//! The simulator runs in-process on 127.0.0.1:0 (as `exbridge sim` would); the script
//! `tests/realclient/exchangelib_client.py` drives it with Basic auth and impersonation (no
//! Autodiscover): calendar view, create/update/delete, OOF (read and set), sync_items, a
//! filtered query (restriction), free/busy of two mailboxes, ResolveNames and a streaming
//! notification for a change made through the control API. Every step prints `ok <step>`.
//!
//! The interpreter is `$EXBRIDGE_PYTHON`, else `.venv/bin/python` at the workspace root (`.ci/run`
//! creates that venv and installs `tests/realclient/requirements.txt`). When the interpreter or
//! exchangelib is missing the test fails if `CI` is set, and otherwise prints a notice and
//! passes without running (set up the venv as `.ci/run` does to run it locally).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use exbridge_sim::config::SimConfig;
use exbridge_sim::server;

/// The steps the script prints, in order.
const STEPS: &[&str] = &[
    "calendar_view",
    "create",
    "update",
    "delete",
    "oof",
    "sync_items",
    "filter",
    "oof_set",
    "free_busy",
    "resolve_names",
    "streaming",
];
const TIMEOUT: Duration = Duration::from_secs(120);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

fn python() -> Option<PathBuf> {
    let path = match std::env::var_os("EXBRIDGE_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join(".venv/bin/python"),
    };
    let usable = Command::new(&path)
        .args(["-c", "import exchangelib"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    usable.then_some(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchangelib_drives_the_simulator() {
    let Some(python) = python() else {
        let msg = "exchangelib not available: set EXBRIDGE_PYTHON or create .venv (python3 -m venv .venv && \
                   .venv/bin/pip install -r crates/sim/tests/realclient/requirements.txt)";
        if std::env::var_os("CI").is_some() {
            panic!("{msg}");
        }
        eprintln!("NOTICE: skipping the real-client test: {msg}");
        return;
    };
    let config = SimConfig { mailboxes: 4, events_per_mailbox: 30, ..SimConfig::for_tests() };
    let (user, password) = (config.service_user.clone(), config.service_password.clone());
    let sim = server::start(config).await.expect("start the simulator");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/realclient/exchangelib_client.py");
    let dir = std::env::temp_dir().join(format!("exbridge-realclient-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (out_path, err_path) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = Command::new(&python)
        .arg(&script)
        .args([sim.ews_url(), sim.base_url(), user, password, "user1@contoso.test".to_string()])
        // Loopback only: never through a proxy the environment may name.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("start the exchangelib script");
    // Wait off the runtime's threads so the simulator keeps serving.
    let status = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            if started.elapsed() > TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    println!("--- exchangelib stdout ---\n{stdout}");
    let report = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    let status = status.unwrap_or_else(|| panic!("the exchangelib script ran longer than {TIMEOUT:?}\n{report}"));
    let oks: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix("ok ")).collect();
    for step in STEPS {
        assert!(oks.iter().any(|l| l.starts_with(step)), "step {step} did not print ok\n{report}");
    }
    assert!(stdout.contains("all steps ok"), "{report}");
    assert!(status.success(), "the script failed: {status}\n{report}");
    sim.shutdown().await;
}
