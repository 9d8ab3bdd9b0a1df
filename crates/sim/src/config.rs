//! The simulator's options: [`SimConfig`] for code, [`Args`] for the `exbridge sim` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ews_proto::soap::ServerVersionInfo;

/// Which Exchange release the simulator pretends to be: it decides `t:ServerVersionInfo` and
/// the default throttling limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum ServerVersion {
    /// Exchange Server 2013 (15.0): HangingConnectionLimit 3.
    #[value(name = "Exchange2013")]
    Exchange2013,
    /// Exchange Server 2016 (15.1).
    #[value(name = "Exchange2016")]
    Exchange2016,
    /// Exchange Server 2019 (15.2).
    #[value(name = "Exchange2019")]
    Exchange2019,
    /// Exchange Online (15.20).
    #[value(name = "ExchangeOnline")]
    ExchangeOnline,
}

impl ServerVersion {
    /// The `t:ServerVersionInfo` this release sends in every response header.
    ///
    /// Build numbers are those of a late cumulative update of each release (2016 CU23,
    /// 2019 CU14); the `Version` strings are what those builds report.
    pub fn server_version_info(self) -> ServerVersionInfo {
        let (major, minor, build, minor_build, version) = match self {
            ServerVersion::Exchange2013 => (15, 0, 1497, 2, "V2_23"),
            ServerVersion::Exchange2016 => return ServerVersionInfo::exchange2016(),
            ServerVersion::Exchange2019 => (15, 2, 1544, 4, "V2017_07_11"),
            ServerVersion::ExchangeOnline => (15, 20, 8880, 22, "V2018_01_08"),
        };
        ServerVersionInfo {
            major_version: Some(major),
            minor_version: Some(minor),
            major_build_number: Some(build),
            minor_build_number: Some(minor_build),
            version: Some(version.into()),
        }
    }

    /// The documented default limits of this release.
    pub fn default_limits(self) -> Limits {
        match self {
            ServerVersion::Exchange2013 => Limits { hanging_connections: 3, ..Limits::default() },
            ServerVersion::ExchangeOnline => Limits { subscriptions_per_mailbox: 20, ..Limits::default() },
            _ => Limits::default(),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ServerVersion::Exchange2013 => "Exchange2013",
            ServerVersion::Exchange2016 => "Exchange2016",
            ServerVersion::Exchange2019 => "Exchange2019",
            ServerVersion::ExchangeOnline => "ExchangeOnline",
        }
    }
}

/// Throttling limits, named after the Exchange throttling policy parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `EWSMaxConcurrency`: concurrent non-streaming EWS requests per budget (account, or
    /// account plus impersonated mailbox). Exceeding it gives `ErrorServerBusy`.
    pub concurrency: usize,
    /// `HangingConnectionLimit`: open `GetStreamingEvents` connections per budget. Exceeding it
    /// gives `ErrorExceededConnectionCount`.
    pub hanging_connections: usize,
    /// `EWSMaxSubscriptions`: active subscriptions per mailbox.
    pub subscriptions_per_mailbox: usize,
    /// `EWSFindCountLimit`: items one FindItem returns at most.
    pub find_count: usize,
    /// Subscription ids one `GetStreamingEvents` request may carry.
    pub subscriptions_per_connection: usize,
    /// `BackOffMilliseconds` sent with `ErrorServerBusy` when the concurrency limit is exceeded.
    pub busy_back_off_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            concurrency: 27,
            hanging_connections: 10,
            subscriptions_per_mailbox: 20,
            find_count: 1000,
            subscriptions_per_connection: ews_proto::ops::MAX_SUBSCRIPTIONS_PER_CONNECTION,
            busy_back_off_ms: 1000,
        }
    }
}

