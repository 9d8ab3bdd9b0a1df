//! SOAP Autodiscover `GetUserSettings`: request and response bodies, the Autodiscover SOAP
//! header, and helpers to build a request envelope and read a response.

use std::collections::BTreeMap;

use super::{Redirect, a, text_element, wsa};
use crate::error::{Error, ErrorKind, Result};
use crate::soap::{Body, Envelope, ExchangeVersion, Header};
use crate::xml::{Attr, Element, FromXml, Name, Ns, ToXml, Writer};
use crate::xml_enum;

/// `wsa:Action` of a `GetUserSettings` request.
pub const ACTION_GET_USER_SETTINGS: &str =
    "http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettings";
/// `wsa:Action` of a `GetUserSettings` response.
pub const ACTION_GET_USER_SETTINGS_RESPONSE: &str =
    "http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettingsResponse";

/// Names of the user settings a calendar connector asks for (`a:Setting`, `a:UserSetting/a:Name`).
pub mod settings {
    /// The EWS URL to use from outside the organisation's network.
    pub const EXTERNAL_EWS_URL: &str = "ExternalEwsUrl";
    /// The EWS URL to use inside the network.
    pub const INTERNAL_EWS_URL: &str = "InternalEwsUrl";
    /// The value of the `X-AnchorMailbox`/`X-PreferServerAffinity` grouping for streaming
    /// subscriptions (DIGEST §3). Exchange 2013+.
    pub const GROUPING_INFORMATION: &str = "GroupingInformation";
    pub const USER_DISPLAY_NAME: &str = "UserDisplayName";
    pub const USER_DN: &str = "UserDN";
    pub const USER_DEPLOYMENT_ID: &str = "UserDeploymentId";
    /// The Client Access server's version, e.g. `15.01.0160.004`.
    pub const CAS_VERSION: &str = "CasVersion";
    /// Comma-separated EWS schema versions, e.g. `Exchange2007, Exchange2010, Exchange2013`.
    pub const EWS_SUPPORTED_SCHEMAS: &str = "EwsSupportedSchemas";
    pub const INTERNAL_MAILBOX_SERVER: &str = "InternalMailboxServer";
    pub const EXTERNAL_MAILBOX_SERVER: &str = "ExternalMailboxServer";
    pub const MAILBOX_DN: &str = "MailboxDN";
    pub const ACTIVE_DIRECTORY_SERVER: &str = "ActiveDirectoryServer";
    pub const PUBLIC_FOLDER_SERVER: &str = "PublicFolderServer";
}

/// The settings [`soap_request`] asks for by default.
pub const DEFAULT_SETTINGS: &[&str] = &[
    settings::EXTERNAL_EWS_URL,
    settings::INTERNAL_EWS_URL,
    settings::GROUPING_INFORMATION,
    settings::USER_DISPLAY_NAME,
    settings::CAS_VERSION,
    settings::EWS_SUPPORTED_SCHEMAS,
];

xml_enum! {
    /// `a:ErrorCode` of a response or of one user's response.
    pub enum AutodiscoverErrorCode {
        NoError,
        /// Start again with the address in `RedirectTarget`.
        RedirectAddress,
        /// Resend the request to the URL in `RedirectTarget`.
        RedirectUrl,
        InvalidUser,
        InvalidRequest,
        InvalidSetting,
        SettingIsNotAvailable,
        /// Retry later.
        ServerBusy,
        InvalidDomain,
        NotFederated,
        InternalServerError,
    }
}

/// Reads an optional text child that may be `xsi:nil="true"` (then `None`).
fn nillable_text(el: &Element, name: Name<'_>) -> Option<String> {
    let c = el.child(name)?;
    if c.attr_ns(&Ns::Xsi, "nil").is_some_and(|v| v.trim() == "true" || v.trim() == "1") {
        return None;
    }
    Some(c.text.clone())
}

/// `a:GetUserSettingsRequestMessage`: `a:Request` with `a:Users/a:User/a:Mailbox`,
/// `a:RequestedSettings/a:Setting` and an optional `a:RequestedVersion`. The `a:Request`
/// wrapper is implicit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetUserSettingsRequestMessage {
    /// `a:Users/a:User/a:Mailbox`: the SMTP addresses to look up.
    pub users: Vec<String>,
    /// `a:RequestedSettings/a:Setting`: setting names (see [`settings`]).
    pub requested_settings: Vec<String>,
    /// `a:RequestedVersion`: the Exchange version whose settings the client understands.
    pub requested_version: Option<ExchangeVersion>,
}

impl FromXml for GetUserSettingsRequestMessage {
    fn from_xml(el: &Element) -> Result<Self> {
        let req = el.req(a("Request"))?;
        // Errors from the helpers called on `req` start at `req`; add `el` above it.
        let inner = || -> Result<Self> {
            let users_el = req.req(a("Users"))?;
            let users = users_el
                .children_named(a("User"))
                .map(|u| u.get_text_req::<String>(a("Mailbox")).map_err(|e| e.at(users_el)))
                .collect::<Result<Vec<_>>>()
                .map_err(|e| e.at(req))?;
            let settings_el = req.req(a("RequestedSettings"))?;
            let requested_settings =
                settings_el.children_named(a("Setting")).map(|s| s.text.trim().to_string()).collect();
            Ok(GetUserSettingsRequestMessage {
                users,
                requested_settings,
                requested_version: req.get_text(a("RequestedVersion"))?,
            })
        };
        inner().map_err(|e| e.at(el))
    }
}

