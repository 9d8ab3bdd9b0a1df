//! POX ("plain old XML") Autodiscover: `POST …/autodiscover/autodiscover.xml`.
//!
//! The request is `Autodiscover/Request` in the Outlook request schema
//! ([`Ns::PoxRequest`]); the response is an `Autodiscover` element in the response schema
//! ([`Ns::PoxResponse`]) holding a `Response` in the Outlook response schema
//! ([`Ns::PoxOutlookResponse`], when the server accepted `AcceptableResponseSchema`) with
//! `User` and `Account`, or an `Error`. A server that could not read the request answers with
//! `Response/Error` in the response schema itself ([`PoxResponseSchema::Generic`]). Both
//! documents use default namespaces, as Outlook and Exchange write them.
//!
//! Elements not modelled here are kept raw, in order, in the `other` fields (e.g. `User/DefaultABView`,
//! `Account/PublicFolderInformation`, `Protocol/TTL`) and written back after the modelled ones.

use super::Redirect;
use crate::error::{Error, ErrorKind, Result};
use crate::xml::{self, Element, Name, Ns, Writer, XmlText};
use crate::xml_enum;

/// What an Outlook-style client puts in `AcceptableResponseSchema`.
pub const POX_OUTLOOK_RESPONSE_SCHEMA: &str = Ns::POX_OUTLOOK_RESPONSE_URI;

fn name<'a>(ns: &'a Ns, local: &'a str) -> Name<'a> {
    Name { ns, local }
}

/// Text of an optional child in `ns`.
fn text(el: &Element, ns: &Ns, local: &str) -> Option<String> {
    el.child(name(ns, local)).map(|c| c.text.clone())
}

/// Typed text of an optional child in `ns`.
fn typed<T: XmlText>(el: &Element, ns: &Ns, local: &str) -> Result<Option<T>> {
    el.get_text(name(ns, local))
}

/// The children of `el` whose local names are not in `known` (or that are in another namespace).
fn others(el: &Element, ns: &Ns, known: &[&str]) -> Vec<Element> {
    el.children.iter().filter(|c| c.ns != *ns || !known.contains(&c.name.as_str())).cloned().collect()
}

/// `Autodiscover/Request` of a POX request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoxAutodiscoverRequest {
    /// `EMailAddress`: the mailbox to look up.
    pub email_address: Option<String>,
    /// `LegacyDN`: alternatively, the mailbox's legacy distinguished name.
    pub legacy_dn: Option<String>,
    /// `AcceptableResponseSchema` (required): [`POX_OUTLOOK_RESPONSE_SCHEMA`].
    pub acceptable_response_schema: String,
}

impl PoxAutodiscoverRequest {
    /// The usual request: this address, Outlook response schema.
    pub fn new(email: impl Into<String>) -> Self {
        PoxAutodiscoverRequest {
            email_address: Some(email.into()),
            legacy_dn: None,
            acceptable_response_schema: POX_OUTLOOK_RESPONSE_SCHEMA.to_string(),
        }
    }

    /// Parses a POX request document.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let root = xml::parse(bytes)?;
        let ns = Ns::PoxRequest;
        root.expect(name(&ns, "Autodiscover"))?;
        let req = root.req(name(&ns, "Request"))?;
        let inner = || -> Result<Self> {
            Ok(PoxAutodiscoverRequest {
                email_address: text(req, &ns, "EMailAddress").map(|s| s.trim().to_string()),
                legacy_dn: text(req, &ns, "LegacyDN").map(|s| s.trim().to_string()),
                acceptable_response_schema: req
                    .get_text_req::<String>(name(&ns, "AcceptableResponseSchema"))?
                    .trim()
                    .to_string(),
            })
        };
        inner().map_err(|e| e.at(&root))
    }

    /// The request document, with an XML declaration.
    pub fn to_xml_string(&self) -> String {
        let ns = Ns::PoxRequest;
        let mut w = Writer::with_declaration();
        w.start(name(&ns, "Autodiscover")).start(name(&ns, "Request"));
        w.leaf_opt(name(&ns, "EMailAddress"), &self.email_address);
        w.leaf_opt(name(&ns, "LegacyDN"), &self.legacy_dn);
        w.leaf(name(&ns, "AcceptableResponseSchema"), &self.acceptable_response_schema);
        w.end().end();
        w.finish()
    }
}