/// Where the TLS certificate chain and key come from (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Everything the simulator needs to start.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to listen on; port 0 picks a free port (read it from [`crate::server::RunningSim::addr`]).
    pub listen: SocketAddr,
    /// Mail domain of the generated mailboxes (`user1@DOMAIN` …).
    pub domain: String,
    /// Number of generated mailboxes.
    pub mailboxes: u32,
    /// Calendar items generated per mailbox.
    pub events_per_mailbox: u32,
    /// Seed of the generated calendars; the same seed gives the same mailboxes.
    pub seed: u64,
    /// The service account: may impersonate every mailbox.
    pub service_user: String,
    pub service_password: String,
    /// Password of every mailbox user.
    pub user_password: String,
    /// Serve HTTPS with this certificate and key instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Added to every EWS response.
    pub latency: Duration,
    pub version: ServerVersion,
    /// Interval of `ConnectionStatus OK` heartbeats on an idle streaming connection.
    pub heartbeat_interval: Duration,
    /// One minute of `GetStreamingEvents/ConnectionTimeout` lasts this long. A minute in
    /// production; tests shorten it so a connection with `ConnectionTimeout` 1 closes quickly.
    pub connection_timeout_unit: Duration,
    /// Lifetime of tokens issued by `/sim/oauth2/token`.
    pub token_lifetime: Duration,
    pub limits: Limits,
    /// Largest request body accepted.
    pub max_request_bytes: usize,
}

impl SimConfig {
    /// Defaults of `exbridge sim` with the given listen address.
    pub fn new(listen: SocketAddr) -> Self {
        let version = ServerVersion::Exchange2016;
        SimConfig {
            listen,
            domain: "contoso.test".into(),
            mailboxes: 100,
            events_per_mailbox: 20,
            seed: 1,
            service_user: "svc@contoso.test".into(),
            service_password: "secret".into(),
            user_password: "password".into(),
            tls: None,
            latency: Duration::ZERO,
            version,
            heartbeat_interval: Duration::from_secs(20),
            connection_timeout_unit: Duration::from_secs(60),
            token_lifetime: Duration::from_secs(3600),
            limits: version.default_limits(),
            max_request_bytes: 32 * 1024 * 1024,
        }
    }

    /// A small simulator on `127.0.0.1:0` for tests: 5 mailboxes, 5 items each.
    pub fn for_tests() -> Self {
        SimConfig { mailboxes: 5, events_per_mailbox: 5, ..SimConfig::new(([127, 0, 0, 1], 0).into()) }
    }

    /// The URL of the EWS endpoint once the simulator listens on `addr`.
    pub fn ews_url(&self, addr: SocketAddr) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{addr}/EWS/Exchange.asmx")
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig::new(([127, 0, 0, 1], 8443).into())
    }
}

fn parse_millis(s: &str) -> Result<Duration, String> {
    s.parse::<u64>().map(Duration::from_millis).map_err(|e| format!("{s:?} is not a number of milliseconds: {e}"))
}

