use super::*;

const GOOD: &str = r#"
[server]
listen = "127.0.0.1:3001"
api_tokens = ["change-me-please"]
admin_password = "env:ADMIN_PW"
data_dir = "./data"

[store]
url = "sqlite://./data/exbridge.db"

[[exchange]]
name = "primary"
ews_url = "https://mail.contoso.com/EWS/Exchange.asmx"
auth = "ntlm"
username = "svc-exbridge@contoso.com"
password = "env:EXCHANGE_PASSWORD"
impersonation = true
server_version = "Exchange2016"
domains = ["Contoso.com"]
max_concurrency = 8

[directory]
source = "api"
refresh_interval = "10m"

[sync]
window_past_days = 30
window_future_days = 180
reconcile_interval = "15m"
oof_poll_interval = "60s"

[[webhooks]]
url = "https://app.contoso.com/exbridge/hook"
secret = "whsec-literal"
events = ["*"]
"#;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

fn problems(text: &str, e: &[(&str, &str)]) -> Vec<Problem> {
    match Config::from_toml_str(text, &env(e)) {
        Err(ConfigError::Invalid(p)) => p,
        other => panic!("expected validation problems, got {other:?}"),
    }
}

#[test]
fn contract_example_loads() {
    let c = Config::from_toml_str(GOOD, &env(&[("ADMIN_PW", "pw"), ("EXCHANGE_PASSWORD", "s3cret")])).unwrap();
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:3001");
    let x = &c.exchange[0];
    assert_eq!(x.auth, AuthMethod::Ntlm);
    assert_eq!(x.password.as_ref().unwrap().expose(), "s3cret");
    assert_eq!(x.password.as_ref().unwrap().source(), "env:EXCHANGE_PASSWORD");
    assert_eq!(x.domains, vec!["contoso.com"]);
    assert_eq!(c.directory.refresh_interval, Duration::from_secs(600));
    assert_eq!(c.sync.oof_poll_interval, Duration::from_secs(60));
    assert_eq!(c.webhooks[0].events, vec!["*"]);
    // Secrets never show in Debug output.
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("s3cret") && !dbg.contains("whsec-literal"), "{dbg}");
}

#[test]
fn environment_overrides_any_key() {
    let c = Config::from_toml_str(
        GOOD,
        &env(&[
            ("ADMIN_PW", "pw"),
            ("EXCHANGE_PASSWORD", "s3cret"),
            ("EXBRIDGE_SERVER__LISTEN", "127.0.0.1:4000"),
            ("EXBRIDGE_EXCHANGE__0__MAX_CONCURRENCY", "3"),
            ("EXBRIDGE_SYNC__WINDOW_FUTURE_DAYS", "90"),
            ("EXBRIDGE_EXCHANGE__0__PASSWORD", "from-env"),
        ]),
    )
    .unwrap();
    assert_eq!(c.server.listen.port(), 4000);
    assert_eq!(c.exchange[0].max_concurrency, 3);
    assert_eq!(c.sync.window_future_days, 90);
    assert_eq!(c.exchange[0].password.as_ref().unwrap().expose(), "from-env");
}

#[test]
fn every_bad_key_is_named_at_once() {
    let bad = GOOD
        .replace("auth = \"ntlm\"", "auth = \"kerberos\"")
        .replace("window_past_days = 30", "window_past_days = 45")
        .replace("refresh_interval = \"10m\"", "refresh_interval = \"soon\"\ncolour = \"blue\"")
        .replace("listen = \"127.0.0.1:3001\"", "listen = \"localhost\"");
    let p = problems(&bad, &[("ADMIN_PW", "pw"), ("EXCHANGE_PASSWORD", "x")]);
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    for k in
        ["exchange[0].auth", "sync.window_past_days", "directory.refresh_interval", "directory.colour", "server.listen"]
    {
        assert!(keys.contains(&k), "{k} not reported in {p:#?}");
    }
    let auth = p.iter().find(|p| p.key == "exchange[0].auth").unwrap();
    assert_eq!(auth.value.as_deref(), Some("\"kerberos\""));
    assert!(auth.expected.contains("ntlm"));
    let past = p.iter().find(|p| p.key == "sync.window_past_days").unwrap();
    assert!(past.expected.contains("0 to 30"), "{past}");
}

