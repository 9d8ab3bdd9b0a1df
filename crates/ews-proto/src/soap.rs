//! The SOAP 1.1 envelope, the EWS headers and SOAP faults, and [`Body`]: every operation
//! element this crate knows, requests and responses alike.

use crate::error::{Error, ErrorKind, Result};
use crate::ops::*;
use crate::response::MessageXml;
use crate::response_code::ResponseCode;
use crate::xml::{self, Element, FromXml, Name, Ns, ToXml, Writer, soap, t, unq};
use crate::xml_enum;

xml_enum! {
    /// `t:RequestServerVersion/@Version` (`ExchangeVersionType`).
    #[allow(non_camel_case_types)]
    pub enum ExchangeVersion {
        Exchange2007, Exchange2007_SP1, Exchange2009, Exchange2010, Exchange2010_SP1, Exchange2010_SP2,
        Exchange2012, Exchange2013, Exchange2013_SP1, Exchange2015, Exchange2016,
        V2015_10_05, V2016_01_06, V2016_04_13, V2016_07_13, V2016_10_10,
    }
}

/// `t:ConnectingSID`: which mailbox an impersonating service account acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectingSid {
    PrincipalName(String),
    Sid(String),
    PrimarySmtpAddress(String),
    SmtpAddress(String),
}

impl ConnectingSid {
    /// The identifying value, whatever its kind.
    pub fn value(&self) -> &str {
        match self {
            ConnectingSid::PrincipalName(v)
            | ConnectingSid::Sid(v)
            | ConnectingSid::PrimarySmtpAddress(v)
            | ConnectingSid::SmtpAddress(v) => v,
        }
    }
}

impl FromXml for ConnectingSid {
    fn from_xml(el: &Element) -> Result<Self> {
        let c = el.single_child()?;
        let v = c.text.trim().to_string();
        let sid = match (c.ns == Ns::Types, c.name.as_str()) {
            (true, "PrincipalName") => ConnectingSid::PrincipalName(v),
            (true, "SID") => ConnectingSid::Sid(v),
            (true, "PrimarySmtpAddress") => ConnectingSid::PrimarySmtpAddress(v),
            (true, "SmtpAddress") => ConnectingSid::SmtpAddress(v),
            _ => {
                return Err(Error::invalid(
                    c.display_name(),
                    "t:PrincipalName, t:SID, t:PrimarySmtpAddress or t:SmtpAddress",
                )
                .at(el));
            }
        };
        Ok(sid)
    }
}

impl ToXml for ConnectingSid {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        let (n, v) = match self {
            ConnectingSid::PrincipalName(v) => ("PrincipalName", v),
            ConnectingSid::Sid(v) => ("SID", v),
            ConnectingSid::PrimarySmtpAddress(v) => ("PrimarySmtpAddress", v),
            ConnectingSid::SmtpAddress(v) => ("SmtpAddress", v),
        };
        w.start(name).leaf(t(n), v).end();
    }
}

/// `t:ServerVersionInfo` of a response header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerVersionInfo {
    pub major_version: Option<i32>,
    pub minor_version: Option<i32>,
    pub major_build_number: Option<i32>,
    pub minor_build_number: Option<i32>,
    pub version: Option<String>,
}

impl ServerVersionInfo {
    /// What Exchange Server 2016 CU23 reports.
    pub fn exchange2016() -> Self {
        ServerVersionInfo {
            major_version: Some(15),
            minor_version: Some(1),
            major_build_number: Some(2507),
            minor_build_number: Some(6),
            version: Some("V2017_07_11".into()),
        }
    }
}

impl FromXml for ServerVersionInfo {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(ServerVersionInfo {
            major_version: el.attr_as("MajorVersion")?,
            minor_version: el.attr_as("MinorVersion")?,
            major_build_number: el.attr_as("MajorBuildNumber")?,
            minor_build_number: el.attr_as("MinorBuildNumber")?,
            version: el.attr_as("Version")?,
        })
    }
}

impl ToXml for ServerVersionInfo {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .attr_opt("MajorVersion", &self.major_version)
            .attr_opt("MinorVersion", &self.minor_version)
            .attr_opt("MajorBuildNumber", &self.major_build_number)
            .attr_opt("MinorBuildNumber", &self.minor_build_number)
            .attr_opt("Version", &self.version)
            .end();
    }
}