/// `exbridge sim`: the Exchange simulator alone.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Address and port to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Mail domain of the mailboxes user1@DOMAIN … userN@DOMAIN.
    #[arg(long, default_value = "contoso.test")]
    pub domain: String,
    /// Number of mailboxes.
    #[arg(long, default_value_t = 100)]
    pub mailboxes: u32,
    /// Calendar items per mailbox.
    #[arg(long, default_value_t = 20)]
    pub events_per_mailbox: u32,
    /// Seed of the generated calendars (same seed, same mailboxes).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Service account that may impersonate every mailbox.
    #[arg(long, default_value = "svc@contoso.test")]
    pub service_user: String,
    /// Password (and OAuth client secret) of the service account.
    #[arg(long, default_value = "secret", env = "EXBRIDGE_SIM_SERVICE_PASSWORD", hide_env_values = true)]
    pub service_password: String,
    /// Password of every mailbox user.
    #[arg(long, default_value = "password")]
    pub user_password: String,
    /// PEM certificate chain: serve HTTPS (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Milliseconds added to every EWS response.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Exchange release to imitate (server version, default limits).
    #[arg(long, value_enum, ignore_case = true, default_value_t = ServerVersion::Exchange2016)]
    pub version: ServerVersion,
    /// Milliseconds between heartbeats on an idle streaming connection.
    #[arg(long, default_value = "20000", value_parser = parse_millis)]
    pub heartbeat_ms: Duration,
    /// EWSMaxConcurrency: concurrent EWS requests per account (default of the version).
    #[arg(long)]
    pub max_concurrency: Option<usize>,
    /// HangingConnectionLimit: streaming connections per account (default of the version).
    #[arg(long)]
    pub hanging_connection_limit: Option<usize>,
    /// EWSMaxSubscriptions: active subscriptions per mailbox (default of the version).
    #[arg(long)]
    pub max_subscriptions: Option<usize>,
    /// EWSFindCountLimit: items one FindItem returns at most.
    #[arg(long, default_value_t = 1000)]
    pub find_count_limit: usize,
    /// Seconds an OAuth token from /sim/oauth2/token stays valid.
    #[arg(long, default_value_t = 3600)]
    pub token_lifetime_secs: u64,
}

impl From<Args> for SimConfig {
    fn from(a: Args) -> Self {
        let mut limits = a.version.default_limits();
        if let Some(n) = a.max_concurrency {
            limits.concurrency = n;
        }
        if let Some(n) = a.hanging_connection_limit {
            limits.hanging_connections = n;
        }
        if let Some(n) = a.max_subscriptions {
            limits.subscriptions_per_mailbox = n;
        }
        limits.find_count = a.find_count_limit;
        SimConfig {
            listen: a.listen,
            domain: a.domain,
            mailboxes: a.mailboxes,
            events_per_mailbox: a.events_per_mailbox,
            seed: a.seed,
            service_user: a.service_user,
            service_password: a.service_password,
            user_password: a.user_password,
            tls: match (a.tls_cert, a.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
                _ => None,
            },
            latency: Duration::from_millis(a.latency_ms),
            version: a.version,
            heartbeat_interval: a.heartbeat_ms,
            connection_timeout_unit: Duration::from_secs(60),
            token_lifetime: Duration::from_secs(a.token_lifetime_secs),
            limits,
            max_request_bytes: 32 * 1024 * 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn contract_command_line_parses() {
        let cli = Cli::try_parse_from([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--domain",
            "example.test",
            "--mailboxes",
            "3",
            "--events-per-mailbox",
            "7",
            "--seed",
            "9",
            "--service-user",
            "svc@example.test",
            "--service-password",
            "pw",
            "--latency-ms",
            "15",
            "--version",
            "Exchange2019",
            "--heartbeat-ms",
            "100",
        ])
        .unwrap();
        let c = SimConfig::from(cli.args);
        assert_eq!(c.listen.port(), 0);
        assert_eq!((c.mailboxes, c.events_per_mailbox, c.seed), (3, 7, 9));
        assert_eq!(c.user_password, "password");
        assert_eq!(c.latency, Duration::from_millis(15));
        assert_eq!(c.heartbeat_interval, Duration::from_millis(100));
        assert_eq!(c.version.server_version_info().minor_version, Some(2));
        assert_eq!(c.limits.concurrency, 27);
        assert_eq!(c.limits.hanging_connections, 10);
        assert!(c.tls.is_none());
    }

    #[test]
    fn tls_needs_both_files() {
        assert!(Cli::try_parse_from(["sim", "--tls-cert", "a.pem"]).is_err());
        let cli = Cli::try_parse_from(["sim", "--tls-cert", "a.pem", "--tls-key", "k.pem"]).unwrap();
        assert!(SimConfig::from(cli.args).tls.is_some());
    }

    #[test]
    fn exchange2013_has_three_hanging_connections() {
        assert_eq!(ServerVersion::Exchange2013.default_limits().hanging_connections, 3);
    }
}
