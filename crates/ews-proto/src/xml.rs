//! A small, namespace-aware XML tree and writer, the only place the crate touches XML syntax.
//!
//! Reading builds an [`Element`] tree with quick-xml's namespace reader. It refuses what an EWS
//! peer never needs and an attacker likes: document type declarations (so no external or
//! recursive entities), undeclared entity references, undeclared prefixes, absurd nesting and
//! oversized documents. Every failure is an [`Error`] value carrying the element path.
//!
//! Writing goes through [`Writer`], which emits fixed prefixes (`soap`, `m`, `t`, …) and declares
//! each namespace where it is first needed, so any fragment it writes is well-formed on its own.

use std::borrow::Cow;
use std::fmt::Write as _;

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

use crate::error::{Error, ErrorKind, Result};

/// The XML namespaces EWS uses, with the prefixes this crate writes for them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ns {
    /// No namespace (unqualified names).
    None,
    /// SOAP 1.1 envelope.
    Soap,
    /// EWS messages (`m:`).
    Messages,
    /// EWS types (`t:`).
    Types,
    /// EWS SOAP fault details (`e:`).
    Errors,
    /// SOAP Autodiscover (`a:`).
    Autodiscover,
    /// WS-Addressing, used in SOAP Autodiscover headers (`wsa:`).
    Addressing,
    /// XML Schema instance (`xsi:`).
    Xsi,
    /// POX Autodiscover request schema.
    PoxRequest,
    /// POX Autodiscover response schema (the outer `Autodiscover` element).
    PoxResponse,
    /// POX Autodiscover Outlook response schema (`Response` and everything in it).
    PoxOutlookResponse,
    /// Any other namespace, by URI.
    Other(String),
}

impl Ns {
    pub const SOAP_URI: &'static str = "http://schemas.xmlsoap.org/soap/envelope/";
    pub const MESSAGES_URI: &'static str = "http://schemas.microsoft.com/exchange/services/2006/messages";
    pub const TYPES_URI: &'static str = "http://schemas.microsoft.com/exchange/services/2006/types";
    pub const ERRORS_URI: &'static str = "http://schemas.microsoft.com/exchange/services/2006/errors";
    pub const AUTODISCOVER_URI: &'static str = "http://schemas.microsoft.com/exchange/2010/Autodiscover";
    pub const ADDRESSING_URI: &'static str = "http://www.w3.org/2005/08/addressing";
    pub const XSI_URI: &'static str = "http://www.w3.org/2001/XMLSchema-instance";
    /// The `xml:` namespace (`xml:lang`); bound by XML itself, never declared.
    pub const XML_URI: &'static str = "http://www.w3.org/XML/1998/namespace";
    pub const POX_REQUEST_URI: &'static str =
        "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";
    pub const POX_RESPONSE_URI: &'static str = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
    pub const POX_OUTLOOK_RESPONSE_URI: &'static str =
        "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

    /// Classifies a namespace URI.
    pub fn from_uri(uri: &str) -> Ns {
        match uri {
            Self::SOAP_URI => Ns::Soap,
            Self::MESSAGES_URI => Ns::Messages,
            Self::TYPES_URI => Ns::Types,
            Self::ERRORS_URI => Ns::Errors,
            Self::AUTODISCOVER_URI => Ns::Autodiscover,
            Self::ADDRESSING_URI => Ns::Addressing,
            Self::XSI_URI => Ns::Xsi,
            Self::POX_REQUEST_URI => Ns::PoxRequest,
            Self::POX_RESPONSE_URI => Ns::PoxResponse,
            Self::POX_OUTLOOK_RESPONSE_URI => Ns::PoxOutlookResponse,
            other => Ns::Other(other.to_string()),
        }
    }

