//! `Subscribe`: create a pull, push or streaming subscription to a mailbox's events.
//!
//! Streaming is what the connector uses (DIGEST §3): `StreamingSubscriptionRequest` takes no
//! watermark, one subscription covers one mailbox (a request mixing mailboxes fails with
//! `ErrorInvalidSubscriptionRequest`), and `EWSMaxSubscriptions` (20 per mailbox in Exchange
//! Online, 5000 on Exchange 2013) is charged to the target mailbox. Subscribe with
//! `X-AnchorMailbox` and `X-PreferServerAffinity: true` and keep the `X-BackEndOverrideCookie`
//! the response sets, so that `GetStreamingEvents` reaches the mailbox server holding the
//! subscription (`samples/Affinity-*.http`).

use std::ops::RangeInclusive;

use crate::error::{Error, Result};
use crate::ids::{FolderId, SubscriptionId, Watermark};
use crate::ops::get_folder::{read_folder_ids, write_folder_ids};
use crate::response::{ResponseStatus, read_messages, write_messages};
use crate::xml::{Element, FromXml, Name, ToXml, Writer, XmlText, m, t};
use crate::xml_enum;

xml_enum! {
    /// `t:EventType` of a subscription (`t:NotificationEventTypeType`). `StatusEvent` is not
    /// one: the server sends it on its own (heartbeat of pull/push subscriptions).
    pub enum EventType {
        Copied = "CopiedEvent",
        Created = "CreatedEvent",
        Deleted = "DeletedEvent",
        Modified = "ModifiedEvent",
        Moved = "MovedEvent",
        NewMail = "NewMailEvent",
        /// Exchange 2010 SP1+.
        FreeBusyChanged = "FreeBusyChangedEvent",
    }
}

impl EventType {
    /// What a calendar mirror needs: everything but `NewMail`.
    pub const CALENDAR: &'static [EventType] = &[
        EventType::Created,
        EventType::Deleted,
        EventType::Modified,
        EventType::Moved,
        EventType::Copied,
        EventType::FreeBusyChanged,
    ];
}

/// Minutes a pull subscription lives without a `GetEvents` call (`t:SubscriptionTimeoutType`).
pub const PULL_TIMEOUT_MINUTES: RangeInclusive<i32> = 1..=1440;
/// Minutes between push status notifications (`t:SubscriptionStatusFrequencyType`).
pub const PUSH_STATUS_FREQUENCY_MINUTES: RangeInclusive<i32> = 1..=1440;

/// Reads a required integer child and checks it against a schema range.
pub(crate) fn int_in_range(el: &Element, name: Name<'_>, range: RangeInclusive<i32>) -> Result<i32> {
    let c = el.req(name)?;
    let v: i32 = c.value().map_err(|e| e.at(el))?;
    if !range.contains(&v) {
        return Err(Error::invalid(c.text.trim(), format!("an integer in {}..={}", range.start(), range.end()))
            .at(c)
            .at(el));
    }
    Ok(v)
}

/// Reads a child whose schema type is a `t:NonEmptyStringType` (ids, watermarks).
pub(crate) fn non_empty<T: XmlText>(el: &Element) -> Result<T> {
    if el.text.trim().is_empty() {
        return Err(Error::invalid("", "a non-empty string").at(el));
    }
    el.value()
}

/// Reads a required non-empty child.
pub(crate) fn req_non_empty<T: XmlText>(el: &Element, name: Name<'_>) -> Result<T> {
    non_empty(el.req(name)?).map_err(|e| e.at(el))
}

/// Reads an optional non-empty child.
pub(crate) fn opt_non_empty<T: XmlText>(el: &Element, name: Name<'_>) -> Result<Option<T>> {
    match el.child(name) {
        None => Ok(None),
        Some(c) => non_empty(c).map(Some).map_err(|e| e.at(el)),
    }
}

/// The part all subscription kinds share (`FolderIds`, `EventTypes`, `@SubscribeToAllFolders`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionScope {
    /// `@SubscribeToAllFolders`: every folder of the mailbox (then `folder_ids` names none or
    /// says which mailbox). Counts as one subscription against `EWSMaxSubscriptions`.
    pub subscribe_to_all_folders: Option<bool>,
    /// `t:FolderIds` (non-empty when present), e.g. `DistinguishedFolderId Id="calendar"`.
    pub folder_ids: Option<Vec<FolderId>>,
    /// `t:EventTypes` (at least one).
    pub event_types: Vec<EventType>,
}

