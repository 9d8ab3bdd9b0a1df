//! Autodiscover: finding a mailbox's EWS endpoint and settings (DIGEST §10).
//!
//! Two services, both modelled here:
//!
//! * **SOAP Autodiscover** (Exchange 2010+, recommended): `POST …/autodiscover/autodiscover.svc`,
//!   operation `GetUserSettings`, namespace `http://schemas.microsoft.com/exchange/2010/Autodiscover`
//!   ([`Ns::Autodiscover`]). The body elements are variants of [`crate::soap::Body`]
//!   ([`GetUserSettingsRequestMessage`], [`GetUserSettingsResponseMessage`]), so a message is read
//!   and written with [`crate::soap::Envelope`] like any EWS message. [`soap_request`] builds a
//!   complete request envelope, [`read_soap_response`] turns a response into a settings map or a
//!   redirect.
//! * **POX Autodiscover** (Exchange 2007 SP1+): `POST …/autodiscover/autodiscover.xml`, plain XML
//!   in its own namespaces, no SOAP ([`PoxAutodiscoverRequest`], [`PoxAutodiscoverResponse`], each
//!   with `parse` / `to_xml_string`).
//!
//! The SOAP Autodiscover header elements (`a:RequestedServerVersion`, `wsa:Action`, `wsa:To` in
//! requests; `wsa:Action` and `a:ServerVersionInfo` in responses) are not EWS headers: they
//! travel as raw elements in [`crate::soap::Header::other`], in document order. [`AutodiscoverHeader`]
//! reads them from there and writes them back ([`AutodiscoverHeader::read`],
//! [`AutodiscoverHeader::to_header`]).
//!
//! Redirects (<https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/handling-autodiscover-error-messages>): an HTTP 301/302 means "resend to
//! `Location`" (the caller's business); a SOAP `RedirectAddress` / POX `redirectAddr` means
//! "start again with this email address", `RedirectUrl` / `redirectUrl` "resend to this URL"
//! (both reported as [`Redirect`]); `ServerBusy` means "retry later". Cap the number of redirects
//! (exchangelib stops at 10).
//!
//! There is no schema for either service in the reference material; the element shapes follow
//! the samples `Autodiscover-*` and the tests compare the element paths written with theirs.

mod get_user_settings;
mod pox;

pub use get_user_settings::*;
pub use pox::*;

use crate::xml::{Element, Name, Ns};

/// A redirect asked for by an Autodiscover server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// Start Autodiscover again with this email address (SOAP `RedirectAddress`, POX `redirectAddr`).
    Address(String),
    /// Send the same request to this URL (SOAP `RedirectUrl`, POX `redirectUrl`).
    Url(String),
}

/// A name in the SOAP Autodiscover namespace (`a:`).
pub(crate) const fn a(local: &str) -> Name<'_> {
    Name { ns: &Ns::Autodiscover, local }
}

/// A name in the WS-Addressing namespace (`wsa:`).
pub(crate) const fn wsa(local: &str) -> Name<'_> {
    Name { ns: &Ns::Addressing, local }
}

/// A raw element with text and nothing else.
pub(crate) fn text_element(ns: Ns, name: &str, text: &str) -> Element {
    Element { ns, name: name.to_string(), attrs: Vec::new(), children: Vec::new(), text: text.to_string() }
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::collections::BTreeSet;

    use crate::xml::Element;

    /// Every element and attribute path of a document (`/{uri}Local/@{uri}attr`), namespace
    /// declarations excluded: two documents with the same set have the same shape.
    pub fn paths(el: &Element) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        walk(el, String::new(), &mut out);
        out
    }

    fn walk(el: &Element, prefix: String, out: &mut BTreeSet<String>) {
        let here = format!("{prefix}/{{{}}}{}", el.ns.uri(), el.name);
        for a in &el.attrs {
            out.insert(format!("{here}/@{{{}}}{}", a.ns.uri(), a.name));
        }
        for c in &el.children {
            walk(c, here.clone(), out);
        }
        out.insert(here);
    }

    pub fn sample(name: &str) -> Vec<u8> {
        std::fs::read(ews_schema_check::samples_dir().join(name)).unwrap()
    }
}