    /// The namespace URI (empty for [`Ns::None`]).
    pub fn uri(&self) -> &str {
        match self {
            Ns::None => "",
            Ns::Soap => Self::SOAP_URI,
            Ns::Messages => Self::MESSAGES_URI,
            Ns::Types => Self::TYPES_URI,
            Ns::Errors => Self::ERRORS_URI,
            Ns::Autodiscover => Self::AUTODISCOVER_URI,
            Ns::Addressing => Self::ADDRESSING_URI,
            Ns::Xsi => Self::XSI_URI,
            Ns::PoxRequest => Self::POX_REQUEST_URI,
            Ns::PoxResponse => Self::POX_RESPONSE_URI,
            Ns::PoxOutlookResponse => Self::POX_OUTLOOK_RESPONSE_URI,
            Ns::Other(uri) => uri,
        }
    }

    /// The prefix this crate writes for the namespace; `None` means "default namespace".
    fn prefix(&self) -> Option<&'static str> {
        match self {
            Ns::None => None,
            Ns::Soap => Some("soap"),
            Ns::Messages => Some("m"),
            Ns::Types => Some("t"),
            Ns::Errors => Some("e"),
            Ns::Autodiscover => Some("a"),
            Ns::Addressing => Some("wsa"),
            Ns::Xsi => Some("xsi"),
            // POX Autodiscover documents use default namespaces, as Outlook writes them.
            Ns::PoxRequest | Ns::PoxResponse | Ns::PoxOutlookResponse | Ns::Other(_) => None,
        }
    }

    /// Short name used in error paths (`t:Start`).
    pub fn short(&self) -> &'static str {
        match self {
            Ns::None => "",
            Ns::Soap => "soap:",
            Ns::Messages => "m:",
            Ns::Types => "t:",
            Ns::Errors => "e:",
            Ns::Autodiscover => "a:",
            Ns::Addressing => "wsa:",
            Ns::Xsi => "xsi:",
            Ns::PoxRequest | Ns::PoxResponse | Ns::PoxOutlookResponse | Ns::Other(_) => "",
        }
    }
}

/// A qualified element name: namespace plus local name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Name<'a> {
    pub ns: &'a Ns,
    pub local: &'a str,
}

/// Shorthand constructors for names in the EWS namespaces.
pub const fn m(local: &str) -> Name<'_> {
    Name { ns: &Ns::Messages, local }
}
pub const fn t(local: &str) -> Name<'_> {
    Name { ns: &Ns::Types, local }
}
pub const fn soap(local: &str) -> Name<'_> {
    Name { ns: &Ns::Soap, local }
}
pub const fn unq(local: &str) -> Name<'_> {
    Name { ns: &Ns::None, local }
}

impl std::fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.ns.short(), self.local)
    }
}

/// An attribute with its (resolved) namespace; EWS attributes are almost always unqualified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub ns: Ns,
    pub name: String,
    pub value: String,
}

/// An element with its attributes, child elements and the concatenation of its direct text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub ns: Ns,
    pub name: String,
    pub attrs: Vec<Attr>,
    pub children: Vec<Element>,
    pub text: String,
}

/// Limits applied while parsing untrusted XML.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Maximum element nesting depth.
    pub max_depth: usize,
    /// Maximum number of elements in one document.
    pub max_elements: usize,
    /// Maximum document size in bytes.
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: 64, max_elements: 2_000_000, max_bytes: 256 * 1024 * 1024 }
    }
}

/// Parses one XML document (UTF-8, optional BOM) into its root element.
pub fn parse(input: &[u8]) -> Result<Element> {
    parse_with_limits(input, Limits::default())
}