impl ToXml for GetUserSettingsRequestMessage {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).start(a("Request")).start(a("Users"));
        for u in &self.users {
            w.start(a("User")).leaf(a("Mailbox"), u).end();
        }
        w.end().start(a("RequestedSettings"));
        for s in &self.requested_settings {
            w.leaf(a("Setting"), s);
        }
        w.end();
        w.leaf_opt(a("RequestedVersion"), &self.requested_version);
        w.end().end();
    }
}

/// The value of one `a:UserSetting`, by its `xsi:type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSettingValue {
    /// `xsi:type="StringSetting"`: `a:Value` (absent or nil is `None`).
    String(Option<String>),
    /// Any other type (`WebClientUrlCollectionSetting`, `ProtocolConnectionCollectionSetting`,
    /// `AlternateMailboxCollectionSetting`, `DocumentSharingLocationCollectionSetting`): the
    /// `xsi:type` as written and the child elements other than `a:Name`, kept raw (not modelled).
    Other { xsi_type: String, content: Vec<Element> },
}

/// `a:UserSetting`: a named setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSetting {
    /// `a:Name`.
    pub name: String,
    pub value: UserSettingValue,
}

impl UserSetting {
    /// A string setting.
    pub fn string(name: impl Into<String>, value: impl Into<String>) -> Self {
        UserSetting { name: name.into(), value: UserSettingValue::String(Some(value.into())) }
    }

    /// The string value, if this is a string setting with a value.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            UserSettingValue::String(v) => v.as_deref(),
            UserSettingValue::Other { .. } => None,
        }
    }
}

impl FromXml for UserSetting {
    fn from_xml(el: &Element) -> Result<Self> {
        let xsi_type = el
            .attr_ns(&Ns::Xsi, "type")
            .ok_or_else(|| Error::new(ErrorKind::Missing("attribute xsi:type".into())).at(el))?
            .trim()
            .to_string();
        let name = el.get_text_req::<String>(a("Name"))?.trim().to_string();
        // xsi:type is a QName; the prefix (if any) is the Autodiscover namespace's.
        let local = xsi_type.rsplit(':').next().unwrap_or(&xsi_type);
        let value = if local == "StringSetting" {
            UserSettingValue::String(nillable_text(el, a("Value")))
        } else {
            UserSettingValue::Other {
                xsi_type,
                content: el.children.iter().filter(|c| !c.is(a("Name"))).cloned().collect(),
            }
        };
        Ok(UserSetting { name, value })
    }
}

impl ToXml for UserSetting {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        let xsi_type = match &self.value {
            UserSettingValue::String(_) => "StringSetting",
            UserSettingValue::Other { xsi_type, .. } => xsi_type.as_str(),
        };
        w.start(name).attr_ns(&Ns::Xsi, "type", xsi_type);
        w.leaf(Name { ns: name.ns, local: "Name" }, &self.name);
        match &self.value {
            UserSettingValue::String(Some(v)) => {
                w.leaf(Name { ns: name.ns, local: "Value" }, v);
            }
            UserSettingValue::String(None) => {}
            UserSettingValue::Other { content, .. } => {
                for c in content {
                    w.element(c);
                }
            }
        }
        w.end();
    }
}

/// `a:UserSettingError`: a requested setting the server could not return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSettingError {
    /// `a:ErrorCode`.
    pub error_code: AutodiscoverErrorCode,
    /// `a:ErrorMessage`.
    pub error_message: Option<String>,
    /// `a:SettingName`.
    pub setting_name: Option<String>,
}

impl FromXml for UserSettingError {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(UserSettingError {
            error_code: el.get_text_req(a("ErrorCode"))?,
            error_message: nillable_text(el, a("ErrorMessage")),
            setting_name: nillable_text(el, a("SettingName")),
        })
    }
}

impl ToXml for UserSettingError {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        let n = |local| Name { ns: name.ns, local };
        w.start(name)
            .leaf_val(n("ErrorCode"), &self.error_code)
            .leaf_opt(n("ErrorMessage"), &self.error_message)
            .leaf_opt(n("SettingName"), &self.setting_name)
            .end();
    }
}

/// A name → value map of the string settings of one user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SettingsMap(pub BTreeMap<String, String>);

impl SettingsMap {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `ExternalEwsUrl`, else `InternalEwsUrl`.
    pub fn ews_url(&self) -> Option<&str> {
        self.external_ews_url().or_else(|| self.internal_ews_url())
    }

    pub fn external_ews_url(&self) -> Option<&str> {
        self.get(settings::EXTERNAL_EWS_URL)
    }

