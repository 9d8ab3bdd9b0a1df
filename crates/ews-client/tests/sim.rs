//! The client end to end against the simulator (`exbridge-sim`): Basic, NTLMv2 and OAuth2
//! sign-in, wrong passwords, TLS with a private CA, a CONNECT proxy, and the throttling
//! faults of the control API (`/sim/faults`, `/sim/stats`).
//!
//! The probe is `check_connection` (GetFolder of the root folder): it succeeds as soon as the
//! server answers in SOAP, whether or not the simulator implements GetFolder yet.

mod support;

use support::simctl::{fault, stats};

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ews_client::{AuthConfig, ErrorClass, ErrorKind, EwsClient, OAuth2Config, ProxyConfig, ServerConfig};
use exbridge_sim::config::{SimConfig, TlsFiles};
use exbridge_sim::server::RunningSim;
use secrecy::SecretString;

const LIMIT: Duration = Duration::from_secs(60);

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f).await.expect("test took too long")
}

async fn sim(cfg: SimConfig) -> RunningSim {
    exbridge_sim::server::start(cfg).await.unwrap()
}

fn config(sim: &RunningSim, auth: AuthConfig) -> ServerConfig {
    // `localhost` rather than the IP, so that TLS names match the test certificate.
    let url = format!(
        "{}://localhost:{}/EWS/Exchange.asmx",
        if sim.base_url().starts_with("https") { "https" } else { "http" },
        sim.addr().port()
    );
    let mut c = ServerConfig::new("sim", url.parse().unwrap(), auth);
    c.throttle.retry_base = Duration::from_millis(10);
    c.timeouts.request = Duration::from_secs(10);
    c
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s)
}

#[tokio::test]
async fn every_auth_method_signs_in() {
    bounded(async {
        let sim = sim(SimConfig::for_tests()).await;
        let basic = AuthConfig::Basic { username: "svc@contoso.test".into(), password: secret("secret") };
        let ntlm_upn = AuthConfig::Ntlm { username: "svc@contoso.test".into(), password: secret("secret") };
        let ntlm_down_level = AuthConfig::Ntlm { username: "CONTOSO\\svc".into(), password: secret("secret") };
        let oauth = AuthConfig::OAuth2(OAuth2Config {
            token_url: format!("http://localhost:{}/sim/oauth2/token", sim.addr().port()).parse().unwrap(),
            client_id: "svc@contoso.test".into(),
            client_secret: secret("secret"),
            scope: "https://outlook.office365.com/.default".into(),
        });
        for auth in [basic, ntlm_upn, ntlm_down_level, oauth] {
            let method = auth.method();
            let client = EwsClient::new(config(&sim, auth)).unwrap();
            for _ in 0..3 {
                let check = client.check_connection(None).await.unwrap_or_else(|e| panic!("{method}: {e}"));
                assert_eq!(check.auth_method, method);
                let v = check.server_version.expect("ServerVersionInfo");
                assert_eq!((v.major_version, v.minor_version), (Some(15), Some(1)));
            }
            assert_eq!(client.stats().connections_opened, 1, "{method}: one kept-alive connection");
        }
        let s = stats(&sim).await;
        assert_eq!(s["auth_failures"], serde_json::json!({}), "{s}");
        assert_eq!(s["tokens_issued"], 1);
        assert_eq!(s["requests"]["GetFolder"], 12, "{s}");
    })
    .await;
}

#[tokio::test]
async fn wrong_passwords_name_account_and_method() {
    bounded(async {
        let sim = sim(SimConfig::for_tests()).await;
        for auth in [
            AuthConfig::Basic { username: "svc@contoso.test".into(), password: secret("bad") },
            AuthConfig::Ntlm { username: "CONTOSO\\svc".into(), password: secret("bad") },
        ] {
            let (account, method) = (auth.account().to_string(), auth.method());
            let e = EwsClient::new(config(&sim, auth)).unwrap().check_connection(None).await.unwrap_err();
            assert_eq!((e.class(), e.kind().clone()), (ErrorClass::Fatal, ErrorKind::Unauthorized));
            let msg = e.to_string();
            assert!(msg.contains(&format!("401 Unauthorized for {account} using {method}")), "{msg}");
        }
        let oauth = AuthConfig::OAuth2(OAuth2Config {
            token_url: format!("http://localhost:{}/sim/oauth2/token", sim.addr().port()).parse().unwrap(),
            client_id: "svc@contoso.test".into(),
            client_secret: secret("bad"),
            scope: String::new(),
        });
        let e = EwsClient::new(config(&sim, oauth)).unwrap().check_connection(None).await.unwrap_err();
        assert_eq!((e.class(), e.kind().clone()), (ErrorClass::Fatal, ErrorKind::OAuth));
        assert!(e.to_string().contains("client svc@contoso.test"), "{e}");
    })
    .await;
}

