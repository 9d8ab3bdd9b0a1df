//! The client against a loopback stand-in server: auth methods, TLS, proxy, reuse, gzip,
//! throttling and error mapping. Every test is bounded by a timeout.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ews_client::{AuthConfig, ErrorClass, ErrorKind, EwsClient, OAuth2Config, ProxyConfig, ServerConfig};
use ews_proto::SmtpAddress;
use secrecy::SecretString;
use support::*;

const LIMIT: Duration = Duration::from_secs(30);

fn mbx(n: u32) -> SmtpAddress {
    SmtpAddress::parse(&format!("user{n}@contoso.test")).unwrap()
}

fn basic(user: &str, pass: &str) -> AuthConfig {
    AuthConfig::Basic { username: user.into(), password: SecretString::from(pass) }
}

fn ntlm(user: &str, pass: &str) -> AuthConfig {
    AuthConfig::Ntlm { username: user.into(), password: SecretString::from(pass) }
}

fn config(url: url::Url, auth: AuthConfig) -> ServerConfig {
    let mut c = ServerConfig::new("test", url, auth);
    c.throttle.retry_base = Duration::from_millis(10);
    c.throttle.retry_max = Duration::from_millis(50);
    c.timeouts.connect = Duration::from_secs(5);
    c.timeouts.request = Duration::from_secs(10);
    c
}

async fn probe(client: &EwsClient, mailbox: &SmtpAddress) -> Result<(), ews_client::EwsError> {
    client.call(Some(mailbox), probe_op()).await.map(|_| ())
}

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f).await.expect("test took too long")
}

fn basic_server(handler: Handler) -> ServerOpts {
    ServerOpts::new(ServerAuth::Basic { user: "svc@contoso.test".into(), pass: "secret".into() }, handler)
}