    pub fn internal_ews_url(&self) -> Option<&str> {
        self.get(settings::INTERNAL_EWS_URL)
    }

    pub fn grouping_information(&self) -> Option<&str> {
        self.get(settings::GROUPING_INFORMATION)
    }

    pub fn user_display_name(&self) -> Option<&str> {
        self.get(settings::USER_DISPLAY_NAME)
    }

    pub fn cas_version(&self) -> Option<&str> {
        self.get(settings::CAS_VERSION)
    }

    /// `EwsSupportedSchemas` split at commas, blanks trimmed (`Exchange2007,  Exchange2010`).
    pub fn ews_supported_schemas(&self) -> Vec<&str> {
        self.get(settings::EWS_SUPPORTED_SCHEMAS)
            .map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }
}

/// `a:UserResponse`: the answer for one user, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserResponse {
    /// `a:ErrorCode`.
    pub error_code: AutodiscoverErrorCode,
    /// `a:ErrorMessage` (`No error.` on success).
    pub error_message: Option<String>,
    /// `a:RedirectTarget`: the address or URL of a redirect; written `xsi:nil="true"` when
    /// absent, as Exchange does.
    pub redirect_target: Option<String>,
    /// `a:UserSettingErrors/a:UserSettingError` (always written, possibly empty).
    pub user_setting_errors: Vec<UserSettingError>,
    /// `a:UserSettings/a:UserSetting` (always written, possibly empty).
    pub user_settings: Vec<UserSetting>,
}

impl UserResponse {
    /// A successful response with string settings.
    pub fn with_settings<'s>(pairs: impl IntoIterator<Item = (&'s str, &'s str)>) -> Self {
        UserResponse {
            error_code: AutodiscoverErrorCode::NoError,
            error_message: Some("No error.".into()),
            redirect_target: None,
            user_setting_errors: Vec::new(),
            user_settings: pairs.into_iter().map(|(n, v)| UserSetting::string(n, v)).collect(),
        }
    }

    /// A redirect (`RedirectAddress` or `RedirectUrl`).
    pub fn redirecting(redirect: &Redirect) -> Self {
        let (error_code, message, target) = match redirect {
            Redirect::Address(t) => (AutodiscoverErrorCode::RedirectAddress, "Redirection address.", t),
            Redirect::Url(t) => (AutodiscoverErrorCode::RedirectUrl, "Redirection URL.", t),
        };
        UserResponse {
            error_code,
            error_message: Some(message.into()),
            redirect_target: Some(target.clone()),
            user_setting_errors: Vec::new(),
            user_settings: Vec::new(),
        }
    }

    /// The string settings by name.
    pub fn settings_map(&self) -> SettingsMap {
        SettingsMap(self.user_settings.iter().filter_map(|s| Some((s.name.clone(), s.as_str()?.to_string()))).collect())
    }

    /// The redirect this response asks for, if any.
    pub fn redirect(&self) -> Option<Redirect> {
        let target = self.redirect_target.as_ref()?.trim().to_string();
        match self.error_code {
            AutodiscoverErrorCode::RedirectAddress => Some(Redirect::Address(target)),
            AutodiscoverErrorCode::RedirectUrl => Some(Redirect::Url(target)),
            _ => None,
        }
    }
}

impl FromXml for UserResponse {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(UserResponse {
            error_code: el.get_text_req(a("ErrorCode"))?,
            error_message: nillable_text(el, a("ErrorMessage")),
            redirect_target: nillable_text(el, a("RedirectTarget")),
            user_setting_errors: el.get_list(a("UserSettingErrors"), a("UserSettingError"))?.unwrap_or_default(),
            user_settings: el.get_list(a("UserSettings"), a("UserSetting"))?.unwrap_or_default(),
        })
    }
}

impl ToXml for UserResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        let n = |local| Name { ns: name.ns, local };
        w.start(name).leaf_val(n("ErrorCode"), &self.error_code).leaf_opt(n("ErrorMessage"), &self.error_message);
        match &self.redirect_target {
            Some(t) => {
                w.leaf(n("RedirectTarget"), t);
            }
            None => {
                w.start(n("RedirectTarget")).attr_ns(&Ns::Xsi, "nil", "true").end();
            }
        }
        w.list(n("UserSettingErrors"), n("UserSettingError"), &self.user_setting_errors);
        w.list(n("UserSettings"), n("UserSetting"), &self.user_settings);
        w.end();
    }
}

/// What a `GetUserSettings` response means for the first (or only) user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutodiscoverResult {
    /// The user's string settings.
    Settings(SettingsMap),
    /// Start again with another address, or resend to another URL.
    Redirect(Redirect),
    /// An error for the whole request or for the user (`ServerBusy`: retry later).
    Error { code: AutodiscoverErrorCode, message: String },
}

