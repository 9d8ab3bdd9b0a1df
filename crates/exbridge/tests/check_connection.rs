//! `exbridge check-connection` as a user runs it: the binary against the simulator (Basic,
//! NTLM, OAuth2), and the precise cause for a bad password, an unknown host, an untrusted
//! certificate, a wrong EWS path, a refused connection, a failed Autodiscover; exit codes 0/1/2.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use exbridge_sim::config::{SimConfig, TlsFiles};
use exbridge_sim::server::RunningSim;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

static N: AtomicU32 = AtomicU32::new(0);

fn temp_dir() -> PathBuf {
    let d =
        std::env::temp_dir().join(format!("exbridge-cc-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes a configuration with these `[[exchange]]` sections.
fn config(dir: &std::path::Path, exchange: &str) -> PathBuf {
    let p = dir.join("exbridge.toml");
    std::fs::write(&p, format!("[server]\napi_tokens = [\"0123456789abcdef\"]\n\n{exchange}")).unwrap();
    p
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn check_connection(path: &std::path::Path) -> Run {
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_exbridge"))
            .args(["check-connection", "--config"])
            .arg(path)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("check-connection took too long")
    .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn sim() -> RunningSim {
    exbridge_sim::server::start(SimConfig::for_tests()).await.unwrap()
}

/// The lines of one server's report: `name: STATUS` and its indented fields.
fn block(stdout: &str, name: &str) -> String {
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with(&format!("{name}: ")));
    let first = lines.next().unwrap_or_else(|| panic!("no {name} in\n{stdout}"));
    let mut out = format!("{first}\n");
    for l in lines.take_while(|l| l.starts_with("  ")) {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// `  key:        value` as the report writes a field.
fn field(key: &str, value: &str) -> String {
    format!("  {:<14}{value}", format!("{key}:"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_simulator_reports_version_auth_and_latency() {
    let sim = sim().await;
    let dir = temp_dir();
    let ews = sim.ews_url();
    let path = config(
        &dir,
        &format!(
            r#"
[[exchange]]
name = "basic"
ews_url = "{ews}"
auth = "basic"
username = "svc@contoso.test"
password = "secret"

[[exchange]]
name = "ntlm"
ews_url = "{ews}"
auth = "ntlm"
username = "CONTOSO\\svc"
password = "env:EXBRIDGE_TEST_PW"

[[exchange]]
name = "oauth"
ews_url = "{ews}"
auth = "oauth2"
token_url = "{base}/sim/oauth2/token"
client_id = "svc@contoso.test"
client_secret = "secret"
scope = ""
"#,
            base = sim.base_url()
        ),
    );
    // The NTLM password comes from the environment, as `env:` says.
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_exbridge"))
            .args(["check-connection", "--config"])
            .arg(&path)
            .env("EXBRIDGE_TEST_PW", "secret")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for (name, auth) in [
        ("basic", "Basic as svc@contoso.test"),
        ("ntlm", "NTLM as CONTOSO\\svc"),
        ("oauth", "OAuth2 as svc@contoso.test"),
    ] {
        let b = block(&stdout, name);
        assert!(b.starts_with(&format!("{name}: OK\n")), "{b}");
        assert!(b.contains(&field("auth", auth)), "{b}");
        assert!(b.contains(&field("version", "Exchange 2016 (15.1.2507.6, V2017_07_11)")), "{b}");
        assert!(b.contains(&field("latency", "")) && b.contains(" ms\n"), "{b}");
        assert!(b.contains(&field("url", &ews)), "{b}");
    }
    assert!(stdout.ends_with("3 of 3 Exchange server(s) OK\n"), "{stdout}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_failure_names_the_server_and_the_precise_cause() {
    let sim = sim().await;
    // A TLS simulator whose self-signed certificate nobody trusts.
    let dir = temp_dir();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let mut tls_cfg = SimConfig::for_tests();
    tls_cfg.tls = Some(TlsFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem") });
    let tls_sim = exbridge_sim::server::start(tls_cfg).await.unwrap();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();

    let ews = sim.ews_url();
    let path = config(
        &dir,
        &format!(
            r#"
[[exchange]]
name = "good"
ews_url = "{ews}"
auth = "basic"
username = "svc@contoso.test"
password = "secret"

[[exchange]]
name = "bad-password"
ews_url = "{ews}"
auth = "ntlm"
username = "CONTOSO\\svc"
password = "wrong"

[[exchange]]
name = "unknown-host"
ews_url = "https://mail.exbridge-test.invalid/EWS/Exchange.asmx"
auth = "basic"
username = "svc@contoso.test"
password = "secret"

[[exchange]]
name = "untrusted"
ews_url = "https://localhost:{tls_port}/EWS/Exchange.asmx"
auth = "basic"
username = "svc@contoso.test"
password = "secret"

[[exchange]]
name = "wrong-path"
ews_url = "{base}/EWS/Exchange2.asmx"
auth = "basic"
username = "svc@contoso.test"
password = "secret"

[[exchange]]
name = "refused"
ews_url = "http://127.0.0.1:{closed_port}/EWS/Exchange.asmx"
auth = "basic"
username = "svc@contoso.test"
password = "secret"

[[exchange]]
name = "no-autodiscover"
autodiscover_email = "svc@contoso.test"
autodiscover_url = "http://127.0.0.1:{closed_port}/autodiscover/autodiscover.svc"
auth = "basic"
username = "svc@contoso.test"
password = "secret"
"#,
            base = sim.base_url(),
            tls_port = tls_sim.addr().port(),
        ),
    );
    let run = check_connection(&path).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let out = &run.stdout;
    assert!(block(out, "good").starts_with("good: OK\n"), "{out}");
    let expect = [
        (
            "bad-password",
            "401 Unauthorized (wrong credentials or method): 401 Unauthorized for CONTOSO\\svc using NTLM",
        ),
        ("unknown-host", "DNS failure: DNS lookup of mail.exbridge-test.invalid failed"),
        (
            "untrusted",
            "TLS problem: the certificate of localhost is not trusted (unknown issuer): add the issuing CA certificate (PEM) to ca_file",
        ),
        ("wrong-path", "wrong EWS path (404): 404 Not Found at "),
        ("refused", "connection refused: cannot connect to 127.0.0.1:"),
        ("no-autodiscover", "connection refused: Autodiscover for svc@contoso.test failed"),
    ];
    for (name, cause) in expect {
        let b = block(out, name);
        assert!(b.starts_with(&format!("{name}: FAILED\n")), "{b}");
        assert!(b.contains(&field("cause", cause)), "{name}: want {cause:?} in\n{b}");
    }
    assert!(out.ends_with("1 of 7 Exchange server(s) OK\n"), "{out}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn autodiscover_finds_the_ews_url_first() {
    let sim = sim().await;
    // An Autodiscover endpoint that points at the simulator's EWS.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ad_port = listener.local_addr().unwrap().port();
    let ews = sim.ews_url();
    let response = {
        use ews_proto::autodiscover::{
            AutodiscoverServerVersionInfo, GetUserSettingsResponseMessage, UserResponse, settings, soap_response,
        };
        let user = UserResponse::with_settings([
            (settings::EXTERNAL_EWS_URL, ews.as_str()),
            (settings::GROUPING_INFORMATION, "G1"),
        ]);
        soap_response(GetUserSettingsResponseMessage::for_user(user), AutodiscoverServerVersionInfo::default())
            .to_xml_string()
    };
    let server = tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else { return };
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = tcp.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf);
                    if let Some(h) = text.find("\r\n\r\n") {
                        let len: usize = text[..h]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buf.len() >= h + 4 + len {
                            break;
                        }
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{response}",
                    response.len()
                );
                let _ = tcp.write_all(reply.as_bytes()).await;
            });
        }
    });
    let dir = temp_dir();
    let path = config(
        &dir,
        &format!(
            r#"
[[exchange]]
name = "discovered"
autodiscover_email = "user1@contoso.test"
autodiscover_url = "http://127.0.0.1:{ad_port}/autodiscover/autodiscover.svc"
auth = "basic"
username = "svc@contoso.test"
password = "secret"
"#
        ),
    );
    let run = check_connection(&path).await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let b = block(&run.stdout, "discovered");
    assert!(
        b.contains(&field(
            "autodiscover",
            &format!("{ews} via SOAP http://127.0.0.1:{ad_port}/autodiscover/autodiscover.svc in ")
        )),
        "{b}"
    );
    assert!(b.contains(&field("url", &ews)), "{b}");
    assert!(b.contains(&field("version", "Exchange 2016")), "{b}");
    server.abort();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_errors_exit_with_2() {
    let dir = temp_dir();
    let path = config(&dir, "[[exchange]]\nname = \"x\"\nauth = \"kerberos\"\n");
    let run = check_connection(&path).await;
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("exchange[0].auth"), "{}", run.stderr);
    let run = check_connection(&dir.join("missing.toml")).await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("cannot read"), "{}", run.stderr);
    // A CA file the client cannot use is a configuration error too.
    std::fs::write(dir.join("not-a-ca.pem"), "hello").unwrap();
    let path = config(
        &dir,
        &format!(
            "[[exchange]]\nname = \"x\"\news_url = \"https://localhost:1/EWS/Exchange.asmx\"\nauth = \"basic\"\nusername = \"u\"\npassword = \"p\"\nca_file = \"{}\"\n",
            dir.join("not-a-ca.pem").display()
        ),
    );
    let run = check_connection(&path).await;
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("x: CONFIGURATION ERROR") && run.stdout.contains("no PEM certificate"),
        "{}",
        run.stdout
    );
    let _ = std::fs::remove_dir_all(dir);
}