#[tokio::test]
async fn basic_auth_headers_and_connection_reuse() {
    bounded(async {
        let server = TestServer::start(basic_server(always_ok())).await;
        let client = EwsClient::new(config(server.ews_url(), basic("svc@contoso.test", "secret"))).unwrap();
        for i in 0..5 {
            probe(&client, &mbx(i)).await.unwrap();
        }
        assert_eq!(server.accepts(), 1, "5 sequential calls share one TCP connection");
        assert_eq!(client.stats().connections_opened, 1);
        let reqs = server.requests();
        assert_eq!(reqs.len(), 5);
        let r = &reqs[3];
        assert_eq!(r.path, "/EWS/Exchange.asmx");
        assert_eq!(r.headers["x-anchormailbox"], "user3@contoso.test");
        assert_eq!(r.headers["content-type"], "text/xml; charset=utf-8");
        assert!(r.headers["soapaction"].to_str().unwrap().ends_with("/messages/GetFolder\""));
        assert!(r.body.contains(r#"<t:RequestServerVersion Version="Exchange2016"/>"#), "{}", r.body);
        assert!(
            r.body.contains(
                "<t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>user3@contoso.test</t:SmtpAddress>"
            ),
            "{}",
            r.body
        );
        let version = client.server_version().unwrap();
        assert_eq!(version.major_version, Some(15));
    })
    .await;
}

#[tokio::test]
async fn without_impersonation_the_anchor_is_still_sent() {
    bounded(async {
        let server = TestServer::start(basic_server(always_ok())).await;
        let mut cfg = config(server.ews_url(), basic("svc@contoso.test", "secret"));
        cfg.impersonation = false;
        let client = EwsClient::new(cfg).unwrap();
        probe(&client, &mbx(7)).await.unwrap();
        client.call(None, probe_op()).await.unwrap();
        let reqs = server.requests();
        assert!(!reqs[0].body.contains("ExchangeImpersonation"));
        assert_eq!(reqs[0].headers["x-anchormailbox"], "user7@contoso.test");
        // Without a target mailbox, the account's own address is the anchor.
        assert_eq!(reqs[1].headers["x-anchormailbox"], "svc@contoso.test");
    })
    .await;
}

#[tokio::test]
async fn basic_wrong_password_names_account_and_method() {
    bounded(async {
        let server = TestServer::start(basic_server(always_ok())).await;
        let client = EwsClient::new(config(server.ews_url(), basic("svc@contoso.test", "wrong"))).unwrap();
        let e = probe(&client, &mbx(1)).await.unwrap_err();
        assert_eq!(e.class(), ErrorClass::Fatal);
        assert_eq!(*e.kind(), ErrorKind::Unauthorized);
        let msg = e.to_string();
        assert!(msg.contains("401 Unauthorized for svc@contoso.test using Basic at http://localhost:"), "{msg}");
        assert!(!msg.contains("wrong"), "the password never appears: {msg}");
    })
    .await;
}

fn ntlm_server(handler: Handler) -> ServerOpts {
    ServerOpts::new(
        ServerAuth::Ntlm { user: "CONTOSO\\svc".into(), pass: "Passw0rd!".into(), negotiate_only: false },
        handler,
    )
}

#[tokio::test]
async fn ntlm_authenticates_the_connection_once() {
    bounded(async {
        let server = TestServer::start(ntlm_server(always_ok())).await;
        let client = EwsClient::new(config(server.ews_url(), ntlm("CONTOSO\\svc", "Passw0rd!"))).unwrap();
        for i in 0..5 {
            probe(&client, &mbx(i)).await.unwrap();
        }
        assert_eq!(server.accepts(), 1);
        assert_eq!(server.state.ntlm_handshakes.load(Ordering::SeqCst), 1);
        let reqs = server.requests();
        assert_eq!(reqs.len(), 5, "the authenticate leg carries the first real request");
        assert!(reqs[0].headers["authorization"].to_str().unwrap().starts_with("NTLM "));
        assert!(reqs[1].headers.get("authorization").is_none(), "an authenticated connection needs no header");
    })
    .await;
}

#[tokio::test]
async fn ntlm_reauthenticates_once_when_the_server_forgets() {
    bounded(async {
        let server = TestServer::start(ntlm_server(always_ok())).await;
        let client = EwsClient::new(config(server.ews_url(), ntlm("CONTOSO\\svc", "Passw0rd!"))).unwrap();
        probe(&client, &mbx(1)).await.unwrap();
        server.state.forget_ntlm_once.store(true, Ordering::SeqCst);
        probe(&client, &mbx(2)).await.unwrap();
        assert_eq!(server.state.ntlm_handshakes.load(Ordering::SeqCst), 2);
        assert_eq!(server.accepts(), 1);
    })
    .await;
}

#[tokio::test]
async fn ntlm_wrong_password_names_account_and_method() {
    bounded(async {
        let server = TestServer::start(ntlm_server(always_ok())).await;
        let client = EwsClient::new(config(server.ews_url(), ntlm("CONTOSO\\svc", "nope"))).unwrap();
        let e = probe(&client, &mbx(1)).await.unwrap_err();
        assert_eq!(e.class(), ErrorClass::Fatal);
        assert_eq!(*e.kind(), ErrorKind::Unauthorized);
        let msg = e.to_string();
        assert!(msg.contains("401 Unauthorized for CONTOSO\\svc using NTLM at http://localhost:"), "{msg}");
        assert!(msg.contains("check the user name"), "{msg}");
        assert!(server.requests().is_empty());
    })
    .await;
}

#[tokio::test]
async fn ntlm_under_negotiate_only() {
    bounded(async {
        let opts = ServerOpts::new(
            ServerAuth::Ntlm { user: "svc@contoso.test".into(), pass: "pw".into(), negotiate_only: true },
            always_ok(),
        );
        let server = TestServer::start(opts).await;
        let client = EwsClient::new(config(server.ews_url(), ntlm("svc@contoso.test", "pw"))).unwrap();
        probe(&client, &mbx(1)).await.unwrap();
        probe(&client, &mbx(2)).await.unwrap();
        assert!(server.requests()[0].headers["authorization"].to_str().unwrap().starts_with("Negotiate "));
        assert_eq!(server.state.ntlm_handshakes.load(Ordering::SeqCst), 1);
    })
    .await;
}

fn write_ca(pem: &str) -> tempfile_path::TempPath {
    tempfile_path::TempPath::with(pem)
}

/// A file in the target's temp dir, removed on drop (no tempfile crate needed).
mod tempfile_path {
    pub struct TempPath(pub std::path::PathBuf);
    impl TempPath {
        pub fn with(content: &str) -> TempPath {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let p = std::env::temp_dir().join(format!("ews-client-test-{}-{n}.pem", std::process::id()));
            std::fs::write(&p, content).unwrap();
            TempPath(p)
        }
    }
    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[tokio::test]
async fn ntlm_over_tls_with_channel_binding_and_private_ca() {
    bounded(async {
        let pki = pki(&["localhost"], false);
        let mut opts = ntlm_server(always_ok());
        opts.tls = Some(pki.server.clone());
        // The server checks the channel binding against its own certificate.
        opts.cert_der = Some(pki.leaf_der.clone());
        let server = TestServer::start(opts).await;
        let ca = write_ca(&pki.ca_pem);
        let mut cfg = config(server.ews_url(), ntlm("CONTOSO\\svc", "Passw0rd!"));
        cfg.ca_files = vec![ca.0.clone()];
        let client = EwsClient::new(cfg).unwrap();
        for i in 0..3 {
            probe(&client, &mbx(i)).await.unwrap();
        }
        assert_eq!(server.accepts(), 1);
        assert_eq!(server.state.ntlm_handshakes.load(Ordering::SeqCst), 1);
    })
    .await;
}

#[tokio::test]
async fn ntlm_channel_binding_mismatch_is_refused() {
    // The stand-in checks the binding against another certificate, as a TLS-terminating
    // middlebox would make Exchange do: the handshake must fail (so the positive test above
    // really checks the client's binding).
    bounded(async {
        let pki = pki(&["localhost"], false);
        let other = support::pki(&["localhost"], false);
        let mut opts = ntlm_server(always_ok());
        opts.tls = Some(pki.server.clone());
        opts.cert_der = Some(other.leaf_der.clone());
        let server = TestServer::start(opts).await;
        let ca = write_ca(&pki.ca_pem);
        let mut cfg = config(server.ews_url(), ntlm("CONTOSO\\svc", "Passw0rd!"));
        cfg.ca_files = vec![ca.0.clone()];
        let e = probe(&EwsClient::new(cfg).unwrap(), &mbx(1)).await.unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Unauthorized);
        assert!(e.to_string().contains("channel binding"), "{e}");
    })
    .await;
}

#[tokio::test]
async fn tls_errors_name_the_certificate_problem() {
    bounded(async {
        // Untrusted: no ca_file.
        let pki1 = pki(&["localhost"], false);
        let mut opts = basic_server(always_ok());
        opts.tls = Some(pki1.server.clone());
        let server = TestServer::start(opts).await;
        let client = EwsClient::new(config(server.ews_url(), basic("svc@contoso.test", "secret"))).unwrap();
        let e = probe(&client, &mbx(1)).await.unwrap_err();
        assert_eq!((e.class(), e.kind().clone()), (ErrorClass::Fatal, ErrorKind::Tls));
        assert!(e.to_string().contains("unknown issuer"), "{e}");
        assert!(e.to_string().contains("ca_file"), "{e}");

        // Trusted CA, wrong name.
        let pki2 = pki(&["mail.other.test"], false);
        let mut opts = basic_server(always_ok());
        opts.tls = Some(pki2.server.clone());
        let server2 = TestServer::start(opts).await;
        let ca2 = write_ca(&pki2.ca_pem);
        let mut cfg = config(server2.ews_url(), basic("svc@contoso.test", "secret"));
        cfg.ca_files = vec![ca2.0.clone()];
        let e = probe(&EwsClient::new(cfg).unwrap(), &mbx(1)).await.unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Tls);
        assert!(e.to_string().contains("name mismatch"), "{e}");

        // Trusted CA, expired certificate.
        let pki3 = pki(&["localhost"], true);
        let mut opts = basic_server(always_ok());
        opts.tls = Some(pki3.server.clone());
        let server3 = TestServer::start(opts).await;
        let ca3 = write_ca(&pki3.ca_pem);
        let mut cfg = config(server3.ews_url(), basic("svc@contoso.test", "secret"));
        cfg.ca_files = vec![ca3.0.clone()];
        let e = probe(&EwsClient::new(cfg).unwrap(), &mbx(1)).await.unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Tls);
        assert!(e.to_string().contains("expired"), "{e}");

        // A CA file without certificates is a configuration error at construction.
        let junk = write_ca("not a certificate");
        let mut cfg = config(server.ews_url(), basic("svc@contoso.test", "secret"));
        cfg.ca_files = vec![junk.0.clone()];
        let e = EwsClient::new(cfg).unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("ca_file"), "{e}");
    })
    .await;
}