#[tokio::test]
async fn oauth2_token_is_refreshed_before_it_expires() {
    bounded(async {
        let mut cfg = SimConfig::for_tests();
        cfg.token_lifetime = Duration::from_secs(2);
        let sim = sim(cfg).await;
        let oauth = AuthConfig::OAuth2(OAuth2Config {
            token_url: format!("http://localhost:{}/sim/oauth2/token", sim.addr().port()).parse().unwrap(),
            client_id: "svc@contoso.test".into(),
            client_secret: secret("secret"),
            scope: String::new(),
        });
        let client = EwsClient::new(config(&sim, oauth)).unwrap();
        client.check_connection(None).await.unwrap();
        client.check_connection(None).await.unwrap();
        assert_eq!(stats(&sim).await["tokens_issued"], 1);
        tokio::time::sleep(Duration::from_millis(1900)).await;
        client.check_connection(None).await.unwrap();
        let s = stats(&sim).await;
        assert_eq!(s["tokens_issued"], 2);
        assert_eq!(s["auth_failures"], serde_json::json!({}), "refreshed before the old one was refused: {s}");
    })
    .await;
}

#[tokio::test]
async fn server_busy_pauses_the_whole_server() {
    bounded(async {
        let sim = sim(SimConfig::for_tests()).await;
        let auth = AuthConfig::Ntlm { username: "svc@contoso.test".into(), password: secret("secret") };
        let client = EwsClient::new(config(&sim, auth)).unwrap();
        client.check_connection(None).await.unwrap();
        fault(&sim, r#"{"kind":"server_busy","count":1,"backoff_ms":800}"#).await;
        let started = Instant::now();
        let first = {
            let c = client.clone();
            tokio::spawn(async move { c.check_connection(None).await })
        };
        // While the server is paused, other calls queue instead of being sent.
        while client.stats().paused_for.is_zero() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let others: Vec<_> = (0..4)
            .map(|_| {
                let c = client.clone();
                tokio::spawn(async move { c.check_connection(None).await })
            })
            .collect();
        first.await.unwrap().unwrap();
        for o in others {
            o.await.unwrap().unwrap();
        }
        assert!(started.elapsed() >= Duration::from_millis(800));
        let s = stats(&sim).await;
        assert_eq!(s["faults_served"]["server_busy"], 1, "{s}");
        assert_eq!(s["requests_during_backoff"], 0, "{s}");
    })
    .await;
}

#[tokio::test]
async fn http_503_with_retry_after_is_honoured() {
    bounded(async {
        let sim = sim(SimConfig::for_tests()).await;
        let auth = AuthConfig::Basic { username: "svc@contoso.test".into(), password: secret("secret") };
        let client = EwsClient::new(config(&sim, auth)).unwrap();
        fault(&sim, r#"{"kind":"http_status","status":503,"count":2,"retry_after_secs":1}"#).await;
        let started = Instant::now();
        client.check_connection(None).await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(2), "two 503s, one second each");
        let s = stats(&sim).await;
        assert_eq!(s["faults_served"]["http_status"], 2, "{s}");
        assert_eq!(s["requests_during_backoff"], 0, "{s}");
        assert_eq!(client.stats().concurrency_limit, 2, "8 halved twice");
    })
    .await;
}

#[tokio::test]
async fn tls_with_a_private_ca_and_a_proxy() {
    bounded(async {
        let pki = support::pki(&["localhost"], false);
        let dir = std::env::temp_dir().join(format!("ews-client-sim-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key, ca) = (dir.join("cert.pem"), dir.join("key.pem"), dir.join("ca.pem"));
        std::fs::write(&cert, &pki.leaf_pem).unwrap();
        std::fs::write(&key, &pki.key_pem).unwrap();
        std::fs::write(&ca, &pki.ca_pem).unwrap();
        let mut cfg = SimConfig::for_tests();
        cfg.tls = Some(TlsFiles { cert: cert.clone(), key: key.clone() });
        let sim = sim(cfg).await;
        let ntlm = || AuthConfig::Ntlm { username: "CONTOSO\\svc".into(), password: secret("secret") };

        // Not trusted without the CA.
        let e = EwsClient::new(config(&sim, ntlm())).unwrap().check_connection(None).await.unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Tls);
        assert!(e.to_string().contains("unknown issuer"), "{e}");

        // Trusted with it, directly and through an authenticating proxy.
        let mut c = config(&sim, ntlm());
        c.ca_files = vec![ca.clone()];
        let client = EwsClient::new(c).unwrap();
        client.check_connection(None).await.unwrap();

        let proxy = support::TestProxy::start("proxyuser", "proxypass").await;
        let mut c = config(&sim, ntlm());
        c.ca_files = vec![ca.clone()];
        c.proxy = Some(ProxyConfig::parse(&format!("http://proxyuser:proxypass@{}", proxy.addr)).unwrap());
        let client = EwsClient::new(c).unwrap();
        for _ in 0..3 {
            client.check_connection(None).await.unwrap();
        }
        assert_eq!(proxy.connects.load(Ordering::SeqCst), 1);
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}
