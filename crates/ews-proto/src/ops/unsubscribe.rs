//! `Unsubscribe`: end a subscription. `ErrorSubscriptionNotFound` means it already expired or
//! lives on another mailbox server (no affinity, DIGEST §3).

use crate::error::Result;
use crate::ids::SubscriptionId;
use crate::ops::subscribe::req_non_empty;
use crate::response::{StatusMessage, read_messages, write_messages};
use crate::xml::{Element, FromXml, Name, ToXml, Writer, m};

/// `m:Unsubscribe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// `m:SubscriptionId` (non-empty).
    pub subscription_id: SubscriptionId,
}

impl FromXml for Unsubscribe {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(Unsubscribe { subscription_id: req_non_empty(el, m("SubscriptionId"))? })
    }
}

impl ToXml for Unsubscribe {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).leaf_val(m("SubscriptionId"), &self.subscription_id).end();
    }
}

/// `m:UnsubscribeResponse`: `m:UnsubscribeResponseMessage`s carry only a status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnsubscribeResponse {
    pub messages: Vec<StatusMessage>,
}

impl FromXml for UnsubscribeResponse {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(UnsubscribeResponse { messages: read_messages(el, "UnsubscribeResponseMessage")? })
    }
}

impl ToXml for UnsubscribeResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        write_messages(w, name, "UnsubscribeResponseMessage", &self.messages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::subscribe::test_support::*;
    use crate::response::ResponseStatus;
    use crate::response_code::ResponseCode;
    use crate::soap::Body;

    #[test]
    fn samples_validity_and_round_trips() {
        let Body::Unsubscribe(r) = sample("Unsubscribe.request.xml").body else { panic!() };
        assert_eq!(r.subscription_id.as_str(), "e6fbf5c1-7e26-4bc6-a5f2-882063d5e34e");
        let Body::UnsubscribeResponse(r) = sample("Unsubscribe.response.xml").body else { panic!() };
        assert!(r.messages[0].status.is_success());
        let Body::UnsubscribeResponse(r) = sample("Unsubscribe-Error-SubscriptionNotFound.response.xml").body else {
            panic!()
        };
        assert_eq!(r.messages[0].status.code(), ResponseCode::ErrorSubscriptionNotFound);
        assert_eq!(r.messages[0].status.message_text.as_deref(), Some("The specified subscription was not found."));

        let mut docs = vec![
            round_trip("request", &request(Unsubscribe { subscription_id: "JgBjbzFwcjA2".into() })),
            round_trip(
                "response",
                &response(UnsubscribeResponse {
                    messages: vec![
                        StatusMessage::default(),
                        StatusMessage {
                            status: ResponseStatus::error(ResponseCode::ErrorSubscriptionNotFound, "not found")
                                .with_value("SubscriptionId", "JgBjbzFwcjA2"),
                        },
                    ],
                }),
            ),
        ];
        for name in [
            "Unsubscribe.request.xml",
            "Unsubscribe.response.xml",
            "Unsubscribe-Error-SubscriptionNotFound.response.xml",
        ] {
            docs.push(round_trip(name, &sample(name)));
        }
        ews_schema_check::assert_all_valid(&docs);
    }

    #[test]
    fn errors_name_the_path() {
        let e = parse_err(envelope_with("<m:Unsubscribe/>").as_bytes());
        assert!(e.contains("missing element m:SubscriptionId at /soap:Envelope/soap:Body/m:Unsubscribe"), "{e}");
        let e = parse_err(envelope_with("<m:UnsubscribeResponse/>").as_bytes());
        assert!(
            e.contains("missing element m:ResponseMessages at /soap:Envelope/soap:Body/m:UnsubscribeResponse"),
            "{e}"
        );
    }
}
