//! `exbridge demo`: the simulator with seeded calendars and a trickle of changes, the connector
//! against it with an embedded SQLite store, API and admin UI on 127.0.0.1 (a random admin
//! password, printed); prints how to use it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use exbridge_config::Config;
use exbridge_engine::Connector;
use exbridge_store::DirectoryUser;

/// Options of `exbridge demo`.
pub struct DemoOptions {
    pub mailboxes: u32,
    pub port: u16,
    pub data_dir: Option<PathBuf>,
    pub activity_interval: Duration,
}

/// A random API token (printed; valid for this run only).
fn random_token() -> String {
    let mut bytes = [0u8; 18];
    getrandom::fill(&mut bytes).expect("the OS random generator");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The store key of the demo: `DATA_DIR/exbridge.key` (64 hex digits, readable by the owner
/// only), created on the first run so that a reused `--data-dir` opens with the same key.
fn demo_key(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let path = data_dir.join("exbridge.key");
    if path.exists() {
        return Ok(());
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the OS random generator");
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut file, hex.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The demo's configuration, as a TOML file a user could copy to start `exbridge serve`.
fn demo_config(ews_url: &str, port: u16, data_dir: &std::path::Path, token: &str, admin_password: &str) -> String {
    let data = data_dir.display().to_string().replace('\\', "/");
    format!(
        r#"# Written by `exbridge demo`: the connector against the built-in Exchange simulator.
[server]
listen = "127.0.0.1:{port}"
api_tokens = ["{token}"]
private_api_tokens = []
admin_password = "{admin_password}"
data_dir = "{data}"

[store]
url = "sqlite://{data}/exbridge.db"
# Encrypts event contents and the Exchange settings edited in the admin UI at rest.
encryption_key = "file:{data}/exbridge.key"

[[exchange]]
name = "simulator"
ews_url = "{ews_url}"
auth = "ntlm"
username = "svc@contoso.test"
password = "secret"
impersonation = true
server_version = "Exchange2016"

[directory]
source = "api"
refresh_interval = "10m"

[sync]
window_past_days = 30
window_future_days = 180
reconcile_interval = "15m"
oof_poll_interval = "30s"
"#
    )
}

pub async fn run(opts: DemoOptions) -> anyhow::Result<()> {
    let (data_dir, _temp) = match &opts.data_dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let t =
                tempfile::Builder::new().prefix("exbridge-demo-").tempdir().context("creating a temporary folder")?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let data_dir = data_dir.canonicalize().unwrap_or(data_dir);

    demo_key(&data_dir)?;
    let sim = exbridge_sim::activity::start_demo_sim(opts.mailboxes, 1).await.context("starting the simulator")?;
    let token = random_token();
    let admin_password = random_token();
    let text = demo_config(&sim.ews_url(), opts.port, &data_dir, &token, &admin_password);
    let config_path = data_dir.join("exbridge-demo.toml");
    std::fs::write(&config_path, &text).with_context(|| format!("writing {}", config_path.display()))?;
    let config = Config::from_toml_str(&text, &[]).map_err(|e| anyhow::anyhow!("demo configuration: {e}"))?;

    let running = crate::connector::start(&config).await?;
    let users: Vec<DirectoryUser> = (1..=opts.mailboxes)
        .map(|n| {
            let mut u = DirectoryUser::new(format!("u{n}"));
            u.display_name = None;
            u.login_email = Some(format!("user{n}@contoso.test"));
            u
        })
        .collect();
    running.engine.replace_users(users, true).await.context("loading the demo directory")?;
    let activity = (!opts.activity_interval.is_zero())
        .then(|| exbridge_sim::activity::spawn_activity(sim.store().clone(), opts.activity_interval, 1));

    let base = format!("http://{}", running.addr);
    println!();
    println!("exbridge demo is running: {} simulated mailboxes, connector on {base}", opts.mailboxes);
    println!();
    println!("  admin UI:  {base}/ui/");
    println!("  admin password: {admin_password}");
    println!("  API token: {token}");
    println!("  simulator: {} (control API {}/sim/)", sim.ews_url(), sim.base_url());
    println!("  data:      {} (config: {})", data_dir.display(), config_path.display());
    println!();
    println!("Try:");
    println!("  curl -s -H 'Authorization: Bearer {token}' {base}/api/v1/users");
    println!("  curl -s -H 'Authorization: Bearer {token}' {base}/api/v1/users/u1/events");
    println!("  curl -s -H 'Authorization: Bearer {token}' {base}/api/v1/users/u1/presence");
    println!("  curl -sN -H 'Authorization: Bearer {token}' {base}/api/v1/stream    # live changes");
    println!();
    println!("A simulated user changes a calendar every {:?}. Ctrl-C stops.", opts.activity_interval);

    crate::signals::wait_for_signal().await;
    println!("exbridge demo: shutting down");
    if let Some(a) = activity {
        a.abort();
    }
    running.shutdown().await;
    sim.shutdown().await;
    Ok(())
}
