//! Autodiscover against in-test servers on loopback: SOAP GetUserSettings, POX fallback,
//! address and URL redirects (SOAP, POX, HTTP 302), loops and chains bounded, NTLM on the
//! one-off connections, caching, batches, and errors that name every candidate.

mod support;

use std::sync::Arc;
use std::time::Duration;

use ews_client::autodiscover::AutodiscoverProtocol;
use ews_client::{AuthConfig, Autodiscover, AutodiscoverConfig, ErrorKind, EwsError};
use ews_proto::SmtpAddress;
use ews_proto::autodiscover::{
    AutodiscoverServerVersionInfo, GetUserSettingsResponseMessage, PoxAccount, PoxAction, PoxAutodiscoverResponse,
    PoxProtocol, PoxProtocolType, PoxUser, Redirect, UserResponse, settings, soap_response,
};
use ews_proto::soap::{Body, Envelope};
use secrecy::SecretString;
use support::*;

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), f).await.expect("test took too long")
}

fn addr(s: &str) -> SmtpAddress {
    SmtpAddress::parse(s).unwrap()
}

fn basic() -> AuthConfig {
    AuthConfig::Basic { username: "svc@contoso.test".into(), password: SecretString::from("secret") }
}

fn basic_opts(handler: Handler) -> ServerOpts {
    ServerOpts::new(ServerAuth::Basic { user: "svc@contoso.test".into(), pass: "secret".into() }, handler)
}

fn ad(server: &TestServer, path: &str, auth: AuthConfig) -> Autodiscover {
    let mut cfg = AutodiscoverConfig::new("primary", auth);
    cfg.url = Some(format!("{}{path}", server.base()).parse().unwrap());
    cfg.timeouts.request = Duration::from_secs(5);
    Autodiscover::new(cfg).unwrap()
}

fn soap_settings(user: &str, grouping: &str) -> String {
    let user = UserResponse::with_settings([
        (settings::USER_DISPLAY_NAME, user),
        (settings::EXTERNAL_EWS_URL, "https://mail.contoso.test/EWS/Exchange.asmx"),
        (settings::INTERNAL_EWS_URL, "https://mail.internal.contoso.test/EWS/Exchange.asmx"),
        (settings::GROUPING_INFORMATION, grouping),
        (settings::CAS_VERSION, "15.01.2507.006"),
        (settings::EWS_SUPPORTED_SCHEMAS, "Exchange2013, Exchange2016"),
    ]);
    soap_response(GetUserSettingsResponseMessage::for_user(user), AutodiscoverServerVersionInfo::default())
        .to_xml_string()
}

fn soap_redirect(r: Redirect) -> String {
    let user = UserResponse::redirecting(&r);
    soap_response(GetUserSettingsResponseMessage::for_user(user), AutodiscoverServerVersionInfo::default())
        .to_xml_string()
}

fn pox_settings(name: &str) -> String {
    PoxAutodiscoverResponse {
        user: Some(PoxUser { display_name: Some(name.into()), ..PoxUser::default() }),
        account: Some(PoxAccount {
            account_type: Some("email".into()),
            action: Some(PoxAction::Settings),
            protocols: vec![PoxProtocol {
                protocol_type: Some(PoxProtocolType::Exch),
                ews_url: Some("https://mail.contoso.test/EWS/Exchange.asmx".into()),
                server_version: Some("73C18880".into()),
                ..PoxProtocol::default()
            }],
            ..PoxAccount::default()
        }),
        ..PoxAutodiscoverResponse::default()
    }
    .to_xml_string()
}