/// Which namespace the `Response` element (and everything in it) is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoxResponseSchema {
    /// `…/outlook/responseschema/2006a`: the normal answer.
    #[default]
    Outlook,
    /// `…/responseschema/2006`: the server's generic error answer.
    Generic,
}

impl PoxResponseSchema {
    fn ns(self) -> Ns {
        match self {
            PoxResponseSchema::Outlook => Ns::PoxOutlookResponse,
            PoxResponseSchema::Generic => Ns::PoxResponse,
        }
    }
}

xml_enum! {
    /// `Account/Action`.
    pub enum PoxAction {
        /// The account carries its settings.
        Settings = "settings",
        /// Start again with `RedirectAddr`.
        RedirectAddr = "redirectAddr",
        /// Resend to `RedirectUrl`.
        RedirectUrl = "redirectUrl",
    }
}

xml_enum! {
    /// `Protocol/Type`.
    pub enum PoxProtocolType {
        /// Exchange RPC inside the network; carries `EwsUrl`, `ASUrl`, `OOFUrl`, ….
        Exch = "EXCH",
        /// Outlook Anywhere (RPC over HTTP) from outside; may carry the external URLs.
        Expr = "EXPR",
        /// RPC over HTTP, Exchange 2013+.
        ExHttp = "EXHTTP",
        /// Outlook on the web (`Internal`/`External` with `OWAUrl`).
        Web = "WEB",
        Pop3 = "POP3",
        Imap = "IMAP",
        Smtp = "SMTP",
        Dav = "DAV",
    }
}

/// `User` of a POX response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoxUser {
    pub display_name: Option<String>,
    /// `LegacyDN`.
    pub legacy_dn: Option<String>,
    /// `AutoDiscoverSMTPAddress`: the primary SMTP address.
    pub auto_discover_smtp_address: Option<String>,
    /// `DeploymentId`: a GUID.
    pub deployment_id: Option<String>,
    /// Other children, kept raw.
    pub other: Vec<Element>,
}

const USER_FIELDS: &[&str] = &["DisplayName", "LegacyDN", "AutoDiscoverSMTPAddress", "DeploymentId"];

impl PoxUser {
    fn read(el: &Element) -> Self {
        let ns = &el.ns;
        PoxUser {
            display_name: text(el, ns, "DisplayName"),
            legacy_dn: text(el, ns, "LegacyDN"),
            auto_discover_smtp_address: text(el, ns, "AutoDiscoverSMTPAddress"),
            deployment_id: text(el, ns, "DeploymentId"),
            other: others(el, ns, USER_FIELDS),
        }
    }

    fn write(&self, w: &mut Writer, ns: &Ns) {
        w.start(name(ns, "User"));
        w.leaf_opt(name(ns, "DisplayName"), &self.display_name);
        w.leaf_opt(name(ns, "LegacyDN"), &self.legacy_dn);
        w.leaf_opt(name(ns, "AutoDiscoverSMTPAddress"), &self.auto_discover_smtp_address);
        w.leaf_opt(name(ns, "DeploymentId"), &self.deployment_id);
        for o in &self.other {
            w.element(o);
        }
        w.end();
    }
}

/// `OWAUrl` inside `Protocol/Internal` or `Protocol/External` of a `WEB` protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoxOwaUrl {
    /// `@AuthenticationMethod`, e.g. `Basic, Fba`.
    pub authentication_method: Option<String>,
    pub url: String,
}

/// `Protocol/Internal` or `Protocol/External`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoxEndpoints {
    /// `OWAUrl` elements.
    pub owa_urls: Vec<PoxOwaUrl>,
    /// Nested `Protocol` elements (e.g. `EXCH` with `ASUrl`).
    pub protocols: Vec<PoxProtocol>,
    /// Other children, kept raw.
    pub other: Vec<Element>,
}

impl PoxEndpoints {
    fn read(el: &Element) -> Result<Self> {
        let ns = &el.ns;
        let owa_urls = el
            .children_named(name(ns, "OWAUrl"))
            .map(|c| PoxOwaUrl {
                authentication_method: c.attr("AuthenticationMethod").map(str::to_string),
                url: c.text.trim().to_string(),
            })
            .collect();
        let protocols = el
            .children_named(name(ns, "Protocol"))
            .map(|c| PoxProtocol::read(c).map_err(|e| e.at(el)))
            .collect::<Result<_>>()?;
        Ok(PoxEndpoints { owa_urls, protocols, other: others(el, ns, &["OWAUrl", "Protocol"]) })
    }

