//! exbridge configuration (`../shared/CONTRACT.md` §2).
//!
//! - A TOML file; unknown keys are errors.
//! - Every key may be overridden by an environment variable `EXBRIDGE_<SECTION>__<KEY>` (upper
//!   case, double underscore between levels; array entries by index:
//!   `EXBRIDGE_EXCHANGE__0__PASSWORD`). The value is read as a TOML value when it parses as one
//!   (`8`, `true`, `["a","b"]`), else as a string.
//! - A secret may be given literally, as `env:NAME`, or as `file:/path`.
//! - Validation collects every problem, each naming the key, the bad value and what was
//!   expected, so `exbridge config check` can list them all at once. Secrets never appear in
//!   error messages.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ews_proto::soap::ExchangeVersion;
use ews_proto::xml::XmlText;
use secrecy::{ExposeSecret, SecretString};
use toml::{Table, Value};

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key, e.g. `exchange[0].auth`.
    pub key: String,
    /// The offending value, or `None` when the key is missing (secrets are never shown).
    pub value: Option<String>,
    /// What was expected.
    pub expected: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}: invalid value {v}: expected {}", self.key, self.expected),
            None => write!(f, "{}: {}", self.key, self.expected),
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{} configuration error(s):\n  {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Invalid(Vec<Problem>),
}

/// A secret value: where it came from is remembered for messages, the value never printed.
#[derive(Clone)]
pub struct Secret {
    value: SecretString,
    source: String,
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret { value: SecretString::from(value.into()), source: "literal".into() }
    }

    pub fn expose(&self) -> &str {
        self.value.expose_secret()
    }

    /// `literal`, `env:NAME` or `file:/path`.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({}, redacted)", self.source)
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub exchange: Vec<ExchangeConfig>,
    pub directory: DirectoryConfig,
    pub sync: SyncConfig,
    pub webhooks: Vec<WebhookConfig>,
    /// `[mapping]`: application categories and priorities ↔ Exchange (empty when absent).
    pub mapping: MappingConfig,
}

/// `[mapping]`: how the application's categories and priorities appear in Exchange.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MappingConfig {
    /// `[[mapping.categories]]`, in file order (the reverse mapping takes the first entry for an
    /// Exchange name; names are unique on both sides anyway).
    pub categories: Vec<CategoryMapping>,
    /// `[mapping.priorities]`: application priority → Exchange importance, ordered by
    /// application priority name (TOML tables are unordered), so the reverse mapping of an
    /// importance is the alphabetically first priority that maps to it.
    pub priorities: Vec<(String, ews_proto::items::Importance)>,
}

/// One `[[mapping.categories]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryMapping {
    /// `app`: the application's category name.
    pub app: String,
    /// `exchange`: the Exchange (Outlook) category name.
    pub exchange: String,
    /// `color`: the colour of the category in the mailbox's master category list.
    pub color: CategoryColor,
}

/// An Outlook category colour: `none` or `preset0` … `preset24` (the master category list's
/// `color` attribute: -1 and 0 … 24). Outlook's names for the presets: 0 red, 1 orange,
/// 2 peach, 3 yellow, 4 green, 5 teal, 6 olive, 7 blue, 8 purple, 9 maroon, 10 steel,
/// 11 dark steel, 12 gray, 13 dark gray, 14 black, 15 dark red, 16 dark orange, 17 dark peach,
/// 18 dark yellow, 19 dark green, 20 dark teal, 21 dark olive, 22 dark blue, 23 dark purple,
/// 24 dark maroon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CategoryColor {
    /// No colour (`color="-1"`).
    #[default]
    None,
    /// `presetN`, N in 0..=24.
    Preset(u8),
}

impl CategoryColor {
    /// Parses `none` or `preset0` … `preset24` (case-insensitive).
    pub fn parse(s: &str) -> Option<CategoryColor> {
        let lower = s.trim().to_ascii_lowercase();
        if lower == "none" {
            return Some(CategoryColor::None);
        }
        let digits = lower.strip_prefix("preset")?;
        let n: u8 = digits.parse().ok()?;
        (n <= 24 && digits == n.to_string()).then_some(CategoryColor::Preset(n))
    }

    /// The master category list's `color` attribute: -1 for none, else the preset number.
    pub fn list_value(self) -> i32 {
        match self {
            CategoryColor::None => -1,
            CategoryColor::Preset(n) => i32::from(n),
        }
    }