/// Parses with explicit [`Limits`].
pub fn parse_with_limits(input: &[u8], limits: Limits) -> Result<Element> {
    if input.len() > limits.max_bytes {
        return Err(Error::syntax(format!(
            "document of {} bytes exceeds the limit of {} bytes",
            input.len(),
            limits.max_bytes
        )));
    }
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = std::str::from_utf8(input).map_err(|e| Error::syntax(format!("document is not valid UTF-8: {e}")))?;
    let mut reader = NsReader::from_str(text);
    reader.config_mut().check_end_names = true;
    reader.config_mut().expand_empty_elements = false;

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let pos = reader.buffer_position();
        let (resolved, event) =
            reader.read_resolved_event().map_err(|e| Error::syntax(format!("malformed XML near byte {pos}: {e}")))?;
        let ns = resolve_ns(&resolved, pos)?;
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                if root.is_some() {
                    return Err(Error::syntax("content after the root element"));
                }
                count += 1;
                if count > limits.max_elements {
                    return Err(Error::syntax("too many elements"));
                }
                if stack.len() >= limits.max_depth {
                    return Err(Error::syntax(format!("elements nested deeper than {}", limits.max_depth)));
                }
                let el = start_element(&reader, ns, start, pos)?;
                if matches!(event, Event::Empty(_)) {
                    close(&mut stack, &mut root, el);
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| Error::syntax("unbalanced end tag"))?;
                close(&mut stack, &mut root, el);
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err(Error::syntax("text outside the root element")),
                }
            }
            Event::CData(c) => {
                let content = c.xml10_content();
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&content),
                    None => return Err(Error::syntax("CDATA outside the root element")),
                }
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref() {
                    Ok(Some(ch)) => Some(ch),
                    Ok(None) => None,
                    Err(e) => return Err(Error::syntax(format!("bad character reference: {e}"))),
                };
                let s: Cow<'_, str> = match ch {
                    Some(ch) => Cow::Owned(ch.to_string()),
                    None => match &*r {
                        "amp" => "&".into(),
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        other => {
                            return Err(Error::syntax(format!(
                                "undeclared entity reference &{other}; (entities are not supported)"
                            )));
                        }
                    },
                };
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&s),
                    None => return Err(Error::syntax("entity reference outside the root element")),
                }
            }
            Event::DocType(_) => {
                return Err(Error::syntax("document type declarations (DTD) are not allowed in EWS messages"));
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(Error::syntax(format!(
            "document ends inside element <{}>",
            stack.last().map(|e| e.name.as_str()).unwrap_or("")
        )));
    }
    root.ok_or_else(|| Error::syntax("document has no root element"))
}

fn close(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

fn resolve_ns(resolved: &ResolveResult<'_>, pos: u64) -> Result<Ns> {
    Ok(match resolved {
        ResolveResult::Unbound => Ns::None,
        ResolveResult::Bound(ns) => Ns::from_uri(ns.as_ref()),
        ResolveResult::Unknown(prefix) => {
            return Err(Error::syntax(format!("undeclared namespace prefix `{prefix}` near byte {pos}")));
        }
    })
}

fn start_element(reader: &NsReader<&[u8]>, ns: Ns, start: &BytesStart<'_>, pos: u64) -> Result<Element> {
    let name = start.local_name().into_inner().to_string();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| Error::syntax(format!("bad attribute near byte {pos}: {e}")))?;
        let key = attr.key;
        if key.as_namespace_binding().is_some() {
            continue; // xmlns declarations are handled by the reader
        }
        let (resolved, local) = reader.resolver().resolve_attribute(key);
        let attr_ns = resolve_ns(&resolved, pos)?;
        let local = local.into_inner().to_string();
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| Error::syntax(format!("bad value of attribute `{local}` near byte {pos}: {e}")))?
            .into_owned();
        attrs.push(Attr { ns: attr_ns, name: local, value });
    }
    Ok(Element { ns, name, attrs, children: Vec::new(), text: String::new() })
}

/// Values that live in XML text: element content or attribute values.
pub trait XmlText: Sized {
    /// Parses the lexical form. The error says what was expected.
    fn from_text(s: &str) -> std::result::Result<Self, String>;
    /// The lexical form.
    fn to_text(&self) -> Cow<'_, str>;
}

/// Types that read themselves from an element (whatever that element is called).
pub trait FromXml: Sized {
    fn from_xml(el: &Element) -> Result<Self>;
}

/// Types that write themselves as an element with the given name.
pub trait ToXml {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>);
}

impl Element {
    /// `prefix:Local` for messages.
    pub fn display_name(&self) -> String {
        format!("{}{}", self.ns.short(), self.name)
    }