xml_enum! {
    /// `t:DateTimePrecision` header.
    pub enum DateTimePrecision { Seconds, Milliseconds }
}

/// The SOAP header: what EWS defines, plus any other header element kept as it came.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Header {
    pub request_server_version: Option<ExchangeVersion>,
    pub impersonation: Option<ConnectingSid>,
    pub time_zone_context: Option<crate::tz::TimeZoneDefinition>,
    pub date_time_precision: Option<DateTimePrecision>,
    pub mailbox_culture: Option<String>,
    pub server_version_info: Option<ServerVersionInfo>,
    /// Header elements this crate does not model (Autodiscover and WS-Addressing headers are
    /// modelled in [`crate::autodiscover`] and kept here as they came).
    pub other: Vec<Element>,
}

impl Header {
    pub fn is_empty(&self) -> bool {
        *self == Header::default()
    }

    fn read(el: &Element) -> Result<Self> {
        let mut h = Header::default();
        for c in &el.children {
            let r: Result<()> = (|| {
                if c.is(t("RequestServerVersion")) {
                    h.request_server_version = Some(c.req_attr_as("Version")?);
                } else if c.is(t("ExchangeImpersonation")) {
                    h.impersonation = Some(c.get_req(t("ConnectingSID"))?);
                } else if c.is(t("TimeZoneContext")) {
                    h.time_zone_context = Some(c.get_req(t("TimeZoneDefinition"))?);
                } else if c.is(t("DateTimePrecision")) {
                    h.date_time_precision = Some(c.value()?);
                } else if c.is(t("MailboxCulture")) {
                    h.mailbox_culture = Some(c.text.trim().to_string());
                } else if c.is(t("ServerVersionInfo")) {
                    h.server_version_info = Some(ServerVersionInfo::from_xml(c)?);
                } else {
                    h.other.push(c.clone());
                }
                Ok(())
            })();
            r.map_err(|e| e.at(el))?;
        }
        Ok(h)
    }

    fn write(&self, w: &mut Writer) {
        if self.is_empty() {
            return;
        }
        w.start(soap("Header"));
        if let Some(v) = &self.request_server_version {
            w.start(t("RequestServerVersion")).attr_val("Version", v).end();
        }
        if let Some(culture) = &self.mailbox_culture {
            w.leaf(t("MailboxCulture"), culture);
        }
        if let Some(sid) = &self.impersonation {
            w.start(t("ExchangeImpersonation")).child(t("ConnectingSID"), sid).end();
        }
        if let Some(tz) = &self.time_zone_context {
            w.start(t("TimeZoneContext")).child(t("TimeZoneDefinition"), tz).end();
        }
        w.leaf_opt(t("DateTimePrecision"), &self.date_time_precision);
        w.child_opt(t("ServerVersionInfo"), &self.server_version_info);
        for o in &self.other {
            w.element(o);
        }
        w.end();
    }
}

/// `detail` of a SOAP fault as EWS fills it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FaultDetail {
    pub response_code: Option<ResponseCode>,
    pub message: Option<String>,
    pub message_xml: Option<MessageXml>,
    pub other: Vec<Element>,
}

/// A SOAP 1.1 fault. EWS sends them for whole-request failures such as `ErrorServerBusy`
/// (usually with HTTP 500), schema violations and invalid impersonation headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `faultcode` as written, e.g. `a:ErrorServerBusy` or `soap:Client`.
    pub code: String,
    pub string: String,
    /// `xml:lang` of `faultstring` (Exchange writes e.g. `en-US`).
    pub string_lang: Option<String>,
    pub actor: Option<String>,
    pub detail: Option<FaultDetail>,
}

impl Fault {
    /// An EWS error fault with a `BackOffMilliseconds` hint when given.
    pub fn ews(code: ResponseCode, message: &str, back_off_ms: Option<u64>) -> Self {
        let message_xml = back_off_ms
            .map(|ms| MessageXml { values: vec![("BackOffMilliseconds".into(), ms.to_string())], other: Vec::new() });
        Fault {
            code: format!("t:{}", code.as_str()),
            string: message.to_string(),
            string_lang: Some("en-US".into()),
            actor: None,
            detail: Some(FaultDetail {
                response_code: Some(code),
                message: Some(message.to_string()),
                message_xml,
                other: Vec::new(),
            }),
        }
    }