    /// `none` or `presetN`.
    pub fn name(self) -> String {
        match self {
            CategoryColor::None => "none".into(),
            CategoryColor::Preset(n) => format!("preset{n}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub api_tokens: Vec<Secret>,
    /// `[server] private_api_tokens`: API tokens that also see the details of private events
    /// (subject, body, location, attendees, join link). They need not be repeated in
    /// `api_tokens`; tokens of `api_tokens` see private events masked.
    pub private_api_tokens: Vec<Secret>,
    pub admin_password: Option<Secret>,
    pub data_dir: PathBuf,
    /// `[server] ui_allow_remote`: serve the admin UI to peers other than the loopback
    /// interface (default `false`: a non-loopback peer gets 403). Only with `admin_password`.
    pub ui_allow_remote: bool,
    /// `[server] ui_secure_cookie`: mark the admin UI's session cookie `Secure` even when the
    /// request did not say it came over HTTPS (`X-Forwarded-Proto: https` from a TLS proxy).
    pub ui_secure_cookie: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    pub url: String,
    pub encryption_key: Option<Secret>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Basic,
    Ntlm,
    OAuth2,
}

impl AuthMethod {
    pub fn as_str(&self) -> &'static str {
        match self {
            AuthMethod::Basic => "basic",
            AuthMethod::Ntlm => "ntlm",
            AuthMethod::OAuth2 => "oauth2",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OAuth2Config {
    pub token_url: url::Url,
    pub client_id: String,
    pub client_secret: Secret,
    pub scope: String,
    pub tenant_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeConfig {
    pub name: String,
    pub ews_url: Option<url::Url>,
    pub autodiscover_email: Option<String>,
    /// An explicit Autodiscover endpoint (`…/autodiscover/autodiscover.svc` or `….xml`) instead
    /// of the URLs derived from the address's domain.
    pub autodiscover_url: Option<url::Url>,
    pub auth: AuthMethod,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub oauth2: Option<OAuth2Config>,
    pub impersonation: bool,
    pub server_version: ExchangeVersion,
    pub ca_file: Option<PathBuf>,
    pub proxy: Option<url::Url>,
    pub domains: Vec<String>,
    pub max_concurrency: u32,
    /// Streaming (`GetStreamingEvents`) connections per budget: per impersonated anchor
    /// mailbox, or per service account without impersonation (Exchange's
    /// `HangingConnectionLimit`, 10 by default).
    pub max_streaming_connections: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectorySource {
    Api,
    Url,
    File,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryConfig {
    pub source: DirectorySource,
    pub url: Option<url::Url>,
    pub file: Option<PathBuf>,
    pub refresh_interval: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyncConfig {
    pub window_past_days: u32,
    pub window_future_days: u32,
    pub reconcile_interval: Duration,
    pub oof_poll_interval: Duration,
    /// `join_keywords = { "@webex" = "webex" }`: keyword → provider pairs for join-link
    /// detection when an event has no meeting URL (see `exbridge_calendar::join`), ordered by
    /// keyword. Keywords are non-empty; providers are names of `[a-z0-9_]` characters.
    pub join_keywords: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    pub url: url::Url,
    pub secret: Secret,
    /// `["*"]` or event types.
    pub events: Vec<String>,
    pub include_private: bool,
    pub include_echoes: bool,
}

/// Every webhook event type (CONTRACT §5).
pub const EVENT_TYPES: &[&str] = &[
    "presence.changed",
    "event.created",
    "event.updated",
    "event.deleted",
    "event.unlinked",
    "task.created",
    "task.updated",
    "task.deleted",
    "user.mailbox_resolved",
    "user.subscription_failed",
    // A queued API write applied or given up (contract addition of the event writes).
    "write.completed",
    "write.failed",
];

impl Config {
    /// Reads, overrides from the process environment, and validates a file.
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let env: Vec<(String, String)> = std::env::vars().collect();
        Config::from_toml_str(&text, &env).map_err(|e| match e {
            ConfigError::Syntax { message, .. } => ConfigError::Syntax { path: path.into(), message },
            other => other,
        })
    }

    /// Parses TOML text with the given environment (name, value) pairs.
    pub fn from_toml_str(text: &str, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let mut table: Table =
            toml::from_str(text).map_err(|e| ConfigError::Syntax { path: PathBuf::new(), message: e.to_string() })?;
        let mut problems = Vec::new();
        apply_env(&mut table, env, &mut problems);
        let mut r = Reader { problems, env: env.iter().cloned().collect(), literal_secrets: false };
        let config = r.config(&table);
        if r.problems.is_empty() {
            Ok(config.expect("no problems means a config"))
        } else {
            Err(ConfigError::Invalid(r.problems))
        }
    }
}

/// Applies `EXBRIDGE_SECTION__KEY` overrides.
fn apply_env(table: &mut Table, env: &[(String, String)], problems: &mut Vec<Problem>) {
    for (name, raw) in env {
        let Some(path) = name.strip_prefix("EXBRIDGE_") else { continue };
        if !path.contains("__") {
            continue; // e.g. EXBRIDGE_KEY used as a secret source
        }
        let segments: Vec<String> = path.split("__").map(|s| s.to_ascii_lowercase()).collect();
        let value = parse_env_value(raw);
        if let Err(msg) = set_path(table, &segments, value) {
            problems.push(Problem { key: name.clone(), value: None, expected: msg });
        }
    }
}

fn parse_env_value(raw: &str) -> Value {
    let doc = format!("v = {raw}");
    match toml::from_str::<Table>(&doc) {
        Ok(mut t) => t.remove("v").unwrap_or_else(|| Value::String(raw.to_string())),
        Err(_) => Value::String(raw.to_string()),
    }
}

fn set_path(table: &mut Table, segments: &[String], value: Value) -> Result<(), String> {
    let (first, rest) = segments.split_first().ok_or("an empty key")?;
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return Ok(());
    }
    let entry = table.entry(first.clone()).or_insert_with(|| Value::Table(Table::new()));
    match entry {
        Value::Table(t) => set_path(t, rest, value),
        Value::Array(items) => {
            let idx: usize = rest[0].parse().map_err(|_| format!("an array index after {first}"))?;
            while items.len() <= idx {
                items.push(Value::Table(Table::new()));
            }
            match &mut items[idx] {
                Value::Table(t) if rest.len() > 1 => set_path(t, &rest[1..], value),
                slot if rest.len() == 1 => {
                    *slot = value;
                    Ok(())
                }
                _ => Err(format!("{first}[{idx}] is not a table")),
            }
        }
        _ => Err(format!("{first} is not a section")),
    }
}

struct Reader {
    problems: Vec<Problem>,
    env: BTreeMap<String, String>,
    /// Secrets are taken as they are (no `env:`/`file:` lookup): tables written by
    /// [`ExchangeConfig::to_toml_string`], whose secrets are already resolved.
    literal_secrets: bool,
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// Parses `90s`, `10m`, `1h 30m`, `2h`, `500ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d: jiff::SignedDuration = s.trim().parse().map_err(|_| "a duration such as 60s, 10m or 1h".to_string())?;
    if d.is_negative() || d.is_zero() {
        return Err("a positive duration".into());
    }
    d.try_into().map_err(|_| "a positive duration".to_string())
}

impl Reader {
    fn problem(&mut self, key: &str, value: Option<String>, expected: impl Into<String>) {
        self.problems.push(Problem { key: key.to_string(), value, expected: expected.into() });
    }

    fn unknown_keys(&mut self, t: &Table, prefix: &str, known: &[&str]) {
        for k in t.keys() {
            if !known.contains(&k.as_str()) {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                self.problem(&key, None, format!("unknown key (known keys here: {})", known.join(", ")));
            }
        }
    }

    fn section<'a>(&mut self, root: &'a Table, name: &str) -> Option<&'a Table> {
        match root.get(name) {
            None => None,
            Some(Value::Table(t)) => Some(t),
            Some(v) => {
                self.problem(name, Some(show(v)), "a [section] table");
                None
            }
        }
    }

    fn string(&mut self, t: &Table, prefix: &str, key: &str) -> Option<String> {
        match t.get(key) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => {
                self.problem(&format!("{prefix}.{key}"), Some(show(v)), format!("a string, not {}", type_name(v)));
                None
            }
        }
    }

    fn required_string(&mut self, t: &Table, prefix: &str, key: &str) -> Option<String> {
        let v = self.string(t, prefix, key);
        if v.is_none() && !t.contains_key(key) {
            self.problem(&format!("{prefix}.{key}"), None, "missing: this key is required");
        }
        v
    }

    fn boolean(&mut self, t: &Table, prefix: &str, key: &str, default: bool) -> bool {
        match t.get(key) {
            None => default,
            Some(Value::Boolean(b)) => *b,
            Some(v) => {
                self.problem(&format!("{prefix}.{key}"), Some(show(v)), "true or false");
                default
            }
        }
    }

    fn integer(&mut self, t: &Table, prefix: &str, key: &str, default: i64, range: (i64, i64)) -> i64 {
        match t.get(key) {
            None => default,
            Some(Value::Integer(i)) if (range.0..=range.1).contains(i) => *i,
            Some(v) => {
                self.problem(
                    &format!("{prefix}.{key}"),
                    Some(show(v)),
                    format!("an integer from {} to {}", range.0, range.1),
                );
                default
            }
        }
    }

    fn duration(&mut self, t: &Table, prefix: &str, key: &str, default: Duration) -> Duration {
        match self.string(t, prefix, key) {
            None => default,
            Some(s) => match parse_duration(&s) {
                Ok(d) => d,
                Err(expected) => {
                    self.problem(&format!("{prefix}.{key}"), Some(format!("{s:?}")), expected);
                    default
                }
            },
        }
    }

    fn strings(&mut self, t: &Table, prefix: &str, key: &str) -> Vec<String> {
        match t.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for (i, v) in items.iter().enumerate() {
                    match v {
                        Value::String(s) => out.push(s.clone()),
                        other => self.problem(&format!("{prefix}.{key}[{i}]"), Some(show(other)), "a string"),
                    }
                }
                out
            }
            Some(v) => {
                self.problem(&format!("{prefix}.{key}"), Some(show(v)), "an array of strings");
                Vec::new()
            }
        }
    }

    /// Resolves a secret reference without ever echoing a literal secret in a message.
    fn secret_value(&mut self, key: &str, raw: &str) -> Option<Secret> {
        if self.literal_secrets {
            return Some(Secret { value: SecretString::from(raw.to_string()), source: "stored".into() });
        }
        if let Some(name) = raw.strip_prefix("env:") {
            return match self.env.get(name) {
                Some(v) if !v.is_empty() => Some(Secret { value: SecretString::from(v.clone()), source: raw.into() }),
                _ => {
                    self.problem(key, Some(format!("{raw:?}")), format!("the environment variable {name} to be set"));
                    None
                }
            };
        }
        if let Some(path) = raw.strip_prefix("file:") {
            return match std::fs::read_to_string(path) {
                Ok(v) => {
                    let v = v.trim_end_matches(['\r', '\n']).to_string();
                    Some(Secret { value: SecretString::from(v), source: raw.into() })
                }
                Err(e) => {
                    self.problem(key, Some(format!("{raw:?}")), format!("a readable file ({e})"));
                    None
                }
            };
        }
        Some(Secret { value: SecretString::from(raw.to_string()), source: "literal".into() })
    }

    fn secret(&mut self, t: &Table, prefix: &str, key: &str) -> Option<Secret> {
        match t.get(key) {
            None => None,
            Some(Value::String(s)) => self.secret_value(&format!("{prefix}.{key}"), s),
            Some(v) => {
                self.problem(
                    &format!("{prefix}.{key}"),
                    None,
                    format!("a string (literal, env:NAME or file:/path), not {}", type_name(v)),
                );
                None
            }
        }
    }

    fn url(&mut self, key: &str, s: &str, schemes: &[&str]) -> Option<url::Url> {
        match url::Url::parse(s) {
            Ok(u) if schemes.contains(&u.scheme()) && u.host_str().is_some() => Some(u),
            Ok(_) | Err(_) => {
                self.problem(key, Some(format!("{s:?}")), format!("an absolute {} URL", schemes.join(" or ")));
                None
            }
        }
    }

    fn config(&mut self, root: &Table) -> Option<Config> {
        self.unknown_keys(root, "", &["server", "store", "exchange", "directory", "sync", "webhooks", "mapping"]);
        let empty = Table::new();

        // [server]
        let s = self.section(root, "server").unwrap_or(&empty);
        self.unknown_keys(
            s,
            "server",
            &[
                "listen",
                "api_tokens",
                "private_api_tokens",
                "admin_password",
                "data_dir",
                "ui_allow_remote",
                "ui_secure_cookie",
            ],
        );
        let listen_s = self.string(s, "server", "listen").unwrap_or_else(|| "127.0.0.1:3001".into());
        let listen = match listen_s.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.problem(
                    "server.listen",
                    Some(format!("{listen_s:?}")),
                    "an address and port such as 127.0.0.1:3001",
                );
                None
            }
        };
        let mut api_tokens = Vec::new();
        for (i, tok) in self.strings(s, "server", "api_tokens").iter().enumerate() {
            if let Some(sec) = self.secret_value(&format!("server.api_tokens[{i}]"), tok) {
                if sec.expose().len() < 8 {
                    self.problem(&format!("server.api_tokens[{i}]"), None, "a token of at least 8 characters");
                }
                api_tokens.push(sec);
            }
        }
        let mut private_api_tokens = Vec::new();
        for (i, tok) in self.strings(s, "server", "private_api_tokens").iter().enumerate() {
            if let Some(sec) = self.secret_value(&format!("server.private_api_tokens[{i}]"), tok) {
                if sec.expose().len() < 8 {
                    self.problem(&format!("server.private_api_tokens[{i}]"), None, "a token of at least 8 characters");
                }
                private_api_tokens.push(sec);
            }
        }
        let admin_password = self.secret(s, "server", "admin_password");
        let data_dir = PathBuf::from(self.string(s, "server", "data_dir").unwrap_or_else(|| "./data".into()));
        let ui_allow_remote = self.boolean(s, "server", "ui_allow_remote", false);
        let ui_secure_cookie = self.boolean(s, "server", "ui_secure_cookie", false);
        if ui_allow_remote && admin_password.is_none() {
            self.problem(
                "server.ui_allow_remote",
                Some("true".into()),
                "false unless server.admin_password is set (the admin UI is disabled without it)",
            );
        }

        // [store]
        let st = self.section(root, "store").unwrap_or(&empty);
        self.unknown_keys(st, "store", &["url", "encryption_key"]);
        let default_url = format!("sqlite://{}/exbridge.db", data_dir.display());
        let store_url = self.string(st, "store", "url").unwrap_or(default_url);
        if !(store_url.starts_with("sqlite:")
            || store_url.starts_with("postgres://")
            || store_url.starts_with("postgresql://"))
        {
            self.problem(
                "store.url",
                Some(format!("{store_url:?}")),
                "a sqlite://PATH or postgres://USER:PASS@HOST/DB URL",
            );
        }
        let encryption_key = self.secret(st, "store", "encryption_key");
        if let Some(k) = &encryption_key
            && k.expose().len() < 16
        {
            self.problem(
                "store.encryption_key",
                None,
                "a key of at least 16 characters (32 random bytes, base64, recommended)",
            );
        }

        // [[exchange]]
        let mut exchange = Vec::new();
        match root.get("exchange") {
            None => self.problem("exchange", None, "missing: at least one [[exchange]] server is required"),
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let prefix = format!("exchange[{i}]");
                    match item {
                        Value::Table(t) => {
                            if let Some(x) = self.exchange(t, &prefix) {
                                exchange.push(x);
                            }
                        }
                        other => self.problem(&prefix, Some(show(other)), "an [[exchange]] table"),
                    }
                }
                let mut names: Vec<&str> = exchange.iter().map(|x: &ExchangeConfig| x.name.as_str()).collect();
                names.sort();
                for w in names.windows(2) {
                    if w[0] == w[1] {
                        self.problem(
                            "exchange.name",
                            Some(format!("{:?}", w[0])),
                            "a name unique among [[exchange]] servers",
                        );
                    }
                }
            }
            Some(v) => self.problem("exchange", Some(show(v)), "one or more [[exchange]] tables"),
        }

        // [directory]
        let d = self.section(root, "directory").unwrap_or(&empty);
        self.unknown_keys(d, "directory", &["source", "url", "file", "refresh_interval"]);
        let source_s = self.string(d, "directory", "source").unwrap_or_else(|| "api".into());
        let source = match source_s.as_str() {
            "api" => Some(DirectorySource::Api),
            "url" => Some(DirectorySource::Url),
            "file" => Some(DirectorySource::File),
            _ => {
                self.problem("directory.source", Some(format!("{source_s:?}")), "\"api\", \"url\" or \"file\"");
                None
            }
        };
        let dir_url =
            self.string(d, "directory", "url").and_then(|u| self.url("directory.url", &u, &["http", "https"]));
        let dir_file = self.string(d, "directory", "file").map(PathBuf::from);
        if source == Some(DirectorySource::Url) && dir_url.is_none() && !d.contains_key("url") {
            self.problem("directory.url", None, "missing: required when directory.source = \"url\"");
        }
        if source == Some(DirectorySource::File) && dir_file.is_none() {
            self.problem("directory.file", None, "missing: required when directory.source = \"file\"");
        }
        let refresh_interval = self.duration(d, "directory", "refresh_interval", Duration::from_secs(600));

        // [sync]
        let y = self.section(root, "sync").unwrap_or(&empty);
        self.unknown_keys(
            y,
            "sync",
            &["window_past_days", "window_future_days", "reconcile_interval", "oof_poll_interval", "join_keywords"],
        );
        let window_past_days = self.integer(y, "sync", "window_past_days", 30, (0, 30)) as u32;
        let window_future_days = self.integer(y, "sync", "window_future_days", 180, (1, 730)) as u32;
        let reconcile_interval = self.duration(y, "sync", "reconcile_interval", Duration::from_secs(900));
        let oof_poll_interval = self.duration(y, "sync", "oof_poll_interval", Duration::from_secs(60));
        let join_keywords = self.join_keywords(y);

        // [[webhooks]]
        let mut webhooks = Vec::new();
        match root.get("webhooks") {
            None => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let prefix = format!("webhooks[{i}]");
                    let Value::Table(t) = item else {
                        self.problem(&prefix, Some(show(item)), "a [[webhooks]] table");
                        continue;
                    };
                    self.unknown_keys(t, &prefix, &["url", "secret", "events", "include_private", "include_echoes"]);
                    let url = self
                        .required_string(t, &prefix, "url")
                        .and_then(|u| self.url(&format!("{prefix}.url"), &u, &["http", "https"]));
                    let secret = self.secret(t, &prefix, "secret");
                    if secret.is_none() && !t.contains_key("secret") {
                        self.problem(
                            &format!("{prefix}.secret"),
                            None,
                            "missing: webhooks are signed with this secret",
                        );
                    }
                    let mut events = self.strings(t, &prefix, "events");
                    if events.is_empty() {
                        events.push("*".into());
                    }
                    for (j, e) in events.iter().enumerate() {
                        if e != "*" && !EVENT_TYPES.contains(&e.as_str()) {
                            self.problem(
                                &format!("{prefix}.events[{j}]"),
                                Some(format!("{e:?}")),
                                format!("\"*\" or one of {}", EVENT_TYPES.join(", ")),
                            );
                        }
                    }
                    let include_private = self.boolean(t, &prefix, "include_private", false);
                    let include_echoes = self.boolean(t, &prefix, "include_echoes", false);
                    if let (Some(url), Some(secret)) = (url, secret) {
                        webhooks.push(WebhookConfig { url, secret, events, include_private, include_echoes });
                    }
                }
            }
            Some(v) => self.problem("webhooks", Some(show(v)), "one or more [[webhooks]] tables"),
        }

        let mapping = self.mapping(root);

        if !self.problems.is_empty() {
            return None;
        }
        Some(Config {
            server: ServerConfig {
                listen: listen?,
                api_tokens,
                private_api_tokens,
                admin_password,
                data_dir,
                ui_allow_remote,
                ui_secure_cookie,
            },
            store: StoreConfig { url: store_url, encryption_key },
            exchange,
            directory: DirectoryConfig { source: source?, url: dir_url, file: dir_file, refresh_interval },
            sync: SyncConfig {
                window_past_days,
                window_future_days,
                reconcile_interval,
                oof_poll_interval,
                join_keywords,
            },
            webhooks,
            mapping,
        })
    }

    /// `[mapping]`: `[[mapping.categories]]` and `[mapping.priorities]`.
    fn mapping(&mut self, root: &Table) -> MappingConfig {
        let mut out = MappingConfig::default();
        let Some(m) = self.section(root, "mapping") else { return out };
        self.unknown_keys(m, "mapping", &["categories", "priorities"]);
        match m.get("categories") {
            None => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let prefix = format!("mapping.categories[{i}]");
                    let Value::Table(t) = item else {
                        self.problem(&prefix, Some(show(item)), "a [[mapping.categories]] table");
                        continue;
                    };
                    self.unknown_keys(t, &prefix, &["app", "exchange", "color"]);
                    let app = self.required_string(t, &prefix, "app");
                    let exchange = self.required_string(t, &prefix, "exchange");
                    for (key, v) in [("app", &app), ("exchange", &exchange)] {
                        if v.as_deref().is_some_and(|v| v.trim().is_empty()) {
                            self.problem(&format!("{prefix}.{key}"), Some("\"\"".into()), "a non-empty category name");
                        }
                    }
                    let color = match self.string(t, &prefix, "color") {
                        None => CategoryColor::None,
                        Some(c) => CategoryColor::parse(&c).unwrap_or_else(|| {
                            self.problem(
                                &format!("{prefix}.color"),
                                Some(format!("{c:?}")),
                                "none or preset0 … preset24 (Outlook's category colours)",
                            );
                            CategoryColor::None
                        }),
                    };
                    let (Some(app), Some(exchange)) = (app, exchange) else { continue };
                    if let Some(j) = out.categories.iter().position(|c| c.app == app) {
                        self.problem(
                            &format!("{prefix}.app"),
                            Some(format!("{app:?}")),
                            format!("an application category not already mapped (mapping.categories[{j}])"),
                        );
                        continue;
                    }
                    if let Some(j) = out.categories.iter().position(|c| c.exchange.eq_ignore_ascii_case(&exchange)) {
                        self.problem(
                            &format!("{prefix}.exchange"),
                            Some(format!("{exchange:?}")),
                            format!("an Exchange category not already mapped (mapping.categories[{j}]; Exchange names ignore case)"),
                        );
                        continue;
                    }
                    out.categories.push(CategoryMapping { app, exchange, color });
                }
            }
            Some(v) => self.problem("mapping.categories", Some(show(v)), "one or more [[mapping.categories]] tables"),
        }
        match m.get("priorities") {
            None => {}
            Some(Value::Table(t)) => {
                for (app, v) in t {
                    let key = format!("mapping.priorities.{app}");
                    match v {
                        Value::String(s) => match s.parse::<ews_proto::items::Importance>() {
                            Ok(i) => out.priorities.push((app.clone(), i)),
                            Err(_) => self.problem(&key, Some(format!("{s:?}")), "\"Low\", \"Normal\" or \"High\""),
                        },
                        other => self.problem(&key, Some(show(other)), "\"Low\", \"Normal\" or \"High\""),
                    }
                }
            }
            Some(v) => self.problem("mapping.priorities", Some(show(v)), "a [mapping.priorities] table"),
        }
        out
    }

    /// `[sync] join_keywords`: a table of keyword → provider name.
    fn join_keywords(&mut self, t: &Table) -> Vec<(String, String)> {
        let mut out = Vec::new();
        match t.get("join_keywords") {
            None => {}
            Some(Value::Table(map)) => {
                for (keyword, provider) in map {
                    let key = format!("sync.join_keywords.{keyword:?}");
                    if keyword.trim().is_empty() {
                        self.problem("sync.join_keywords", Some(format!("{keyword:?}")), "a non-empty keyword");
                        continue;
                    }
                    match provider {
                        Value::String(p)
                            if !p.is_empty()
                                && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
                        {
                            out.push((keyword.clone(), p.clone()));
                        }
                        other => self.problem(
                            &key,
                            Some(show(other)),
                            "a provider name of a-z, 0-9 and _ (teams, zoom, webex, google_meet, gotomeeting, jitsi or your own)",
                        ),
                    }
                }
            }
            Some(other) => self.problem(
                "sync.join_keywords",
                Some(show(other)),
                "a table of keyword = provider, such as { \"@webex\" = \"webex\" }",
            ),
        }
        out
    }

    fn exchange(&mut self, t: &Table, prefix: &str) -> Option<ExchangeConfig> {
        self.unknown_keys(
            t,
            prefix,
            &[
                "name",
                "ews_url",
                "autodiscover_email",
                "autodiscover_url",
                "auth",
                "username",
                "password",
                "token_url",
                "client_id",
                "client_secret",
                "scope",
                "tenant_id",
                "impersonation",
                "server_version",
                "ca_file",
                "proxy",
                "domains",
                "max_concurrency",
                "max_streaming_connections",
            ],
        );
        let before = self.problems.len();
        let name = self.required_string(t, prefix, "name");
        let ews_url = self
            .string(t, prefix, "ews_url")
            .and_then(|u| self.url(&format!("{prefix}.ews_url"), &u, &["http", "https"]));
        let autodiscover_email = self.string(t, prefix, "autodiscover_email");
        if let Some(e) = &autodiscover_email
            && ews_proto::SmtpAddress::parse(e).is_err()
        {
            self.problem(&format!("{prefix}.autodiscover_email"), Some(format!("{e:?}")), "an email address");
        }
        let autodiscover_url = self
            .string(t, prefix, "autodiscover_url")
            .and_then(|u| self.url(&format!("{prefix}.autodiscover_url"), &u, &["http", "https"]));
        if autodiscover_url.is_some() && autodiscover_email.is_none() {
            self.problem(
                &format!("{prefix}.autodiscover_email"),
                None,
                "missing: autodiscover_url needs autodiscover_email (the address to look up)",
            );
        }
        if !t.contains_key("ews_url") && autodiscover_email.is_none() {
            self.problem(&format!("{prefix}.ews_url"), None, "missing: set ews_url or autodiscover_email");
        }
        let auth_s = self.required_string(t, prefix, "auth");
        let auth = match auth_s.as_deref() {
            Some("basic") => Some(AuthMethod::Basic),
            Some("ntlm") => Some(AuthMethod::Ntlm),
            Some("oauth2") => Some(AuthMethod::OAuth2),
            Some(other) => {
                self.problem(
                    &format!("{prefix}.auth"),
                    Some(format!("{other:?}")),
                    "\"basic\", \"ntlm\" or \"oauth2\"",
                );
                None
            }
            None => None,
        };
        let username = self.string(t, prefix, "username");
        let password = self.secret(t, prefix, "password");
        let mut oauth2 = None;
        match auth {
            Some(AuthMethod::Basic) | Some(AuthMethod::Ntlm) => {
                if username.is_none() {
                    self.problem(
                        &format!("{prefix}.username"),
                        None,
                        format!("missing: required with auth = \"{}\"", auth_s.as_deref().unwrap_or("")),
                    );
                }
                if password.is_none() && !t.contains_key("password") {
                    self.problem(
                        &format!("{prefix}.password"),
                        None,
                        format!("missing: required with auth = \"{}\"", auth_s.as_deref().unwrap_or("")),
                    );
                }
            }
            Some(AuthMethod::OAuth2) => {
                let token_url = self
                    .required_string(t, prefix, "token_url")
                    .and_then(|u| self.url(&format!("{prefix}.token_url"), &u, &["http", "https"]));
                let client_id = self.required_string(t, prefix, "client_id");
                let client_secret = self.secret(t, prefix, "client_secret");
                if client_secret.is_none() && !t.contains_key("client_secret") {
                    self.problem(&format!("{prefix}.client_secret"), None, "missing: required with auth = \"oauth2\"");
                }
                let scope =
                    self.string(t, prefix, "scope").unwrap_or_else(|| "https://outlook.office365.com/.default".into());
                let tenant_id = self.string(t, prefix, "tenant_id");
                if let (Some(token_url), Some(client_id), Some(client_secret)) = (token_url, client_id, client_secret) {
                    oauth2 = Some(OAuth2Config { token_url, client_id, client_secret, scope, tenant_id });
                }
            }
            None => {}
        }
        let impersonation = self.boolean(t, prefix, "impersonation", true);
        let version_s = self.string(t, prefix, "server_version").unwrap_or_else(|| "Exchange2016".into());
        let server_version = match ExchangeVersion::from_text(&version_s) {
            Ok(v) => Some(v),
            Err(expected) => {
                self.problem(&format!("{prefix}.server_version"), Some(format!("{version_s:?}")), expected);
                None
            }
        };
        let ca_file = self.string(t, prefix, "ca_file").map(PathBuf::from);
        if let Some(p) = &ca_file
            && !p.is_file()
        {
            self.problem(
                &format!("{prefix}.ca_file"),
                Some(format!("{:?}", p.display().to_string())),
                "a readable PEM file",
            );
        }
        let proxy = self.string(t, prefix, "proxy").and_then(|u| self.url(&format!("{prefix}.proxy"), &u, &["http"]));
        let domains: Vec<String> =
            self.strings(t, prefix, "domains").into_iter().map(|d| d.to_ascii_lowercase()).collect();
        let max_concurrency = self.integer(t, prefix, "max_concurrency", 8, (1, 256)) as u32;
        let max_streaming_connections = self.integer(t, prefix, "max_streaming_connections", 10, (1, 1000)) as u32;
        if self.problems.len() > before {
            return None;
        }
        Some(ExchangeConfig {
            name: name?,
            ews_url,
            autodiscover_email,
            autodiscover_url,
            auth: auth?,
            username,
            password,
            oauth2,
            impersonation,
            server_version: server_version?,
            ca_file,
            proxy,
            domains,
            max_concurrency,
            max_streaming_connections,
        })
    }
}

