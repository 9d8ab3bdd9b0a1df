//! The simulator's HTTP server in-process on 127.0.0.1:0: authentication (Basic, NTLMv2 over
//! one connection, Bearer), impersonation, SOAP faults, injected faults and their counters,
//! throttling, streaming mechanics and TLS.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ews_proto::ResponseCode;
use ews_proto::ops::GetStreamingEvents;
use ews_proto::soap::{Body, Envelope, Fault};
use exbridge_sim::config::SimConfig;
use exbridge_sim::server::streaming::{BoxFuture, ChannelSource, EventSource, Silent, StreamPlan};
use exbridge_sim::server::{self, EwsOperations, RequestContext, RunningSim, StreamOpen};
use exbridge_sim::store::MailboxSpec;
use exbridge_sim::{Store, StoreConfig};
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, WWW_AUTHENTICATE};
use hyper_util::rt::TokioIo;

const SVC: &str = "svc@contoso.test";
const SVC_PASSWORD: &str = "secret";

// ---------------------------------------------------------------------------------------------
// A recording operations handler and a directory with aliases.

#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    account: String,
    mailbox: Option<String>,
    impersonating: bool,
    connection_id: u64,
}

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Seen>>,
    /// Feeds the next streaming connection, if set.
    feed: Mutex<Option<tokio::sync::mpsc::Receiver<Bytes>>>,
}

const UNSUBSCRIBE_OK: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
  <s:Body>
    <m:UnsubscribeResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
      <m:ResponseMessages>
        <m:UnsubscribeResponseMessage ResponseClass="Success">
          <m:ResponseCode>NoError</m:ResponseCode>
        </m:UnsubscribeResponseMessage>
      </m:ResponseMessages>
    </m:UnsubscribeResponse>
  </s:Body>
</s:Envelope>"#;

impl EwsOperations for Recorder {
    fn handle<'a>(&'a self, ctx: &'a RequestContext, _body: Body) -> BoxFuture<'a, Result<Body, Fault>> {
        self.seen.lock().unwrap().push(Seen {
            account: ctx.account.name.clone(),
            mailbox: ctx.mailbox.as_ref().map(|m| m.smtp.clone()),
            impersonating: ctx.impersonating,
            connection_id: ctx.connection_id,
        });
        Box::pin(async { Ok(Envelope::parse(UNSUBSCRIBE_OK.as_bytes()).unwrap().body) })
    }

    fn open_stream<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        request: GetStreamingEvents,
    ) -> BoxFuture<'a, Result<StreamOpen, Fault>> {
        let source: Box<dyn EventSource> = match self.feed.lock().unwrap().take() {
            Some(rx) => Box::new(ChannelSource(rx)),
            None => Box::new(Silent),
        };
        Box::pin(async move {
            Ok(StreamOpen::Stream(StreamPlan {
                subscription_ids: request.subscription_ids,
                connection_timeout_minutes: request.connection_timeout,
                source,
            }))
        })
    }
}

fn config() -> SimConfig {
    let mut c = SimConfig::for_tests();
    c.service_user = SVC.into();
    c.service_password = SVC_PASSWORD.into();
    c
}

/// Three mailboxes; `anna@` is an alias of user1, `bob@` of user2.
fn store() -> Arc<Store> {
    let store = Store::new(StoreConfig::from_seed(7));
    for (smtp, aliases) in [
        ("user1@contoso.test", vec!["anna@contoso.test"]),
        ("user2@contoso.test", vec!["bob@contoso.test"]),
        ("user3@contoso.test", vec![]),
    ] {
        store
            .add_mailbox(MailboxSpec {
                smtp: smtp.into(),
                aliases: aliases.into_iter().map(String::from).collect(),
                display_name: None,
                time_zone: Some("W. Europe Standard Time".into()),
            })
            .unwrap();
    }
    Arc::new(store)
}

async fn start(config: SimConfig) -> (RunningSim, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let sim = server::start_with(config, store(), rec.clone()).await.unwrap();
    (sim, rec)
}

/// A valid request body for the operations the tests use.
fn operation(op: &str) -> String {
    match op {
        "Unsubscribe" => "<m:Unsubscribe><m:SubscriptionId>sub-1</m:SubscriptionId></m:Unsubscribe>".into(),
        "GetStreamingEvents" => "<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>sub-1</t:SubscriptionId><t:SubscriptionId>sub-2</t:SubscriptionId>\
             </m:SubscriptionIds><m:ConnectionTimeout>1</m:ConnectionTimeout></m:GetStreamingEvents>"
            .into(),
        "Subscribe" => {
            "<m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id=\"calendar\"/>\
             </t:FolderIds><t:EventTypes><t:EventType>CreatedEvent</t:EventType></t:EventTypes>\
             </m:StreamingSubscriptionRequest></m:Subscribe>"
                .into()
        }
        "GetFolder" => "<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>\
             <m:FolderIds><t:DistinguishedFolderId Id=\"calendar\"/></m:FolderIds></m:GetFolder>"
            .into(),
        other => format!("<m:{other}/>"),
    }
}

fn soap(op: &str, impersonate: Option<&str>) -> String {
    let imp = impersonate
        .map(|a| {
            format!(
                "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{a}</t:PrimarySmtpAddress>\
                 </t:ConnectingSID></t:ExchangeImpersonation>"
            )
        })
        .unwrap_or_default();
    let body = operation(op);
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
  <soap:Header><t:RequestServerVersion Version="Exchange2016"/>{imp}</soap:Header>
  <soap:Body>{body}</soap:Body>
</soap:Envelope>"#
    )
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap()
}