    /// The EWS response code: from `detail`, else from the local part of `faultcode`.
    pub fn response_code(&self) -> ResponseCode {
        if let Some(code) = self.detail.as_ref().and_then(|d| d.response_code.clone()) {
            return code;
        }
        let local = self.code.rsplit(':').next().unwrap_or(&self.code);
        ResponseCode::parse(local)
    }

    /// `BackOffMilliseconds` from `detail/MessageXml`.
    pub fn back_off(&self) -> Option<std::time::Duration> {
        self.detail.as_ref()?.message_xml.as_ref()?.back_off()
    }
}

impl FromXml for Fault {
    fn from_xml(el: &Element) -> Result<Self> {
        let detail = match el.child(unq("detail")) {
            None => None,
            Some(d) => {
                let mut fd = FaultDetail::default();
                for c in &d.children {
                    if c.is(Name { ns: &Ns::Errors, local: "ResponseCode" }) {
                        fd.response_code = Some(c.value().map_err(|e| e.at(d).at(el))?);
                    } else if c.is(Name { ns: &Ns::Errors, local: "Message" }) {
                        fd.message = Some(c.text.trim().to_string());
                    } else if c.is(t("MessageXml")) {
                        fd.message_xml = Some(MessageXml::from_xml(c).map_err(|e| e.at(d).at(el))?);
                    } else {
                        fd.other.push(c.clone());
                    }
                }
                Some(fd)
            }
        };
        let faultstring = el.req(unq("faultstring"))?;
        Ok(Fault {
            code: el.req(unq("faultcode"))?.text.trim().to_string(),
            string: faultstring.text.trim().to_string(),
            string_lang: faultstring.attr_ns(&Ns::Other(Ns::XML_URI.into()), "lang").map(str::to_string),
            actor: el.get_text(unq("faultactor"))?,
            detail,
        })
    }
}

impl ToXml for Fault {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name);
        // A faultcode is a QName: declare the prefix it uses when it is one of ours.
        w.start(unq("faultcode"));
        match self.code.split_once(':') {
            Some(("t", _)) => {
                w.attr("xmlns:t", Ns::TYPES_URI);
            }
            Some(("a", _)) => {
                w.attr("xmlns:a", Ns::TYPES_URI);
            }
            _ => {}
        }
        w.text(&self.code).end();
        w.start(unq("faultstring"));
        if let Some(lang) = &self.string_lang {
            w.attr("xml:lang", lang);
        }
        w.text(&self.string).end();
        w.leaf_opt(unq("faultactor"), &self.actor);
        if let Some(d) = &self.detail {
            w.start(unq("detail"));
            let e = Ns::Errors;
            w.leaf_opt(Name { ns: &e, local: "ResponseCode" }, &d.response_code);
            w.leaf_opt(Name { ns: &e, local: "Message" }, &d.message);
            w.child_opt(t("MessageXml"), &d.message_xml);
            for o in &d.other {
                w.element(o);
            }
            w.end();
        }
        w.end();
    }
}