fn oauth(server: &TestServer, secret: &str) -> AuthConfig {
    AuthConfig::OAuth2(OAuth2Config {
        token_url: format!("{}/token", server.base()).parse().unwrap(),
        client_id: "app-1".into(),
        client_secret: SecretString::from(secret),
        scope: "https://outlook.office365.com/.default".into(),
    })
}

fn bearer_server(expires_in: u64) -> ServerOpts {
    ServerOpts::new(
        ServerAuth::Bearer { client_id: "app-1".into(), client_secret: "s3cr3t".into(), expires_in },
        always_ok(),
    )
}

#[tokio::test]
async fn oauth2_token_is_reused_and_fetched_once_under_concurrency() {
    bounded(async {
        let server = TestServer::start(bearer_server(3600)).await;
        let client = EwsClient::new(config(server.ews_url(), oauth(&server, "s3cr3t"))).unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let c = client.clone();
                tokio::spawn(async move { c.call(Some(&mbx(i)), probe_op()).await.map(|_| ()) })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        for i in 0..3 {
            probe(&client, &mbx(i)).await.unwrap();
        }
        assert_eq!(server.state.tokens_issued.load(Ordering::SeqCst), 1, "single flight, then cached");
        assert_eq!(client.stats().tokens_fetched, 1);
        assert_eq!(server.requests()[0].headers["authorization"], "Bearer tok-1");
        assert!(server.requests()[0].body.contains("ExchangeImpersonation"));
    })
    .await;
}