#[test]
fn missing_secret_source_is_named_without_leaking() {
    let p = problems(GOOD, &[("ADMIN_PW", "pw")]);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].key, "exchange[0].password");
    assert!(p[0].expected.contains("EXCHANGE_PASSWORD"));
    // A literal secret of the wrong type is reported without its value.
    let lit = GOOD.replace("secret = \"whsec-literal\"", "secret = 12345");
    let p = problems(&lit, &[("ADMIN_PW", "pw"), ("EXCHANGE_PASSWORD", "x")]);
    assert!(p.iter().all(|p| p.value.is_none() || !p.value.as_ref().unwrap().contains("12345")), "{p:#?}");
}

#[test]
fn file_secrets_are_read_and_trimmed() {
    let dir = std::env::temp_dir().join(format!("exbridge-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("pw");
    std::fs::write(&f, "from-file\n").unwrap();
    let text = GOOD.replace("env:EXCHANGE_PASSWORD", &format!("file:{}", f.display()));
    let c = Config::from_toml_str(&text, &env(&[("ADMIN_PW", "pw")])).unwrap();
    assert_eq!(c.exchange[0].password.as_ref().unwrap().expose(), "from-file");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn oauth2_and_autodiscover_servers() {
    let text = r#"
[server]
api_tokens = ["0123456789"]
[[exchange]]
name = "online"
autodiscover_email = "svc@contoso.com"
auth = "oauth2"
token_url = "https://login.example/token"
client_id = "abc"
client_secret = "shh"
"#;
    let c = Config::from_toml_str(text, &[]).unwrap();
    let x = &c.exchange[0];
    assert!(x.ews_url.is_none());
    assert_eq!(x.oauth2.as_ref().unwrap().client_id, "abc");
    let p = problems(&text.replace("client_id = \"abc\"\n", ""), &[]);
    assert_eq!(p[0].key, "exchange[0].client_id");
    let p = problems(&text.replace("autodiscover_email = \"svc@contoso.com\"\n", ""), &[]);
    assert_eq!(p[0].key, "exchange[0].ews_url");
    assert_eq!(x.autodiscover_url, None);
    assert_eq!(x.max_streaming_connections, 10);

    let with_url = text.replace(
        "auth = \"oauth2\"",
        "autodiscover_url = \"https://autodiscover.contoso.com/autodiscover/autodiscover.svc\"\nmax_streaming_connections = 3\nauth = \"oauth2\"",
    );
    let c = Config::from_toml_str(&with_url, &[]).unwrap();
    assert_eq!(
        c.exchange[0].autodiscover_url.as_ref().unwrap().as_str(),
        "https://autodiscover.contoso.com/autodiscover/autodiscover.svc"
    );
    assert_eq!(c.exchange[0].max_streaming_connections, 3);
    let p = problems(
        &with_url.replace(
            "https://autodiscover.contoso.com/autodiscover/autodiscover.svc",
            "ftp://autodiscover.contoso.com/x",
        ),
        &[],
    );
    assert_eq!(p[0].key, "exchange[0].autodiscover_url");
    let p = problems(&with_url.replace("max_streaming_connections = 3", "max_streaming_connections = 0"), &[]);
    assert_eq!(p[0].key, "exchange[0].max_streaming_connections");
    let p = problems(
        &with_url.replace("autodiscover_email = \"svc@contoso.com\"\n", "ews_url = \"https://m/EWS/Exchange.asmx\"\n"),
        &[],
    );
    assert_eq!(p[0].key, "exchange[0].autodiscover_email");
}

#[test]
fn syntax_errors_and_missing_exchange() {
    assert!(matches!(Config::from_toml_str("[server", &[]), Err(ConfigError::Syntax { .. })));
    let p = problems("[server]\n", &[]);
    assert_eq!(p[0].key, "exchange");
}

#[test]
fn durations() {
    assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
    assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
    assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
    assert!(parse_duration("0s").is_err());
    assert!(parse_duration("ten minutes").is_err());
}

#[test]
fn private_api_tokens_are_optional_secrets() {
    let c = Config::from_toml_str(GOOD, &env(&[("ADMIN_PW", "pw"), ("EXCHANGE_PASSWORD", "s3cret")])).unwrap();
    assert!(c.server.private_api_tokens.is_empty());
    assert_eq!(c.server.api_tokens.len(), 1);

    let text = GOOD.replace(
        r#"api_tokens = ["change-me-please"]"#,
        r#"api_tokens = ["change-me-please"]
private_api_tokens = ["env:PRIVATE_TOKEN"]"#,
    );
    let c = Config::from_toml_str(
        &text,
        &env(&[("ADMIN_PW", "pw"), ("EXCHANGE_PASSWORD", "s3cret"), ("PRIVATE_TOKEN", "private-token-1")]),
    )
    .unwrap();
    assert_eq!(c.server.private_api_tokens.len(), 1);
    assert_eq!(c.server.private_api_tokens[0].expose(), "private-token-1");
    assert_eq!(c.server.private_api_tokens[0].source(), "env:PRIVATE_TOKEN");

    let short = GOOD.replace(
        r#"api_tokens = ["change-me-please"]"#,
        r#"api_tokens = ["change-me-please"]
private_api_tokens = ["short"]"#,
    );
    let p = problems(&short, &[("ADMIN_PW", "pw"), ("EXCHANGE_PASSWORD", "s3cret")]);
    assert!(p.iter().any(|p| p.to_string().contains("server.private_api_tokens[0]")), "{p:?}");
}

const MAPPING: &str = r#"
[mapping]
[[mapping.categories]]
app = "customer-visit"
exchange = "Customer visit"
color = "preset4"
[[mapping.categories]]
app = "internal"
exchange = "Internal"
[mapping.priorities]
low = "Low"
normal = "Normal"
high = "High"
urgent = "High"
"#;

fn good_env() -> Vec<(String, String)> {
    env(&[("ADMIN_PW", "pw"), ("EXCHANGE_PASSWORD", "s3cret")])
}

#[test]
fn mapping_tables_load() {
    use ews_proto::items::Importance;
    let c = Config::from_toml_str(&format!("{GOOD}{MAPPING}"), &good_env()).unwrap();
    assert_eq!(
        c.mapping.categories,
        vec![
            CategoryMapping {
                app: "customer-visit".into(),
                exchange: "Customer visit".into(),
                color: CategoryColor::Preset(4)
            },
            CategoryMapping { app: "internal".into(), exchange: "Internal".into(), color: CategoryColor::None },
        ]
    );
    assert_eq!(
        c.mapping.priorities,
        vec![
            ("high".to_string(), Importance::High),
            ("low".to_string(), Importance::Low),
            ("normal".to_string(), Importance::Normal),
            ("urgent".to_string(), Importance::High),
        ]
    );
    // Absent: empty tables.
    let c = Config::from_toml_str(GOOD, &good_env()).unwrap();
    assert_eq!(c.mapping, MappingConfig::default());
}

#[test]
fn category_colors() {
    assert_eq!(CategoryColor::parse("none"), Some(CategoryColor::None));
    assert_eq!(CategoryColor::parse("preset0"), Some(CategoryColor::Preset(0)));
    assert_eq!(CategoryColor::parse("Preset24"), Some(CategoryColor::Preset(24)));
    assert_eq!(CategoryColor::parse("preset25"), None);
    assert_eq!(CategoryColor::parse("preset04"), None);
    assert_eq!(CategoryColor::parse("red"), None);
    assert_eq!(CategoryColor::Preset(7).list_value(), 7);
    assert_eq!(CategoryColor::None.list_value(), -1);
    assert_eq!(CategoryColor::Preset(7).name(), "preset7");
}

#[test]
fn bad_mapping_entries_are_named() {
    let bad = r#"
[mapping]
colour = "x"
[[mapping.categories]]
app = "a"
exchange = "A"
color = "red"
[[mapping.categories]]
app = "a"
exchange = "B"
[[mapping.categories]]
app = "b"
exchange = "a"
[[mapping.categories]]
exchange = "C"
shade = 1
[mapping.priorities]
urgent = "Critical"
low = 1
"#;
    let p = problems(&format!("{GOOD}{bad}"), &[("ADMIN_PW", "pw"), ("EXCHANGE_PASSWORD", "s3cret")]);
    let find = |key: &str| {
        p.iter().find(|p| p.key == key).unwrap_or_else(|| panic!("no problem for {key} in {p:#?}")).to_string()
    };
    assert!(find("mapping.colour").contains("unknown key"));
    let color = find("mapping.categories[0].color");
    assert!(color.contains("\"red\"") && color.contains("preset0 … preset24"), "{color}");
    let dup_app = find("mapping.categories[1].app");
    assert!(dup_app.contains("\"a\"") && dup_app.contains("mapping.categories[0]"), "{dup_app}");
    let dup_exchange = find("mapping.categories[2].exchange");
    assert!(dup_exchange.contains("\"a\"") && dup_exchange.contains("mapping.categories[0]"), "{dup_exchange}");
    assert!(find("mapping.categories[3].app").contains("missing"));
    assert!(find("mapping.categories[3].shade").contains("unknown key"));
    let urgent = find("mapping.priorities.urgent");
    assert!(urgent.contains("\"Critical\"") && urgent.contains("\"Low\", \"Normal\" or \"High\""), "{urgent}");
    assert!(find("mapping.priorities.low").contains("invalid value 1"));
    assert_eq!(p.len(), 8, "{p:#?}");
}

#[test]
fn one_exchange_table_round_trips_with_its_secrets_and_is_validated_like_the_loader() {
    let c = Config::from_toml_str(GOOD, &env(&[("ADMIN_PW", "pw"), ("EXCHANGE_PASSWORD", "env:looks-like-a-ref")]))
        .unwrap();
    let x = c.exchange[0].clone();
    let text = x.to_toml_string();
    assert!(text.contains("env:looks-like-a-ref"), "secrets are stored resolved: {text}");
    let back = ExchangeConfig::from_stored_toml(&text).unwrap();
    assert_eq!(back, x);
    assert_eq!(back.password.as_ref().unwrap().expose(), "env:looks-like-a-ref", "taken literally");
    assert_eq!(x.validated().unwrap(), x);

    let mut bad = x.clone();
    bad.ews_url = Some(url::Url::parse("ftp://mail.contoso.com/EWS/Exchange.asmx").unwrap());
    let err = bad.validated().unwrap_err().to_string();
    assert!(err.contains("exchange.ews_url"), "{err}");
    let mut bad = x.clone();
    bad.username = None;
    let err = bad.validated().unwrap_err().to_string();
    assert!(err.contains("exchange.username"), "{err}");
    assert!(!err.contains("looks-like-a-ref"), "no secret in errors: {err}");
}

#[test]
fn admin_ui_options() {
    let pairs = [("ADMIN_PW", "pw"), ("EXCHANGE_PASSWORD", "s3cret")];
    let base = env(&pairs);
    let c = Config::from_toml_str(GOOD, &base).unwrap();
    assert!(!c.server.ui_allow_remote && !c.server.ui_secure_cookie);

    let text =
        GOOD.replace("data_dir = \"./data\"", "data_dir = \"./data\"\nui_allow_remote = true\nui_secure_cookie = true");
    let c = Config::from_toml_str(&text, &base).unwrap();
    assert!(c.server.ui_allow_remote && c.server.ui_secure_cookie);

    let bad = GOOD.replace("data_dir = \"./data\"", "data_dir = \"./data\"\nui_allow_remote = \"yes\"");
    let p = problems(&bad, &pairs);
    assert!(
        p.iter().any(|p| p.to_string().contains("server.ui_allow_remote") && p.expected == "true or false"),
        "{p:?}"
    );

    // Remote access to a UI that is disabled (no admin_password) is a mistake worth naming.
    let no_ui = text.replace("admin_password = \"env:ADMIN_PW\"\n", "");
    let p = problems(&no_ui, &pairs);
    assert!(p.iter().any(|p| p.key == "server.ui_allow_remote" && p.expected.contains("admin_password")), "{p:?}");
}

#[test]
fn join_keywords_load_and_bad_ones_are_named() {
    let e = [("ADMIN_PW", "pw"), ("EXCHANGE_PASSWORD", "x")];
    let with = GOOD.replace(
        "oof_poll_interval = \"60s\"",
        "oof_poll_interval = \"60s\"\njoin_keywords = { \"@webex\" = \"webex\", \"@meet\" = \"google_meet\" }",
    );
    let c = Config::from_toml_str(&with, &env(&e)).unwrap();
    assert_eq!(
        c.sync.join_keywords,
        vec![("@meet".to_string(), "google_meet".to_string()), ("@webex".to_string(), "webex".to_string())]
    );
    let none = Config::from_toml_str(GOOD, &env(&e)).unwrap();
    assert!(none.sync.join_keywords.is_empty());

    let bad = GOOD.replace(
        "oof_poll_interval = \"60s\"",
        "oof_poll_interval = \"60s\"\njoin_keywords = { \"\" = \"webex\", \"@zoom\" = \"Zoom Meetings\", \"@x\" = 3 }",
    );
    let p = problems(&bad, &e);
    let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&"sync.join_keywords"), "{p:#?}");
    assert!(keys.contains(&"sync.join_keywords.\"@zoom\""), "{p:#?}");
    assert!(keys.contains(&"sync.join_keywords.\"@x\""), "{p:#?}");
    let not_table =
        GOOD.replace("oof_poll_interval = \"60s\"", "oof_poll_interval = \"60s\"\njoin_keywords = \"@webex\"");
    let p = problems(&not_table, &e);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].key, "sync.join_keywords");
}