    fn write(&self, w: &mut Writer, ns: &Ns, local: &str) {
        w.start(name(ns, local));
        for u in &self.owa_urls {
            w.start(name(ns, "OWAUrl")).attr_opt("AuthenticationMethod", &u.authentication_method).text(&u.url).end();
        }
        for p in &self.protocols {
            p.write(w, ns);
        }
        for o in &self.other {
            w.element(o);
        }
        w.end();
    }
}

/// `Account/Protocol`: one way to reach the mailbox, with its URLs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoxProtocol {
    /// `@Type` (the Exchange 2013+ form `<Protocol Type="mapiHttp" Version="1">`).
    pub type_attr: Option<String>,
    /// `@Version` of that form.
    pub version_attr: Option<String>,
    /// `Type`.
    pub protocol_type: Option<PoxProtocolType>,
    /// `Internal` (WEB protocol).
    pub internal: Option<PoxEndpoints>,
    /// `External` (WEB protocol).
    pub external: Option<PoxEndpoints>,
    /// `Server`: host name (EXPR) or mailbox server GUID@domain (EXCH, Exchange 2013+).
    pub server: Option<String>,
    /// `ServerDN`.
    pub server_dn: Option<String>,
    /// `ServerVersion`: hexadecimal build, e.g. `73C08204`.
    pub server_version: Option<String>,
    /// `MdbDN`.
    pub mdb_dn: Option<String>,
    pub public_folder_server: Option<String>,
    pub port: Option<u16>,
    /// `AD`: a domain controller.
    pub ad: Option<String>,
    /// `ASUrl`: the Availability service URL (EWS).
    pub as_url: Option<String>,
    /// `EwsUrl`: the EWS endpoint.
    pub ews_url: Option<String>,
    /// `EmwsUrl`: the Exchange Management Web Service URL.
    pub emws_url: Option<String>,
    pub sharing_url: Option<String>,
    pub ecp_url: Option<String>,
    /// The `EcpUrl-*` fragments (`EcpUrl-um`, `EcpUrl-mt`, …) in order, as (suffix after
    /// `EcpUrl-`, value).
    pub ecp_url_fragments: Vec<(String, String)>,
    /// `OOFUrl`: the OOF service URL (EWS).
    pub oof_url: Option<String>,
    pub um_url: Option<String>,
    /// `OABUrl`: the offline address book.
    pub oab_url: Option<String>,
    /// `SSL` (`On`/`Off`).
    pub ssl: Option<String>,
    /// `AuthPackage` (`Basic`, `Ntlm`, `Negotiate`, …).
    pub auth_package: Option<String>,
    /// `ServerExclusiveConnect` (`on`/`off`).
    pub server_exclusive_connect: Option<String>,
    pub cert_principal_name: Option<String>,
    /// Other children, kept raw.
    pub other: Vec<Element>,
}

const PROTOCOL_STRINGS: &[&str] = &[
    "Server",
    "ServerDN",
    "ServerVersion",
    "MdbDN",
    "PublicFolderServer",
    "AD",
    "ASUrl",
    "EwsUrl",
    "EmwsUrl",
    "SharingUrl",
    "EcpUrl",
    "OOFUrl",
    "UMUrl",
    "OABUrl",
    "SSL",
    "AuthPackage",
    "ServerExclusiveConnect",
    "CertPrincipalName",
];

