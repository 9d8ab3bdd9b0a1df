//! `exbridge-bench`: runs the simulator and the connector (the release binaries, as child
//! processes) on loopback and writes the figures into `BENCHMARKS.md`:
//!
//! 1. `sync`: initial sync of N mailboxes × M events: wall time, EWS requests per mailbox,
//!    connector CPU seconds and peak RSS.
//! 2. `latency`: with all N mailboxes subscribed and changes at a background rate, the time
//!    from a change in the simulator to its webhook at a local receiver (p50, p99, max).
//! 3. `idle`: RSS and CPU per 1,000 idle subscribed mailboxes, and the streaming connections.
//! 4. `side`: CalendarView of all N mailboxes by exchangelib and by `ews_client::EwsClient`,
//!    same simulator, same window, same concurrency.
//! 5. `ceiling`: the same requests posted by a bare reqwest loop (the simulator's own limit).

mod procs;
mod receiver;
mod report;
mod side;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::{Value, json};

use procs::{API_TOKEN, Connector, DOMAIN, Sim, Usage, request_delta};
use receiver::Receiver;
use report::{Machine, Section, Target, load_average, mib, ms, percentile, upsert};

/// Benchmarks of the exbridge connector and simulator; writes BENCHMARKS.md.
#[derive(Parser, Debug)]
#[command(name = "exbridge-bench")]
struct Args {
    /// Mailbox counts N, each run in turn.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    mailboxes: Vec<u32>,
    /// Events per mailbox M.
    #[arg(long, default_value_t = 50)]
    events: u32,
    /// Sections: sync, latency, idle, side, ceiling.
    #[arg(long, value_delimiter = ',', default_value = "sync,latency,idle,side,ceiling")]
    sections: Vec<String>,
    /// Minutes of idle measurement.
    #[arg(long, default_value_t = 3.0)]
    idle_minutes: f64,
    /// The report to write or update.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    /// The `exbridge` binary (default: beside this one).
    #[arg(long)]
    exbridge: Option<PathBuf>,
    /// Changes made for the latency figures.
    #[arg(long, default_value_t = 300)]
    latency_changes: u64,
    /// Background rate of changes per second during the latency measurement.
    #[arg(long, default_value_t = 10.0)]
    change_rate: f64,
    /// Concurrency of the side-by-side fetch and of the ceiling.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Python with exchangelib 5.6.0 (default: `.venv/bin/python`).
    #[arg(long, default_value = ".venv/bin/python")]
    python: PathBuf,
    /// The connector's `[sync] oof_poll_interval` (the contract's default is 60s).
    #[arg(long, default_value = "60s")]
    oof_poll_interval: String,
    /// Longest wait for the webhooks of the initial sync to drain before the latency
    /// measurement, seconds.
    #[arg(long, default_value_t = 300)]
    drain_timeout: u64,
    /// Upper bound of the initial sync, seconds.
    #[arg(long, default_value_t = 1800)]
    sync_timeout: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    for s in &args.sections {
        if !["sync", "latency", "idle", "side", "ceiling"].contains(&s.as_str()) {
            bail!("unknown section {s:?} (sync, latency, idle, side, ceiling)");
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run(args))
}

/// The command line as typed, for the report.
fn command_line() -> String {
    let mut argv: Vec<String> = std::env::args().collect();
    if let Some(first) = argv.first_mut() {
        *first = "exbridge-bench".into();
    }
    argv.join(" ")
}

struct Ctx {
    args: Args,
    exe: PathBuf,
    machine: Machine,
    command: String,
    http: reqwest::Client,
}

impl Ctx {
    fn section(&self, key: String, title: String) -> Section {
        Section {
            key,
            title,
            command: self.command.clone(),
            context: vec![
                format!("machine: {}", self.machine.describe()),
                format!("date: {}", jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC")),
                format!("load average at the start: {}", load_average()),
            ],
            ..Section::default()
        }
    }

    fn has(&self, s: &str) -> bool {
        self.args.sections.iter().any(|x| x == s)
    }

    /// Writes `section` into the report at once (a later failure keeps what was measured).
    fn write(&self, section: &Section) -> Result<()> {
        let doc = std::fs::read_to_string(&self.args.out).unwrap_or_default();
        std::fs::write(&self.args.out, upsert(&doc, section))
            .with_context(|| format!("write {}", self.args.out.display()))?;
        println!("{}", section.render());
        Ok(())
    }
}

async fn run(args: Args) -> Result<()> {
    let exe = match &args.exbridge {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.parent().context("the folder of exbridge-bench")?.join("exbridge"),
    };
    if !exe.exists() {
        bail!("{} not found: build it with `cargo build --release -p exbridge` or pass --exbridge", exe.display());
    }
    let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
    let ctx = Ctx { machine: Machine::read(), command: command_line(), exe, args, http };
    println!("exbridge-bench: {} ; load {}", ctx.machine.describe(), load_average());
    for &n in &ctx.args.mailboxes.clone() {
        if ctx.has("sync") || ctx.has("latency") || ctx.has("idle") {
            connector_sections(&ctx, n).await.with_context(|| format!("connector sections at N = {n}"))?;
        }
        if ctx.has("side") || ctx.has("ceiling") {
            fetch_sections(&ctx, n).await.with_context(|| format!("side-by-side at N = {n}"))?;
        }
    }
    Ok(())
}

fn users(n: u32) -> Value {
    Value::Array(
        (1..=n)
            .map(|k| json!({"id": format!("user{k}"), "display_name": format!("User {k}"), "login_email": format!("user{k}@{DOMAIN}")}))
            .collect(),
    )
}

/// `GET /api/v1/users`: (synced, subscribed, other states by name).
async fn directory_state(ctx: &Ctx, base: &str) -> Result<(usize, usize, Vec<String>)> {
    let r = ctx
        .http
        .get(format!("{base}/api/v1/users"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .context("GET /api/v1/users")?;
    let v: Value = r.error_for_status()?.json().await?;
    let list = v.as_array().context("GET /api/v1/users is not an array")?;
    let synced = list.iter().filter(|u| !u["synced_at"].is_null()).count();
    let subscribed = list.iter().filter(|u| u["state"] == "subscribed").count();
    let mut bad: Vec<String> = list
        .iter()
        .filter(|u| u["state"] == "error" || u["state"] == "not_found")
        .take(3)
        .map(|u| format!("{} {} {}", u["id"], u["state"], u["last_error"]))
        .collect();
    bad.dedup();
    Ok((synced, subscribed, bad))
}

/// `GET /metrics`: (synced, subscribed) from `exbridge_users_synced` and
/// `exbridge_users{state="subscribed"}`. Cheap at any directory size (a counting query), so
/// polling it does not load the connector being measured, as listing 10,000 users would.
async fn sync_progress(ctx: &Ctx, base: &str) -> Result<(usize, usize)> {
    let r = ctx.http.get(format!("{base}/metrics")).send().await.context("GET /metrics")?;
    let text = r.error_for_status()?.text().await?;
    let value = |name: &str| -> Option<usize> {
        text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok()).map(|v| v as usize)
    };
    let synced = value("exbridge_users_synced ").context("GET /metrics has no exbridge_users_synced")?;
    let subscribed = value("exbridge_users{state=\"subscribed\"} ").unwrap_or(0);
    Ok((synced, subscribed))
}

fn sum(ops: &[(String, u64)]) -> u64 {
    ops.iter().map(|(_, n)| n).sum()
}

fn ops_text(ops: &[(String, u64)], per: f64) -> String {
    ops.iter().map(|(op, n)| format!("{op} {:.2}", *n as f64 / per)).collect::<Vec<_>>().join(", ")
}

async fn connector_sections(ctx: &Ctx, n: u32) -> Result<()> {
    let m = ctx.args.events;
    let dir = tempfile::Builder::new().prefix("exbridge-bench-").tempdir()?;
    println!("exbridge-bench: N = {n}: starting the simulator ({n} × {m}) in {}", dir.path().display());
    let sim = Sim::start(&ctx.exe, dir.path(), n, m).await?;
    let receiver = Receiver::start().await?;
    let mut conn =
        Connector::start(&ctx.exe, dir.path(), &sim.ews_url, &receiver.url, &ctx.args.oof_poll_interval, &ctx.http)
            .await?;
    let pid = conn.proc.pid()?;
    let load_at_start = load_average();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let baseline = Usage::of(pid)?;
    // EXBRIDGE_BENCH_PERF=FILE: `perf record -g` of the connector during the initial sync.
    let mut perf = match std::env::var_os("EXBRIDGE_BENCH_PERF") {
        Some(file) => Some(
            tokio::process::Command::new("perf")
                .args(["record", "-g", "-F", "199", "-p", &pid.to_string(), "-o"])
                .arg(file)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .context("start perf record")?,
        ),
        None => None,
    };

    // 1. Initial sync.
    let stats0 = sim.stats(&ctx.http).await?;
    let u0 = Usage::of(pid)?;
    let sim_u0 = sim.proc.usage()?;
    let t0 = Instant::now();
    let r = ctx.http.put(format!("{}/api/v1/users", conn.base_url)).bearer_auth(API_TOKEN).json(&users(n)).send().await;
    r.context("PUT /api/v1/users")?.error_for_status().context("PUT /api/v1/users")?;
    let deadline = t0 + Duration::from_secs(ctx.args.sync_timeout);
    let mut last_print = Instant::now();
    let (wall, subscribed) = loop {
        conn.proc.check_alive()?;
        let (synced, subscribed) = sync_progress(ctx, &conn.base_url).await?;
        if synced == n as usize {
            break (t0.elapsed(), subscribed);
        }
        if Instant::now() >= deadline {
            let (_, _, bad) = directory_state(ctx, &conn.base_url).await?;
            bail!("initial sync: {synced}/{n} mailboxes synced after {:?}; e.g. {bad:?}", ctx.args.sync_timeout);
        }
        if last_print.elapsed() > Duration::from_secs(10) {
            println!("  {:>5.0} s: {synced}/{n} synced, {subscribed} subscribed", t0.elapsed().as_secs_f64());
            last_print = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let stats1 = sim.stats(&ctx.http).await?;
    let u1 = Usage::of(pid)?;
    let sim_u1 = sim.proc.usage()?;
    let ops = request_delta(&stats0, &stats1);
    let total = sum(&ops);
    let sync_ops: Vec<(String, u64)> =
        ops.iter().filter(|(op, _)| op != "GetStreamingEvents" && op != "Subscribe").cloned().collect();
    let per_mailbox = total as f64 / n as f64;
    let per_mailbox_sync = sum(&sync_ops) as f64 / n as f64;
    let cpu = u1.cpu_secs - u0.cpu_secs;
    let webhooks_at_sync = receiver.total();
    let threads = procs::cpu_by_thread(pid);
    let thread_count = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|st| st.lines().find_map(|l| l.strip_prefix("Threads:")).map(|v| v.trim().to_string()))
        .unwrap_or_default();
    if let Some(p) = perf.as_mut()
        && let Some(id) = p.id()
    {
        let _ = std::process::Command::new("kill").args(["-INT", &id.to_string()]).status();
        let _ = tokio::time::timeout(Duration::from_secs(60), p.wait()).await;
    }
    println!("exbridge-bench: initial sync of {n} × {m} in {:.1} s", wall.as_secs_f64());

    // Let the webhooks of the initial sync (if any) drain before measuring latency.
    let drain_start = Instant::now();
    let mut drained = true;
    loop {
        let quiet = receiver.last().is_none_or(|t| t.elapsed() > Duration::from_secs(3));
        if quiet && drain_start.elapsed() > Duration::from_secs(3) {
            break;
        }
        if drain_start.elapsed() > Duration::from_secs(ctx.args.drain_timeout) {
            drained = false;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let webhooks_after_sync = receiver.total();
    let drained_in = drain_start.elapsed().saturating_sub(Duration::from_secs(3));
    let (_, subscribed_after, _) = directory_state(ctx, &conn.base_url).await?;

    if ctx.has("sync") {
        let mut s = ctx.section(format!("sync-{n}"), format!("Initial sync: {n} mailboxes × {m} events"));
        s.context[2] = format!("load average at the start: {load_at_start}");
        s.row("mailboxes × events", format!("{n} × {m}"));
        s.row("wall time (PUT /users → every `synced_at` set)", format!("{:.1} s", wall.as_secs_f64()));
        s.row("mailboxes per second", format!("{:.0}", n as f64 / wall.as_secs_f64()));
        s.row("EWS requests per mailbox (all)", format!("{per_mailbox:.2} ({total} in all)"));
        s.row("EWS requests per mailbox (without Subscribe/GetStreamingEvents)", format!("{per_mailbox_sync:.2}"));
        s.row("by operation, per mailbox", ops_text(&ops, n as f64));
        s.row(
            "connector CPU (user+system)",
            format!("{cpu:.1} s ({:.0} % of one core)", 100.0 * cpu / wall.as_secs_f64()),
        );
        s.row(
            "connector CPU by thread (name: seconds, cumulative at sync end)",
            threads.iter().take(4).map(|(n, c)| format!("{n}: {c:.1}")).collect::<Vec<_>>().join(", "),
        );
        s.row("connector threads at sync end", thread_count);
        s.row("simulator CPU (user+system)", format!("{:.1} s", sim_u1.cpu_secs - sim_u0.cpu_secs));
        s.row("connector RSS before the directory was pushed", mib(baseline.rss));
        s.row("connector peak RSS (VmHWM)", mib(u1.hwm));
        s.row("subscribed when synced / a few seconds later", format!("{subscribed} / {subscribed_after}"));
        s.row(
            "webhooks during the initial sync / after it drained",
            if drained {
                format!(
                    "{webhooks_at_sync} / {webhooks_after_sync} (drained {:.0} s after the sync)",
                    drained_in.as_secs_f64()
                )
            } else {
                format!(
                    "{webhooks_at_sync} / {webhooks_after_sync} (**not drained** {} s after the sync: still delivering)",
                    ctx.args.drain_timeout
                )
            },
        );
        let secs = wall.as_secs_f64();
        let scale = if n == 10_000 { "" } else { " (target is for 10,000 mailboxes)" };
        s.targets.push(Target::new(
            format!("10,000 × 50 in ≤ 120 s{scale}"),
            format!("{secs:.1} s"),
            secs <= 120.0 * n as f64 / 10_000.0,
        ));
        s.targets.push(Target::new("≤ 3 EWS requests per mailbox", format!("{per_mailbox:.2}"), per_mailbox <= 3.0));
        s.targets.push(Target::new(
            "RSS ≤ 300 MB with 10,000 mailboxes",
            mib(u1.hwm),
            u1.hwm as f64 <= 300e6 * n as f64 / 10_000.0,
        ));
        s.notes.push(format!(
            "The connector runs with SQLite in a temporary folder, `max_concurrency = 16` towards the simulator; \
             the simulator's throttling budget is raised (`--max-concurrency 1000`) so that it does not decide the \
             figure. With N < 10,000 the time and memory targets are scaled by N/10,000 (a proportional share).{}",
            if ctx.machine.cores <= 2 { " The simulator shares the machine's cores with the connector." } else { "" }
        ));
        ctx.write(&s)?;
    }

    // 2. Latency.
    if ctx.has("latency") {
        let latency = measure_latency(ctx, &sim, &receiver, n).await?;
        let mut s = ctx.section(format!("latency-{n}"), format!("Real-time latency: {n} subscribed mailboxes"));
        let LatencyRun { mut lat, sent, missing, missing_renames, rate, stream_conns, active_subscriptions } = latency;
        lat.sort();
        let p = |q| percentile(&lat, q).unwrap_or_default();
        let (p50, p99, max) = (p(50.0), p(99.0), lat.last().copied().unwrap_or_default());
        s.row("changes (create or rename, random mailboxes)", format!("{sent} at {rate:.1}/s"));
        s.row(
            "webhooks matched / missing after 30 s",
            format!("{} / {missing} ({missing_renames} of them renames)", lat.len()),
        );
        s.row("p50", ms(p50));
        s.row("p90", ms(p(90.0)));
        s.row("p99", ms(p99));
        s.row("max", ms(max));
        s.row(
            "subscribed mailboxes (API / simulator's active subscriptions)",
            format!("{subscribed_after} / {active_subscriptions}"),
        );
        s.row("open streaming connections", stream_conns.to_string());
        s.targets.push(Target::new("p50 ≤ 100 ms", ms(p50), !lat.is_empty() && p50 <= Duration::from_millis(100)));
        s.targets.push(Target::new("p99 ≤ 500 ms", ms(p99), !lat.is_empty() && p99 <= Duration::from_millis(500)));
        s.targets.push(Target::new("every change delivered", format!("{missing} missing"), missing == 0));
        if !drained {
            s.notes.push(format!(
                "**The webhooks of the initial sync had not drained** ({webhooks_after_sync} delivered when the \
                 changes started): these latencies include waiting behind that backlog."
            ));
        }
        s.notes.push(
            "Renames only touch items whose create was already delivered (a rename before the connector saw \
             the create is rightly coalesced into one webhook). Latency is from just before the control-API request that makes the change (`POST`/`PATCH \
             /sim/mailboxes/{smtp}/items`) to the arrival of the webhook whose subject carries the change's \
             sequence number; the control API's own round trip is included."
                .to_string(),
        );
        ctx.write(&s)?;
    }

    // 3. Idle.
    if ctx.has("idle") {
        let mut s = ctx.section(format!("idle-{n}"), format!("Idle cost: {n} subscribed mailboxes"));
        let idle = Duration::from_secs_f64(ctx.args.idle_minutes * 60.0);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let st0 = sim.stats(&ctx.http).await?;
        let a = Usage::of(pid)?;
        let started = Instant::now();
        let mut rss_max = a.rss;
        let mut rss_min = a.rss;
        while started.elapsed() < idle {
            tokio::time::sleep(
                Duration::from_secs(5).min(idle.saturating_sub(started.elapsed())).max(Duration::from_millis(10)),
            )
            .await;
            conn.proc.check_alive()?;
            let u = Usage::of(pid)?;
            rss_max = rss_max.max(u.rss);
            rss_min = rss_min.min(u.rss);
        }
        let b = Usage::of(pid)?;
        let st1 = sim.stats(&ctx.http).await?;
        let elapsed = started.elapsed().as_secs_f64();
        let cpu_pct = 100.0 * (b.cpu_secs - a.cpu_secs) / elapsed;
        let per_k = n as f64 / 1000.0;
        let conns = st1["open_streaming_connections"].as_u64().unwrap_or(0);
        let idle_ops = request_delta(&st0, &st1);
        s.row("measured for", format!("{:.0} s", elapsed));
        s.row("connector RSS (min – max)", format!("{} – {}", mib(rss_min), mib(rss_max)));
        s.row("RSS per 1,000 mailboxes", mib((rss_max as f64 / per_k) as u64));
        s.row("connector CPU (% of one core)", format!("{cpu_pct:.2} %"));
        s.row("CPU per 1,000 mailboxes", format!("{:.3} % of one core", cpu_pct / per_k));
        s.row("open streaming connections", format!("{conns} (active subscriptions: {})", st1["active_subscriptions"]));
        s.row("EWS requests while idle", format!("{} ({})", sum(&idle_ops), ops_text(&idle_ops, 1.0)));
        s.row("load average at the end", load_average());
        s.targets.push(Target::new("idle CPU < 2 %", format!("{cpu_pct:.2} %"), cpu_pct < 2.0));
        s.targets.push(Target::new(
            "RSS ≤ 300 MB with 10,000 mailboxes",
            format!("{} ({} per 1,000)", mib(rss_max), mib((rss_max as f64 / per_k) as u64)),
            rss_max as f64 <= 300e6 * n as f64 / 10_000.0,
        ));
        s.notes.push(format!(
            "Idle: no changes in the simulator; the streaming connections stay open (the simulator's heartbeat \
             is its default, 20 s). CPU is utime+stime over the period; the CPU target is for the whole process. \
             The connector polls OOF every `{}` per mailbox (`[sync] oof_poll_interval`; OOF raises no EWS \
             notification), which is the EWS traffic while idle.",
            ctx.args.oof_poll_interval
        ));
        ctx.write(&s)?;
    }

    conn.proc.kill().await;
    drop(sim);
    Ok(())
}

struct LatencyRun {
    lat: Vec<Duration>,
    sent: u64,
    missing: u64,
    missing_renames: u64,
    rate: f64,
    stream_conns: u64,
    active_subscriptions: u64,
}

/// Makes `latency_changes` changes at `change_rate` per second (creates, and renames of earlier
/// creates), each subject `bench-<k>`, and matches them to the webhooks.
async fn measure_latency(ctx: &Ctx, sim: &Sim, receiver: &Receiver, n: u32) -> Result<LatencyRun> {
    let total = ctx.args.latency_changes;
    let rate = ctx.args.change_rate.max(0.1);
    let interval = Duration::from_secs_f64(1.0 / rate);
    let st = sim.stats(&ctx.http).await?;
    let stream_conns = st["open_streaming_connections"].as_u64().unwrap_or(0);
    let active_subscriptions = st["active_subscriptions"].as_u64().unwrap_or(0);
    // Items whose create was delivered: (mailbox, item id, sequence number of the create).
    let mut created: Vec<(String, String, u64)> = Vec::new();
    let mut pending: Vec<(String, String, u64)> = Vec::new();
    let mut sent_at: Vec<(u64, Instant, bool)> = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let tomorrow = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
    // Every third change renames an item created earlier; the others create one.
    for k in 0..total {
        tick.tick().await;
        // Collect the creates that finished (for later renames).
        while let Some(r) = tasks.try_join_next() {
            if let Ok(Ok(Some(c))) = r {
                pending.push(c);
            }
        }
        // Renaming an item before the connector saw it would coalesce the two changes into one
        // webhook (correctly): only delivered creates are renamed.
        let (seen, waiting): (Vec<_>, Vec<_>) = pending.drain(..).partition(|c| receiver.arrival(c.2).is_some());
        created.extend(seen);
        pending = waiting;
        let mailbox = format!("user{}@{DOMAIN}", (k * 7919 + 13) % n as u64 + 1);
        let subject = format!("bench-{k}");
        let http = ctx.http.clone();
        let base = sim.base_url.clone();
        let t = Instant::now();
        let rename = k % 3 == 2 && !created.is_empty();
        sent_at.push((k, t, rename));
        if rename {
            let (mb, id, _) = created.swap_remove((k as usize * 31) % created.len());
            tasks.spawn(async move {
                let url = format!("{base}/sim/mailboxes/{mb}/items/{id}");
                http.patch(url).json(&json!({"subject": subject})).send().await?.error_for_status()?;
                Ok::<_, anyhow::Error>(None)
            });
        } else {
            let start = tomorrow + jiff::SignedDuration::from_mins(k as i64 % 600);
            let end = start + jiff::SignedDuration::from_mins(30);
            tasks.spawn(async move {
                let url = format!("{base}/sim/mailboxes/{mailbox}/items");
                let body = json!({"subject": subject, "start": start.to_string(), "end": end.to_string()});
                let v: Value = http.post(url).json(&body).send().await?.error_for_status()?.json().await?;
                let id = v["item_id"].as_str().context("no item_id in the created item")?.to_string();
                Ok(Some((mailbox, id, k)))
            });
        }
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && sent_at.iter().any(|(k, _, _)| receiver.arrival(*k).is_none()) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut lat = Vec::new();
    let mut missing = 0;
    let mut missing_renames = 0;
    for (k, t, rename) in &sent_at {
        match receiver.arrival(*k) {
            Some(a) => lat.push(a.saturating_duration_since(*t)),
            None => {
                missing += 1;
                missing_renames += u64::from(*rename);
            }
        }
    }
    Ok(LatencyRun { lat, sent: total, missing, missing_renames, rate, stream_conns, active_subscriptions })
}

/// Side by side and the ceiling: one simulator, the same window and concurrency.
async fn fetch_sections(ctx: &Ctx, n: u32) -> Result<()> {
    let m = ctx.args.events;
    let c = ctx.args.concurrency;
    let dir = tempfile::Builder::new().prefix("exbridge-bench-").tempdir()?;
    println!("exbridge-bench: N = {n}: CalendarView side by side at concurrency {c}");
    let sim = Sim::start(&ctx.exe, dir.path(), n, m).await?;
    let window = side::window(jiff::Timestamp::now());
    let load_at_start = load_average();
    let mut results: Vec<(&str, side::Fetch, u64, String)> = Vec::new();
    let run_one = async |name: &'static str, results: &mut Vec<(&str, side::Fetch, u64, String)>| -> Result<()> {
        let before = sim.stats(&ctx.http).await?;
        let f = match name {
            "exbridge" => side::exbridge_client(&sim.ews_url, n as usize, c, window).await?,
            "exchangelib" => {
                let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/calendar_view.py");
                side::exchangelib(&ctx.args.python, &script, &sim.ews_url, n as usize, c, window).await?
            }
            _ => side::ceiling(&sim.ews_url, n as usize, c, window).await?,
        };
        let after = sim.stats(&ctx.http).await?;
        let ops = request_delta(&before, &after);
        println!(
            "  {name}: {:.1} s, {} items, {} errors, {} requests",
            f.elapsed.as_secs_f64(),
            f.items,
            f.errors,
            sum(&ops)
        );
        results.push((name, f, sum(&ops), ops_text(&ops, n as f64)));
        Ok(())
    };
    if ctx.has("side") {
        run_one("exbridge", &mut results).await?;
        run_one("exchangelib", &mut results).await?;
    }
    if ctx.has("ceiling") {
        run_one("ceiling", &mut results).await?;
    }
    let find = |name: &str| results.iter().find(|r| r.0 == name);
    if ctx.has("side") {
        let mut s =
            ctx.section(format!("side-{n}"), format!("Side by side: CalendarView of {n} mailboxes, concurrency {c}"));
        s.context[2] = format!("load average at the start: {load_at_start}");
        let (start, end) = window;
        s.row("window", format!("{start} – {end} (30 days back, 60 ahead), {m} seeded events per mailbox"));
        for (name, f, reqs, by_op) in &results {
            let label = match *name {
                "exbridge" => "exbridge `EwsClient`",
                "exchangelib" => "exchangelib 5.6.0 (`account.calendar.view`)",
                _ => continue,
            };
            s.row(
                label,
                format!(
                    "{:.1} s, {:.0} mailboxes/s, {} items, {} errors, {reqs} EWS requests ({by_op} per mailbox)",
                    f.elapsed.as_secs_f64(),
                    f.throughput(),
                    f.items,
                    f.errors
                ),
            );
        }
        if let (Some(e), Some(x)) = (find("exbridge"), find("exchangelib")) {
            let ratio = e.1.throughput() / x.1.throughput().max(1e-9);
            s.row("throughput ratio exbridge / exchangelib", format!("{ratio:.1}×"));
            s.row("requests ratio exchangelib / exbridge", format!("{:.2}", x.2 as f64 / (e.2 as f64).max(1.0)));
            s.targets.push(Target::new(
                "≥ 10× exchangelib's throughput at equal concurrency",
                format!("{ratio:.1}×"),
                ratio >= 10.0,
            ));
        }
        s.notes.push(format!(
            "Both fetch every mailbox user1…user{n} with impersonation and Basic auth at {c} requests in flight \
             (exbridge: {c} tokio tasks and `max_concurrency = {c}`; exchangelib: {c} threads, \
             `max_connections = {c}`). exbridge asks FindItem CalendarView with `AllProperties`; exchangelib's \
             queryset sends what it needs for its model (the request counts show it). exchangelib's time is \
             measured inside Python around the fetch only."
        ));
        ctx.write(&s)?;
    }
    if let Some(ceil) = find("ceiling") {
        let mut s = ctx.section(
            format!("ceiling-{n}"),
            format!("Simulator ceiling: CalendarView of {n} mailboxes, concurrency {c}"),
        );
        s.context[2] = format!("load average at the start: {load_at_start}");
        let f = &ceil.1;
        s.row(
            "bare reqwest loop, prepared request bytes",
            format!(
                "{:.1} s, {:.0} requests/s, {} items, {} errors",
                f.elapsed.as_secs_f64(),
                f.throughput(),
                f.items,
                f.errors
            ),
        );
        if let Some(e) = find("exbridge") {
            s.row(
                "exbridge `EwsClient` as a share of the ceiling",
                format!("{:.0} %", 100.0 * e.1.throughput() / f.throughput().max(1e-9)),
            );
        }
        s.notes.push(
            "The same CalendarView envelopes exbridge's client sends, built once before the clock starts and \
             posted with keep-alive and Basic auth; responses are read but not parsed. On a 2-core machine the \
             client and the simulator share the cores, so this is the simulator's ceiling on this machine."
                .to_string(),
        );
        ctx.write(&s)?;
    }
    drop(sim);
    Ok(())
}
