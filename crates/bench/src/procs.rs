//! Child processes (`exbridge sim`, `exbridge serve`) and their resource use read from `/proc`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::process::{Child, Command};

/// Service account of the simulator (may impersonate every mailbox).
pub const SVC: &str = "svc@contoso.test";
/// Its password.
pub const SVC_PASSWORD: &str = "secret";
/// Mail domain of the simulated mailboxes.
pub const DOMAIN: &str = "contoso.test";
/// Bearer token of the connector's API in the generated configuration.
pub const API_TOKEN: &str = "bench-api-token";
/// Secret of the webhook in the generated configuration.
pub const WEBHOOK_SECRET: &str = "bench-webhook-secret";

/// A child process whose output goes to a log file; killed when dropped.
pub struct Proc {
    name: String,
    log: PathBuf,
    child: Child,
}

impl Proc {
    /// Starts `exe args`, stdout and stderr to `log` (`RUST_LOG=warn` unless set).
    pub fn spawn(exe: &Path, name: &str, args: &[String], log: PathBuf) -> Result<Proc> {
        let out = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(exe);
        cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err).kill_on_drop(true);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "warn");
        }
        let child = cmd.spawn().with_context(|| format!("start {name}: {} {args:?}", exe.display()))?;
        Ok(Proc { name: name.to_string(), log, child })
    }

    /// The process id.
    pub fn pid(&self) -> Result<u32> {
        self.child.id().with_context(|| format!("{} has ended", self.name))
    }

    /// What the process wrote so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails when the process has ended (with the end of its log).
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let out = self.output();
            let tail: Vec<&str> = out.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!("{} ended ({status}); its log {} ends with:\n{}", self.name, self.log.display(), tail.join("\n"));
        }
        Ok(())
    }

    /// Waits until the output contains `needle`; returns the output.
    pub async fn wait_for_output(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.output();
            if out.contains(needle) {
                return Ok(out);
            }
            self.check_alive()?;
            if Instant::now() >= deadline {
                bail!("{} did not print {needle:?} within {timeout:?}:\n{out}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL and reap.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Resource use now.
    pub fn usage(&self) -> Result<Usage> {
        Usage::of(self.pid()?)
    }
}

/// A process's memory and CPU time, from `/proc/PID/status` and `/proc/PID/stat`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// `VmRSS`, bytes.
    pub rss: u64,
    /// `VmHWM` (peak RSS), bytes.
    pub hwm: u64,
    /// User plus system CPU time, seconds.
    pub cpu_secs: f64,
}

impl Usage {
    /// Reads the figures of process `pid`.
    pub fn of(pid: u32) -> Result<Usage> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("read /proc/{pid}/status"))?;
        let stat =
            std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("read /proc/{pid}/stat"))?;
        let kb = |key: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap_or(0)
                * 1024
        };
        Ok(Usage { rss: kb("VmRSS:"), hwm: kb("VmHWM:"), cpu_secs: cpu_secs_of_stat(&stat, clock_ticks())? })
    }
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line, in seconds.
pub fn cpu_secs_of_stat(stat: &str, ticks_per_sec: f64) -> Result<f64> {
    // The command name (field 2) may hold spaces: fields are counted after its closing ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("no ')' in /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14 → index 11.
    let utime: f64 = fields.get(11).context("no utime in /proc/PID/stat")?.parse()?;
    let stime: f64 = fields.get(12).context("no stime in /proc/PID/stat")?.parse()?;
    Ok((utime + stime) / ticks_per_sec)
}

/// CPU seconds of process `pid` per thread name (`comm`), largest first.
pub fn cpu_by_thread(pid: u32) -> Vec<(String, f64)> {
    let mut by: std::collections::BTreeMap<String, f64> = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else { continue };
        let name =
            stat.split_once('(').and_then(|(_, r)| r.rsplit_once(')')).map(|(n, _)| n.to_string()).unwrap_or_default();
        if let Ok(secs) = cpu_secs_of_stat(&stat, clock_ticks()) {
            *by.entry(name).or_default() += secs;
        }
    }
    let mut v: Vec<(String, f64)> = by.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 when unknown).
pub fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `exbridge sim` as a child process.
pub struct Sim {
    /// The process.
    pub proc: Proc,
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    /// `http://127.0.0.1:PORT/EWS/Exchange.asmx`
    pub ews_url: String,
}