impl PoxProtocol {
    fn read(el: &Element) -> Result<Self> {
        let ns = &el.ns;
        let t = |local| text(el, ns, local);
        let mut known: Vec<&str> = PROTOCOL_STRINGS.to_vec();
        known.extend(["Type", "Internal", "External", "Port"]);
        let ecp_url_fragments = el
            .children
            .iter()
            .filter(|c| c.ns == *ns)
            .filter_map(|c| Some((c.name.strip_prefix("EcpUrl-")?.to_string(), c.text.clone())))
            .collect();
        Ok(PoxProtocol {
            type_attr: el.attr("Type").map(str::to_string),
            version_attr: el.attr("Version").map(str::to_string),
            protocol_type: typed(el, ns, "Type")?,
            internal: el.child(name(ns, "Internal")).map(PoxEndpoints::read).transpose().map_err(|e| e.at(el))?,
            external: el.child(name(ns, "External")).map(PoxEndpoints::read).transpose().map_err(|e| e.at(el))?,
            server: t("Server"),
            server_dn: t("ServerDN"),
            server_version: t("ServerVersion"),
            mdb_dn: t("MdbDN"),
            public_folder_server: t("PublicFolderServer"),
            port: typed(el, ns, "Port")?,
            ad: t("AD"),
            as_url: t("ASUrl"),
            ews_url: t("EwsUrl"),
            emws_url: t("EmwsUrl"),
            sharing_url: t("SharingUrl"),
            ecp_url: t("EcpUrl"),
            ecp_url_fragments,
            oof_url: t("OOFUrl"),
            um_url: t("UMUrl"),
            oab_url: t("OABUrl"),
            ssl: t("SSL"),
            auth_package: t("AuthPackage"),
            server_exclusive_connect: t("ServerExclusiveConnect"),
            cert_principal_name: t("CertPrincipalName"),
            other: el
                .children
                .iter()
                .filter(|c| c.ns != *ns || !(known.contains(&c.name.as_str()) || c.name.starts_with("EcpUrl-")))
                .cloned()
                .collect(),
        })
    }

    /// Written in the order Exchange uses (`samples/Autodiscover-POX.response.xml`).
    fn write(&self, w: &mut Writer, ns: &Ns) {
        let n = |local| name(ns, local);
        w.start(n("Protocol")).attr_opt("Type", &self.type_attr).attr_opt("Version", &self.version_attr);
        w.leaf_opt(n("Type"), &self.protocol_type);
        if let Some(i) = &self.internal {
            i.write(w, ns, "Internal");
        }
        if let Some(e) = &self.external {
            e.write(w, ns, "External");
        }
        w.leaf_opt(n("Server"), &self.server)
            .leaf_opt(n("ServerDN"), &self.server_dn)
            .leaf_opt(n("ServerVersion"), &self.server_version)
            .leaf_opt(n("MdbDN"), &self.mdb_dn)
            .leaf_opt(n("PublicFolderServer"), &self.public_folder_server)
            .leaf_opt(n("Port"), &self.port)
            .leaf_opt(n("AD"), &self.ad)
            .leaf_opt(n("ASUrl"), &self.as_url)
            .leaf_opt(n("EwsUrl"), &self.ews_url)
            .leaf_opt(n("EmwsUrl"), &self.emws_url)
            .leaf_opt(n("SharingUrl"), &self.sharing_url)
            .leaf_opt(n("EcpUrl"), &self.ecp_url);
        for (suffix, value) in &self.ecp_url_fragments {
            let local = format!("EcpUrl-{suffix}");
            w.leaf(name(ns, &local), value);
        }
        w.leaf_opt(n("OOFUrl"), &self.oof_url)
            .leaf_opt(n("UMUrl"), &self.um_url)
            .leaf_opt(n("OABUrl"), &self.oab_url)
            .leaf_opt(n("SSL"), &self.ssl)
            .leaf_opt(n("AuthPackage"), &self.auth_package)
            .leaf_opt(n("ServerExclusiveConnect"), &self.server_exclusive_connect)
            .leaf_opt(n("CertPrincipalName"), &self.cert_principal_name);
        for o in &self.other {
            w.element(o);
        }
        w.end();
    }
}

/// `Account` of a POX response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoxAccount {
    /// `AccountType`: `email`.
    pub account_type: Option<String>,
    /// `Action`: settings or a redirect.
    pub action: Option<PoxAction>,
    /// `MicrosoftOnline` (`True`/`False`).
    pub microsoft_online: Option<String>,
    /// `RedirectAddr` (with `redirectAddr`).
    pub redirect_addr: Option<String>,
    /// `RedirectUrl` (with `redirectUrl`).
    pub redirect_url: Option<String>,
    /// `Protocol` elements, in order.
    pub protocols: Vec<PoxProtocol>,
    /// Other children, kept raw.
    pub other: Vec<Element>,
}

const ACCOUNT_FIELDS: &[&str] =
    &["AccountType", "Action", "MicrosoftOnline", "RedirectAddr", "RedirectUrl", "Protocol"];