async fn post(c: &reqwest::Client, sim: &RunningSim, user: &str, password: &str, body: String) -> reqwest::Response {
    c.post(sim.ews_url())
        .basic_auth(user, Some(password))
        .header(CONTENT_TYPE, "text/xml; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn fault_of(r: reqwest::Response) -> Fault {
    assert_eq!(r.status(), 500);
    let text = r.text().await.unwrap();
    match Envelope::parse(text.as_bytes()).unwrap().body {
        Body::Fault(f) => f,
        other => panic!("expected a fault, got {other:?}"),
    }
}

async fn inject(c: &reqwest::Client, sim: &RunningSim, json: serde_json::Value) {
    let r = c.post(format!("{}/sim/faults", sim.base_url())).json(&json).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn stats(c: &reqwest::Client, sim: &RunningSim) -> serde_json::Value {
    c.get(format!("{}/sim/stats", sim.base_url())).send().await.unwrap().json().await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// Basic

#[tokio::test]
async fn basic_round_trip_and_response_shape() {
    let (sim, rec) = start(config()).await;
    let c = client();
    let r = post(&c, &sim, "user1@contoso.test", "password", soap("Unsubscribe", None)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[CONTENT_TYPE], "text/xml; charset=utf-8");
    let text = r.text().await.unwrap();
    let env = Envelope::parse(text.as_bytes()).unwrap();
    let svi = env.header.server_version_info.expect("ServerVersionInfo in every response");
    assert_eq!((svi.major_version, svi.minor_version), (Some(15), Some(1)));
    let seen = rec.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].account, "user1@contoso.test");
    assert_eq!(seen[0].mailbox.as_deref(), Some("user1@contoso.test"));
    assert!(!seen[0].impersonating);

    // DOMAIN\user and an alias sign in as the same mailbox.
    let r = post(&c, &sim, "CONTOSO\\user2", "password", soap("Unsubscribe", None)).await;
    assert_eq!(r.status(), 200);
    let r = post(&c, &sim, "anna@contoso.test", "password", soap("Unsubscribe", None)).await;
    assert_eq!(r.status(), 200);
    let seen = rec.seen.lock().unwrap().clone();
    assert_eq!(seen[1].mailbox.as_deref(), Some("user2@contoso.test"));
    assert_eq!(seen[2].account, "user1@contoso.test");

    let s = stats(&c, &sim).await;
    assert_eq!(s["requests"]["Unsubscribe"], 3);
    assert_eq!(s["outcomes"]["Unsubscribe"]["NoError"], 3);
    assert_eq!(s["responses_by_code"]["200"], 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_or_missing_credentials_get_401_with_the_schemes() {
    let (sim, _) = start(config()).await;
    let c = client();
    let r = post(&c, &sim, "user1@contoso.test", "nope", soap("Unsubscribe", None)).await;
    assert_eq!(r.status(), 401);
    let schemes: Vec<_> =
        r.headers().get_all(WWW_AUTHENTICATE).iter().map(|v| v.to_str().unwrap().to_string()).collect();
    assert!(schemes.contains(&"NTLM".to_string()), "{schemes:?}");
    assert!(schemes.iter().any(|s| s.starts_with("Basic realm=")), "{schemes:?}");
    let r = c.post(sim.ews_url()).body(soap("Unsubscribe", None)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = post(&c, &sim, "nobody@contoso.test", "password", soap("Unsubscribe", None)).await;
    assert_eq!(r.status(), 401);
    let s = stats(&c, &sim).await;
    assert_eq!(s["auth_failures"]["basic"], 2);
    assert_eq!(s["auth_failures"]["none"], 1);
    assert!(s["requests"].get("Unsubscribe").is_none(), "unauthenticated requests are not operations");
    sim.shutdown().await;
}

#[tokio::test]
async fn paths_are_case_insensitive_like_iis() {
    let (sim, _) = start(config()).await;
    let c = client();
    for path in ["/EWS/Exchange.asmx", "/ews/exchange.asmx", "/EWS/EXCHANGE.ASMX"] {
        let r = c
            .post(format!("{}{path}", sim.base_url()))
            .basic_auth(SVC, Some(SVC_PASSWORD))
            .body(soap("Unsubscribe", Some("user1@contoso.test")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn server_affinity_cookie_when_asked() {
    let (sim, _) = start(config()).await;
    let c = client();
    let send = |anchor: &'static str| {
        c.post(sim.ews_url())
            .basic_auth(SVC, Some(SVC_PASSWORD))
            .header("X-AnchorMailbox", anchor)
            .header("X-PreferServerAffinity", "true")
            .body(soap("Subscribe", Some(anchor)))
            .send()
    };
    let a = send("user1@contoso.test").await.unwrap();
    let b = send("user1@contoso.test").await.unwrap();
    let cookie = a.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("X-BackEndOverrideCookie=EXCH01.contoso.test~"), "{cookie}");
    assert_eq!(cookie, b.headers()["set-cookie"].to_str().unwrap());
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// NTLM, driven by sspi's client side over raw hyper connections.

mod ntlm_client {
    use sspi::{
        AuthIdentity, BufferType, ClientRequestFlags, CredentialUse, DataRepresentation, Ntlm, SecurityBuffer, Sspi,
        SspiImpl, Username,
    };

    pub struct Client {
        ntlm: Ntlm,
        creds: Option<sspi::AuthIdentityBuffers>,
    }

    impl Client {
        pub fn new(user: &str, domain: Option<&str>, password: &str) -> Self {
            let mut ntlm = Ntlm::new();
            let identity =
                AuthIdentity { username: Username::new(user, domain).unwrap(), password: password.to_string().into() };
            let acq = ntlm
                .acquire_credentials_handle()
                .with_credential_use(CredentialUse::Outbound)
                .with_auth_data(&identity)
                .execute(&mut ntlm)
                .unwrap();
            Client { ntlm, creds: acq.credentials_handle }
        }

        fn step(&mut self, input: Option<Vec<u8>>) -> Vec<u8> {
            let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
            let mut input_buffers = input.map(|i| vec![SecurityBuffer::new(i, BufferType::Token)]);
            let mut creds = self.creds.clone();
            let mut builder = self
                .ntlm
                .initialize_security_context()
                .with_credentials_handle(&mut creds)
                .with_context_requirements(ClientRequestFlags::ALLOCATE_MEMORY)
                .with_target_data_representation(DataRepresentation::Native)
                .with_target_name("HTTP/127.0.0.1")
                .with_output(&mut output);
            if let Some(i) = input_buffers.as_mut() {
                builder = builder.with_input(i);
            }
            self.ntlm.initialize_security_context_impl(&mut builder).unwrap().resolve_to_result().unwrap();
            output.remove(0).buffer
        }

        /// The NEGOTIATE message.
        pub fn negotiate(&mut self) -> Vec<u8> {
            self.step(None)
        }

        /// The AUTHENTICATE message answering `challenge`.
        pub fn authenticate(&mut self, challenge: Vec<u8>) -> Vec<u8> {
            self.step(Some(challenge))
        }
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Sender {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    sender
}

/// Sends one EWS request on this connection; returns status, headers and body.
async fn send(
    sender: &mut Sender,
    addr: SocketAddr,
    authorization: Option<String>,
    body: String,
) -> (u16, hyper::HeaderMap, String) {
    sender.ready().await.unwrap();
    let mut req = hyper::Request::post("/EWS/Exchange.asmx")
        .header(HOST, addr.to_string())
        .header(CONTENT_TYPE, "text/xml; charset=utf-8");
    if let Some(a) = authorization {
        req = req.header(AUTHORIZATION, a);
    }
    let resp = sender.send_request(req.body(Full::new(Bytes::from(body))).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

/// The NTLM CHALLENGE of a 401.
fn challenge_of(headers: &hyper::HeaderMap) -> Vec<u8> {
    let v = headers.get(WWW_AUTHENTICATE).expect("a challenge").to_str().unwrap();
    unb64(v.strip_prefix("NTLM ").expect("NTLM challenge"))
}

#[tokio::test]
async fn ntlm_v2_handshake_authenticates_the_connection() {
    let (sim, rec) = start(config()).await;
    let addr = sim.addr();
    let mut conn = connect(addr).await;
    let mut client = ntlm_client::Client::new("user2", Some("CONTOSO"), "password");

    let (status, headers, _) =
        send(&mut conn, addr, Some(format!("NTLM {}", b64(&client.negotiate()))), soap("Unsubscribe", None)).await;
    assert_eq!(status, 401);
    let type3 = client.authenticate(challenge_of(&headers));
    let (status, _, body) =
        send(&mut conn, addr, Some(format!("NTLM {}", b64(&type3))), soap("Unsubscribe", None)).await;
    assert_eq!(status, 200, "{body}");

    // Later requests on the same connection need no header.
    let (status, _, _) = send(&mut conn, addr, None, soap("Unsubscribe", None)).await;
    assert_eq!(status, 200);
    let seen = rec.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].mailbox.as_deref(), Some("user2@contoso.test"));
    assert_eq!(seen[0].connection_id, seen[1].connection_id);

    // A new connection is a new stranger.
    let mut other = connect(addr).await;
    let (status, headers, _) = send(&mut other, addr, None, soap("Unsubscribe", None)).await;
    assert_eq!(status, 401);
    assert!(headers.get_all(WWW_AUTHENTICATE).iter().any(|v| v == "NTLM"));

    // The service account with a UPN, impersonating.
    let mut conn = connect(addr).await;
    let mut svc = ntlm_client::Client::new(SVC, None, SVC_PASSWORD);
    let (_, headers, _) = send(&mut conn, addr, Some(format!("NTLM {}", b64(&svc.negotiate()))), String::new()).await;
    let type3 = svc.authenticate(challenge_of(&headers));
    let (status, _, body) =
        send(&mut conn, addr, Some(format!("NTLM {}", b64(&type3))), soap("Unsubscribe", Some("user3@contoso.test")))
            .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(rec.seen.lock().unwrap().last().unwrap().mailbox.as_deref(), Some("user3@contoso.test"));
    sim.shutdown().await;
}

#[tokio::test]
async fn ntlm_wrong_password_is_refused() {
    let (sim, rec) = start(config()).await;
    let addr = sim.addr();
    let mut conn = connect(addr).await;
    let mut client = ntlm_client::Client::new("user1", Some("CONTOSO"), "not-the-password");
    let (_, headers, _) =
        send(&mut conn, addr, Some(format!("NTLM {}", b64(&client.negotiate()))), String::new()).await;
    let type3 = client.authenticate(challenge_of(&headers));
    let (status, _, _) = send(&mut conn, addr, Some(format!("NTLM {}", b64(&type3))), soap("Unsubscribe", None)).await;
    assert_eq!(status, 401);
    // Not authenticated afterwards either, and the challenge cannot be replayed.
    let (status, _, _) = send(&mut conn, addr, None, soap("Unsubscribe", None)).await;
    assert_eq!(status, 401);
    let (status, _, _) = send(&mut conn, addr, Some(format!("NTLM {}", b64(&type3))), soap("Unsubscribe", None)).await;
    assert_eq!(status, 401);
    assert!(rec.seen.lock().unwrap().is_empty());
    let s = sim.stats();
    assert_eq!(s.auth_failures["ntlm"], 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn ntlm_authenticate_on_another_connection_is_refused() {
    let (sim, rec) = start(config()).await;
    let addr = sim.addr();
    let mut first = connect(addr).await;
    let mut client = ntlm_client::Client::new("user1", Some("CONTOSO"), "password");
    let (_, headers, _) =
        send(&mut first, addr, Some(format!("NTLM {}", b64(&client.negotiate()))), String::new()).await;
    let type3 = client.authenticate(challenge_of(&headers));
    // What a pooled HTTP client does by accident: the answer goes out on another connection.
    let mut second = connect(addr).await;
    let (status, _, _) =
        send(&mut second, addr, Some(format!("NTLM {}", b64(&type3))), soap("Unsubscribe", None)).await;
    assert_eq!(status, 401);
    assert!(rec.seen.lock().unwrap().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn ntlm_tampered_response_is_refused() {
    let (sim, _) = start(config()).await;
    let addr = sim.addr();
    let mut conn = connect(addr).await;
    let mut client = ntlm_client::Client::new("user1", Some("CONTOSO"), "password");
    let (_, headers, _) =
        send(&mut conn, addr, Some(format!("NTLM {}", b64(&client.negotiate()))), String::new()).await;
    let mut type3 = client.authenticate(challenge_of(&headers));
    // Flip a bit of the NT response (its offset is at bytes 24..28).
    let nt_offset = u32::from_le_bytes(type3[24..28].try_into().unwrap()) as usize;
    type3[nt_offset + 3] ^= 0x01;
    let (status, _, _) = send(&mut conn, addr, Some(format!("NTLM {}", b64(&type3))), soap("Unsubscribe", None)).await;
    assert_eq!(status, 401);

    // sspi sends a MIC over the three messages; a changed MIC (or a changed message) fails.
    let mut client = ntlm_client::Client::new("user1", Some("CONTOSO"), "password");
    let (_, headers, _) =
        send(&mut conn, addr, Some(format!("NTLM {}", b64(&client.negotiate()))), String::new()).await;
    let mut type3 = client.authenticate(challenge_of(&headers));
    type3[72] ^= 0x01;
    let (status, _, _) = send(&mut conn, addr, Some(format!("NTLM {}", b64(&type3))), soap("Unsubscribe", None)).await;
    assert_eq!(status, 401);
    assert_eq!(sim.stats().auth_failures["ntlm"], 2);
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Bearer

async fn token(c: &reqwest::Client, sim: &RunningSim, id: &str, secret: &str) -> reqwest::Response {
    c.post(format!("{}/sim/oauth2/token", sim.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("scope", "https://outlook.office365.com/.default"),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn bearer_tokens_work_until_they_expire() {
    let mut cfg = config();
    cfg.token_lifetime = Duration::from_millis(1000);
    let (sim, rec) = start(cfg).await;
    let c = client();

    let r = token(&c, &sim, SVC, "wrong").await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"], "invalid_client");
    let r = token(&c, &sim, "user1@contoso.test", "password").await;
    assert_eq!(r.status(), 401, "only the service account is an OAuth client");

    let r = token(&c, &sim, SVC, SVC_PASSWORD).await;
    assert_eq!(r.status(), 200);
    let t: serde_json::Value = r.json().await.unwrap();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 1);
    let access = t["access_token"].as_str().unwrap().to_string();
    let issued = Instant::now();

    let call = |access: String| {
        let c = c.clone();
        let url = sim.ews_url();
        async move {
            c.post(url)
                .bearer_auth(access)
                .header("X-AnchorMailbox", "user1@contoso.test")
                .body(soap("Unsubscribe", Some("user1@contoso.test")))
                .send()
                .await
                .unwrap()
        }
    };
    let r = call(access.clone()).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(issued.elapsed() < Duration::from_millis(1000), "the test machine is too slow for this lifetime");
    assert_eq!(rec.seen.lock().unwrap()[0].account, SVC);

    tokio::time::sleep(Duration::from_millis(1000).saturating_sub(issued.elapsed()) + Duration::from_millis(20)).await;
    let r = call(access).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().get_all(WWW_AUTHENTICATE).iter().any(|v| v.to_str().unwrap().starts_with("Bearer")));
    let r = call("made-up".into()).await;
    assert_eq!(r.status(), 401);
    let s = stats(&c, &sim).await;
    assert_eq!(s["auth_failures"]["bearer"], 2);
    assert_eq!(s["tokens_issued"], 1);
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Impersonation

#[tokio::test]
async fn impersonation_rules() {
    let (sim, rec) = start(config()).await;
    let c = client();

    // The service account impersonates by address or alias.
    let r = post(&c, &sim, SVC, SVC_PASSWORD, soap("Unsubscribe", Some("user2@contoso.test"))).await;
    assert_eq!(r.status(), 200);
    let r = post(&c, &sim, SVC, SVC_PASSWORD, soap("Unsubscribe", Some("BOB@contoso.test"))).await;
    assert_eq!(r.status(), 200);
    let seen = rec.seen.lock().unwrap().clone();
    assert_eq!(
        seen[0],
        Seen {
            account: SVC.into(),
            mailbox: Some("user2@contoso.test".into()),
            impersonating: true,
            connection_id: seen[0].connection_id
        }
    );
    assert_eq!(seen[1].mailbox.as_deref(), Some("user2@contoso.test"));

    // A mailbox user may not impersonate, not even itself.
    for target in ["user2@contoso.test", "user1@contoso.test"] {
        let f =
            fault_of(post(&c, &sim, "user1@contoso.test", "password", soap("Unsubscribe", Some(target))).await).await;
        assert_eq!(f.response_code(), ResponseCode::ErrorImpersonateUserDenied);
        assert_eq!(f.string, "The account does not have permission to impersonate the requested user.");
    }

    // Nobody by that address.
    let f = fault_of(post(&c, &sim, SVC, SVC_PASSWORD, soap("Unsubscribe", Some("ghost@contoso.test"))).await).await;
    assert_eq!(f.response_code(), ResponseCode::ErrorNonExistentMailbox);

    // The service account without impersonation has no mailbox here.
    let r = post(&c, &sim, SVC, SVC_PASSWORD, soap("Unsubscribe", None)).await;
    assert_eq!(r.status(), 200);
    let seen = rec.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].mailbox, None);

    let s = stats(&c, &sim).await;
    assert_eq!(s["outcomes"]["Unsubscribe"]["fault:ErrorImpersonateUserDenied"], 2);
    assert_eq!(s["outcomes"]["Unsubscribe"]["fault:ErrorNonExistentMailbox"], 1);
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Malformed requests and the placeholder operations

#[tokio::test]
async fn malformed_xml_gets_a_schema_fault_not_a_panic() {
    let (sim, _) = start(config()).await;
    let c = client();
    for bad in [
        "this is not XML".to_string(),
        "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>".to_string(),
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]><x>&a;</x>".to_string(),
        soap("NoSuchOperation", None),
        String::new(),
    ] {
        let r = post(&c, &sim, "user1@contoso.test", "password", bad.clone()).await;
        let text = r.headers()[CONTENT_TYPE].to_str().unwrap().to_string();
        assert_eq!(text, "text/xml; charset=utf-8");
        let f = fault_of(r).await;
        assert_eq!(f.response_code(), ResponseCode::ErrorSchemaValidation, "{bad}");
        assert!(f.string.starts_with("The request failed schema validation: "), "{}", f.string);
    }
    // Still serving.
    let r = post(&c, &sim, "user1@contoso.test", "password", soap("Unsubscribe", None)).await;
    assert_eq!(r.status(), 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_placeholder_answers_every_operation_with_a_fault() {
    let sim = server::start(config()).await.unwrap();
    let c = client();
    let r = post(&c, &sim, SVC, SVC_PASSWORD, soap("GetFolder", Some("user1@contoso.test"))).await;
    let f = fault_of(r).await;
    assert_eq!(f.response_code(), ResponseCode::ErrorInvalidOperation);
    assert!(f.string.contains("GetFolder"));
    assert_eq!(sim.stats().outcomes["GetFolder"]["fault:ErrorInvalidOperation"], 1);
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Injected faults

#[tokio::test]
async fn server_busy_fault_and_backoff_accounting() {
    let (sim, _) = start(config()).await;
    let c = client();
    inject(&c, &sim, serde_json::json!({"kind": "server_busy", "count": 2, "backoff_ms": 300})).await;

    let f = fault_of(post(&c, &sim, "user1@contoso.test", "password", soap("Unsubscribe", None)).await).await;
    let first_busy = Instant::now();
    assert_eq!(f.response_code(), ResponseCode::ErrorServerBusy);
    assert_eq!(f.back_off(), Some(Duration::from_millis(300)));
    // A client that ignores the back-off is caught.
    let f = fault_of(post(&c, &sim, "user1@contoso.test", "password", soap("Unsubscribe", None)).await).await;
    assert_eq!(f.response_code(), ResponseCode::ErrorServerBusy);
    let s = stats(&c, &sim).await;
    assert_eq!(s["requests_during_backoff"], 1);
    assert_eq!(s["faults_served"]["server_busy"], 2);

    // One that waits is not.
    tokio::time::sleep(Duration::from_millis(300).saturating_sub(first_busy.elapsed()) + Duration::from_millis(320))
        .await;
    let r = post(&c, &sim, "user1@contoso.test", "password", soap("Unsubscribe", None)).await;
    assert_eq!(r.status(), 200);
    let s = stats(&c, &sim).await;
    assert_eq!(s["requests_during_backoff"], 1);
    assert_eq!(s["outcomes"]["Unsubscribe"]["fault:ErrorServerBusy"], 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn http_status_latency_and_reset() {
    let (sim, _) = start(config()).await;
    let c = client();
    inject(&c, &sim, serde_json::json!({"kind": "http_status", "status": 503, "count": 1})).await;
    let r = post(&c, &sim, "user1@contoso.test", "password", soap("Unsubscribe", None)).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");

    inject(&c, &sim, serde_json::json!({"kind": "http_status", "status": 500, "count": 1})).await;
    let r = post(&c, &sim, "user1@contoso.test", "password", soap("Unsubscribe", None)).await;
    assert_eq!(r.status(), 500);
    assert!(r.headers().get("retry-after").is_none());

    inject(&c, &sim, serde_json::json!({"kind": "latency", "ms": 150})).await;
    let t = Instant::now();
    let r = post(&c, &sim, "user1@contoso.test", "password", soap("Unsubscribe", None)).await;
    assert_eq!(r.status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
    let s = stats(&c, &sim).await;
    assert_eq!(s["faults_served"]["http_status"], 2);
    assert_eq!(s["faults_served"]["latency"], 1);
    assert_eq!(s["outcomes"]["Unsubscribe"]["http:503"], 1);

    inject(&c, &sim, serde_json::json!({"kind": "reset"})).await;
    let t = Instant::now();
    let r = post(&c, &sim, "user1@contoso.test", "password", soap("Unsubscribe", None)).await;
    assert_eq!(r.status(), 200);
    assert!(t.elapsed() < Duration::from_millis(150));
    let s = stats(&c, &sim).await;
    assert_eq!(s["requests"]["Unsubscribe"], 1);
    assert!(s["faults_served"].as_object().unwrap().is_empty());

    let r = c
        .post(format!("{}/sim/faults", sim.base_url()))
        .json(&serde_json::json!({"kind": "meteor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Throttling

#[tokio::test]
async fn more_than_27_concurrent_requests_get_server_busy() {
    let mut cfg = config();
    cfg.latency = Duration::from_millis(600);
    let (sim, _) = start(cfg).await;
    let c = reqwest::Client::builder().timeout(Duration::from_secs(20)).pool_max_idle_per_host(64).build().unwrap();
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let c = c.clone();
        let url = sim.ews_url();
        tasks.push(tokio::spawn(async move {
            let r = c
                .post(url)
                .basic_auth(SVC, Some(SVC_PASSWORD))
                .body(soap("Unsubscribe", Some("user1@contoso.test")))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }));
    }
    let mut ok = 0;
    let mut busy = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            200 => ok += 1,
            500 => {
                assert!(body.contains("ErrorServerBusy") && body.contains("BackOffMilliseconds"), "{body}");
                busy += 1;
            }
            s => panic!("unexpected status {s}"),
        }
    }
    assert_eq!((ok, busy), (27, 3));
    let s = sim.stats();
    assert_eq!(s.faults_served["concurrency_limit"], 3);
    // Another budget (another impersonated mailbox) is not affected by a full one.
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Streaming

fn streaming_config() -> SimConfig {
    let mut c = config();
    c.heartbeat_interval = Duration::from_millis(100);
    c.connection_timeout_unit = Duration::from_millis(700);
    c
}

async fn open_stream(c: &reqwest::Client, sim: &RunningSim, mailbox: &str) -> reqwest::Response {
    c.post(sim.ews_url())
        .basic_auth(SVC, Some(SVC_PASSWORD))
        .body(soap("GetStreamingEvents", Some(mailbox)))
        .send()
        .await
        .unwrap()
}

/// Reads chunks until a whole envelope is there (chunks are whole envelopes here anyway).
async fn next_envelope(r: &mut reqwest::Response) -> Option<String> {
    let chunk = r.chunk().await.unwrap()?;
    Some(String::from_utf8(chunk.to_vec()).unwrap())
}

#[tokio::test]
async fn streaming_heartbeats_then_closed_after_the_timeout() {
    let (sim, rec) = start(streaming_config()).await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    *rec.feed.lock().unwrap() = Some(rx);
    let c = client();
    let t = Instant::now();
    let mut r = open_stream(&c, &sim, "user1@contoso.test").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[CONTENT_TYPE], "text/xml; charset=utf-8");
    assert_eq!(r.headers()["transfer-encoding"], "chunked");
    let first = next_envelope(&mut r).await.unwrap();
    assert!(first.contains("<m:ConnectionStatus>OK</m:ConnectionStatus>"), "{first}");
    assert_eq!(sim.stats().open_streaming_connections, 1);

    tx.send(Bytes::from_static(b"<notification/>")).await.unwrap();
    let mut envelopes = vec![first];
    while let Some(e) = next_envelope(&mut r).await {
        envelopes.push(e);
    }
    let elapsed = t.elapsed();
    assert!(envelopes.contains(&"<notification/>".to_string()));
    let oks = envelopes.iter().filter(|e| e.contains("<m:ConnectionStatus>OK</m:ConnectionStatus>")).count();
    assert!(oks >= 4, "heartbeats every 100 ms for 700 ms, got {oks}: {envelopes:?}");
    assert!(envelopes.last().unwrap().contains("<m:ConnectionStatus>Closed</m:ConnectionStatus>"));
    for e in envelopes.iter().filter(|e| e.contains("ConnectionStatus")) {
        let env = Envelope::parse(e.as_bytes()).unwrap();
        assert!(env.header.server_version_info.is_some());
    }
    assert!(elapsed >= Duration::from_millis(700) && elapsed < Duration::from_secs(5), "{elapsed:?}");
    // The connection is released once the response ended.
    for _ in 0..50 {
        if sim.stats().open_streaming_connections == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let s = sim.stats();
    assert_eq!(s.open_streaming_connections, 0);
    assert_eq!(s.streaming_connections_opened, 1);
    assert_eq!(s.requests["GetStreamingEvents"], 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn hanging_connection_limit_per_budget() {
    let mut cfg = streaming_config();
    cfg.connection_timeout_unit = Duration::from_secs(60);
    cfg.limits.hanging_connections = 2;
    let (sim, _) = start(cfg).await;
    let c = client();
    let mut a = open_stream(&c, &sim, "user1@contoso.test").await;
    let mut b = open_stream(&c, &sim, "user1@contoso.test").await;
    assert!(next_envelope(&mut a).await.unwrap().contains("OK"));
    assert!(next_envelope(&mut b).await.unwrap().contains("OK"));
    let r = open_stream(&c, &sim, "user1@contoso.test").await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("ErrorExceededConnectionCount") && text.contains("ResponseClass=\"Error\""), "{text}");
    // Impersonating another mailbox charges another budget.
    let mut d = open_stream(&c, &sim, "user2@contoso.test").await;
    assert!(next_envelope(&mut d).await.unwrap().contains("OK"));
    let s = sim.stats();
    assert_eq!(s.open_streaming_connections, 3);
    assert_eq!(s.faults_served["hanging_connection_limit"], 1);
    assert_eq!(s.outcomes["GetStreamingEvents"]["ErrorExceededConnectionCount"], 1);
    drop((a, b, d));
    sim.shutdown().await;
}

#[tokio::test]
async fn drop_streams_closes_the_tcp_connection_without_closed() {
    let mut cfg = streaming_config();
    cfg.connection_timeout_unit = Duration::from_secs(60);
    let (sim, _) = start(cfg).await;
    let c = client();
    let mut r = open_stream(&c, &sim, "user1@contoso.test").await;
    assert!(next_envelope(&mut r).await.unwrap().contains("OK"));
    inject(&c, &sim, serde_json::json!({"kind": "drop_streams"})).await;
    let mut saw_closed = false;
    let err = loop {
        match r.chunk().await {
            Ok(Some(chunk)) => saw_closed |= String::from_utf8_lossy(&chunk).contains("Closed"),
            Ok(None) => panic!("the stream ended cleanly"),
            Err(e) => break e,
        }
    };
    assert!(!saw_closed);
    assert!(err.is_body() || err.is_decode() || err.is_request(), "{err:?}");
    let s = sim.stats();
    assert_eq!(s.faults_served["drop_streams"], 1);
    assert_eq!(s.open_streaming_connections, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn expire_subscriptions_ends_open_streams_with_an_error_then_closed() {
    let mut cfg = streaming_config();
    cfg.connection_timeout_unit = Duration::from_secs(60);
    let (sim, _) = start(cfg).await;
    let c = client();
    let mut r = open_stream(&c, &sim, "user1@contoso.test").await;
    assert!(next_envelope(&mut r).await.unwrap().contains("OK"));
    inject(&c, &sim, serde_json::json!({"kind": "expire_subscriptions"})).await;
    let mut last = String::new();
    while let Some(e) = next_envelope(&mut r).await {
        last = e;
    }
    assert!(last.contains("ErrorSubscriptionNotFound"), "{last}");
    assert!(last.contains("<t:SubscriptionId>sub-1</t:SubscriptionId>") && last.contains("sub-2"), "{last}");
    assert!(last.contains("<m:ConnectionStatus>Closed</m:ConnectionStatus>"));
    assert_eq!(sim.stats().faults_served["expire_subscriptions"], 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_open_streams_with_closed() {
    let mut cfg = streaming_config();
    cfg.connection_timeout_unit = Duration::from_secs(60);
    let (sim, _) = start(cfg).await;
    let c = client();
    let mut r = open_stream(&c, &sim, "user1@contoso.test").await;
    assert!(next_envelope(&mut r).await.unwrap().contains("OK"));
    let reader = tokio::spawn(async move {
        let mut last = String::new();
        while let Some(e) = next_envelope(&mut r).await {
            last = e;
        }
        last
    });
    let t = Instant::now();
    sim.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(reader.await.unwrap().contains("<m:ConnectionStatus>Closed</m:ConnectionStatus>"));
}

// ---------------------------------------------------------------------------------------------
// TLS

#[tokio::test]
async fn tls_with_a_generated_certificate() {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let dir = std::env::temp_dir().join(format!("exbridge-sim-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, key.cert.pem()).unwrap();
    std::fs::write(&key_path, key.signing_key.serialize_pem()).unwrap();

    let mut cfg = config();
    cfg.tls = Some(exbridge_sim::config::TlsFiles { cert: cert_path, key: key_path });
    let (sim, _) = start(cfg).await;
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(sim.ews_url().starts_with("https://"));

    let trusted = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(key.cert.pem().as_bytes()).unwrap()])
        .resolve("localhost", sim.addr())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/EWS/Exchange.asmx", sim.addr().port());
    let r = trusted
        .post(&url)
        .basic_auth("user1@contoso.test", Some("password"))
        .body(soap("Unsubscribe", None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let stranger = reqwest::Client::builder()
        .tls_certs_only([])
        .resolve("localhost", sim.addr())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let e = stranger.post(&url).body(soap("Unsubscribe", None)).send().await.unwrap_err();
    assert!(e.is_connect() || e.is_request(), "{e:?}");

    // Plain HTTP to the TLS port gets nowhere.
    let plain = client().post(format!("http://{}/EWS/Exchange.asmx", sim.addr())).body("x").send().await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Schema

/// Every kind of document the server itself writes validates against the EWS schema.
#[tokio::test]
async fn server_documents_validate_against_the_schema() {
    let mut cfg = streaming_config();
    cfg.limits.hanging_connections = 1;
    let (sim, _) = start(cfg).await;
    let c = client();
    let mut docs = Vec::new();
    let mut add = |label: &str, xml: String| docs.push((label.to_string(), xml));

    let r = post(&c, &sim, "user1@contoso.test", "password", "<nope/>".into()).await;
    add("schema validation fault", r.text().await.unwrap());
    let r = post(&c, &sim, "user1@contoso.test", "password", soap("Unsubscribe", Some("user2@contoso.test"))).await;
    add("impersonation denied", r.text().await.unwrap());
    let r = post(&c, &sim, SVC, SVC_PASSWORD, soap("Unsubscribe", Some("ghost@contoso.test"))).await;
    add("non-existent mailbox", r.text().await.unwrap());
    inject(&c, &sim, serde_json::json!({"kind": "server_busy", "count": 1, "backoff_ms": 5})).await;
    let r = post(&c, &sim, "user1@contoso.test", "password", soap("Unsubscribe", None)).await;
    add("server busy", r.text().await.unwrap());
    let placeholder = server::start(config()).await.unwrap();
    let r = post(&c, &placeholder, "user1@contoso.test", "password", soap("GetFolder", None)).await;
    add("not implemented", r.text().await.unwrap());
    placeholder.shutdown().await;

    let mut stream = open_stream(&c, &sim, "user1@contoso.test").await;
    let r = open_stream(&c, &sim, "user1@contoso.test").await;
    add("exceeded connection count", r.text().await.unwrap());
    let mut n = 0;
    while let Some(e) = next_envelope(&mut stream).await {
        n += 1;
        add(&format!("stream envelope {n}"), e);
    }
    let mut stream = open_stream(&c, &sim, "user1@contoso.test").await;
    add("first envelope", next_envelope(&mut stream).await.unwrap());
    inject(&c, &sim, serde_json::json!({"kind": "expire_subscriptions"})).await;
    add("expired", next_envelope(&mut stream).await.unwrap());
    ews_schema_check::assert_all_valid(&docs);
    sim.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Control API on the store

fn path_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn control_api_drives_the_store() {
    let (sim, _) = start(config()).await;
    let c = client();
    let base = sim.base_url();
    let r = c
        .post(format!("{base}/sim/mailboxes"))
        .json(&serde_json::json!({"smtp": "nina@contoso.test", "aliases": ["nn@contoso.test"], "display_name": "Nina New", "time_zone": "Pacific Standard Time"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    // The new user signs in (by alias too) at once.
    let r = post(&c, &sim, "nn@contoso.test", "password", soap("Unsubscribe", None)).await;
    assert_eq!(r.status(), 200);
    let r = c
        .post(format!("{base}/sim/mailboxes"))
        .json(&serde_json::json!({"smtp": "nina@contoso.test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);

    let items = format!("{base}/sim/mailboxes/nina@contoso.test/items");
    let r = c
        .post(&items)
        .json(&serde_json::json!({"subject": "Standup", "start": "2026-03-02T09:00:00", "end": "2026-03-02T09:15:00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let item: serde_json::Value = r.json().await.unwrap();
    assert_eq!(item["subject"], "Standup");
    assert_eq!(item["time_zone"], "Pacific Standard Time");
    let id = item["item_id"].as_str().unwrap().to_string();

    let list: Vec<serde_json::Value> = c.get(&items).send().await.unwrap().json().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["item_id"], id.as_str());

    let one = format!("{items}/{}", path_escape(&id));
    let r = c.patch(&one).json(&serde_json::json!({"subject": "Daily"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let patched: serde_json::Value = r.json().await.unwrap();
    assert_eq!(patched["subject"], "Daily");
    assert_ne!(patched["change_key"], item["change_key"]);

    let r = c.delete(&one).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let list: Vec<serde_json::Value> = c.get(&items).send().await.unwrap().json().await.unwrap();
    assert!(list.is_empty());
    let r = c.delete(&one).send().await.unwrap();
    assert_eq!(r.status(), 404);

    let r = c
        .put(format!("{base}/sim/mailboxes/nina@contoso.test/oof"))
        .json(&serde_json::json!({"state": "Enabled", "internal_reply": "Away"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let r = c.get(format!("{base}/sim/mailboxes/ghost@contoso.test/items")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let e: serde_json::Value = r.json().await.unwrap();
    assert!(e["error"]["code"].is_string());
    let r = c.post(&items).body("{not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn stats_show_active_subscriptions_and_expire_invalidates_them() {
    let (sim, _) = start(config()).await;
    let store = sim.store().clone();
    let m = store.mailbox("user1@contoso.test").unwrap();
    let sub = store.subscribe(&m, exbridge_sim::store::notify::SubscriptionSpec::streaming_calendar());
    let c = client();
    assert_eq!(stats(&c, &sim).await["active_subscriptions"], 1);
    inject(&c, &sim, serde_json::json!({"kind": "expire_subscriptions"})).await;
    let s = stats(&c, &sim).await;
    assert_eq!(s["active_subscriptions"], 0);
    assert_eq!(s["faults_served"]["expire_subscriptions"], 1);
    assert!(store.subscription(sub.id().as_str()).is_err());
    sim.shutdown().await;
}

#[tokio::test]
async fn start_seeds_the_configured_mailboxes() {
    let sim = server::start(config()).await.unwrap();
    assert_eq!(sim.store().mailbox_count(), 5);
    let c = client();
    let r = post(&c, &sim, "user5@contoso.test", "password", soap("GetFolder", None)).await;
    assert_eq!(r.status(), 500); // authenticated; the placeholder has no operations
    let r = post(&c, &sim, "user6@contoso.test", "password", soap("GetFolder", None)).await;
    assert_eq!(r.status(), 401);
    sim.shutdown().await;
}
