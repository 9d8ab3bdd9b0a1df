//! `exbridge`: the connector binary. See `../shared/CONTRACT.md` section 1 for the commands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod alloc;
mod check_connection;
mod check_mapping;
mod connector;
mod demo;
mod logging;
mod signals;

/// Self-hosted Exchange calendar connector.
#[derive(Debug, Parser)]
#[command(name = "exbridge", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the connector until SIGINT/SIGTERM.
    Serve {
        /// Configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Start the simulator and the connector with an embedded store, and print how to use them.
    Demo {
        /// Number of simulated mailboxes.
        #[arg(long, default_value_t = 25)]
        mailboxes: u32,
        /// Port of the API and admin UI on 127.0.0.1.
        #[arg(long, default_value_t = 3001)]
        port: u16,
        /// Folder for the store (a temporary folder if absent).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Seconds between simulated calendar changes.
        #[arg(long, default_value_t = 5)]
        activity_interval: u64,
    },
    /// Run the Exchange simulator (EWS, Autodiscover, control API) until SIGINT/SIGTERM.
    Sim(Box<exbridge_sim::Args>),
    /// Connect to every configured Exchange server (after Autodiscover when `autodiscover_email`
    /// is set) and report version, auth method and latency, or the precise cause of a failure
    /// (DNS, connection refused, TLS, 401, 403, wrong EWS path, EWS error code). Exit code 0 when
    /// every server answered, 1 otherwise, 2 for a configuration error.
    CheckConnection {
        /// Configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// For every directory user: which identifier matched a mailbox, or why none did.
    CheckMapping {
        #[arg(long)]
        config: PathBuf,
        /// Only this user.
        #[arg(long)]
        user: Option<String>,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file; each error names the key, the bad value and what was expected.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Config { command: ConfigCommand::Check { config } } => config_check(&config),
        Command::CheckConnection { config } => check_connection::run(&config),
        Command::Sim(args) => run_async(exbridge_sim::run((*args).into())),
        Command::Serve { config } => match load_config(&config) {
            Ok(config) => {
                logging::init();
                run_async(connector::serve(config))
            }
            Err(code) => code,
        },
        Command::Demo { mailboxes, port, data_dir, activity_interval } => {
            logging::init();
            run_async(demo::run(demo::DemoOptions {
                mailboxes,
                port,
                data_dir,
                activity_interval: std::time::Duration::from_secs(activity_interval),
            }))
        }
        Command::CheckMapping { config, user } => match load_config(&config) {
            Ok(config) => run_async_code(check_mapping::run(config, user)),
            Err(code) => code,
        },
    }
}

/// Loads a configuration; on error prints every problem and gives exit code 2.
fn load_config(path: &std::path::Path) -> Result<exbridge_config::Config, ExitCode> {
    exbridge_config::Config::load(path).map_err(|e| {
        eprintln!("{}: {e}", path.display());
        ExitCode::from(2)
    })
}

/// `exbridge config check`: exit 0 if valid, 2 with every problem listed otherwise.
fn config_check(path: &std::path::Path) -> ExitCode {
    match exbridge_config::Config::load(path) {
        Ok(c) => {
            println!(
                "{}: valid ({} Exchange server(s), directory source {:?}, {} webhook(s))",
                path.display(),
                c.exchange.len(),
                c.directory.source,
                c.webhooks.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            ExitCode::from(2)
        }
    }
}

/// Runs a future on a multi-threaded runtime; an error is printed and exits 1.
fn run_async(fut: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    run_async_code(async move { fut.await.map(|()| ExitCode::SUCCESS) })
}

/// Like [`run_async`] for a command that chooses its exit code.
fn run_async_code(fut: impl std::future::Future<Output = anyhow::Result<ExitCode>>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("exbridge: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(fut) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("exbridge: {e:#}");
            ExitCode::from(1)
        }
    }
}