macro_rules! body {
    ($( $variant:ident($ty:ty) = $ns:ident $name:literal ),+ $(,)?) => {
        /// The single element inside `soap:Body`: an operation request or response, or a fault.
        #[derive(Debug, Clone, PartialEq)]
        #[allow(clippy::large_enum_variant)]
        pub enum Body {
            $( $variant($ty), )+
            Fault(Fault),
        }

        impl Body {
            /// The element name of the body, e.g. `m:FindItem`.
            pub fn element_name(&self) -> String {
                match self {
                    $( Body::$variant(_) => format!("{}{}", Ns::$ns.short(), $name), )+
                    Body::Fault(_) => "soap:Fault".to_string(),
                }
            }

            /// The operation's local name (`FindItem`, `GetItemResponse`, `Fault`).
            pub fn local_name(&self) -> &'static str {
                match self {
                    $( Body::$variant(_) => $name, )+
                    Body::Fault(_) => "Fault",
                }
            }

            fn read(el: &Element) -> Result<Self> {
                $(
                    if el.is(Name { ns: &Ns::$ns, local: $name }) {
                        return <$ty>::from_xml(el).map(Body::$variant);
                    }
                )+
                if el.is(soap("Fault")) {
                    return Fault::from_xml(el).map(Body::Fault);
                }
                Err(Error::new(ErrorKind::Unexpected {
                    found: format!("{} ({})", el.display_name(), el.ns.uri()),
                    expected: "an EWS operation element or soap:Fault".into(),
                })
                .at(el))
            }

            fn write(&self, w: &mut Writer) {
                match self {
                    $( Body::$variant(b) => b.to_xml(w, Name { ns: &Ns::$ns, local: $name }), )+
                    Body::Fault(f) => f.to_xml(w, soap("Fault")),
                }
            }
        }

        $(
            impl From<$ty> for Body {
                fn from(v: $ty) -> Body {
                    Body::$variant(v)
                }
            }

            impl TryFrom<Body> for $ty {
                type Error = Body;
                fn try_from(b: Body) -> std::result::Result<Self, Body> {
                    match b {
                        Body::$variant(v) => Ok(v),
                        other => Err(other),
                    }
                }
            }
        )+
    };
}

body! {
    FindItem(FindItem) = Messages "FindItem",
    FindItemResponse(FindItemResponse) = Messages "FindItemResponse",
    GetItem(GetItem) = Messages "GetItem",
    GetItemResponse(GetItemResponse) = Messages "GetItemResponse",
    GetFolder(GetFolder) = Messages "GetFolder",
    GetFolderResponse(GetFolderResponse) = Messages "GetFolderResponse",
    SyncFolderItems(SyncFolderItems) = Messages "SyncFolderItems",
    SyncFolderItemsResponse(SyncFolderItemsResponse) = Messages "SyncFolderItemsResponse",
    Subscribe(Subscribe) = Messages "Subscribe",
    SubscribeResponse(SubscribeResponse) = Messages "SubscribeResponse",
    GetStreamingEvents(GetStreamingEvents) = Messages "GetStreamingEvents",
    GetStreamingEventsResponse(GetStreamingEventsResponse) = Messages "GetStreamingEventsResponse",
    GetEvents(GetEvents) = Messages "GetEvents",
    GetEventsResponse(GetEventsResponse) = Messages "GetEventsResponse",
    Unsubscribe(Unsubscribe) = Messages "Unsubscribe",
    UnsubscribeResponse(UnsubscribeResponse) = Messages "UnsubscribeResponse",
    GetUserOofSettings(GetUserOofSettingsRequest) = Messages "GetUserOofSettingsRequest",
    GetUserOofSettingsResponse(GetUserOofSettingsResponse) = Messages "GetUserOofSettingsResponse",
    SetUserOofSettings(SetUserOofSettingsRequest) = Messages "SetUserOofSettingsRequest",
    SetUserOofSettingsResponse(SetUserOofSettingsResponse) = Messages "SetUserOofSettingsResponse",
    GetUserAvailability(GetUserAvailabilityRequest) = Messages "GetUserAvailabilityRequest",
    GetUserAvailabilityResponse(GetUserAvailabilityResponse) = Messages "GetUserAvailabilityResponse",
    CreateItem(CreateItem) = Messages "CreateItem",
    CreateItemResponse(CreateItemResponse) = Messages "CreateItemResponse",
    UpdateItem(UpdateItem) = Messages "UpdateItem",
    UpdateItemResponse(UpdateItemResponse) = Messages "UpdateItemResponse",
    DeleteItem(DeleteItem) = Messages "DeleteItem",
    DeleteItemResponse(DeleteItemResponse) = Messages "DeleteItemResponse",
    ResolveNames(ResolveNames) = Messages "ResolveNames",
    ResolveNamesResponse(ResolveNamesResponse) = Messages "ResolveNamesResponse",
    ExportItemsResponse(ExportItemsResponse) = Messages "ExportItemsResponse",
    GetUserConfiguration(GetUserConfiguration) = Messages "GetUserConfiguration",
    GetUserConfigurationResponse(GetUserConfigurationResponse) = Messages "GetUserConfigurationResponse",
    CreateUserConfiguration(CreateUserConfiguration) = Messages "CreateUserConfiguration",
    CreateUserConfigurationResponse(CreateUserConfigurationResponse) = Messages "CreateUserConfigurationResponse",
    UpdateUserConfiguration(UpdateUserConfiguration) = Messages "UpdateUserConfiguration",
    UpdateUserConfigurationResponse(UpdateUserConfigurationResponse) = Messages "UpdateUserConfigurationResponse",
    GetUserSettingsRequest(crate::autodiscover::GetUserSettingsRequestMessage) = Autodiscover "GetUserSettingsRequestMessage",
    GetUserSettingsResponse(crate::autodiscover::GetUserSettingsResponseMessage) = Autodiscover "GetUserSettingsResponseMessage",
}