/// `a:GetUserSettingsResponseMessage`: `a:Response` with `a:ErrorCode`, `a:ErrorMessage` and
/// `a:UserResponses/a:UserResponse`. The `a:Response` wrapper is implicit.
///
/// Written as Exchange writes it: the body element and everything in it in the *default*
/// namespace (no `a:` prefix), so that the unprefixed `xsi:type="StringSetting"` QNames resolve
/// to the Autodiscover namespace; `xsi` is declared on `Response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetUserSettingsResponseMessage {
    /// `a:ErrorCode` of the whole request.
    pub error_code: AutodiscoverErrorCode,
    /// `a:ErrorMessage` (empty on success).
    pub error_message: Option<String>,
    /// `a:UserResponses/a:UserResponse`: one per requested user, in order.
    pub user_responses: Vec<UserResponse>,
}

impl Default for GetUserSettingsResponseMessage {
    fn default() -> Self {
        GetUserSettingsResponseMessage {
            error_code: AutodiscoverErrorCode::NoError,
            error_message: Some(String::new()),
            user_responses: Vec::new(),
        }
    }
}

impl GetUserSettingsResponseMessage {
    /// A successful response for one user.
    pub fn for_user(user: UserResponse) -> Self {
        GetUserSettingsResponseMessage { user_responses: vec![user], ..Default::default() }
    }

    /// An error for the whole request (e.g. `ServerBusy`, `InvalidRequest`).
    pub fn error(code: AutodiscoverErrorCode, message: impl Into<String>) -> Self {
        GetUserSettingsResponseMessage {
            error_code: code,
            error_message: Some(message.into()),
            user_responses: Vec::new(),
        }
    }

    /// The outcome for the first user: a request-level error wins, then a user-level redirect
    /// or error, else the user's string settings.
    pub fn result(&self) -> AutodiscoverResult {
        if self.error_code != AutodiscoverErrorCode::NoError {
            return AutodiscoverResult::Error {
                code: self.error_code,
                message: self.error_message.clone().unwrap_or_default(),
            };
        }
        let Some(user) = self.user_responses.first() else {
            return AutodiscoverResult::Error {
                code: AutodiscoverErrorCode::InvalidRequest,
                message: "the response has no UserResponse".into(),
            };
        };
        if let Some(r) = user.redirect() {
            return AutodiscoverResult::Redirect(r);
        }
        if user.error_code != AutodiscoverErrorCode::NoError {
            return AutodiscoverResult::Error {
                code: user.error_code,
                message: user.error_message.clone().unwrap_or_default(),
            };
        }
        AutodiscoverResult::Settings(user.settings_map())
    }
}

impl FromXml for GetUserSettingsResponseMessage {
    fn from_xml(el: &Element) -> Result<Self> {
        let resp = el.req(a("Response"))?;
        let inner = || -> Result<Self> {
            Ok(GetUserSettingsResponseMessage {
                error_code: resp.get_text_req(a("ErrorCode"))?,
                error_message: nillable_text(resp, a("ErrorMessage")),
                user_responses: resp.get_list(a("UserResponses"), a("UserResponse"))?.unwrap_or_default(),
            })
        };
        inner().map_err(|e| e.at(el))
    }
}

impl ToXml for GetUserSettingsResponseMessage {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        // The Autodiscover namespace as a default namespace (see the type's documentation).
        let ns =
            if *name.ns == Ns::Autodiscover { Ns::Other(Ns::AUTODISCOVER_URI.to_string()) } else { name.ns.clone() };
        let n = |local| Name { ns: &ns, local };
        w.start(n(name.local));
        w.predeclare(&[Ns::Xsi]).start(n("Response"));
        w.leaf_val(n("ErrorCode"), &self.error_code);
        w.leaf_opt(n("ErrorMessage"), &self.error_message);
        w.list(n("UserResponses"), n("UserResponse"), &self.user_responses);
        w.end().end();
    }
}

/// `a:ServerVersionInfo` of a SOAP Autodiscover response header (child elements, unlike the
/// attributes of EWS's `t:ServerVersionInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AutodiscoverServerVersionInfo {
    pub major_version: Option<i32>,
    pub minor_version: Option<i32>,
    pub major_build_number: Option<i32>,
    pub minor_build_number: Option<i32>,
    /// `a:Version`, e.g. `Exchange2013`.
    pub version: Option<String>,
}

impl FromXml for AutodiscoverServerVersionInfo {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(AutodiscoverServerVersionInfo {
            major_version: el.get_text(a("MajorVersion"))?,
            minor_version: el.get_text(a("MinorVersion"))?,
            major_build_number: el.get_text(a("MajorBuildNumber"))?,
            minor_build_number: el.get_text(a("MinorBuildNumber"))?,
            version: el.get_text(a("Version"))?,
        })
    }
}

impl AutodiscoverServerVersionInfo {
    fn to_element(&self) -> Element {
        let mut el = text_element(Ns::Autodiscover, "ServerVersionInfo", "");
        let mut push = |name: &str, v: Option<String>| {
            if let Some(v) = v {
                el.children.push(text_element(Ns::Autodiscover, name, &v));
            }
        };
        push("MajorVersion", self.major_version.map(|v| v.to_string()));
        push("MinorVersion", self.minor_version.map(|v| v.to_string()));
        push("MajorBuildNumber", self.major_build_number.map(|v| v.to_string()));
        push("MinorBuildNumber", self.minor_build_number.map(|v| v.to_string()));
        push("Version", self.version.clone());
        el
    }
}