/// The key prefix of problems found by [`ExchangeConfig::validated`] and
/// [`ExchangeConfig::from_stored_toml`]: `exchange.ews_url`, `exchange.password`, …
pub const ONE_EXCHANGE_PREFIX: &str = "exchange";

impl ExchangeConfig {
    /// The server as one `[[exchange]]` TOML table, **secrets in clear** (resolved values, not
    /// their `env:`/`file:` source): only for storage that encrypts it (the store's `secrets`
    /// table). Read back with [`ExchangeConfig::from_stored_toml`].
    pub fn to_toml_string(&self) -> String {
        let mut t = Table::new();
        let s = |v: &str| Value::String(v.to_owned());
        t.insert("name".into(), s(&self.name));
        if let Some(u) = &self.ews_url {
            t.insert("ews_url".into(), s(u.as_str()));
        }
        if let Some(e) = &self.autodiscover_email {
            t.insert("autodiscover_email".into(), s(e));
        }
        if let Some(u) = &self.autodiscover_url {
            t.insert("autodiscover_url".into(), s(u.as_str()));
        }
        t.insert("auth".into(), s(self.auth.as_str()));
        if let Some(u) = &self.username {
            t.insert("username".into(), s(u));
        }
        if let Some(p) = &self.password {
            t.insert("password".into(), s(p.expose()));
        }
        if let Some(o) = &self.oauth2 {
            t.insert("token_url".into(), s(o.token_url.as_str()));
            t.insert("client_id".into(), s(&o.client_id));
            t.insert("client_secret".into(), s(o.client_secret.expose()));
            t.insert("scope".into(), s(&o.scope));
            if let Some(tenant) = &o.tenant_id {
                t.insert("tenant_id".into(), s(tenant));
            }
        }
        t.insert("impersonation".into(), Value::Boolean(self.impersonation));
        t.insert("server_version".into(), s(&self.server_version.to_text()));
        if let Some(p) = &self.ca_file {
            t.insert("ca_file".into(), s(&p.to_string_lossy()));
        }
        if let Some(p) = &self.proxy {
            t.insert("proxy".into(), s(p.as_str()));
        }
        t.insert("domains".into(), Value::Array(self.domains.iter().map(|d| s(d)).collect()));
        t.insert("max_concurrency".into(), Value::Integer(i64::from(self.max_concurrency)));
        t.insert("max_streaming_connections".into(), Value::Integer(i64::from(self.max_streaming_connections)));
        t.to_string()
    }

    /// Reads one table written by [`ExchangeConfig::to_toml_string`], validated like the
    /// loader validates an `[[exchange]]` entry (problems keyed `exchange.<key>`); secrets are
    /// taken literally.
    pub fn from_stored_toml(text: &str) -> Result<ExchangeConfig, ConfigError> {
        let table: Table =
            toml::from_str(text).map_err(|e| ConfigError::Syntax { path: PathBuf::new(), message: e.to_string() })?;
        let mut r = Reader { problems: Vec::new(), env: BTreeMap::new(), literal_secrets: true };
        let x = r.exchange(&table, ONE_EXCHANGE_PREFIX);
        match x {
            Some(x) if r.problems.is_empty() => Ok(x),
            _ => Err(ConfigError::Invalid(r.problems)),
        }
    }

    /// This server checked as the configuration loader checks one `[[exchange]]` table (URL
    /// schemes, required keys per `auth`, value ranges, a readable `ca_file`, …), names
    /// normalised (lower-cased domains). Every problem names its key (`exchange.ews_url`).
    pub fn validated(&self) -> Result<ExchangeConfig, ConfigError> {
        Self::from_stored_toml(&self.to_toml_string())
    }
}

#[cfg(test)]
mod tests;