impl SubscriptionScope {
    /// Events of the given kinds in the given folders.
    pub fn folders(folder_ids: Vec<FolderId>, event_types: &[EventType]) -> Self {
        SubscriptionScope {
            subscribe_to_all_folders: None,
            folder_ids: Some(folder_ids),
            event_types: event_types.to_vec(),
        }
    }

    /// The calendar events ([`EventType::CALENDAR`]) of the default calendar.
    pub fn calendar() -> Self {
        SubscriptionScope::folders(vec![FolderId::calendar()], EventType::CALENDAR)
    }

    fn read(el: &Element) -> Result<Self> {
        let folder_ids = match el.child(t("FolderIds")) {
            None => None,
            Some(f) => Some(read_folder_ids(f).map_err(|e| e.at(el))?),
        };
        let types_el = el.req(t("EventTypes"))?;
        let event_types: Vec<EventType> = types_el
            .children_named(t("EventType"))
            .map(|c| c.value().map_err(|e| e.at(types_el)))
            .collect::<Result<_>>()
            .map_err(|e| e.at(el))?;
        if event_types.is_empty() {
            return Err(Error::missing("element t:EventType").at(types_el).at(el));
        }
        Ok(SubscriptionScope {
            subscribe_to_all_folders: el.attr_as("SubscribeToAllFolders")?,
            folder_ids,
            event_types,
        })
    }

    /// Writes the attribute (the element must be open) and the two elements.
    fn write(&self, w: &mut Writer) {
        w.attr_opt("SubscribeToAllFolders", &self.subscribe_to_all_folders);
        if let Some(ids) = &self.folder_ids {
            write_folder_ids(w, t("FolderIds"), ids);
        }
        w.start(t("EventTypes"));
        for e in &self.event_types {
            w.leaf_val(t("EventType"), e);
        }
        w.end();
    }
}

/// `m:PullSubscriptionRequest`: events are fetched with `GetEvents`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSubscriptionRequest {
    pub scope: SubscriptionScope,
    /// `t:Watermark`: resume from this bookmark. Resubscribing with an old watermark "causes a
    /// linear scan for events, which is costly"; prefer a fresh subscription plus a sync
    /// (DIGEST §3).
    pub watermark: Option<Watermark>,
    /// `t:Timeout`, minutes, 1..=1440 ([`PULL_TIMEOUT_MINUTES`]): the subscription is deleted
    /// when not polled within that time.
    pub timeout: i32,
}

/// `m:PushSubscriptionRequest`: the server POSTs `SendNotification` to `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscriptionRequest {
    pub scope: SubscriptionScope,
    pub watermark: Option<Watermark>,
    /// `t:StatusFrequency`, minutes, 1..=1440 ([`PUSH_STATUS_FREQUENCY_MINUTES`]).
    pub status_frequency: i32,
    /// `t:URL` of the client's notification endpoint.
    pub url: String,
    /// `t:CallerData`: echoed back in notifications (Exchange 2013+).
    pub caller_data: Option<String>,
}

/// `m:StreamingSubscriptionRequest` (Exchange 2010 SP1+): events arrive over a hanging
/// `GetStreamingEvents` connection. Takes **no watermark**.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamingSubscriptionRequest {
    pub scope: SubscriptionScope,
}

/// `m:Subscribe`: a choice of one subscription request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscribe {
    Pull(PullSubscriptionRequest),
    Push(PushSubscriptionRequest),
    Streaming(StreamingSubscriptionRequest),
}

impl Subscribe {
    /// A streaming subscription.
    pub fn streaming(scope: SubscriptionScope) -> Self {
        Subscribe::Streaming(StreamingSubscriptionRequest { scope })
    }

    /// A pull subscription with a timeout in minutes (1..=1440; checked when read, the caller's
    /// duty when written).
    pub fn pull(scope: SubscriptionScope, timeout: i32) -> Self {
        Subscribe::Pull(PullSubscriptionRequest { scope, watermark: None, timeout })
    }

