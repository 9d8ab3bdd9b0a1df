//! The admin UI in a real browser: Debian's headless Chromium, driven through WebDriver
//! (`chromedriver`, package `chromium-driver`) against `exbridge demo`. Logs in, sees the users
//! and their states, presses "Test connection", changes a calendar through the simulator's
//! control API and sees the change arrive in the live feed without a reload. Saves a screenshot
//! of every page under `$CARGO_TARGET_TMPDIR/ui-screenshots/`.
//!
//! Fails (does not skip) when `chromium` or `chromedriver` is missing:
//! `apt-get install -y chromium chromium-driver` (`.ci/run` does).

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Env, SimApi, free_port, spawn_demo, wait_until};

/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const STEP: Duration = Duration::from_secs(60);

fn find_program(names: &[&str], extra: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .chain(extra.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

/// A WebDriver session over HTTP (W3C protocol, the few commands the test needs).
struct Browser {
    http: reqwest::Client,
    session: String,
    shots: PathBuf,
    taken: Vec<PathBuf>,
}

impl Browser {
    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        let mut rb = self.http.request(method.clone(), &url);
        if let Some(b) = &body {
            rb = rb.json(b);
        } else if method == reqwest::Method::POST {
            rb = rb.json(&json!({}));
        }
        let r = rb.send().await.unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let status = r.status();
        let v: Value = r.json().await.unwrap_or_else(|e| panic!("WebDriver {method} {path}: no JSON answer: {e}"));
        assert!(status.is_success(), "WebDriver {method} {path} {body:?}: HTTP {status}: {v}");
        v["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    async fn script(&self, script: &str) -> Value {
        self.command(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await
    }

    async fn text_of(&self, selector: &str) -> String {
        let script = format!("const e = document.querySelector({selector:?}); return e ? e.innerText : null;");
        self.script(&script).await.as_str().unwrap_or("").to_owned()
    }

    async fn element(&self, selector: &str) -> String {
        let v = self
            .command(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": selector})))
            .await;
        v[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {selector}: {v}")).to_owned()
    }

    async fn click(&self, selector: &str) {
        let id = self.element(selector).await;
        self.command(reqwest::Method::POST, &format!("/element/{id}/click"), None).await;
    }

    async fn type_into(&self, selector: &str, text: &str) {
        let id = self.element(selector).await;
        self.command(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({"text": text}))).await;
    }

    async fn current_url(&self) -> String {
        self.command(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or("").to_owned()
    }

    /// Waits (bounded) until the element's text satisfies `pred`; returns the text.
    async fn wait_text(&self, selector: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
        wait_until(STEP, what, || async {
            let text = self.text_of(selector).await;
            pred(&text).then_some(text)
        })
        .await
    }

    async fn screenshot(&mut self, name: &str) {
        let b64 = self.command(reqwest::Method::GET, "/screenshot", None).await;
        let png = decode_base64(b64.as_str().expect("a base64 screenshot"));
        assert!(png.starts_with(b"\x89PNG"), "the screenshot {name} is not a PNG");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        println!("screenshot: {}", path.display());
        self.taken.push(path);
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let clean: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

/// The value after `label` on the demo's output line that has it.
fn printed(out: &str, label: &str) -> String {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(|v| v.split_whitespace().next().unwrap_or("").to_owned())
        .unwrap_or_else(|| panic!("exbridge demo did not print {label:?}:\n{out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_ui_in_headless_chromium() {
    let chromium = find_program(&["chromium", "chromium-browser"], &["/usr/lib/chromium/chromium"]);
    let driver = find_program(&["chromedriver"], &["/usr/lib/chromium/chromedriver"]);
    let (Some(chromium), Some(driver)) = (chromium, driver) else {
        panic!(
            "the admin UI browser test needs Debian's headless Chromium and its WebDriver: \
             apt-get install -y chromium chromium-driver (not found on PATH: chromium and/or chromedriver)"
        );
    };
    let _serial = support::serial().await;
    let env = Env::new();
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    let (mut demo, port) = spawn_demo(&env);
    let out = demo.wait_for_output("Ctrl-C stops", Duration::from_secs(120)).await;
    let ui_url = printed(&out, "admin UI:");
    let password = printed(&out, "admin password:");
    assert_eq!(ui_url, format!("http://127.0.0.1:{port}/ui/"), "{out}");
    let sim_base = out
        .lines()
        .find_map(|l| l.split("(control API ").nth(1))
        .and_then(|rest| rest.strip_suffix("/sim/)"))
        .unwrap_or_else(|| panic!("exbridge demo did not print the simulator's control API:\n{out}"))
        .to_owned();

    let driver_port = free_port();
    let driver_log = std::fs::File::create(env.path().join("chromedriver.log")).unwrap();
    let mut chromedriver = tokio::process::Command::new(&driver)
        .arg(format!("--port={driver_port}"))
        .stdin(Stdio::null())
        .stdout(driver_log.try_clone().unwrap())
        .stderr(driver_log)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", driver.display()));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let driver_url = format!("http://127.0.0.1:{driver_port}");
    wait_until(Duration::from_secs(30), "chromedriver answers /status", || async {
        let r = http.get(format!("{driver_url}/status")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    let profile = env.path().join("chromium-profile");
    let caps = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium.display().to_string(),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", format!("--user-data-dir={}", profile.display())]
        }
    }}});
    let r = http.post(format!("{driver_url}/session")).json(&caps).send().await.expect("chromedriver: new session");
    let created: Value = r.json().await.expect("chromedriver: the session as JSON");
    let session_id = created["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("chromedriver could not start Chromium: {created}"))
        .to_owned();
    let session = format!("{driver_url}/session/{session_id}");
    let mut browser = Browser { http: http.clone(), session: session.clone(), shots: shots.clone(), taken: Vec::new() };
    // In a task, so that Chromium and the demo are stopped whatever happens in there.
    let driving = tokio::spawn(async move {
        let result = drive(&mut browser, &ui_url, &password, &sim_base).await;
        (browser.taken, result)
    })
    .await;
    let _ = http.delete(&session).send().await;
    let _ = chromedriver.kill().await;
    demo.terminate(Duration::from_secs(30)).await;
    let (taken, result) = match driving {
        Ok(done) => done,
        Err(e) => panic!("driving the browser failed: {e} (logs and screenshots so far in {})", shots.display()),
    };
    if let Err(message) = result {
        panic!("{message}");
    }
    for shot in &taken {
        assert!(std::fs::metadata(shot).map(|m| m.len() > 1000).unwrap_or(false), "{}", shot.display());
    }
    assert_eq!(taken.len(), 7, "a screenshot per page");
}

async fn drive(b: &mut Browser, ui_url: &str, password: &str, sim_base: &str) -> Result<(), String> {
    let base = ui_url.trim_end_matches("/ui/");
    // Not logged in: the UI sends the browser to the login page.
    b.goto(ui_url).await;
    let url = b.current_url().await;
    assert!(url.ends_with("/ui/login"), "not sent to the login page: {url}");
    b.screenshot("01-login").await;
    b.type_into("#password", "wrong password").await;
    b.click("#login").await;
    b.wait_text("#login-error", "the wrong password is refused", |t| t.contains("Wrong password")).await;
    b.type_into("#password", password).await;
    b.click("#login").await;
    let counts = b.wait_text("#user-counts", "the overview after login", |t| t.contains("total")).await;
    println!("overview, users by state:\n{counts}");
    b.screenshot("02-overview").await;

    // Users and their states (the demo's 5 mailboxes get subscribed).
    b.goto(&format!("{base}/ui/users")).await;
    let users = wait_until(STEP, "5 users subscribed on the users page", || async {
        b.goto(&format!("{base}/ui/users")).await;
        let text = b.text_of("#users-table").await;
        (text.matches("subscribed").count() == 5).then_some(text)
    })
    .await;
    println!("users page:\n{users}");
    for n in 1..=5 {
        assert!(users.contains(&format!("u{n}")), "user u{n} missing: {users}");
    }
    // The search box filters without a reload (htmx).
    b.type_into("#user-search", "u3").await;
    b.wait_text("#users-table", "the search keeps only u3", |t| t.contains("u3") && !t.contains("u1")).await;
    b.screenshot("03-users").await;
    b.goto(&format!("{base}/ui/users/u1")).await;
    b.wait_text("#user-state", "u1's state", |t| t.contains("subscribed")).await;
    b.click("#check-mapping").await;
    let flash = b.wait_text("#flash", "Check mapping answered", |t| t.contains("Mapping checked")).await;
    println!("check mapping: {flash}");
    b.screenshot("04-user").await;

    // The live feed: a change made in the simulator appears without a reload.
    b.goto(&format!("{base}/ui/live")).await;
    b.wait_text("#feed-status", "the live feed connects", |t| t == "connected").await;
    b.script("window.__notReloaded = true; return true;").await;
    let subject = format!("Browser test {}", std::process::id());
    let start = support::rfc3339_in(Duration::from_secs(3600));
    let end = support::rfc3339_in(Duration::from_secs(5400));
    let sim = SimApi::new(sim_base);
    let item = sim.create_item("user2@contoso.test", json!({"subject": subject, "start": start, "end": end})).await;
    println!("created in the simulator: {} for user2", item["uid"]);
    let line = b
        .wait_text("#feed", "the simulator's change in the live feed", |t| t.contains(&subject))
        .await
        .lines()
        .find(|l| l.contains(&subject))
        .unwrap_or_default()
        .to_owned();
    println!("live feed: {line}");
    assert!(line.contains("u2"), "the feed line names the user: {line}");
    let same_page = b.script("return window.__notReloaded === true;").await;
    assert_eq!(same_page, json!(true), "the page was reloaded");
    b.screenshot("05-live").await;

    b.goto(&format!("{base}/ui/logs")).await;
    b.wait_text("h1", "the logs page", |t| t == "Logs").await;
    b.screenshot("06-logs").await;

    // Test connection: the simulator's version and a latency.
    b.goto(&format!("{base}/ui/exchange")).await;
    // Mark the table shown now, so the answer's table (htmx swaps it in) can be told apart.
    b.script("document.getElementById('test-table').dataset.old = '1'; return true;").await;
    b.click("#test-connection").await;
    let report = wait_until(STEP, "the answer of Test connection", || async {
        let fresh = b.script("return document.querySelector('#test-table:not([data-old])') !== null;").await;
        if fresh != json!(true) {
            return None;
        }
        Some(b.text_of("#test-results").await)
    })
    .await;
    println!("test connection:\n{report}");
    b.screenshot("07-exchange").await;
    if !(report.contains("ok") && report.contains(" ms")) {
        return Err(format!(
            "Test connection shows no successful report with a latency (the engine's \
             Connector::test_connection answers nothing until it is implemented; its default \
             returns no report):\n{report}"
        ));
    }
    let version = b.text_of("#test-table .version").await;
    if version.trim().is_empty() {
        return Err(format!("Test connection shows no server version:\n{report}"));
    }

    check_dir(&b.shots)
}

fn check_dir(dir: &Path) -> Result<(), String> {
    let n = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?.count();
    if n < 7 { Err(format!("only {n} screenshots in {}", dir.display())) } else { Ok(()) }
}