impl From<Fault> for Body {
    fn from(f: Fault) -> Body {
        Body::Fault(f)
    }
}

/// A whole SOAP message.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub header: Header,
    pub body: Body,
}

impl Envelope {
    pub fn new(header: Header, body: impl Into<Body>) -> Self {
        Envelope { header, body: body.into() }
    }

    /// Parses a SOAP message. Anything but a SOAP 1.1 envelope with one body element is an error.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let root = xml::parse(bytes)?;
        Self::from_element(&root)
    }

    /// Reads an already parsed envelope element.
    pub fn from_element(root: &Element) -> Result<Self> {
        root.expect(soap("Envelope"))?;
        let header = match root.child(soap("Header")) {
            Some(h) => Header::read(h).map_err(|e| e.at(root))?,
            None => Header::default(),
        };
        let body_el = root.req(soap("Body"))?;
        let op = body_el.single_child().map_err(|e| e.at(root))?;
        // Errors found in the operation element already name it (see `Element::req` & co).
        let body = Body::read(op).map_err(|e| e.at(body_el).at(root))?;
        Ok(Envelope { header, body })
    }

    /// Serializes with an XML declaration; namespaces `soap`, `m` and `t` are declared on the
    /// envelope.
    pub fn to_xml_string(&self) -> String {
        let mut w = Writer::with_declaration();
        w.predeclare(&[Ns::Messages, Ns::Types]).start(soap("Envelope"));
        self.header.write(&mut w);
        w.start(soap("Body"));
        self.body.write(&mut w);
        w.end().end();
        w.finish()
    }
}

/// An EWS operation: its request type, response type and name.
pub trait Operation: Into<Body> + Clone {
    /// The operation name as in `SOAPAction` and metrics (`FindItem`).
    const NAME: &'static str;
    /// The response body type.
    type Response: TryFrom<Body, Error = Body>;
}

macro_rules! operations {
    ($($req:ty => $resp:ty, $name:literal;)+) => {$(
        impl Operation for $req {
            const NAME: &'static str = $name;
            type Response = $resp;
        }
    )+};
}

operations! {
    FindItem => FindItemResponse, "FindItem";
    GetItem => GetItemResponse, "GetItem";
    GetFolder => GetFolderResponse, "GetFolder";
    SyncFolderItems => SyncFolderItemsResponse, "SyncFolderItems";
    Subscribe => SubscribeResponse, "Subscribe";
    GetStreamingEvents => GetStreamingEventsResponse, "GetStreamingEvents";
    GetEvents => GetEventsResponse, "GetEvents";
    Unsubscribe => UnsubscribeResponse, "Unsubscribe";
    GetUserOofSettingsRequest => GetUserOofSettingsResponse, "GetUserOofSettings";
    SetUserOofSettingsRequest => SetUserOofSettingsResponse, "SetUserOofSettings";
    GetUserAvailabilityRequest => GetUserAvailabilityResponse, "GetUserAvailability";
    CreateItem => CreateItemResponse, "CreateItem";
    UpdateItem => UpdateItemResponse, "UpdateItem";
    DeleteItem => DeleteItemResponse, "DeleteItem";
    ResolveNames => ResolveNamesResponse, "ResolveNames";
    GetUserConfiguration => GetUserConfigurationResponse, "GetUserConfiguration";
    CreateUserConfiguration => CreateUserConfigurationResponse, "CreateUserConfiguration";
    UpdateUserConfiguration => UpdateUserConfigurationResponse, "UpdateUserConfiguration";
}