    /// The folders and event types asked for.
    pub fn scope(&self) -> &SubscriptionScope {
        match self {
            Subscribe::Pull(p) => &p.scope,
            Subscribe::Push(p) => &p.scope,
            Subscribe::Streaming(s) => &s.scope,
        }
    }
}

impl FromXml for Subscribe {
    fn from_xml(el: &Element) -> Result<Self> {
        let c = el.single_child()?;
        let r = if c.is(m("PullSubscriptionRequest")) {
            (|| {
                Ok(Subscribe::Pull(PullSubscriptionRequest {
                    scope: SubscriptionScope::read(c)?,
                    watermark: opt_non_empty(c, t("Watermark"))?,
                    timeout: int_in_range(c, t("Timeout"), PULL_TIMEOUT_MINUTES)?,
                }))
            })()
        } else if c.is(m("PushSubscriptionRequest")) {
            (|| {
                Ok(Subscribe::Push(PushSubscriptionRequest {
                    scope: SubscriptionScope::read(c)?,
                    watermark: opt_non_empty(c, t("Watermark"))?,
                    status_frequency: int_in_range(c, t("StatusFrequency"), PUSH_STATUS_FREQUENCY_MINUTES)?,
                    url: c.get_text_req(t("URL"))?,
                    caller_data: c.get_text(t("CallerData"))?,
                }))
            })()
        } else if c.is(m("StreamingSubscriptionRequest")) {
            SubscriptionScope::read(c).map(|scope| Subscribe::Streaming(StreamingSubscriptionRequest { scope }))
        } else {
            Err(Error::invalid(
                c.display_name(),
                "m:PullSubscriptionRequest, m:PushSubscriptionRequest or m:StreamingSubscriptionRequest",
            )
            .at(c))
        };
        r.map_err(|e| e.at(el))
    }
}

impl ToXml for Subscribe {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name);
        match self {
            Subscribe::Pull(p) => {
                w.start(m("PullSubscriptionRequest"));
                p.scope.write(w);
                w.leaf_opt(t("Watermark"), &p.watermark);
                w.leaf_val(t("Timeout"), &p.timeout);
                w.end();
            }
            Subscribe::Push(p) => {
                w.start(m("PushSubscriptionRequest"));
                p.scope.write(w);
                w.leaf_opt(t("Watermark"), &p.watermark);
                w.leaf_val(t("StatusFrequency"), &p.status_frequency);
                w.leaf(t("URL"), &p.url);
                w.leaf_opt(t("CallerData"), &p.caller_data);
                w.end();
            }
            Subscribe::Streaming(s) => {
                w.start(m("StreamingSubscriptionRequest"));
                s.scope.write(w);
                w.end();
            }
        }
        w.end();
    }
}

/// `m:SubscribeResponseMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscribeResponseMessage {
    pub status: ResponseStatus,
    /// `m:SubscriptionId`. Exchange Online ids embed the backend server name (DIGEST §3).
    pub subscription_id: Option<SubscriptionId>,
    /// `m:Watermark`: pull and push subscriptions only.
    pub watermark: Option<Watermark>,
}

impl FromXml for SubscribeResponseMessage {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(SubscribeResponseMessage {
            status: ResponseStatus::read(el)?,
            subscription_id: opt_non_empty(el, m("SubscriptionId"))?,
            watermark: opt_non_empty(el, m("Watermark"))?,
        })
    }
}

impl ToXml for SubscribeResponseMessage {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        self.status.write_start(w, name);
        w.leaf_opt(m("SubscriptionId"), &self.subscription_id);
        w.leaf_opt(m("Watermark"), &self.watermark);
        w.end();
    }
}

/// `m:SubscribeResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscribeResponse {
    pub messages: Vec<SubscribeResponseMessage>,
}

impl FromXml for SubscribeResponse {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(SubscribeResponse { messages: read_messages(el, "SubscribeResponseMessage")? })
    }
}

impl ToXml for SubscribeResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        write_messages(w, name, "SubscribeResponseMessage", &self.messages);
    }
}

/// Helpers shared by the tests of the notification, folder and name-resolution modules.
#[cfg(test)]
pub(crate) mod test_support {
    use crate::soap::{Body, Envelope, Header, ServerVersionInfo};
    use crate::xml::Element;

