//! Logs: `tracing` to stderr, human-readable text by default, one JSON object per line with
//! `EXBRIDGE_LOG_FORMAT=json`; the level filter comes from `RUST_LOG` (default `info`, the
//! simulator's and HTTP libraries' chatter at `warn`).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,exbridge_sim=warn,hyper=warn,reqwest=warn,sqlx=warn"));
    let json = std::env::var("EXBRIDGE_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}