impl PoxAccount {
    fn read(el: &Element) -> Result<Self> {
        let ns = &el.ns;
        Ok(PoxAccount {
            account_type: text(el, ns, "AccountType"),
            action: typed(el, ns, "Action")?,
            microsoft_online: text(el, ns, "MicrosoftOnline"),
            redirect_addr: text(el, ns, "RedirectAddr").map(|s| s.trim().to_string()),
            redirect_url: text(el, ns, "RedirectUrl").map(|s| s.trim().to_string()),
            protocols: el
                .children_named(name(ns, "Protocol"))
                .map(|c| PoxProtocol::read(c).map_err(|e| e.at(el)))
                .collect::<Result<_>>()?,
            other: others(el, ns, ACCOUNT_FIELDS),
        })
    }

    fn write(&self, w: &mut Writer, ns: &Ns) {
        let n = |local| name(ns, local);
        w.start(n("Account"))
            .leaf_opt(n("AccountType"), &self.account_type)
            .leaf_opt(n("Action"), &self.action)
            .leaf_opt(n("MicrosoftOnline"), &self.microsoft_online)
            .leaf_opt(n("RedirectAddr"), &self.redirect_addr)
            .leaf_opt(n("RedirectUrl"), &self.redirect_url);
        for p in &self.protocols {
            p.write(w, ns);
        }
        for o in &self.other {
            w.element(o);
        }
        w.end();
    }

    /// The first protocol of that type.
    pub fn protocol(&self, kind: PoxProtocolType) -> Option<&PoxProtocol> {
        self.protocols.iter().find(|p| p.protocol_type == Some(kind))
    }
}

/// `Response/Error`: the server could not answer (`ErrorCode` 500 "the email address cannot
/// be found", 501, 600 "invalid request", 601 "the requested schema is not available", …).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoxError {
    /// `@Time`: server time of day.
    pub time: Option<String>,
    /// `@Id`: a server id.
    pub id: Option<String>,
    /// `ErrorCode`.
    pub error_code: Option<u32>,
    /// `Message`.
    pub message: Option<String>,
    /// `DebugData`.
    pub debug_data: Option<String>,
}

impl PoxError {
    fn read(el: &Element) -> Result<Self> {
        let ns = &el.ns;
        Ok(PoxError {
            time: el.attr("Time").map(str::to_string),
            id: el.attr("Id").map(str::to_string),
            error_code: typed(el, ns, "ErrorCode")?,
            message: text(el, ns, "Message"),
            debug_data: text(el, ns, "DebugData"),
        })
    }

    fn write(&self, w: &mut Writer, ns: &Ns) {
        let n = |local| name(ns, local);
        w.start(n("Error"))
            .attr_opt("Time", &self.time)
            .attr_opt("Id", &self.id)
            .leaf_opt(n("ErrorCode"), &self.error_code)
            .leaf_opt(n("Message"), &self.message)
            .leaf_opt(n("DebugData"), &self.debug_data)
            .end();
    }
}

/// A POX Autodiscover response document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoxAutodiscoverResponse {
    /// The namespace of `Response`.
    pub schema: PoxResponseSchema,
    /// `Response/User`.
    pub user: Option<PoxUser>,
    /// `Response/Account`.
    pub account: Option<PoxAccount>,
    /// `Response/Error`.
    pub error: Option<PoxError>,
    /// Other children of `Response`, kept raw.
    pub other: Vec<Element>,
}