    /// The bytes of a sample; for `.http` samples, the XML after the HTTP headers.
    pub fn sample_bytes(name: &str) -> Vec<u8> {
        let bytes = std::fs::read(ews_schema_check::samples_dir().join(name)).unwrap();
        if name.ends_with(".http") {
            let start = bytes.windows(5).position(|w| w == b"<?xml").expect("XML part of an .http sample");
            bytes[start..].to_vec()
        } else {
            bytes
        }
    }

    /// A sample parsed as an envelope.
    pub fn sample(name: &str) -> Envelope {
        Envelope::parse(&sample_bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// The error a sample (or any document) gives.
    pub fn parse_err(doc: &[u8]) -> String {
        match Envelope::parse(doc) {
            Ok(env) => panic!("expected an error, parsed {}", env.body.element_name()),
            Err(e) => e.to_string(),
        }
    }

    /// A request envelope as a client sends it.
    pub fn request(body: impl Into<Body>) -> Envelope {
        let header = Header {
            request_server_version: Some(crate::soap::ExchangeVersion::Exchange2013_SP1),
            ..Header::default()
        };
        Envelope::new(header, body)
    }

    /// A response envelope as Exchange 2016 sends it.
    pub fn response(body: impl Into<Body>) -> Envelope {
        let header = Header { server_version_info: Some(ServerVersionInfo::exchange2016()), ..Header::default() };
        Envelope::new(header, body)
    }

    /// Serializes, checks the round trip and returns the labelled document for validation.
    pub fn round_trip(label: &str, env: &Envelope) -> (String, String) {
        let xml = env.to_xml_string();
        let back = Envelope::parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{label}: {e}\n{xml}"));
        assert_eq!(&back, env, "{label} does not round-trip:\n{xml}");
        (label.to_string(), xml)
    }

    /// Parses a snippet (declaring `m:` and `t:`) into an element, for raw fields.
    pub fn raw(snippet: &str) -> Element {
        let doc = format!(
            "<w xmlns:m=\"{}\" xmlns:t=\"{}\">{snippet}</w>",
            crate::xml::Ns::MESSAGES_URI,
            crate::xml::Ns::TYPES_URI
        );
        crate::xml::parse(doc.as_bytes()).unwrap().children.remove(0)
    }

    /// Wraps a body element (written with `m:`/`t:` prefixes) in an envelope.
    pub fn envelope_with(body: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"{}\" xmlns:m=\"{}\" xmlns:t=\"{}\"><soap:Body>{body}</soap:Body></soap:Envelope>",
            crate::xml::Ns::SOAP_URI,
            crate::xml::Ns::MESSAGES_URI,
            crate::xml::Ns::TYPES_URI
        )
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::ids::DistinguishedFolderName;
    use crate::response::ResponseClass;
    use crate::response_code::ResponseCode;
    use crate::soap::{Body, ConnectingSid};

    fn subscribe(name: &str) -> Subscribe {
        match sample(name).body {
            Body::Subscribe(s) => s,
            other => panic!("{name}: {}", other.element_name()),
        }
    }

    fn subscribe_response(name: &str) -> SubscribeResponse {
        match sample(name).body {
            Body::SubscribeResponse(s) => s,
            other => panic!("{name}: {}", other.element_name()),
        }
    }

    #[test]
    fn request_samples() {
        let Subscribe::Pull(p) = subscribe("Subscribe-Pull.request.xml") else { panic!() };
        assert_eq!(p.timeout, 10);
        assert_eq!(p.watermark, None);
        assert_eq!(p.scope.event_types, vec![EventType::NewMail, EventType::Deleted]);
        assert_eq!(p.scope.folder_ids, Some(vec![FolderId::distinguished(DistinguishedFolderName::Inbox)]));
        assert_eq!(p.scope.subscribe_to_all_folders, None);

        let s = subscribe("Subscribe-Streaming.request.xml");
        let Subscribe::Streaming(st) = &s else { panic!() };
        assert_eq!(st.scope.event_types.len(), 7);
        assert_eq!(st.scope.event_types[6], EventType::FreeBusyChanged);

        for (name, who) in [
            ("Affinity-1-Subscribe-AnchorMailbox.request.http", "alfred@contoso.com"),
            ("Affinity-3-Subscribe-GroupMember.request.http", "sadie@contoso.com"),
        ] {
            let env = sample(name);
            assert_eq!(env.header.impersonation, Some(ConnectingSid::SmtpAddress(who.into())), "{name}");
            let Body::Subscribe(Subscribe::Streaming(st)) = env.body else { panic!("{name}") };
            assert_eq!(st.scope.event_types, vec![EventType::NewMail]);
        }

        // The documentation's push example puts `Subscribe` in no namespace: not an EWS request.
        let e = parse_err(&sample_bytes("Subscribe-Push.request.xml"));
        assert!(e.contains("unexpected element Subscribe") && e.contains("/soap:Body/Subscribe"), "{e}");
    }

    #[test]
    fn response_samples() {
        let r = subscribe_response("Subscribe-Pull.response.xml");
        assert_eq!(r.messages[0].subscription_id.as_ref().unwrap().as_str(), "39ea5d0f-f062-455e-a1e9-89c0304390f4");
        assert_eq!(r.messages[0].watermark.as_ref().unwrap().as_str(), "AAAAAHgGAAAAAAAAAQ==");

        // Everything in the default namespace.
        let r = subscribe_response("Subscribe-Push.response.xml");
        assert_eq!(r.messages[0].subscription_id.as_ref().unwrap().as_str(), "83826921-afdf-48be-b469-628cc02b5f49");
        assert!(r.messages[0].status.is_success());

        let r = subscribe_response("Subscribe-Streaming.response.xml");
        assert!(r.messages[0].subscription_id.as_ref().unwrap().as_str().starts_with("JgBibjFwcjAz"));
        assert_eq!(r.messages[0].watermark, None);

        let r = subscribe_response("Subscribe-Error-DelegateAccessNotSupported.response.xml");
        assert_eq!(r.messages[0].status.class, ResponseClass::Error);
        assert_eq!(r.messages[0].status.code(), ResponseCode::ErrorSubscriptionDelegateAccessNotSupported);
        assert_eq!(r.messages[0].subscription_id, None);

        for name in
            ["Affinity-2-Subscribe-AnchorMailbox.response.http", "Affinity-4-Subscribe-GroupMember.response.http"]
        {
            let r = subscribe_response(name);
            assert!(r.messages[0].subscription_id.as_ref().unwrap().as_str().starts_with("JgBjbzFwcjA2"), "{name}");
        }
    }

    fn constructed() -> Vec<(&'static str, crate::soap::Envelope)> {
        let all_folders = SubscriptionScope {
            subscribe_to_all_folders: Some(true),
            folder_ids: None,
            event_types: EventType::ALL.to_vec(),
        };
        vec![
            ("streaming calendar", request(Subscribe::streaming(SubscriptionScope::calendar()))),
            ("streaming all folders", request(Subscribe::streaming(all_folders.clone()))),
            (
                "pull with watermark",
                request(Subscribe::Pull(PullSubscriptionRequest {
                    scope: SubscriptionScope::folders(
                        vec![FolderId::calendar(), FolderId::Id { id: "AAMk".into(), change_key: Some("AgAA".into()) }],
                        &[EventType::Modified],
                    ),
                    watermark: Some(Watermark::new("AAAAAHgGAAAAAAAAAQ==")),
                    timeout: 1440,
                })),
            ),
            ("pull minimal", request(Subscribe::pull(SubscriptionScope::calendar(), 1))),
            (
                "push full",
                request(Subscribe::Push(PushSubscriptionRequest {
                    scope: all_folders,
                    watermark: Some(Watermark::new("AQAAAOpvG0LURVdOhQkPOWZLPcI8EgAAAAAAAAE=")),
                    status_frequency: 30,
                    url: "https://connector.example/ews/push?a=1&b=2".into(),
                    caller_data: Some("tenant <42>".into()),
                })),
            ),
            (
                "response success",
                response(SubscribeResponse {
                    messages: vec![
                        SubscribeResponseMessage {
                            status: ResponseStatus::success(),
                            subscription_id: Some(SubscriptionId::new("JgBjbzFwcjA2")),
                            watermark: Some(Watermark::new("AAAAAHgGAAAAAAAAAQ==")),
                        },
                        SubscribeResponseMessage {
                            status: ResponseStatus::error(
                                ResponseCode::ErrorExceededSubscriptionCount,
                                "You have exceeded the available subscriptions for your account.",
                            ),
                            subscription_id: None,
                            watermark: None,
                        },
                    ],
                }),
            ),
        ]
    }

    #[test]
    fn schema_validity_and_round_trips() {
        let mut docs: Vec<(String, String)> = constructed().iter().map(|(label, env)| round_trip(label, env)).collect();
        for name in [
            "Subscribe-Pull.request.xml",
            "Subscribe-Pull.response.xml",
            "Subscribe-Push.response.xml",
            "Subscribe-Streaming.request.xml",
            "Subscribe-Streaming.response.xml",
            "Subscribe-Error-DelegateAccessNotSupported.response.xml",
            "Affinity-1-Subscribe-AnchorMailbox.request.http",
            "Affinity-2-Subscribe-AnchorMailbox.response.http",
            "Affinity-3-Subscribe-GroupMember.request.http",
            "Affinity-4-Subscribe-GroupMember.response.http",
        ] {
            docs.push(round_trip(name, &sample(name)));
        }
        ews_schema_check::assert_all_valid(&docs);
    }

    #[test]
    fn errors_name_the_path() {
        let pull = |inner: &str| {
            envelope_with(&format!(
                "<m:Subscribe><m:PullSubscriptionRequest>{inner}</m:PullSubscriptionRequest></m:Subscribe>"
            ))
        };
        let events = "<t:EventTypes><t:EventType>CreatedEvent</t:EventType></t:EventTypes>";
        let base = "/soap:Envelope/soap:Body/m:Subscribe/m:PullSubscriptionRequest";
        for (doc, expected) in [
            (pull(&format!("{events}<t:Timeout>0</t:Timeout>")), format!("1..=1440 at {base}/t:Timeout")),
            (pull(&format!("{events}<t:Timeout>1441</t:Timeout>")), format!("1..=1440 at {base}/t:Timeout")),
            (pull(&format!("{events}<t:Timeout>ten</t:Timeout>")), format!("at {base}/t:Timeout")),
            (pull(events), format!("missing element t:Timeout at {base}")),
            (pull("<t:Timeout>5</t:Timeout>"), format!("missing element t:EventTypes at {base}")),
            (
                pull("<t:EventTypes></t:EventTypes><t:Timeout>5</t:Timeout>"),
                format!("missing element t:EventType at {base}/t:EventTypes"),
            ),
            (
                pull("<t:EventTypes><t:EventType>StatusEvent</t:EventType></t:EventTypes><t:Timeout>5</t:Timeout>"),
                format!(
                    "\"StatusEvent\": expected one of CopiedEvent, CreatedEvent, DeletedEvent, ModifiedEvent, MovedEvent, NewMailEvent, FreeBusyChangedEvent at {base}/t:EventTypes/t:EventType"
                ),
            ),
            (pull(&format!("<t:FolderIds/>{events}<t:Timeout>5</t:Timeout>")), format!("at {base}/t:FolderIds")),
            (
                pull(&format!("{events}<t:Watermark> </t:Watermark><t:Timeout>5</t:Timeout>")),
                format!("non-empty string at {base}/t:Watermark"),
            ),
            (
                envelope_with(&format!(
                    "<m:Subscribe><m:PushSubscriptionRequest>{events}<t:StatusFrequency>5</t:StatusFrequency></m:PushSubscriptionRequest></m:Subscribe>"
                )),
                "missing element t:URL at /soap:Envelope/soap:Body/m:Subscribe/m:PushSubscriptionRequest".to_string(),
            ),
            (envelope_with("<m:Subscribe><m:OtherRequest/></m:Subscribe>"), "m:OtherRequest".to_string()),
            (
                envelope_with("<m:Subscribe/>"),
                "missing a child element at /soap:Envelope/soap:Body/m:Subscribe".to_string(),
            ),
            (
                envelope_with(&format!(
                    "<m:Subscribe><m:StreamingSubscriptionRequest SubscribeToAllFolders=\"yes\">{events}</m:StreamingSubscriptionRequest></m:Subscribe>"
                )),
                "at /soap:Envelope/soap:Body/m:Subscribe/m:StreamingSubscriptionRequest/@SubscribeToAllFolders"
                    .to_string(),
            ),
        ] {
            let e = parse_err(doc.as_bytes());
            assert!(e.contains(&expected), "expected {expected:?} in {e:?}");
        }
    }
}
