//! `exbridge check-connection --config FILE`: connects to every `[[exchange]]` server (after
//! Autodiscover when `autodiscover_email` is set) and reports, per server, the version, the
//! authentication method and the latency, or the precise cause of the failure.
//!
//! Exit codes (contract §1): 0 when every server answered, 1 when one failed, 2 when the
//! configuration is invalid (including a CA file or proxy the client cannot use).

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use exbridge_config::Config;
use exbridge_engine::connection::{CheckOutcome, ServerCheck, check_server};

/// What happened with one server.
struct Report {
    name: String,
    lines: Vec<(&'static str, String)>,
    outcome: CheckOutcome,
}

impl From<ServerCheck> for Report {
    fn from(c: ServerCheck) -> Self {
        Report { name: c.report.server, lines: c.lines, outcome: c.outcome }
    }
}

pub fn run(path: &Path) -> ExitCode {
    let cfg = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("exbridge check-connection: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let reports = rt.block_on(async {
        let tasks: Vec<_> = cfg
            .exchange
            .iter()
            .cloned()
            .map(|x| tokio::spawn(async move { Report::from(check_server(&x).await) }))
            .collect();
        let mut out = Vec::new();
        for (t, x) in tasks.into_iter().zip(&cfg.exchange) {
            out.push(t.await.unwrap_or_else(|e| Report {
                name: x.name.clone(),
                lines: vec![("cause", format!("the check crashed: {e}"))],
                outcome: CheckOutcome::Failed,
            }));
        }
        out
    });
    let mut text = String::new();
    for r in &reports {
        let status = match r.outcome {
            CheckOutcome::Ok => "OK",
            CheckOutcome::Failed => "FAILED",
            CheckOutcome::ConfigError => "CONFIGURATION ERROR",
        };
        let _ = writeln!(text, "{}: {status}", r.name);
        for (k, v) in &r.lines {
            let _ = writeln!(text, "  {:<14}{}", format!("{k}:"), v.replace('\n', "\n                "));
        }
    }
    let ok = reports.iter().filter(|r| r.outcome == CheckOutcome::Ok).count();
    let _ = writeln!(text, "{ok} of {} Exchange server(s) OK", reports.len());
    print!("{text}");
    if reports.iter().any(|r| r.outcome == CheckOutcome::ConfigError) {
        ExitCode::from(2)
    } else if ok == reports.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