impl PoxAutodiscoverResponse {
    /// Parses a POX response document. The root must be `Autodiscover` in the response
    /// schema, with a `Response` in the Outlook or the generic response schema.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let root = xml::parse(bytes)?;
        root.expect(name(&Ns::PoxResponse, "Autodiscover"))?;
        let (schema, resp) = if let Some(r) = root.child(name(&Ns::PoxOutlookResponse, "Response")) {
            (PoxResponseSchema::Outlook, r)
        } else if let Some(r) = root.child(name(&Ns::PoxResponse, "Response")) {
            (PoxResponseSchema::Generic, r)
        } else {
            return Err(Error::new(ErrorKind::Missing("element Response".into())).at(&root));
        };
        let ns = schema.ns();
        let inner = || -> Result<Self> {
            Ok(PoxAutodiscoverResponse {
                schema,
                user: resp.child(name(&ns, "User")).map(PoxUser::read),
                account: resp.child(name(&ns, "Account")).map(PoxAccount::read).transpose().map_err(|e| e.at(resp))?,
                error: resp.child(name(&ns, "Error")).map(PoxError::read).transpose().map_err(|e| e.at(resp))?,
                other: others(resp, &ns, &["User", "Account", "Error"]),
            })
        };
        inner().map_err(|e| e.at(&root))
    }

    /// The response document, with an XML declaration.
    pub fn to_xml_string(&self) -> String {
        let ns = self.schema.ns();
        let mut w = Writer::with_declaration();
        w.start(name(&Ns::PoxResponse, "Autodiscover")).start(name(&ns, "Response"));
        if let Some(u) = &self.user {
            u.write(&mut w, &ns);
        }
        if let Some(a) = &self.account {
            a.write(&mut w, &ns);
        }
        if let Some(e) = &self.error {
            e.write(&mut w, &ns);
        }
        for o in &self.other {
            w.element(o);
        }
        w.end().end();
        w.finish()
    }

    /// A redirect response (`Action` `redirectAddr` / `redirectUrl`).
    pub fn redirecting(redirect: &Redirect) -> Self {
        let mut account = PoxAccount::default();
        match redirect {
            Redirect::Address(addr) => {
                account.action = Some(PoxAction::RedirectAddr);
                account.redirect_addr = Some(addr.clone());
            }
            Redirect::Url(url) => {
                account.action = Some(PoxAction::RedirectUrl);
                account.redirect_url = Some(url.clone());
            }
        }
        PoxAutodiscoverResponse { account: Some(account), ..Default::default() }
    }

    /// The redirect the response asks for, if any.
    pub fn redirect(&self) -> Option<Redirect> {
        let account = self.account.as_ref()?;
        match account.action? {
            PoxAction::RedirectAddr => account.redirect_addr.clone().map(Redirect::Address),
            PoxAction::RedirectUrl => account.redirect_url.clone().map(Redirect::Url),
            PoxAction::Settings => None,
        }
    }

    /// The EWS URL: `EwsUrl` of the `EXCH` protocol (internal), else of `EXPR` (external),
    /// else of any protocol.
    pub fn ews_url(&self) -> Option<&str> {
        let account = self.account.as_ref()?;
        [PoxProtocolType::Exch, PoxProtocolType::Expr]
            .iter()
            .find_map(|k| account.protocol(*k).and_then(|p| p.ews_url.as_deref()))
            .or_else(|| account.protocols.iter().find_map(|p| p.ews_url.as_deref()))
    }

    /// The external EWS URL: `EwsUrl` of the `EXPR` protocol.
    pub fn external_ews_url(&self) -> Option<&str> {
        self.account.as_ref()?.protocol(PoxProtocolType::Expr)?.ews_url.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{paths, sample};
    use super::*;

    fn same_shape(sample_bytes: &[u8], written: &str) {
        let a = paths(&xml::parse(sample_bytes).unwrap());
        let b = paths(&xml::parse(written.as_bytes()).unwrap());
        assert_eq!(a, b, "element paths differ:\n{written}");
    }

    #[test]
    fn request_sample() {
        let bytes = sample("Autodiscover-POX.request.xml");
        let req = PoxAutodiscoverRequest::parse(&bytes).unwrap();
        assert_eq!(req, PoxAutodiscoverRequest::new("mara@contoso.com"));
        let s = req.to_xml_string();
        assert_eq!(PoxAutodiscoverRequest::parse(s.as_bytes()).unwrap(), req);
        same_shape(&bytes, &s);
        assert!(s.contains("<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\"><Request>"), "{s}");
    }

    #[test]
    fn response_sample() {
        let bytes = sample("Autodiscover-POX.response.xml");
        let resp = PoxAutodiscoverResponse::parse(&bytes).unwrap();
        assert_eq!(resp.schema, PoxResponseSchema::Outlook);
        let user = resp.user.as_ref().unwrap();
        assert_eq!(user.display_name.as_deref(), Some("Mara Whitley"));
        assert_eq!(user.auto_discover_smtp_address.as_deref(), Some("mara@contoso.com"));
        assert_eq!(user.deployment_id.as_deref(), Some("50817eff-b925-4578-a0db-13bfc635e7a5"));
        assert!(user.legacy_dn.as_deref().unwrap().ends_with("-Mara"));
        let account = resp.account.as_ref().unwrap();
        assert_eq!(account.account_type.as_deref(), Some("email"));
        assert_eq!(account.action, Some(PoxAction::Settings));
        assert_eq!(account.microsoft_online.as_deref(), Some("False"));
        assert_eq!(account.protocols.len(), 3);
        let exch = account.protocol(PoxProtocolType::Exch).unwrap();
        assert_eq!(exch.server.as_deref(), Some("5f76be3c-9138-4f66-85e0-21bc23ca35f0@contoso.com"));
        assert_eq!(exch.as_url.as_deref(), Some("https://mail.contoso.com/EWS/Exchange.asmx"));
        assert_eq!(exch.emws_url.as_deref(), Some("https://mail.contoso.com/EWS/Exchange.asmx"));
        assert_eq!(exch.oof_url.as_deref(), Some("https://mail.contoso.com/EWS/Exchange.asmx"));
        assert_eq!(exch.server_version.as_deref(), Some("73C08204"));
        assert_eq!(exch.ad.as_deref(), Some("dc.contoso.com"));
        assert_eq!(exch.ecp_url_fragments.len(), 11);
        assert_eq!(exch.ecp_url_fragments[0].0, "um");
        assert!(exch.ecp_url_fragments[0].1.starts_with("?rfr=olk&amp;p=customize/voicemail.aspx"));
        assert!(exch.other.is_empty());
        let expr = account.protocol(PoxProtocolType::Expr).unwrap();
        assert_eq!(expr.server.as_deref(), Some("mail.contoso.com"));
        assert_eq!(expr.ssl.as_deref(), Some("Off"));
        assert_eq!(expr.auth_package.as_deref(), Some("Ntlm"));
        assert_eq!(expr.cert_principal_name.as_deref(), Some("None"));
        let web = account.protocol(PoxProtocolType::Web).unwrap();
        let internal = web.internal.as_ref().unwrap();
        assert_eq!(internal.owa_urls[0].authentication_method.as_deref(), Some("Basic, Fba"));
        assert_eq!(internal.owa_urls[0].url, "https://mail.contoso.com/owa/");
        assert_eq!(internal.protocols[0].protocol_type, Some(PoxProtocolType::Exch));
        assert_eq!(internal.protocols[0].as_url.as_deref(), Some("https://mail.contoso.com/EWS/Exchange.asmx"));
        assert_eq!(resp.ews_url(), Some("https://mail.contoso.com/EWS/Exchange.asmx"));
        assert_eq!(resp.external_ews_url(), None);
        assert_eq!(resp.redirect(), None);

        let s = resp.to_xml_string();
        assert_eq!(PoxAutodiscoverResponse::parse(s.as_bytes()).unwrap(), resp);
        same_shape(&bytes, &s);
        // Exact element order: the written document has the sample's elements in the sample's order.
        let order = |el: &Element| {
            let mut v = Vec::new();
            fn walk(e: &Element, v: &mut Vec<String>) {
                v.push(e.name.clone());
                e.children.iter().for_each(|c| walk(c, v));
            }
            walk(el, &mut v);
            v
        };
        assert_eq!(order(&xml::parse(&bytes).unwrap()), order(&xml::parse(s.as_bytes()).unwrap()));
    }

    #[test]
    fn redirect_sample() {
        let bytes = sample("Autodiscover-POX-redirectAddr.response.xml");
        let resp = PoxAutodiscoverResponse::parse(&bytes).unwrap();
        assert_eq!(resp.redirect(), Some(Redirect::Address("elvin@mail.contoso.com".into())));
        assert!(resp.user.is_none());
        assert_eq!(resp, PoxAutodiscoverResponse::redirecting(&Redirect::Address("elvin@mail.contoso.com".into())));
        let s = resp.to_xml_string();
        assert_eq!(PoxAutodiscoverResponse::parse(s.as_bytes()).unwrap(), resp);
        same_shape(&bytes, &s);

        let url = PoxAutodiscoverResponse::redirecting(&Redirect::Url(
            "https://x.contoso.test/autodiscover/autodiscover.xml".into(),
        ));
        let back = PoxAutodiscoverResponse::parse(url.to_xml_string().as_bytes()).unwrap();
        assert_eq!(back.redirect(), Some(Redirect::Url("https://x.contoso.test/autodiscover/autodiscover.xml".into())));
    }

    #[test]
    fn error_forms_and_unmodelled_elements() {
        let generic = br#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response>
    <Error Time="16:56:32.6762592" Id="1054084152">
      <ErrorCode>600</ErrorCode>
      <Message>Invalid Request</Message>
      <DebugData />
    </Error>
  </Response>
</Autodiscover>"#;
        let resp = PoxAutodiscoverResponse::parse(generic).unwrap();
        assert_eq!(resp.schema, PoxResponseSchema::Generic);
        let e = resp.error.as_ref().unwrap();
        assert_eq!(e.error_code, Some(600));
        assert_eq!(e.message.as_deref(), Some("Invalid Request"));
        assert_eq!(e.time.as_deref(), Some("16:56:32.6762592"));
        assert_eq!(e.id.as_deref(), Some("1054084152"));
        let s = resp.to_xml_string();
        assert_eq!(PoxAutodiscoverResponse::parse(s.as_bytes()).unwrap(), resp);
        same_shape(generic, &s);

        // mapiHttp protocol form, an unknown element and Port survive.
        let resp = PoxAutodiscoverResponse {
            user: Some(PoxUser {
                display_name: Some("A & B".into()),
                other: vec![super::super::text_element(Ns::PoxOutlookResponse, "DefaultABView", "contacts")],
                ..Default::default()
            }),
            account: Some(PoxAccount {
                action: Some(PoxAction::Settings),
                protocols: vec![
                    PoxProtocol {
                        type_attr: Some("mapiHttp".into()),
                        version_attr: Some("1".into()),
                        ..Default::default()
                    },
                    PoxProtocol {
                        protocol_type: Some(PoxProtocolType::Expr),
                        port: Some(443),
                        ews_url: Some("https://ext.contoso.test/EWS/Exchange.asmx".into()),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }),
            ..Default::default()
        };
        let s = resp.to_xml_string();
        assert_eq!(PoxAutodiscoverResponse::parse(s.as_bytes()).unwrap(), resp, "{s}");
        assert_eq!(resp.ews_url(), Some("https://ext.contoso.test/EWS/Exchange.asmx"));
        assert_eq!(resp.external_ews_url(), Some("https://ext.contoso.test/EWS/Exchange.asmx"));
    }

    #[test]
    fn errors() {
        let text = String::from_utf8(sample("Autodiscover-POX.response.xml")).unwrap();
        let bad = text.replace("<Action>settings</Action>", "<Action>teleport</Action>");
        let err = PoxAutodiscoverResponse::parse(bad.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("teleport"), "{err}");
        assert_eq!(err.path(), "/Autodiscover/Response/Account/Action");

        let bad = text.replace("<Type>EXPR</Type>", "<Type>CARRIER-PIGEON</Type>");
        let err = PoxAutodiscoverResponse::parse(bad.as_bytes()).unwrap_err();
        assert_eq!(err.path(), "/Autodiscover/Response/Account/Protocol/Type");

        let bad = text.replace(
            "<ASUrl>https://mail.contoso.com/EWS/Exchange.asmx</ASUrl>\n          </Protocol>",
            "<Port>http</Port></Protocol>",
        );
        let err = PoxAutodiscoverResponse::parse(bad.as_bytes()).unwrap_err();
        assert_eq!(err.path(), "/Autodiscover/Response/Account/Protocol/Internal/Protocol/Port");

        // The wrong document, the wrong namespace, a SOAP envelope: errors.
        let req = sample("Autodiscover-POX.request.xml");
        assert!(PoxAutodiscoverResponse::parse(&req).is_err());
        assert!(PoxAutodiscoverRequest::parse(&sample("Autodiscover-POX.response.xml")).is_err());
        assert!(PoxAutodiscoverRequest::parse(&sample("Autodiscover-SOAP-GetUserSettings.request.xml")).is_err());
        let no_schema = String::from_utf8(req).unwrap().replace(
            "<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>",
            "",
        );
        let err = PoxAutodiscoverRequest::parse(no_schema.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("missing element AcceptableResponseSchema"), "{err}");
        assert_eq!(err.path(), "/Autodiscover/Request");
        let no_response =
            br#"<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"/>"#;
        assert!(
            PoxAutodiscoverResponse::parse(no_response).unwrap_err().to_string().contains("missing element Response")
        );
        assert!(PoxAutodiscoverResponse::parse(b"<Autodiscover").is_err());
    }
}