/// The SOAP Autodiscover header, typed. On the wire these elements live in
/// [`Header::other`] (they are not EWS headers); [`AutodiscoverHeader::read`] picks them out,
/// [`AutodiscoverHeader::to_header`] puts them back in the order `a:RequestedServerVersion`,
/// `wsa:Action`, `wsa:To`, `a:ServerVersionInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AutodiscoverHeader {
    /// `a:RequestedServerVersion` (requests): `Exchange2010` or later.
    pub requested_server_version: Option<ExchangeVersion>,
    /// `wsa:Action`: [`ACTION_GET_USER_SETTINGS`] or [`ACTION_GET_USER_SETTINGS_RESPONSE`].
    pub action: Option<String>,
    /// `wsa:To` (requests): the Autodiscover URL the request is sent to.
    pub to: Option<String>,
    /// `a:ServerVersionInfo` (responses).
    pub server_version_info: Option<AutodiscoverServerVersionInfo>,
}

impl AutodiscoverHeader {
    /// Reads the Autodiscover elements of a SOAP header; other elements are ignored.
    pub fn read(header: &Header) -> Result<Self> {
        let mut h = AutodiscoverHeader::default();
        for el in &header.other {
            if el.is(a("RequestedServerVersion")) {
                h.requested_server_version = Some(el.value()?);
            } else if el.is(wsa("Action")) {
                h.action = Some(el.text.trim().to_string());
            } else if el.is(wsa("To")) {
                h.to = Some(el.text.trim().to_string());
            } else if el.is(a("ServerVersionInfo")) {
                h.server_version_info = Some(AutodiscoverServerVersionInfo::from_xml(el)?);
            }
        }
        Ok(h)
    }

    /// The header elements, for [`Header::other`]. In a response (when `server_version_info`
    /// is set), `wsa:Action` carries `soap:mustUnderstand="1"` as Exchange sends it.
    pub fn elements(&self) -> Vec<Element> {
        let mut out = Vec::new();
        if let Some(v) = &self.requested_server_version {
            out.push(text_element(Ns::Autodiscover, "RequestedServerVersion", v.as_str()));
        }
        if let Some(action) = &self.action {
            let mut el = text_element(Ns::Addressing, "Action", action);
            if self.server_version_info.is_some() {
                el.attrs.push(Attr { ns: Ns::Soap, name: "mustUnderstand".into(), value: "1".into() });
            }
            out.push(el);
        }
        if let Some(to) = &self.to {
            out.push(text_element(Ns::Addressing, "To", to));
        }
        if let Some(info) = &self.server_version_info {
            out.push(info.to_element());
        }
        out
    }

    /// A SOAP header carrying only these elements.
    pub fn to_header(&self) -> Header {
        Header { other: self.elements(), ..Header::default() }
    }
}

/// A complete SOAP Autodiscover `GetUserSettings` request for `email`, to be POSTed to `url`
/// (`https://…/autodiscover/autodiscover.svc`): header `a:RequestedServerVersion`
/// `Exchange2013` (needed for `GroupingInformation`), `wsa:Action`, `wsa:To`. Pass
/// [`DEFAULT_SETTINGS`] for what the connector needs.
pub fn soap_request(email: &str, settings: &[&str], url: &str) -> Envelope {
    let header = AutodiscoverHeader {
        requested_server_version: Some(ExchangeVersion::Exchange2013),
        action: Some(ACTION_GET_USER_SETTINGS.into()),
        to: Some(url.into()),
        server_version_info: None,
    };
    let body = GetUserSettingsRequestMessage {
        users: vec![email.to_string()],
        requested_settings: settings.iter().map(|s| s.to_string()).collect(),
        requested_version: None,
    };
    Envelope::new(header.to_header(), body)
}

/// A complete SOAP Autodiscover response (what a server or simulator sends): header
/// `wsa:Action` and `a:ServerVersionInfo`, then the message.
pub fn soap_response(message: GetUserSettingsResponseMessage, server: AutodiscoverServerVersionInfo) -> Envelope {
    let header = AutodiscoverHeader {
        action: Some(ACTION_GET_USER_SETTINGS_RESPONSE.into()),
        server_version_info: Some(server),
        ..AutodiscoverHeader::default()
    };
    Envelope::new(header.to_header(), message)
}