    /// Whether this element has the given name.
    pub fn is(&self, name: Name<'_>) -> bool {
        self.name == name.local && &self.ns == name.ns
    }

    /// The first child with that name.
    pub fn child(&self, name: Name<'_>) -> Option<&Element> {
        self.children.iter().find(|c| c.is(name))
    }

    /// All children with that name.
    pub fn children_named<'a>(&'a self, name: Name<'a>) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(name))
    }

    /// The only child element, or an error.
    pub fn single_child(&self) -> Result<&Element> {
        match self.children.as_slice() {
            [one] => Ok(one),
            [] => Err(Error::new(ErrorKind::Missing("a child element".into())).at(self)),
            _ => Err(Error::new(ErrorKind::Invalid {
                value: format!("{} child elements", self.children.len()),
                expected: "exactly one child element".into(),
            })
            .at(self)),
        }
    }

    /// A required child.
    pub fn req(&self, name: Name<'_>) -> Result<&Element> {
        self.child(name).ok_or_else(|| Error::new(ErrorKind::Missing(format!("element {name}"))).at(self))
    }

    /// An unqualified attribute.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|a| a.name == name && a.ns == Ns::None).map(|a| a.value.as_str())
    }

    /// An attribute in a namespace (`xsi:type`: `attr_ns(&Ns::Xsi, "type")`).
    pub fn attr_ns(&self, ns: &Ns, name: &str) -> Option<&str> {
        self.attrs.iter().find(|a| a.name == name && a.ns == *ns).map(|a| a.value.as_str())
    }

    /// A required unqualified attribute.
    pub fn req_attr(&self, name: &str) -> Result<&str> {
        self.attr(name).ok_or_else(|| Error::new(ErrorKind::Missing(format!("attribute {name}"))).at(self))
    }

    /// An attribute parsed as `T`.
    pub fn attr_as<T: XmlText>(&self, name: &str) -> Result<Option<T>> {
        match self.attr(name) {
            None => Ok(None),
            Some(v) => {
                T::from_text(v.trim()).map(Some).map_err(|expected| Error::invalid(v, expected).at_attr(name).at(self))
            }
        }
    }

    /// A required attribute parsed as `T`.
    pub fn req_attr_as<T: XmlText>(&self, name: &str) -> Result<T> {
        self.attr_as(name)?.ok_or_else(|| Error::new(ErrorKind::Missing(format!("attribute {name}"))).at(self))
    }

    /// This element's own text parsed as `T` (surrounding white space ignored).
    pub fn value<T: XmlText>(&self) -> Result<T> {
        T::from_text(self.text.trim()).map_err(|expected| Error::invalid(&self.text, expected).at(self))
    }

    /// An optional child read with [`FromXml`].
    pub fn get<T: FromXml>(&self, name: Name<'_>) -> Result<Option<T>> {
        match self.child(name) {
            None => Ok(None),
            Some(c) => T::from_xml(c).map(Some).map_err(|e| e.at(self)),
        }
    }

    /// A required child read with [`FromXml`].
    pub fn get_req<T: FromXml>(&self, name: Name<'_>) -> Result<T> {
        let c = self.req(name)?;
        T::from_xml(c).map_err(|e| e.at(self))
    }

    /// Every child of that name, read with [`FromXml`].
    pub fn get_all<T: FromXml>(&self, name: Name<'_>) -> Result<Vec<T>> {
        self.children_named(name).map(|c| T::from_xml(c).map_err(|e| e.at(self))).collect()
    }

    /// Items of a wrapper element (`<t:Categories><t:String>…`): `None` if the wrapper is absent.
    pub fn get_list<T: FromXml>(&self, wrapper: Name<'_>, item: Name<'_>) -> Result<Option<Vec<T>>> {
        match self.child(wrapper) {
            None => Ok(None),
            Some(w) => w.get_all(item).map(Some).map_err(|e| e.at(self)),
        }
    }

    /// An optional child's text parsed as `T`.
    pub fn get_text<T: XmlText>(&self, name: Name<'_>) -> Result<Option<T>> {
        match self.child(name) {
            None => Ok(None),
            Some(c) => c.value().map(Some).map_err(|e| e.at(self)),
        }
    }

    /// A required child's text parsed as `T`.
    pub fn get_text_req<T: XmlText>(&self, name: Name<'_>) -> Result<T> {
        self.req(name)?.value().map_err(|e| e.at(self))
    }

    /// Checks that this element has the expected name.
    pub fn expect(&self, name: Name<'_>) -> Result<()> {
        if self.is(name) {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::Unexpected {
                found: format!("{} ({})", self.display_name(), self.ns.uri()),
                expected: format!("{name} ({})", name.ns.uri()),
            }))
        }
    }
}

