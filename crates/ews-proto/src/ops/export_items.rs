//! `ExportItemsResponse` (the response only: the connector never exports items, but the
//! simulator and the error tests use its real error sample).

use std::borrow::Cow;

use crate::error::Result;
use crate::ids::ItemId;
use crate::response::{ResponseStatus, read_messages, write_messages};
use crate::xml::{Element, FromXml, Name, ToXml, Writer, XmlText, m};

/// `xs:base64Binary` content, kept as text with the white space removed (no decoding).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Base64(pub String);

impl XmlText for Base64 {
    fn from_text(s: &str) -> std::result::Result<Self, String> {
        let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let body = compact.trim_end_matches('=');
        let padding = compact.len() - body.len();
        let ok = compact.len().is_multiple_of(4)
            && padding <= 2
            && body.chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/');
        if ok { Ok(Base64(compact)) } else { Err("base64 data (xs:base64Binary)".into()) }
    }

    fn to_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.0)
    }
}

/// `m:ExportItemsResponseMessage`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExportItemsResponseMessage {
    pub status: ResponseStatus,
    /// `m:ItemId` of the exported item.
    pub item_id: Option<ItemId>,
    /// `m:Data`: the item in Exchange's opaque full-fidelity export format, base64.
    pub data: Option<Base64>,
}

impl FromXml for ExportItemsResponseMessage {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(ExportItemsResponseMessage {
            status: ResponseStatus::read(el)?,
            item_id: el.get(m("ItemId"))?,
            data: el.get_text(m("Data"))?,
        })
    }
}

impl ToXml for ExportItemsResponseMessage {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        self.status.write_start(w, name);
        w.child_opt(m("ItemId"), &self.item_id).leaf_opt(m("Data"), &self.data);
        w.end();
    }
}

/// `m:ExportItemsResponse`: one message per requested id.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExportItemsResponse {
    pub messages: Vec<ExportItemsResponseMessage>,
}

impl FromXml for ExportItemsResponse {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(ExportItemsResponse { messages: read_messages(el, "ExportItemsResponseMessage")? })
    }
}

impl ToXml for ExportItemsResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        write_messages(w, name, "ExportItemsResponseMessage", &self.messages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{body, round_trip, sample};
    use crate::response_code::ResponseCode;
    use crate::soap::{Body, Envelope, Header};

    fn response(env: &Envelope) -> &ExportItemsResponse {
        match &env.body {
            Body::ExportItemsResponse(r) => r,
            other => panic!("not an ExportItemsResponse: {}", other.element_name()),
        }
    }

    #[test]
    fn parses_the_error_sample() {
        let env = sample("ExportItems-Error-NonExistentMailbox.response.xml");
        assert_eq!(env.header.server_version_info.as_ref().and_then(|v| v.major_version), Some(14));
        let r = response(&env);
        assert_eq!(r.messages.len(), 3);
        let ok = &r.messages[0];
        assert!(ok.status.is_success());
        assert_eq!(ok.item_id, Some(ItemId::new("AAMkADhhOGU0oMf0GPIQeAAAAUC8iAABseAAAAUFZ7AAA=", Some("CQAAAA=="))));
        let data = ok.data.as_ref().unwrap();
        assert!(data.0.starts_with("AQAAAAgAAAAAAAAALgBlAHgA") && data.0.ends_with("AMADkA=") && !data.0.contains(' '));
        assert_eq!(r.messages[1].status.code(), ResponseCode::ErrorInvalidChangeKey);
        let missing = &r.messages[2].status;
        assert_eq!(missing.code(), ResponseCode::ErrorNonExistentMailbox);
        assert_eq!(
            missing.message_xml.as_ref().and_then(|x| x.value("MailboxGuid")),
            Some("f3f6f699-2254-40ce-9994-388d9d98419e")
        );
    }

    #[test]
    fn serializes_valid_documents_and_round_trips() {
        let name = "ExportItems-Error-NonExistentMailbox.response.xml";
        let constructed = ExportItemsResponse {
            messages: vec![
                ExportItemsResponseMessage {
                    status: ResponseStatus::success(),
                    item_id: Some(ItemId::new("AAMk", None)),
                    data: Some(Base64("AQID".into())),
                },
                ExportItemsResponseMessage {
                    status: ResponseStatus::error(ResponseCode::ErrorNonExistentMailbox, "No mailbox with such guid.")
                        .with_value("MailboxGuid", "f3f6f699-2254-40ce-9994-388d9d98419e"),
                    ..ExportItemsResponseMessage::default()
                },
            ],
        };
        let docs = vec![
            round_trip(name, &sample(name)),
            round_trip("constructed", &Envelope::new(Header::default(), constructed)),
        ];
        ews_schema_check::assert_all_valid(&docs);
    }

    #[test]
    fn errors_name_the_path() {
        let e = Envelope::parse(&body(
            r#"<m:ExportItemsResponse><m:ResponseMessages><m:ExportItemsResponseMessage ResponseClass="Success"><m:Data>not base64!</m:Data></m:ExportItemsResponseMessage></m:ResponseMessages></m:ExportItemsResponse>"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("expected base64"), "{e}");
        assert!(
            e.to_string().contains("/m:ExportItemsResponse/m:ResponseMessages/m:ExportItemsResponseMessage/m:Data"),
            "{e}"
        );
        let e = Envelope::parse(&body(
            r#"<m:ExportItemsResponse><m:ResponseMessages><m:ExportItemsResponseMessage/></m:ResponseMessages></m:ExportItemsResponse>"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("missing attribute ResponseClass"), "{e}");
        for bad in ["AQI", "A===", "AQ=I"] {
            assert!(Base64::from_text(bad).is_err(), "{bad}");
        }
        assert_eq!(Base64::from_text(" AQ\n ID ").unwrap(), Base64("AQID".into()));
    }
}