/// The users of a SOAP GetUserSettings request.
fn users_of(body: &str) -> Vec<String> {
    match Envelope::parse(body.as_bytes()).map(|e| e.body) {
        Ok(Body::GetUserSettingsRequest(r)) => r.users,
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn soap_settings_are_found_and_cached() {
    bounded(async {
        let handler: Handler = Arc::new(|r, _| {
            assert_eq!(r.path, "/autodiscover/autodiscover.svc");
            Resp::ok(soap_settings(&users_of(&r.body)[0], "CONTOSO-1"))
        });
        let server = TestServer::start(basic_opts(handler)).await;
        let ad = ad(&server, "/autodiscover/autodiscover.svc", basic());
        let s = ad.discover(&addr("mara@contoso.test")).await.unwrap();
        assert_eq!(s.ews_url.as_str(), "https://mail.contoso.test/EWS/Exchange.asmx");
        assert_eq!(s.internal_ews_url.unwrap().as_str(), "https://mail.internal.contoso.test/EWS/Exchange.asmx");
        assert_eq!(s.grouping_information.as_deref(), Some("CONTOSO-1"));
        assert_eq!(s.display_name.as_deref(), Some("mara@contoso.test"));
        assert_eq!(s.cas_version.as_deref(), Some("15.01.2507.006"));
        assert_eq!(s.ews_supported_schemas, vec!["Exchange2013", "Exchange2016"]);
        assert_eq!(s.protocol, AutodiscoverProtocol::Soap);

        let req = &server.requests()[0];
        assert_eq!(
            req.headers.get("soapaction").unwrap(),
            "\"http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettings\""
        );
        assert!(req.body.contains("<a:Setting>GroupingInformation</a:Setting>"), "{}", req.body);

        // Cached per address.
        let again = ad.discover(&addr("Mara@Contoso.test")).await.unwrap();
        assert_eq!(again.ews_url, s.ews_url);
        assert_eq!(server.requests().len(), 1);
        ad.forget(&addr("mara@contoso.test"));
        ad.discover(&addr("mara@contoso.test")).await.unwrap();
        assert_eq!(server.requests().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn pox_is_the_fallback_when_soap_is_missing() {
    bounded(async {
        let handler: Handler = Arc::new(|r, _| match r.path.as_str() {
            "/autodiscover/autodiscover.xml" => {
                assert!(r.body.contains("<EMailAddress>mara@contoso.test</EMailAddress>"), "{}", r.body);
                Resp::ok(pox_settings("Mara Whitley"))
            }
            _ => Resp::status(404, "<html>Not Found</html>").header("content-type", "text/html"),
        });
        let server = TestServer::start(basic_opts(handler)).await;
        let ad = ad(&server, "/autodiscover/autodiscover.svc", basic());
        let s = ad.discover(&addr("mara@contoso.test")).await.unwrap();
        assert_eq!(s.protocol, AutodiscoverProtocol::Pox);
        assert_eq!(s.ews_url.as_str(), "https://mail.contoso.test/EWS/Exchange.asmx");
        assert_eq!(s.display_name.as_deref(), Some("Mara Whitley"));
        assert_eq!(s.cas_version.as_deref(), Some("73C18880"));
        assert_eq!(s.grouping_information, None);
        assert_eq!(
            server.requests().iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
            ["/autodiscover/autodiscover.svc", "/autodiscover/autodiscover.xml"]
        );
    })
    .await;
}

#[tokio::test]
async fn redirect_address_starts_again_with_the_new_address() {
    bounded(async {
        let handler: Handler = Arc::new(|r, _| {
            let users = users_of(&r.body);
            match users.first().map(String::as_str) {
                Some("alias@contoso.test") => {
                    Resp::ok(soap_redirect(Redirect::Address("mara@corp.contoso.test".into())))
                }
                Some(u) => Resp::ok(soap_settings(u, "CORP-7")),
                None => Resp::status(400, "?"),
            }
        });
        let server = TestServer::start(basic_opts(handler)).await;
        let ad = ad(&server, "/autodiscover/autodiscover.svc", basic());
        let s = ad.discover(&addr("alias@contoso.test")).await.unwrap();
        assert_eq!(s.email, addr("alias@contoso.test"));
        assert_eq!(s.resolved_email, addr("mara@corp.contoso.test"));
        assert_eq!(s.grouping_information.as_deref(), Some("CORP-7"));
        assert_eq!(users_of(&server.requests()[1].body), ["mara@corp.contoso.test"]);
    })
    .await;
}

#[tokio::test]
async fn http_302_and_redirect_url_are_followed() {
    bounded(async {
        let base: Arc<std::sync::Mutex<String>> = Arc::default();
        let b2 = base.clone();
        let handler: Handler = Arc::new(move |r, _| match r.path.as_str() {
            "/autodiscover/autodiscover.svc" => Resp::status(302, "").header("location", "/moved/autodiscover.svc"),
            "/moved/autodiscover.svc" => {
                let target = format!("{}/final/autodiscover.svc", b2.lock().unwrap());
                Resp::ok(soap_redirect(Redirect::Url(target)))
            }
            "/final/autodiscover.svc" => Resp::ok(soap_settings("mara@contoso.test", "G")),
            _ => Resp::status(404, ""),
        });
        let server = TestServer::start(basic_opts(handler)).await;
        *base.lock().unwrap() = server.base();
        let ad = ad(&server, "/autodiscover/autodiscover.svc", basic());
        let s = ad.discover(&addr("mara@contoso.test")).await.unwrap();
        assert_eq!(s.autodiscover_url.path(), "/final/autodiscover.svc");
        assert_eq!(server.requests().len(), 3);

        // The next address of the domain goes straight to the endpoint that answered.
        let mut cfg = AutodiscoverConfig::new("primary", basic());
        cfg.url = None;
        let domain_ad = Autodiscover::new(cfg).unwrap();
        assert_eq!(
            domain_ad.candidates("x@contoso.test")[0].1.as_str(),
            "https://contoso.test/autodiscover/autodiscover.svc"
        );
    })
    .await;
}

#[tokio::test]
async fn redirect_loops_and_chains_are_bounded() {
    bounded(async {
        // A → B → A.
        let handler: Handler = Arc::new(|r, _| match r.path.as_str() {
            "/autodiscover/autodiscover.svc" => Resp::status(302, "").header("location", "/b/autodiscover.svc"),
            "/b/autodiscover.svc" => Resp::status(301, "").header("location", "/autodiscover/autodiscover.svc"),
            _ => Resp::status(404, ""),
        });
        let server = TestServer::start(basic_opts(handler)).await;
        let e =
            ad(&server, "/autodiscover/autodiscover.svc", basic()).discover(&addr("m@contoso.test")).await.unwrap_err();
        assert!(e.reason.contains("redirect loop"), "{e}");
        assert_eq!(server.requests().len(), 2, "{e}");
        let text = e.to_string();
        assert!(text.contains("HTTP 302 to") && text.contains("HTTP 301 to"), "{text}");

        // An endless chain of new URLs stops after 10 redirects.
        let handler: Handler = Arc::new(|r, _| {
            let n: u32 = r.path.trim_start_matches("/r").split('/').next().unwrap_or("0").parse().unwrap_or(0);
            Resp::status(302, "").header("location", &format!("/r{}/autodiscover.svc", n + 1))
        });
        let server = TestServer::start(basic_opts(handler)).await;
        let e = ad(&server, "/r0/autodiscover.svc", basic()).discover(&addr("m@contoso.test")).await.unwrap_err();
        assert_eq!(e.reason, "more than 10 redirects", "{e}");
        assert_eq!(server.requests().len(), 11);

        // Addresses redirecting to each other.
        let handler: Handler = Arc::new(|r, _| {
            let next = if users_of(&r.body)[0].starts_with('a') { "b@contoso.test" } else { "a@contoso.test" };
            Resp::ok(soap_redirect(Redirect::Address(next.into())))
        });
        let server = TestServer::start(basic_opts(handler)).await;
        let e =
            ad(&server, "/autodiscover/autodiscover.svc", basic()).discover(&addr("a@contoso.test")).await.unwrap_err();
        assert!(
            e.reason.contains("redirect loop between addresses a@contoso.test → b@contoso.test → a@contoso.test"),
            "{e}"
        );
        let ews: EwsError = e.into();
        assert_eq!(*ews.kind(), ErrorKind::Autodiscover);
    })
    .await;
}

#[tokio::test]
async fn ntlm_authenticates_the_one_off_connections() {
    bounded(async {
        let handler: Handler = Arc::new(|r, _| Resp::ok(soap_settings(&users_of(&r.body)[0], "G")));
        let server = TestServer::start(ServerOpts::new(
            ServerAuth::Ntlm { user: "CONTOSO\\svc".into(), pass: "Passw0rd!".into(), negotiate_only: false },
            handler,
        ))
        .await;
        let auth = AuthConfig::Ntlm { username: "CONTOSO\\svc".into(), password: SecretString::from("Passw0rd!") };
        let ad = ad(&server, "/autodiscover/autodiscover.svc", auth);
        ad.discover(&addr("mara@contoso.test")).await.unwrap();
        assert_eq!(server.state.ntlm_handshakes.load(std::sync::atomic::Ordering::SeqCst), 1);

        // A wrong password: both candidates answer 401; the error says so for each.
        let bad = AuthConfig::Ntlm { username: "CONTOSO\\svc".into(), password: SecretString::from("nope") };
        let e = super_ad(&server, bad).discover(&addr("mara@contoso.test")).await.unwrap_err();
        assert_eq!(e.attempts.len(), 2, "{e}");
        assert!(e.attempts.iter().all(|a| a.outcome.contains("401 Unauthorized for CONTOSO\\svc using NTLM")), "{e}");
        let ews: EwsError = e.into();
        assert_eq!(*ews.kind(), ErrorKind::Unauthorized);
    })
    .await;
}

fn super_ad(server: &TestServer, auth: AuthConfig) -> Autodiscover {
    ad(server, "/autodiscover/autodiscover.svc", auth)
}

#[tokio::test]
async fn errors_name_every_candidate() {
    bounded(async {
        // Nothing listens on that port: the host is not tried again for POX.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut cfg = AutodiscoverConfig::new("primary", basic());
        cfg.url = Some(format!("http://127.0.0.1:{port}/autodiscover/autodiscover.svc").parse().unwrap());
        let e = Autodiscover::new(cfg).unwrap().discover(&addr("m@contoso.test")).await.unwrap_err();
        assert_eq!(e.attempts.len(), 1, "{e}");
        let text = e.to_string();
        assert!(
            text.starts_with("Autodiscover for m@contoso.test failed: no candidate gave the settings; tried:"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "1. SOAP http://127.0.0.1:{port}/autodiscover/autodiscover.svc for m@contoso.test: cannot connect"
            )),
            "{text}"
        );
        assert_eq!(*EwsError::from(e).kind(), ErrorKind::Connect);

        // From the domain: both hosts, then the http redirect probe, all unknown to DNS.
        let e = Autodiscover::new(AutodiscoverConfig::new("primary", basic()))
            .unwrap()
            .discover(&addr("m@nowhere.invalid"))
            .await
            .unwrap_err();
        let urls: Vec<&str> = e.attempts.iter().map(|a| a.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://nowhere.invalid/autodiscover/autodiscover.svc",
                "https://autodiscover.nowhere.invalid/autodiscover/autodiscover.svc",
                "GET http://autodiscover.nowhere.invalid/autodiscover/autodiscover.xml"
            ],
            "{e}"
        );
        assert!(e.attempts.iter().all(|a| a.outcome.contains("DNS lookup of")), "{e}");
        assert_eq!(*EwsError::from(e).kind(), ErrorKind::Dns);
    })
    .await;
}

#[tokio::test]
async fn a_redirect_never_leaves_https() {
    bounded(async {
        let pki = pki(&["localhost"], false);
        let handler: Handler = Arc::new(|_, _| {
            Resp::ok(soap_redirect(Redirect::Url("http://localhost:1/autodiscover/autodiscover.svc".into())))
        });
        let mut opts = basic_opts(handler);
        opts.tls = Some(pki.server.clone());
        let server = TestServer::start(opts).await;
        let ca = std::env::temp_dir().join(format!("exbridge-ad-ca-{}.pem", std::process::id()));
        std::fs::write(&ca, &pki.ca_pem).unwrap();
        let mut cfg = AutodiscoverConfig::new("primary", basic());
        cfg.url = Some(format!("{}/autodiscover/autodiscover.svc", server.base()).parse().unwrap());
        cfg.ca_files = vec![ca.clone()];
        let e = Autodiscover::new(cfg).unwrap().discover(&addr("m@contoso.test")).await.unwrap_err();
        let _ = std::fs::remove_file(&ca);
        assert!(e.reason.contains("a redirect from https to http is not followed"), "{e}");
        assert_eq!(server.requests().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn many_addresses_are_asked_in_batches_of_a_hundred() {
    bounded(async {
        let handler: Handler = Arc::new(|r, _| {
            let users: Vec<UserResponse> = users_of(&r.body)
                .iter()
                .map(|u| {
                    let group = match u.trim_start_matches("user").split('@').next().unwrap().parse::<u32>() {
                        // user13 lives elsewhere: the batch cannot settle it.
                        Ok(13) => {
                            return UserResponse::redirecting(&Redirect::Address("mara13@corp.contoso.test".into()));
                        }
                        Ok(n) if n % 2 == 0 => "EVEN",
                        Ok(_) => "ODD",
                        Err(_) => "CORP",
                    };
                    UserResponse::with_settings([
                        (settings::EXTERNAL_EWS_URL, "https://mail.contoso.test/EWS/Exchange.asmx"),
                        (settings::GROUPING_INFORMATION, group),
                    ])
                })
                .collect();
            let msg = GetUserSettingsResponseMessage { user_responses: users, ..Default::default() };
            Resp::ok(soap_response(msg, AutodiscoverServerVersionInfo::default()).to_xml_string())
        });
        let server = TestServer::start(basic_opts(handler)).await;
        let ad = ad(&server, "/autodiscover/autodiscover.svc", basic());
        let addrs: Vec<SmtpAddress> = (1..=250).map(|n| addr(&format!("user{n}@contoso.test"))).collect();
        let results = ad.discover_many(&addrs).await;
        assert_eq!(results.len(), 250);
        for (n, r) in (1..=250).zip(&results) {
            let s = r.as_ref().unwrap_or_else(|e| panic!("user{n}: {e}"));
            assert_eq!(s.email, addrs[n - 1]);
            let want = match n {
                13 => "CORP",
                n if n % 2 == 0 => "EVEN",
                _ => "ODD",
            };
            assert_eq!(s.grouping_information.as_deref(), Some(want), "user{n}");
        }
        let sizes: Vec<usize> = server.requests().iter().map(|r| users_of(&r.body).len()).collect();
        // One address to find the endpoint, 249 in three batches, then user13 on its own
        // (its redirect, then the new address).
        assert_eq!(sizes.len(), 6, "{sizes:?}");
        assert_eq!(sizes[0], 1);
        let mut batches = sizes[1..4].to_vec();
        batches.sort();
        assert_eq!(batches, [49, 100, 100]);
        assert_eq!(sizes[4..], [1, 1]);
        assert_eq!(results[12].as_ref().unwrap().resolved_email, addr("mara13@corp.contoso.test"));
        // Cached afterwards.
        let before = server.requests().len();
        ad.discover_many(&addrs[..10]).await;
        assert_eq!(server.requests().len(), before);
    })
    .await;
}