impl Sim {
    /// Starts the simulator with `mailboxes` × `events`, a generous concurrency budget so that
    /// its throttling does not decide the figures, and waits until it listens.
    pub async fn start(exe: &Path, dir: &Path, mailboxes: u32, events: u32) -> Result<Sim> {
        let args: Vec<String> = [
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--domain",
            DOMAIN,
            "--mailboxes",
            &mailboxes.to_string(),
            "--events-per-mailbox",
            &events.to_string(),
            "--seed",
            "1",
            "--service-user",
            SVC,
            "--service-password",
            SVC_PASSWORD,
            "--max-concurrency",
            "1000",
            "--hanging-connection-limit",
            "1000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut proc = Proc::spawn(exe, "exbridge sim", &args, dir.join("sim.log"))?;
        let out = proc.wait_for_output("control API at", Duration::from_secs(600)).await?;
        let ews_url = out
            .lines()
            .find_map(|l| l.strip_prefix("exbridge sim: EWS at "))
            .and_then(|rest| rest.split_whitespace().next())
            .with_context(|| format!("the simulator did not print its EWS URL:\n{out}"))?
            .to_string();
        let base_url = ews_url.strip_suffix("/EWS/Exchange.asmx").context("the EWS path")?.to_string();
        Ok(Sim { proc, base_url, ews_url })
    }

    /// `GET /sim/stats`.
    pub async fn stats(&self, http: &reqwest::Client) -> Result<serde_json::Value> {
        let r = http.get(format!("{}/sim/stats", self.base_url)).send().await.context("GET /sim/stats")?;
        Ok(r.error_for_status()?.json().await?)
    }
}

/// EWS requests per operation, `after - before` (operations with a zero delta left out).
pub fn request_delta(before: &serde_json::Value, after: &serde_json::Value) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    if let Some(ops) = after["requests"].as_object() {
        for (op, n) in ops {
            let d = n.as_u64().unwrap_or(0).saturating_sub(before["requests"][op].as_u64().unwrap_or(0));
            if d > 0 {
                out.push((op.clone(), d));
            }
        }
    }
    out
}

/// `exbridge serve --config FILE` as a child process.
pub struct Connector {
    /// The process.
    pub proc: Proc,
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
}

impl Connector {
    /// Writes the configuration (Basic, impersonation, directory through the API, webhooks to
    /// `webhook_url`) into `dir`, starts the connector and waits for `/healthz`.
    pub async fn start(
        exe: &Path,
        dir: &Path,
        ews_url: &str,
        webhook_url: &str,
        oof_poll_interval: &str,
        http: &reqwest::Client,
    ) -> Result<Connector> {
        let port = free_port()?;
        let data = dir.join("data");
        std::fs::create_dir_all(&data)?;
        let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let toml = format!(
            "[server]\nlisten = {}\napi_tokens = [{}]\ndata_dir = {}\n\n\
             [store]\nurl = {}\n\n\
             [[exchange]]\nname = \"sim\"\news_url = {}\nauth = \"basic\"\nusername = {}\npassword = {}\n\
             impersonation = true\nserver_version = \"Exchange2016\"\nmax_concurrency = 16\n\n\
             [directory]\nsource = \"api\"\n\n\
             [sync]\nwindow_past_days = 30\nwindow_future_days = 180\noof_poll_interval = {}\n\n\
             [[webhooks]]\nurl = {}\nsecret = {}\nevents = [\"*\"]\n",
            q(&format!("127.0.0.1:{port}")),
            q(API_TOKEN),
            q(&data.display().to_string()),
            q(&format!("sqlite://{}", data.join("exbridge.db").display())),
            q(ews_url),
            q(SVC),
            q(SVC_PASSWORD),
            q(oof_poll_interval),
            q(webhook_url),
            q(WEBHOOK_SECRET),
        );
        let path = dir.join("exbridge.toml");
        std::fs::write(&path, toml).with_context(|| format!("write {}", path.display()))?;
        let args = vec!["serve".to_string(), "--config".to_string(), path.display().to_string()];
        let mut proc = Proc::spawn(exe, "exbridge serve", &args, dir.join("connector.log"))?;
        let base_url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            proc.check_alive()?;
            if let Ok(r) = http.get(format!("{base_url}/healthz")).timeout(Duration::from_secs(2)).send().await
                && r.status().is_success()
            {
                break;
            }
            if Instant::now() >= deadline {
                bail!("exbridge serve did not answer {base_url}/healthz within 120 s:\n{}", proc.output());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Connector { proc, base_url })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_after_the_command_name_even_with_spaces() {
        let stat = "4242 (exbridge serve) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 100 0 0";
        let secs = cpu_secs_of_stat(stat, 100.0).unwrap();
        assert!((secs - 3.0).abs() < 1e-9, "{secs}");
    }

    #[test]
    fn request_delta_subtracts_per_operation() {
        let before = serde_json::json!({"requests": {"FindItem": 10, "GetItem": 4}});
        let after = serde_json::json!({"requests": {"FindItem": 25, "GetItem": 4, "Subscribe": 2}});
        assert_eq!(request_delta(&before, &after), vec![("FindItem".to_string(), 15), ("Subscribe".to_string(), 2)]);
    }
}