impl FromXml for Element {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(el.clone())
    }
}

/// Writes XML with fixed prefixes, declaring each namespace where first used.
#[derive(Debug, Default)]
pub struct Writer {
    buf: String,
    /// Declared namespaces with the depth at which they were declared.
    declared: Vec<(Ns, usize)>,
    /// Names of open elements (for end tags).
    open: Vec<String>,
    /// Whether the current start tag is still open (attributes may follow).
    in_tag: bool,
    /// Default namespace in scope (for prefix-less namespaces) and its depth.
    default_ns: Vec<(Ns, usize)>,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a document with the XML declaration.
    pub fn with_declaration() -> Self {
        let mut w = Self::new();
        w.buf.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
        w
    }

    /// Declares namespaces on the next element written (use before the root).
    pub fn predeclare(&mut self, namespaces: &[Ns]) -> PreDeclared<'_> {
        PreDeclared { w: self, ns: namespaces.to_vec() }
    }

    pub fn finish(mut self) -> String {
        self.close_tag();
        self.buf
    }

    pub fn as_str(&self) -> &str {
        &self.buf
    }

    fn close_tag(&mut self) {
        if self.in_tag {
            self.buf.push('>');
            self.in_tag = false;
        }
    }

    fn is_declared(&self, ns: &Ns) -> bool {
        self.declared.iter().any(|(d, _)| d == ns)
    }

    /// Opens `<name`; attributes may follow until content or [`Writer::end`].
    pub fn start(&mut self, name: Name<'_>) -> &mut Self {
        self.start_with(name, &[])
    }

    fn start_with(&mut self, name: Name<'_>, extra: &[Ns]) -> &mut Self {
        self.close_tag();
        let depth = self.open.len();
        let qname = match name.ns.prefix() {
            Some(p) => format!("{p}:{}", name.local),
            None => name.local.to_string(),
        };
        self.buf.push('<');
        self.buf.push_str(&qname);
        let mut to_declare: Vec<Ns> = Vec::new();
        for ns in extra.iter().chain(std::iter::once(name.ns)) {
            if ns.prefix().is_some() && !self.is_declared(ns) && !to_declare.contains(ns) {
                to_declare.push(ns.clone());
            }
        }
        for ns in to_declare {
            let _ = write!(self.buf, " xmlns:{}=\"{}\"", ns.prefix().unwrap_or_default(), ns.uri());
            self.declared.push((ns, depth));
        }
        if name.ns.prefix().is_none() && *name.ns != Ns::None {
            let current = self.default_ns.last().map(|(n, _)| n);
            if current != Some(name.ns) {
                let _ = write!(self.buf, " xmlns=\"{}\"", escape_attr(name.ns.uri()));
                self.default_ns.push((name.ns.clone(), depth));
            }
        } else if *name.ns == Ns::None && self.default_ns.last().is_some_and(|(n, _)| *n != Ns::None) {
            self.buf.push_str(" xmlns=\"\"");
            self.default_ns.push((Ns::None, depth));
        }
        self.open.push(qname);
        self.in_tag = true;
        self
    }

    /// Adds an attribute to the element just opened.
    pub fn attr(&mut self, name: &str, value: &str) -> &mut Self {
        debug_assert!(self.in_tag, "attribute {name} written outside a start tag");
        let _ = write!(self.buf, " {name}=\"{}\"", escape_attr(value));
        self
    }

    /// Adds a namespace-qualified attribute (`xsi:type`, `xsi:nil`, `xml:lang`), declaring the
    /// prefix on the open element when it is not in scope yet. `xml:` is never declared (it is
    /// bound by XML itself). An attribute in a namespace without a fixed prefix is skipped.
    pub fn attr_ns(&mut self, ns: &Ns, name: &str, value: &str) -> &mut Self {
        debug_assert!(self.in_tag, "attribute {name} written outside a start tag");
        if *ns == Ns::None {
            return self.attr(name, value);
        }
        if ns.uri() == Ns::XML_URI {
            let _ = write!(self.buf, " xml:{name}=\"{}\"", escape_attr(value));
        } else if let Some(p) = ns.prefix() {
            if !self.is_declared(ns) {
                let depth = self.open.len().saturating_sub(1);
                let _ = write!(self.buf, " xmlns:{p}=\"{}\"", ns.uri());
                self.declared.push((ns.clone(), depth));
            }
            let _ = write!(self.buf, " {p}:{name}=\"{}\"", escape_attr(value));
        }
        self
    }

    /// Adds an attribute if present.
    pub fn attr_opt<T: XmlText>(&mut self, name: &str, value: &Option<T>) -> &mut Self {
        if let Some(v) = value {
            let text = v.to_text();
            self.attr(name, &text);
        }
        self
    }

    /// Adds a typed attribute.
    pub fn attr_val<T: XmlText>(&mut self, name: &str, value: &T) -> &mut Self {
        let text = value.to_text();
        self.attr(name, &text)
    }

    /// Writes escaped text content.
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.close_tag();
        escape_text_into(&mut self.buf, text);
        self
    }

    /// Closes the innermost open element.
    pub fn end(&mut self) -> &mut Self {
        let depth = self.open.len().saturating_sub(1);
        let qname = self.open.pop().expect("end() without an open element");
        if self.in_tag {
            self.buf.push_str("/>");
            self.in_tag = false;
        } else {
            self.buf.push_str("</");
            self.buf.push_str(&qname);
            self.buf.push('>');
        }
        self.declared.retain(|(_, d)| *d < depth);
        self.default_ns.retain(|(_, d)| *d < depth);
        self
    }

    /// `<name>text</name>`.
    pub fn leaf(&mut self, name: Name<'_>, text: &str) -> &mut Self {
        self.start(name);
        if !text.is_empty() {
            self.text(text);
        }
        self.end()
    }

    /// `<name>value</name>` for a typed value.
    pub fn leaf_val<T: XmlText>(&mut self, name: Name<'_>, value: &T) -> &mut Self {
        let text = value.to_text();
        self.leaf(name, &text)
    }

    /// `<name>value</name>` if present.
    pub fn leaf_opt<T: XmlText>(&mut self, name: Name<'_>, value: &Option<T>) -> &mut Self {
        if let Some(v) = value {
            self.leaf_val(name, v);
        }
        self
    }

    /// A child element written by its [`ToXml`] impl.
    pub fn child<T: ToXml + ?Sized>(&mut self, name: Name<'_>, value: &T) -> &mut Self {
        value.to_xml(self, name);
        self
    }

    /// A child element if present.
    pub fn child_opt<T: ToXml>(&mut self, name: Name<'_>, value: &Option<T>) -> &mut Self {
        if let Some(v) = value {
            v.to_xml(self, name);
        }
        self
    }

    /// One element per item.
    pub fn each<T: ToXml>(&mut self, name: Name<'_>, values: &[T]) -> &mut Self {
        for v in values {
            v.to_xml(self, name);
        }
        self
    }

    /// `<wrapper><item/>…</wrapper>` if present.
    pub fn list_opt<T: ToXml>(&mut self, wrapper: Name<'_>, item: Name<'_>, values: &Option<Vec<T>>) -> &mut Self {
        if let Some(values) = values {
            self.start(wrapper);
            self.each(item, values);
            self.end();
        }
        self
    }

    /// `<wrapper><item/>…</wrapper>`, always written.
    pub fn list<T: ToXml>(&mut self, wrapper: Name<'_>, item: Name<'_>, values: &[T]) -> &mut Self {
        self.start(wrapper);
        self.each(item, values);
        self.end()
    }

    /// Writes a raw [`Element`] tree (used for pass-through content).
    pub fn element(&mut self, el: &Element) -> &mut Self {
        let name = Name { ns: &el.ns, local: &el.name };
        self.start(name);
        for a in &el.attrs {
            self.attr_ns(&a.ns, &a.name, &a.value);
        }
        if !el.text.is_empty() {
            self.text(&el.text);
        }
        for c in &el.children {
            self.element(c);
        }
        self.end()
    }
}