#[tokio::test]
async fn oauth2_token_is_refreshed_before_expiry() {
    bounded(async {
        // Lifetime 2 s: replaced 0.2 s before it runs out.
        let server = TestServer::start(bearer_server(2)).await;
        let client = EwsClient::new(config(server.ews_url(), oauth(&server, "s3cr3t"))).unwrap();
        probe(&client, &mbx(1)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1900)).await;
        probe(&client, &mbx(1)).await.unwrap();
        assert_eq!(server.state.tokens_issued.load(Ordering::SeqCst), 2);
        let reqs = server.requests();
        assert_eq!(reqs[1].headers["authorization"], "Bearer tok-2", "no 401 round trip was needed");
        assert_eq!(reqs.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn oauth2_bad_secret_names_the_client() {
    bounded(async {
        let server = TestServer::start(bearer_server(3600)).await;
        let client = EwsClient::new(config(server.ews_url(), oauth(&server, "wrong"))).unwrap();
        let e = probe(&client, &mbx(1)).await.unwrap_err();
        assert_eq!((e.class(), e.kind().clone()), (ErrorClass::Fatal, ErrorKind::OAuth));
        let msg = e.to_string();
        assert!(msg.contains("client app-1"), "{msg}");
        assert!(msg.contains("invalid_client"), "{msg}");
        assert!(!msg.contains("wrong"), "{msg}");
    })
    .await;
}

#[tokio::test]
async fn through_an_authenticating_connect_proxy() {
    bounded(async {
        let proxy = TestProxy::start("puser", "p@ss").await;
        // Plain HTTP target and TLS target, both tunnelled.
        let server = TestServer::start(basic_server(always_ok())).await;
        let mut cfg = config(server.ews_url(), basic("svc@contoso.test", "secret"));
        cfg.proxy = Some(ProxyConfig::parse(&format!("http://puser:p%40ss@{}", proxy.addr)).unwrap());
        let client = EwsClient::new(cfg).unwrap();
        for i in 0..3 {
            probe(&client, &mbx(i)).await.unwrap();
        }
        assert_eq!(proxy.connects.load(Ordering::SeqCst), 1, "one tunnel, reused");

        let pki = pki(&["localhost"], false);
        let mut opts = ntlm_server(always_ok());
        opts.tls = Some(pki.server.clone());
        opts.cert_der = Some(pki.leaf_der.clone());
        let tls_server = TestServer::start(opts).await;
        let ca = write_ca(&pki.ca_pem);
        let mut cfg = config(tls_server.ews_url(), ntlm("CONTOSO\\svc", "Passw0rd!"));
        cfg.ca_files = vec![ca.0.clone()];
        cfg.proxy = Some(ProxyConfig::parse(&format!("http://puser:p%40ss@{}", proxy.addr)).unwrap());
        let client = EwsClient::new(cfg).unwrap();
        probe(&client, &mbx(1)).await.unwrap();
        probe(&client, &mbx(2)).await.unwrap();
        assert_eq!(proxy.connects.load(Ordering::SeqCst), 2);

        // Wrong proxy credentials.
        let mut cfg = config(server.ews_url(), basic("svc@contoso.test", "secret"));
        cfg.proxy = Some(ProxyConfig::parse(&format!("http://puser:bad@{}", proxy.addr)).unwrap());
        let e = probe(&EwsClient::new(cfg).unwrap(), &mbx(1)).await.unwrap_err();
        assert_eq!((e.class(), e.kind().clone()), (ErrorClass::Fatal, ErrorKind::Proxy));
        assert!(e.to_string().contains("407"), "{e}");
        assert!(!e.to_string().contains("bad"), "{e}");
        assert_eq!(proxy.refused.load(Ordering::SeqCst), 1);
    })
    .await;
}

#[tokio::test]
async fn gzip_responses_are_decoded() {
    bounded(async {
        let mut opts = basic_server(always_ok());
        opts.gzip = true;
        let server = TestServer::start(opts).await;
        let client = EwsClient::new(config(server.ews_url(), basic("svc@contoso.test", "secret"))).unwrap();
        probe(&client, &mbx(1)).await.unwrap();
        assert_eq!(server.requests()[0].headers["accept-encoding"], "gzip");
        assert_eq!(client.server_version().unwrap().version.as_deref(), Some("V2017_07_11"));
    })
    .await;
}

#[tokio::test]
async fn server_busy_fault_pauses_every_request() {
    bounded(async {
        const BACKOFF: Duration = Duration::from_millis(800);
        let handler: Handler = Arc::new(|_, n| {
            if n == 0 {
                Resp::status(500, server_busy_fault(BACKOFF.as_millis() as u64))
            } else {
                Resp::ok(get_folder_ok())
            }
        });
        let server = TestServer::start(basic_server(handler)).await;
        let client = EwsClient::new(config(server.ews_url(), basic("svc@contoso.test", "secret"))).unwrap();
        assert_eq!(client.stats().concurrency_limit, 8);
        let first = {
            let c = client.clone();
            tokio::spawn(async move { c.call(Some(&mbx(0)), probe_op()).await.map(|_| ()) })
        };
        // Once the fault has been served, more calls arrive; they must wait for the window.
        while server.requests().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let others: Vec<_> = (1..5)
            .map(|i| {
                let c = client.clone();
                tokio::spawn(async move { c.call(Some(&mbx(i)), probe_op()).await.map(|_| ()) })
            })
            .collect();
        first.await.unwrap().unwrap();
        for o in others {
            o.await.unwrap().unwrap();
        }
        let reqs = server.requests();
        assert_eq!(reqs.len(), 6, "the busy one, its retry, four others");
        let t0 = reqs[0].at;
        for r in &reqs[1..] {
            assert!(r.at - t0 >= BACKOFF, "a request was sent {:?} after the busy fault", r.at - t0);
        }
        assert_eq!(client.stats().concurrency_limit, 4, "halved on throttling");
    })
    .await;
}

#[tokio::test]
async fn response_level_server_busy_pauses_too() {
    bounded(async {
        let busy = envelope(
            r#"<m:GetFolderResponse><m:ResponseMessages><m:GetFolderResponseMessage ResponseClass="Error"><m:MessageText>The server cannot service this request right now. Try again later.</m:MessageText><m:ResponseCode>ErrorServerBusy</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:MessageXml><t:Value Name="BackOffMilliseconds">400</t:Value></m:MessageXml></m:GetFolderResponseMessage></m:ResponseMessages></m:GetFolderResponse>"#,
        );
        let handler: Handler =
            Arc::new(move |_, n| if n == 0 { Resp::ok(busy.clone()) } else { Resp::ok(get_folder_ok()) });
        let server = TestServer::start(basic_server(handler)).await;
        let client = EwsClient::new(config(server.ews_url(), basic("svc@contoso.test", "secret"))).unwrap();
        probe(&client, &mbx(1)).await.unwrap();
        let reqs = server.requests();
        assert_eq!(reqs.len(), 2);
        assert!(reqs[1].at - reqs[0].at >= Duration::from_millis(400));
    })
    .await;
}

#[tokio::test]
async fn http_503_retry_after_is_honoured() {
    bounded(async {
        let handler: Handler = Arc::new(|_, n| match n {
            0 => Resp::status(503, "busy").header("retry-after", "1"),
            1 => Resp::status(503, "busy"),
            _ => Resp::ok(get_folder_ok()),
        });
        let server = TestServer::start(basic_server(handler)).await;
        let mut cfg = config(server.ews_url(), basic("svc@contoso.test", "secret"));
        cfg.throttle.default_backoff = Duration::from_millis(300);
        let client = EwsClient::new(cfg).unwrap();
        probe(&client, &mbx(1)).await.unwrap();
        let reqs = server.requests();
        assert_eq!(reqs.len(), 3);
        assert!(reqs[1].at - reqs[0].at >= Duration::from_secs(1), "Retry-After: 1");
        assert!(reqs[2].at - reqs[1].at >= Duration::from_millis(300), "default back-off without Retry-After");
        assert_eq!(client.stats().concurrency_limit, 2);
    })
    .await;
}

#[tokio::test]
async fn retries_are_bounded() {
    bounded(async {
        let handler: Handler = Arc::new(|_, _| Resp::status(500, "<html>Server Error in '/EWS' Application.</html>"));
        let server = TestServer::start(basic_server(handler)).await;
        let client = EwsClient::new(config(server.ews_url(), basic("svc@contoso.test", "secret"))).unwrap();
        let e = probe(&client, &mbx(1)).await.unwrap_err();
        assert_eq!(e.class(), ErrorClass::Transient);
        assert_eq!(e.http_status(), Some(500));
        assert_eq!(server.requests().len(), 4, "one attempt and three retries");
    })
    .await;
}

#[tokio::test]
async fn errors_are_classified_with_context() {
    bounded(async {
        let handler: Handler = Arc::new(|rec, _| {
            let who = rec.headers["x-anchormailbox"].to_str().unwrap().to_string();
            match who.as_str() {
                "user1@contoso.test" => {
                    Resp::status(500, ews_fault("ErrorNonExistentMailbox", "No mailbox with such guid."))
                }
                "user2@contoso.test" => Resp::status(
                    500,
                    ews_fault(
                        "ErrorImpersonateUserDenied",
                        "The account does not have permission to impersonate the requested user.",
                    ),
                ),
                "user3@contoso.test" => Resp::status(
                    500,
                    ews_fault("ErrorInvalidServerVersion", "The specified server version is invalid."),
                ),
                "user4@contoso.test" => Resp::status(404, "<html>not found</html>"),
                "user5@contoso.test" => Resp::ok("<html>login page</html>"),
                "user6@contoso.test" => {
                    Resp::status(500, ews_fault("ErrorMailboxMoveInProgress", "Mailbox move in progress."))
                }
                _ => Resp::ok(get_folder_ok()),
            }
        });
        let server = TestServer::start(basic_server(handler)).await;
        let client = EwsClient::new(config(server.ews_url(), basic("svc@contoso.test", "secret"))).unwrap();

        let e = probe(&client, &mbx(1)).await.unwrap_err();
        assert_eq!(e.class(), ErrorClass::Mailbox);
        assert_eq!(e.response_code().unwrap().as_str(), "ErrorNonExistentMailbox");
        assert_eq!(e.mailbox(), Some(&mbx(1)));
        assert_eq!(e.server(), "test");
        assert_eq!(e.operation(), "GetFolder");
        assert!(
            e.to_string().starts_with("server \"test\", GetFolder for user1@contoso.test: ErrorNonExistentMailbox"),
            "{e}"
        );

        let e = probe(&client, &mbx(2)).await.unwrap_err();
        assert_eq!(e.class(), ErrorClass::Mailbox);
        assert!(e.to_string().contains("ApplicationImpersonation"), "{e}");

        let e = probe(&client, &mbx(3)).await.unwrap_err();
        assert_eq!(e.class(), ErrorClass::Fatal);
        assert!(e.to_string().contains("server_version \"Exchange2016\""), "{e}");

        let e = probe(&client, &mbx(4)).await.unwrap_err();
        assert_eq!((e.class(), e.kind().clone()), (ErrorClass::Fatal, ErrorKind::NotFound));
        assert!(e.to_string().contains("check ews_url"), "{e}");

        let e = probe(&client, &mbx(5)).await.unwrap_err();
        assert_eq!(e.class(), ErrorClass::Fatal);
        assert!(e.to_string().contains("not a SOAP envelope"), "{e}");

        let before = server.requests().len();
        let e = probe(&client, &mbx(6)).await.unwrap_err();
        assert_eq!(e.class(), ErrorClass::Transient);
        assert_eq!(server.requests().len() - before, 4, "transient: retried, bounded");

        // None of these touched other mailboxes' work.
        probe(&client, &mbx(9)).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn connection_failures_are_transient_and_named() {
    bounded(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut cfg = config(
            format!("http://127.0.0.1:{port}/EWS/Exchange.asmx").parse().unwrap(),
            basic("svc@contoso.test", "secret"),
        );
        cfg.throttle.max_retries = 1;
        let e = probe(&EwsClient::new(cfg).unwrap(), &mbx(1)).await.unwrap_err();
        assert_eq!((e.class(), e.kind().clone()), (ErrorClass::Transient, ErrorKind::Connect));
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    })
    .await;
}

#[tokio::test]
async fn concurrency_is_capped_per_server() {
    bounded(async {
        let handler: Handler = Arc::new(|_, _| Resp::ok(get_folder_ok()).delayed(Duration::from_millis(30)));
        let server = TestServer::start(basic_server(handler)).await;
        let mut cfg = config(server.ews_url(), basic("svc@contoso.test", "secret"));
        cfg.max_concurrency = 3;
        let client = EwsClient::new(cfg).unwrap();
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let c = client.clone();
                tokio::spawn(async move { c.call(Some(&mbx(i)), probe_op()).await.map(|_| ()) })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let peak = server.state.max_in_flight.load(Ordering::SeqCst);
        assert!((2..=3).contains(&peak), "at most max_concurrency in flight, and some parallelism: {peak}");
        assert!(server.accepts() <= 3, "connections are reused: {}", server.accepts());
    })
    .await;
}

#[tokio::test]
async fn check_connection_reports_version_and_method() {
    bounded(async {
        let server = TestServer::start(ntlm_server(always_ok())).await;
        let client = EwsClient::new(config(server.ews_url(), ntlm("CONTOSO\\svc", "Passw0rd!"))).unwrap();
        let started = Instant::now();
        let check = client.check_connection(None).await.unwrap();
        assert_eq!(check.auth_method, "NTLM");
        assert_eq!(check.server, "test");
        assert_eq!(check.server_version.unwrap().minor_version, Some(1));
        assert!(check.latency <= started.elapsed());
        assert!(check.note.is_none());
        assert!(server.requests()[0].body.contains(r#"<t:DistinguishedFolderId Id="msgfolderroot"/>"#));
    })
    .await;
}

#[tokio::test]
async fn timeouts_retry_reads_but_not_writes() {
    bounded(async {
        let handler: Handler = Arc::new(|_, _| Resp::ok(get_folder_ok()).delayed(Duration::from_millis(600)));
        let server = TestServer::start(basic_server(handler)).await;
        let mut cfg = config(server.ews_url(), basic("svc@contoso.test", "secret"));
        cfg.timeouts.request = Duration::from_millis(150);
        cfg.throttle.max_retries = 2;
        let client = EwsClient::new(cfg).unwrap();
        let e = probe(&client, &mbx(1)).await.unwrap_err();
        assert_eq!((e.class(), e.kind().clone()), (ErrorClass::Transient, ErrorKind::Timeout));
        assert_eq!(server.requests().len(), 3, "a read is retried (bounded)");

        // A write that timed out may have been carried out: it is not sent again.
        let e = client
            .call(
                Some(&mbx(1)),
                ews_proto::ops::CreateItem::items(
                    Vec::new(),
                    None,
                    ews_proto::ops::CalendarItemCreateOrDeleteOperation::SendToNone,
                ),
            )
            .await
            .unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Timeout);
        assert_eq!(e.operation(), "CreateItem");
        assert_eq!(server.requests().len(), 4);
    })
    .await;
}

#[tokio::test]
async fn a_pause_longer_than_max_wait_fails_fast() {
    bounded(async {
        let handler: Handler = Arc::new(|_, _| Resp::status(500, server_busy_fault(600_000)));
        let server = TestServer::start(basic_server(handler)).await;
        let mut cfg = config(server.ews_url(), basic("svc@contoso.test", "secret"));
        cfg.throttle.max_wait = Duration::from_secs(1);
        let client = EwsClient::new(cfg).unwrap();
        let started = Instant::now();
        let e = probe(&client, &mbx(1)).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!((e.class(), e.kind().clone()), (ErrorClass::Transient, ErrorKind::Throttled));
        assert_eq!(e.response_code().unwrap().as_str(), "ErrorServerBusy");
        assert!(e.retry_after().unwrap() > Duration::from_secs(590));
        // Other calls fail fast too, without reaching the server.
        let e = probe(&client, &mbx(2)).await.unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Throttled);
        assert_eq!(server.requests().len(), 1);
        assert!(client.stats().paused_for > Duration::from_secs(590));
    })
    .await;
}

#[tokio::test]
async fn requests_validate_against_the_ews_schema() {
    bounded(async {
        let server = TestServer::start(basic_server(always_ok())).await;
        let client = EwsClient::new(config(server.ews_url(), basic("svc@contoso.test", "secret"))).unwrap();
        probe(&client, &mbx(1)).await.unwrap();
        client.call(None, probe_op()).await.unwrap();
        let opts = ews_client::CallOptions {
            time_zone: Some(ews_proto::tz::TimeZoneDefinition {
                id: Some("W. Europe Standard Time".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        client.call_with(Some(&mbx(2)), probe_op(), &opts).await.unwrap();
        client.check_connection(None).await.unwrap();
        let docs: Vec<(String, String)> =
            server.requests().into_iter().enumerate().map(|(i, r)| (format!("request {i}"), r.body)).collect();
        assert_eq!(docs.len(), 4);
        assert!(
            docs[2].1.contains(r#"<t:TimeZoneContext><t:TimeZoneDefinition Id="W. Europe Standard Time"/>"#),
            "{}",
            docs[2].1
        );
        ews_schema_check::assert_all_valid(&docs);
    })
    .await;
}

#[tokio::test]
async fn idle_connections_are_not_reused_past_the_idle_timeout() {
    bounded(async {
        let server = TestServer::start(ntlm_server(always_ok())).await;
        let mut cfg = config(server.ews_url(), ntlm("CONTOSO\\svc", "Passw0rd!"));
        cfg.timeouts.idle = Duration::from_millis(100);
        let client = EwsClient::new(cfg).unwrap();
        probe(&client, &mbx(1)).await.unwrap();
        probe(&client, &mbx(2)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        probe(&client, &mbx(3)).await.unwrap();
        assert_eq!(server.accepts(), 2);
        assert_eq!(server.state.ntlm_handshakes.load(Ordering::SeqCst), 2, "a new connection authenticates again");
    })
    .await;
}