/// Reads a SOAP Autodiscover response envelope: the first user's settings, a redirect, or an
/// Autodiscover error. A SOAP fault or another body is an `Err`.
pub fn read_soap_response(envelope: &Envelope) -> Result<AutodiscoverResult> {
    match &envelope.body {
        Body::GetUserSettingsResponse(r) => Ok(r.result()),
        Body::Fault(f) => Err(Error::new(ErrorKind::Invalid {
            value: format!("{}: {}", f.code, f.string),
            expected: "a GetUserSettingsResponseMessage (the server sent a SOAP fault)".into(),
        })),
        other => Err(Error::new(ErrorKind::Unexpected {
            found: other.element_name(),
            expected: "a:GetUserSettingsResponseMessage".into(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{paths, sample};
    use super::*;
    use crate::xml;

    fn round_trip(env: &Envelope) -> String {
        let s = env.to_xml_string();
        let back = Envelope::parse(s.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{s}"));
        assert_eq!(&back, env, "round trip changed the envelope:\n{s}");
        s
    }

    fn same_shape(sample_bytes: &[u8], written: &str) {
        let a = paths(&xml::parse(sample_bytes).unwrap());
        let b = paths(&xml::parse(written.as_bytes()).unwrap());
        assert_eq!(a, b, "element paths differ:\n{written}");
    }

    #[test]
    fn parses_request_samples() {
        for (name, user, n, version) in [
            (
                "Autodiscover-SOAP-GetUserSettings.request.xml",
                "UserName@domain.contoso.com",
                8,
                ExchangeVersion::Exchange2010,
            ),
            (
                "Autodiscover-SOAP-GetUserSettings-GroupingInformation.request.xml",
                "mara@contoso.com",
                15,
                ExchangeVersion::Exchange2013,
            ),
        ] {
            let bytes = sample(name);
            let env = Envelope::parse(&bytes).unwrap();
            let Body::GetUserSettingsRequest(req) = &env.body else { panic!("{:?}", env.body) };
            assert_eq!(req.users, vec![user.to_string()]);
            assert_eq!(req.requested_settings.len(), n);
            assert_eq!(req.requested_settings[0], "UserDisplayName");
            assert_eq!(req.requested_version, None);
            let h = AutodiscoverHeader::read(&env.header).unwrap();
            assert_eq!(h.requested_server_version, Some(version));
            assert_eq!(h.action.as_deref(), Some(ACTION_GET_USER_SETTINGS));
            assert!(h.to.as_deref().unwrap().ends_with("/autodiscover/autodiscover.svc"));
            assert!(h.server_version_info.is_none());
            let written = round_trip(&env);
            same_shape(&bytes, &written);
        }
        let env =
            Envelope::parse(&sample("Autodiscover-SOAP-GetUserSettings-GroupingInformation.request.xml")).unwrap();
        let Body::GetUserSettingsRequest(req) = &env.body else { panic!() };
        assert!(req.requested_settings.iter().any(|s| s == settings::GROUPING_INFORMATION));
    }

    #[test]
    fn parses_response_samples() {
        let bytes = sample("Autodiscover-SOAP-GetUserSettings.response.xml");
        let env = Envelope::parse(&bytes).unwrap();
        let h = AutodiscoverHeader::read(&env.header).unwrap();
        assert_eq!(h.action.as_deref(), Some(ACTION_GET_USER_SETTINGS_RESPONSE));
        let Body::GetUserSettingsResponse(resp) = &env.body else { panic!() };
        assert_eq!(resp.error_code, AutodiscoverErrorCode::NoError);
        assert_eq!(resp.error_message.as_deref(), Some(""));
        let user = &resp.user_responses[0];
        assert_eq!(user.error_message.as_deref(), Some("No error."));
        assert_eq!(user.redirect_target, None);
        assert!(user.user_setting_errors.is_empty());
        assert_eq!(user.user_settings.len(), 8);
        let AutodiscoverResult::Settings(map) = read_soap_response(&env).unwrap() else { panic!() };
        assert_eq!(map.cas_version(), Some("14.00.0478.000"));
        assert_eq!(map.ews_supported_schemas(), vec!["Exchange2007", "Exchange2010"]);
        assert_eq!(map.get("InternalMailboxServer"), Some("machinename.domain.contoso.com"));
        assert_eq!(map.ews_url(), None);
        let written = round_trip(&env);
        same_shape(&bytes, &written);
        // Exchange's shape: default namespace, unprefixed xsi:type.
        assert!(
            written.contains(
                "<GetUserSettingsResponseMessage xmlns=\"http://schemas.microsoft.com/exchange/2010/Autodiscover\">"
            ),
            "{written}"
        );
        assert!(written.contains("<UserSetting xsi:type=\"StringSetting\">"), "{written}");
        assert!(written.contains("<RedirectTarget xsi:nil=\"true\"/>"), "{written}");

        let bytes = sample("Autodiscover-SOAP-RedirectAddress.response.xml");
        let env = Envelope::parse(&bytes).unwrap();
        let h = AutodiscoverHeader::read(&env.header).unwrap();
        let info = h.server_version_info.as_ref().unwrap();
        assert_eq!(info.major_version, Some(14));
        assert_eq!(info.minor_version, Some(3));
        assert_eq!(info.major_build_number, Some(136));
        assert_eq!(info.version.as_deref(), Some("Exchange2010_SP2"));
        assert_eq!(
            read_soap_response(&env).unwrap(),
            AutodiscoverResult::Redirect(Redirect::Address("elvin@mail.contoso.com".into()))
        );
        let written = round_trip(&env);
        same_shape(&bytes, &written);
        // The typed header writes back what it read.
        let again = AutodiscoverHeader::read(&h.to_header()).unwrap();
        assert_eq!(again, h);
    }

    #[test]
    fn not_well_formed_grouping_information_sample() {
        let bytes = sample("Autodiscover-SOAP-GetUserSettings-GroupingInformation.response.xml");
        let err = Envelope::parse(&bytes).unwrap_err();
        assert!(err.to_string().contains("invalid XML"), "{err}");
        let repaired = repaired_grouping_sample();
        let env = Envelope::parse(&repaired).unwrap();
        let h = AutodiscoverHeader::read(&env.header).unwrap();
        assert_eq!(h.server_version_info.as_ref().unwrap().version.as_deref(), Some("Exchange2013"));
        assert_eq!(h.server_version_info.as_ref().unwrap().major_build_number, Some(160));
        let AutodiscoverResult::Settings(map) = read_soap_response(&env).unwrap() else { panic!() };
        assert_eq!(map.grouping_information(), Some("CONTOSO-1"));
        assert_eq!(map.external_ews_url(), Some("https://mail.contoso.com/EWS/Exchange.asmx"));
        assert_eq!(map.ews_url(), Some("https://mail.contoso.com/EWS/Exchange.asmx"));
        assert_eq!(map.user_display_name(), Some("Mara Whitley"));
        assert_eq!(map.cas_version(), Some("15.01.0160.004"));
        assert_eq!(map.ews_supported_schemas().len(), 6);
        assert_eq!(map.ews_supported_schemas()[5], "Exchange2013");
        // `&amp;amp;` in the sample is a literal `&amp;` in the value.
        assert_eq!(map.get("EcpTextMessagingUrlFragment"), Some("?p=sms/textmessaging.slab&amp;exsvurl=1"));
        let written = round_trip(&env);
        same_shape(&repaired, &written);
    }

    #[test]
    fn builds_requests_and_responses() {
        let url = "https://autodiscover.contoso.test/autodiscover/autodiscover.svc";
        let env = soap_request("mara@contoso.test", DEFAULT_SETTINGS, url);
        let written = round_trip(&env);
        same_shape(&sample("Autodiscover-SOAP-GetUserSettings-GroupingInformation.request.xml"), &written);
        let h = AutodiscoverHeader::read(&env.header).unwrap();
        assert_eq!(h.to.as_deref(), Some(url));
        assert_eq!(h.requested_server_version, Some(ExchangeVersion::Exchange2013));
        let Body::GetUserSettingsRequest(req) = &env.body else { panic!() };
        assert_eq!(req.requested_settings.len(), DEFAULT_SETTINGS.len());

        let server = AutodiscoverServerVersionInfo {
            major_version: Some(15),
            minor_version: Some(1),
            major_build_number: Some(2507),
            minor_build_number: Some(6),
            version: Some("Exchange2013_SP1".into()),
        };
        let ok = soap_response(
            GetUserSettingsResponseMessage::for_user(UserResponse::with_settings([
                (settings::EXTERNAL_EWS_URL, "https://mail.contoso.test/EWS/Exchange.asmx"),
                (settings::GROUPING_INFORMATION, "CONTOSO-1"),
            ])),
            server.clone(),
        );
        let written = round_trip(&ok);
        same_shape(&repaired_grouping_sample(), &written);
        let AutodiscoverResult::Settings(map) = read_soap_response(&ok).unwrap() else { panic!() };
        assert_eq!(map.grouping_information(), Some("CONTOSO-1"));

        let redirect = soap_response(
            GetUserSettingsResponseMessage::for_user(UserResponse::redirecting(&Redirect::Url(
                "https://other.contoso.test/autodiscover/autodiscover.svc".into(),
            ))),
            server.clone(),
        );
        let written = round_trip(&redirect);
        same_shape(&sample("Autodiscover-SOAP-RedirectAddress.response.xml"), &written);
        assert!(matches!(read_soap_response(&redirect).unwrap(), AutodiscoverResult::Redirect(Redirect::Url(_))));

        let busy =
            soap_response(GetUserSettingsResponseMessage::error(AutodiscoverErrorCode::ServerBusy, "busy"), server);
        round_trip(&busy);
        assert_eq!(
            read_soap_response(&busy).unwrap(),
            AutodiscoverResult::Error { code: AutodiscoverErrorCode::ServerBusy, message: "busy".into() }
        );

        // Other setting types and setting errors are kept.
        let mut user = UserResponse::with_settings([(settings::USER_DISPLAY_NAME, "Mara")]);
        user.user_settings.push(UserSetting {
            name: "ExternalWebClientUrls".into(),
            value: UserSettingValue::Other {
                xsi_type: "WebClientUrlCollectionSetting".into(),
                content: vec![{
                    let mut urls = text_element(Ns::Autodiscover, "WebClientUrls", "");
                    let mut u = text_element(Ns::Autodiscover, "WebClientUrl", "");
                    u.children.push(text_element(Ns::Autodiscover, "AuthenticationMethods", "Fba"));
                    u.children.push(text_element(Ns::Autodiscover, "Url", "https://mail.contoso.test/owa/"));
                    urls.children.push(u);
                    urls
                }],
            },
        });
        user.user_settings.push(UserSetting { name: "Empty".into(), value: UserSettingValue::String(None) });
        user.user_setting_errors.push(UserSettingError {
            error_code: AutodiscoverErrorCode::InvalidSetting,
            error_message: Some("The requested setting is not valid.".into()),
            setting_name: Some("Bogus".into()),
        });
        let env =
            soap_response(GetUserSettingsResponseMessage::for_user(user), AutodiscoverServerVersionInfo::default());
        let written = round_trip(&env);
        assert!(written.contains("xsi:type=\"WebClientUrlCollectionSetting\""), "{written}");
        let AutodiscoverResult::Settings(map) = read_soap_response(&env).unwrap() else { panic!() };
        assert_eq!(map.0.len(), 1, "only string settings with a value are in the map");

        // A fault or another body is an error.
        let fault = Envelope {
            header: Header::default(),
            body: Body::Fault(crate::soap::Fault {
                code: "s:Receiver".into(),
                string: "boom".into(),
                string_lang: None,
                actor: None,
                detail: None,
            }),
        };
        assert!(read_soap_response(&fault).is_err());
        assert!(read_soap_response(&env_with_other_body()).is_err());
    }

    /// The GroupingInformation response sample ends with `</s:Envelope` (no `>`): add it.
    fn repaired_grouping_sample() -> Vec<u8> {
        let mut repaired = sample("Autodiscover-SOAP-GetUserSettings-GroupingInformation.response.xml");
        while repaired.last().is_some_and(|b| b.is_ascii_whitespace()) {
            repaired.pop();
        }
        assert!(repaired.ends_with(b"</s:Envelope"));
        repaired.push(b'>');
        repaired
    }

    fn env_with_other_body() -> Envelope {
        Envelope::new(Header::default(), GetUserSettingsRequestMessage::default())
    }

    #[test]
    fn errors_name_the_path() {
        let text = String::from_utf8(sample("Autodiscover-SOAP-GetUserSettings.response.xml")).unwrap();
        let bad = text.replacen(
            "<ErrorCode>NoError</ErrorCode>\n            <ErrorMessage>No error.",
            "<ErrorCode>Oops</ErrorCode>\n            <ErrorMessage>No error.",
            1,
        );
        let err = Envelope::parse(bad.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("Oops"), "{err}");
        assert_eq!(
            err.path(),
            "/soap:Envelope/soap:Body/a:GetUserSettingsResponseMessage/a:Response/a:UserResponses/a:UserResponse/a:ErrorCode"
        );

        let bad = text.replacen(" i:type=\"StringSetting\"", "", 1);
        let err = Envelope::parse(bad.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("missing attribute xsi:type"), "{err}");
        assert_eq!(
            err.path(),
            "/soap:Envelope/soap:Body/a:GetUserSettingsResponseMessage/a:Response/a:UserResponses/a:UserResponse/a:UserSettings/a:UserSetting"
        );

        let req = String::from_utf8(sample("Autodiscover-SOAP-GetUserSettings.request.xml")).unwrap();
        let bad = req.replace("<a:Mailbox>UserName@domain.contoso.com</a:Mailbox>", "");
        let err = Envelope::parse(bad.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("missing element a:Mailbox"), "{err}");
        assert_eq!(err.path(), "/soap:Envelope/soap:Body/a:GetUserSettingsRequestMessage/a:Request/a:Users/a:User");

        let bad = req.replace(
            "<a:RequestedServerVersion>Exchange2010</a:RequestedServerVersion>",
            "<a:RequestedServerVersion>Exchange1999</a:RequestedServerVersion>",
        );
        let env = Envelope::parse(bad.as_bytes()).unwrap();
        let err = AutodiscoverHeader::read(&env.header).unwrap_err();
        assert!(err.to_string().contains("Exchange1999"), "{err}");
        assert_eq!(err.path(), "/a:RequestedServerVersion");
    }

    #[test]
    fn namespaced_attributes_survive_raw_pass_through() {
        let doc = format!(
            "<x:A xmlns:x=\"{}\" xmlns:i=\"{}\" i:type=\"StringSetting\" xml:lang=\"en\"><x:B i:nil=\"true\"/></x:A>",
            Ns::AUTODISCOVER_URI,
            Ns::XSI_URI
        );
        let el = xml::parse(doc.as_bytes()).unwrap();
        assert_eq!(el.attr_ns(&Ns::Xsi, "type"), Some("StringSetting"));
        assert_eq!(el.attr_ns(&Ns::from_uri(Ns::XML_URI), "lang"), Some("en"));
        let mut w = Writer::new();
        w.element(&el);
        let s = w.finish();
        assert_eq!(xml::parse(s.as_bytes()).unwrap(), el, "{s}");
    }
}
