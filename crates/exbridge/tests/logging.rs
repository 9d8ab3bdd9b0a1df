//! `exbridge serve` logs to stdout and to `data_dir/logs/exbridge.log` (flushed at shutdown),
//! and never logs a secret: a run with a distinctive Exchange password, API token and webhook
//! secret, users synced and webhooks delivered, a request with a wrong token, then SIGTERM;
//! neither the file nor stdout/stderr contain any of them.

mod support;

use std::time::Duration;

use exbridge_sim::config::SimConfig;
use serde_json::json;
use support::*;

const PASSWORD: &str = "Xq-exchange-pass-93817";
const TOKEN: &str = "Xq-api-token-55102";
const HOOK_SECRET: &str = "Xq-webhook-secret-40467";

#[tokio::test(flavor = "multi_thread")]
async fn serve_writes_the_log_file_and_no_secrets() {
    tokio::time::timeout(Duration::from_secs(180), async {
        let env = Env::new();
        let sim = exbridge_sim::server::start(SimConfig {
            mailboxes: 2,
            events_per_mailbox: 3,
            service_user: SVC.into(),
            service_password: PASSWORD.into(),
            ..SimConfig::for_tests()
        })
        .await
        .unwrap();
        let receiver = Receiver::start(HOOK_SECRET).await;
        let config = ConnectorConfig::new(&env, &sim.ews_url().replace("0.0.0.0", "127.0.0.1"), Some(&receiver.url));
        let text = config
            .to_toml()
            .replace(&format!("password = \"{SVC_PASSWORD}\""), &format!("password = \"{PASSWORD}\""))
            .replace(&format!("\"{API_TOKEN}\""), &format!("\"{TOKEN}\""))
            .replace(&format!("\"{WEBHOOK_SECRET}\""), &format!("\"{HOOK_SECRET}\""));
        for secret in [PASSWORD, TOKEN, HOOK_SECRET] {
            assert!(text.contains(secret), "the configuration uses {secret}");
        }
        std::fs::write(&config.path, text).unwrap();

        let path = config.path.display().to_string();
        let mut proc = Proc::spawn(&env, "connector", &["serve", "--config", &path]);
        proc.wait_for_output("exbridge: API on", START_TIMEOUT).await;
        let api = Api::new(&config.base_url(), TOKEN);
        api.put_users(json!([user_for("u1", "user1@contoso.test"), user_for("u2", "user2@contoso.test")])).await;
        api.wait_synced(&["u1", "u2"], Duration::from_secs(60)).await;
        // `user.mailbox_resolved` webhooks, signed with the secret, arrive.
        wait_until(Duration::from_secs(30), "webhook deliveries", || async {
            (receiver.deliveries().len() >= 2).then_some(())
        })
        .await;
        receiver.assert_all_valid();
        let (status, _) = Api::new(&config.base_url(), "Xq-wrong-token-1").get("/api/v1/users").await;
        assert_eq!(status.as_u16(), 401);
        let status = proc.terminate(Duration::from_secs(30)).await;
        assert!(status.success(), "exit status {status}:\n{}", proc.output());

        let file = config.data_dir.join("logs").join("exbridge.log");
        let logged = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let stdout = proc.output();
        println!("--- {} ({} lines) ---\n{logged}", file.display(), logged.lines().count());
        for needle in ["exbridge is running", "subscribed", "stopped"] {
            assert!(logged.contains(needle), "the log file has {needle:?}");
            assert!(stdout.contains(needle), "stdout has {needle:?}");
        }
        let basic = base64_of(&format!("{SVC}:{PASSWORD}"));
        for secret in [PASSWORD, TOKEN, HOOK_SECRET, "Xq-wrong-token-1", basic.as_str()] {
            assert!(!logged.contains(secret), "{secret} is in the log file");
            assert!(!stdout.contains(secret), "{secret} is on stdout/stderr");
        }
        drop(receiver);
    })
    .await
    .expect("test took too long");
}

/// Standard base64 with padding (what a Basic `Authorization` header carries).
fn base64_of(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