/// A writer about to write an element that declares several namespaces at once.
pub struct PreDeclared<'a> {
    w: &'a mut Writer,
    ns: Vec<Ns>,
}

impl<'a> PreDeclared<'a> {
    /// Opens the element with all the namespaces declared on it.
    pub fn start(self, name: Name<'_>) -> &'a mut Writer {
        self.w.start_with(name, &self.ns)
    }
}

impl ToXml for Element {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        let mut renamed = self.clone();
        renamed.ns = name.ns.clone();
        renamed.name = name.local.to_string();
        w.element(&renamed);
    }
}

fn escape_text_into(buf: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => buf.push_str("&amp;"),
            '<' => buf.push_str("&lt;"),
            '>' => buf.push_str("&gt;"),
            '\r' => buf.push_str("&#13;"),
            c => buf.push(c),
        }
    }
}

fn escape_attr(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\n', '\r', '\t']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespaces_and_text() {
        let doc = br#"<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x:A xmlns:x="http://schemas.microsoft.com/exchange/services/2006/types" Id="1">a &amp; b &#65;<![CDATA[<c>]]></x:A></s:Body></s:Envelope>"#;
        let root = parse(doc).unwrap();
        assert!(root.is(soap("Envelope")));
        let a = root.req(soap("Body")).unwrap().req(t("A")).unwrap();
        assert_eq!(a.text, "a & b A<c>");
        assert_eq!(a.attr("Id"), Some("1"));
    }

    #[test]
    fn rejects_dtd_entities_and_unknown_prefixes() {
        let bomb =
            br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><a>&lol2;</a>"#;
        assert!(parse(bomb).unwrap_err().to_string().contains("DTD"));
        assert!(parse(b"<a>&ext;</a>").unwrap_err().to_string().contains("entity"));
        assert!(parse(b"<x:a/>").unwrap_err().to_string().contains("prefix"));
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(b"<a/><b/>").is_err());
        assert!(parse(b"").is_err());
    }

    #[test]
    fn depth_limit() {
        let mut doc = String::new();
        for _ in 0..100 {
            doc.push_str("<a>");
        }
        for _ in 0..100 {
            doc.push_str("</a>");
        }
        assert!(parse(doc.as_bytes()).unwrap_err().to_string().contains("deeper"));
    }

    #[test]
    fn writer_declares_namespaces_once_and_escapes() {
        let mut w = Writer::new();
        w.predeclare(&[Ns::Messages, Ns::Types]).start(soap("Envelope"));
        w.start(m("X")).attr("A", "a\"&<").start(t("Y")).text("1 < 2 & 3").end().end();
        w.end();
        let s = w.finish();
        assert_eq!(
            s,
            "<soap:Envelope xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\" xmlns:t=\"http://schemas.microsoft.com/exchange/services/2006/types\" xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><m:X A=\"a&quot;&amp;&lt;\"><t:Y>1 &lt; 2 &amp; 3</t:Y></m:X></soap:Envelope>"
        );
        let back = parse(s.as_bytes()).unwrap();
        assert_eq!(back.req(m("X")).unwrap().req(t("Y")).unwrap().text, "1 < 2 & 3");
    }
}
