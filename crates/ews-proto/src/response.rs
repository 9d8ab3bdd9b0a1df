//! What every EWS response message shares: `ResponseClass`, `MessageText`, `ResponseCode`,
//! `DescriptiveLinkKey` and `MessageXml` (where throttling puts `BackOffMilliseconds`).

use crate::error::Result;
use crate::response_code::ResponseCode;
use crate::xml::{Element, FromXml, Name, Writer, XmlText, m, t};
use crate::xml_enum;

xml_enum! {
    /// `@ResponseClass` of a response message.
    pub enum ResponseClass { Success, Warning, Error }
}

impl XmlText for ResponseCode {
    fn from_text(s: &str) -> std::result::Result<Self, String> {
        Ok(ResponseCode::parse(s))
    }
    fn to_text(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(self.as_str())
    }
}

impl std::fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `m:MessageXml` / `t:MessageXml`: name-value details of an error (`t:Value Name="…"`),
/// plus any other element kept as it came.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageXml {
    pub values: Vec<(String, String)>,
    pub other: Vec<Element>,
}

impl MessageXml {
    /// The value named `name` (e.g. `BackOffMilliseconds`).
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim())
    }

    /// `BackOffMilliseconds`, the time the server asks us to wait before the next request.
    pub fn back_off(&self) -> Option<std::time::Duration> {
        self.value("BackOffMilliseconds")?.parse::<u64>().ok().map(std::time::Duration::from_millis)
    }
}

impl FromXml for MessageXml {
    fn from_xml(el: &Element) -> Result<Self> {
        let mut out = MessageXml::default();
        for c in &el.children {
            if c.is(t("Value")) {
                out.values.push((c.req_attr("Name").map_err(|e| e.at(el))?.to_string(), c.text.clone()));
            } else {
                out.other.push(c.clone());
            }
        }
        Ok(out)
    }
}

impl crate::xml::ToXml for MessageXml {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name);
        for (n, v) in &self.values {
            w.start(t("Value")).attr("Name", n).text(v).end();
        }
        for o in &self.other {
            w.element(o);
        }
        w.end();
    }
}

/// The common part of every `*ResponseMessage` (`m:ResponseMessageType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseStatus {
    pub class: ResponseClass,
    pub message_text: Option<String>,
    pub code: Option<ResponseCode>,
    pub descriptive_link_key: Option<i32>,
    pub message_xml: Option<MessageXml>,
}

impl Default for ResponseStatus {
    fn default() -> Self {
        ResponseStatus::success()
    }
}

impl ResponseStatus {
    /// `Success` / `NoError`.
    pub fn success() -> Self {
        ResponseStatus {
            class: ResponseClass::Success,
            message_text: None,
            code: Some(ResponseCode::NoError),
            descriptive_link_key: None,
            message_xml: None,
        }
    }

    /// An `Error` with a code and message text.
    pub fn error(code: ResponseCode, text: impl Into<String>) -> Self {
        ResponseStatus {
            class: ResponseClass::Error,
            message_text: Some(text.into()),
            code: Some(code),
            descriptive_link_key: Some(0),
            message_xml: None,
        }
    }

    /// Adds a `t:Value` to `MessageXml`.
    pub fn with_value(mut self, name: &str, value: impl Into<String>) -> Self {
        self.message_xml.get_or_insert_with(MessageXml::default).values.push((name.to_string(), value.into()));
        self
    }

    pub fn is_success(&self) -> bool {
        self.class == ResponseClass::Success
    }

    /// The response code, `NoError` if absent.
    pub fn code(&self) -> ResponseCode {
        self.code.clone().unwrap_or(ResponseCode::NoError)
    }

    /// `BackOffMilliseconds` from `MessageXml`, if the server sent one.
    pub fn back_off(&self) -> Option<std::time::Duration> {
        self.message_xml.as_ref().and_then(MessageXml::back_off)
    }

    /// Reads the shared part of a response message element.
    pub fn read(el: &Element) -> Result<Self> {
        Ok(ResponseStatus {
            class: el.req_attr_as("ResponseClass")?,
            message_text: el.get_text(m("MessageText"))?,
            code: el.get_text(m("ResponseCode"))?,
            descriptive_link_key: el.get_text(m("DescriptiveLinkKey"))?,
            message_xml: el.get(m("MessageXml"))?,
        })
    }

    /// Opens the response message element and writes the shared part; the caller writes its
    /// own elements and calls `end()`.
    pub fn write_start(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).attr_val("ResponseClass", &self.class);
        w.leaf_opt(m("MessageText"), &self.message_text);
        w.leaf_opt(m("ResponseCode"), &self.code);
        w.leaf_opt(m("DescriptiveLinkKey"), &self.descriptive_link_key);
        w.child_opt(m("MessageXml"), &self.message_xml);
    }
}

/// A response message that carries nothing but the status (`m:ResponseMessageType`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusMessage {
    pub status: ResponseStatus,
}

impl FromXml for StatusMessage {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(StatusMessage { status: ResponseStatus::read(el)? })
    }
}

impl crate::xml::ToXml for StatusMessage {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        self.status.write_start(w, name);
        w.end();
    }
}

/// Reads `m:ResponseMessages/m:{message}` children of a `*Response` element.
pub fn read_messages<T: FromXml>(el: &Element, message: &str) -> Result<Vec<T>> {
    let wrapper = el.req(m("ResponseMessages"))?;
    wrapper.get_all(m(message)).map_err(|e| e.at(el))
}

/// Writes `<m:{response}><m:ResponseMessages>…</m:ResponseMessages></m:{response}>`.
pub fn write_messages<T: crate::xml::ToXml>(w: &mut Writer, response: Name<'_>, message: &str, items: &[T]) {
    w.start(response).start(m("ResponseMessages"));
    w.each(m(message), items);
    w.end().end();
}
