//! `GetEvents`: poll a pull subscription. Each call returns the events after `Watermark`
//! (at most one `m:Notification`); keep the last event's watermark for the next call and call
//! again at once while `MoreEvents` is true. A pull subscription not polled within its
//! `Timeout` is deleted (DIGEST §3). The event types are in [`super::get_streaming_events`].

use crate::error::Result;
use crate::ids::{SubscriptionId, Watermark};
use crate::ops::get_streaming_events::Notification;
use crate::ops::subscribe::req_non_empty;
use crate::response::{ResponseStatus, read_messages, write_messages};
use crate::xml::{Element, FromXml, Name, ToXml, Writer, m};

/// `m:GetEvents`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetEvents {
    /// `m:SubscriptionId` (non-empty).
    pub subscription_id: SubscriptionId,
    /// `m:Watermark` (non-empty): the last watermark received (from `Subscribe` at first).
    pub watermark: Watermark,
}

impl FromXml for GetEvents {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(GetEvents {
            subscription_id: req_non_empty(el, m("SubscriptionId"))?,
            watermark: req_non_empty(el, m("Watermark"))?,
        })
    }
}

impl ToXml for GetEvents {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .leaf_val(m("SubscriptionId"), &self.subscription_id)
            .leaf_val(m("Watermark"), &self.watermark)
            .end();
    }
}

/// `m:GetEventsResponseMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetEventsResponseMessage {
    pub status: ResponseStatus,
    /// `m:Notification` (absent on errors such as `ErrorSubscriptionAccessDenied`).
    pub notification: Option<Notification>,
}

impl FromXml for GetEventsResponseMessage {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(GetEventsResponseMessage { status: ResponseStatus::read(el)?, notification: el.get(m("Notification"))? })
    }
}

impl ToXml for GetEventsResponseMessage {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        self.status.write_start(w, name);
        w.child_opt(m("Notification"), &self.notification);
        w.end();
    }
}

/// `m:GetEventsResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetEventsResponse {
    pub messages: Vec<GetEventsResponseMessage>,
}

impl FromXml for GetEventsResponse {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(GetEventsResponse { messages: read_messages(el, "GetEventsResponseMessage")? })
    }
}

impl ToXml for GetEventsResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        write_messages(w, name, "GetEventsResponseMessage", &self.messages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ItemId;
    use crate::ops::get_folder::StoreFolderId;
    use crate::ops::get_streaming_events::{ChangedObject, Event, ObjectChangedEvent};
    use crate::ops::subscribe::test_support::*;
    use crate::response_code::ResponseCode;
    use crate::soap::Body;
    use crate::values::DateTime;
    use crate::xml::XmlText;

    #[test]
    fn samples() {
        let Body::GetEvents(r) = sample("GetEvents.request.xml").body else { panic!() };
        assert_eq!(r.subscription_id.as_str(), "f6bc657d-dde1-4f94-952d-143b95d6483d");
        assert_eq!(r.watermark.as_str(), "AAAAAMAGAAAAAAAAAQ==");

        let Body::GetEventsResponse(r) = sample("GetEvents.response.xml").body else { panic!() };
        let n = r.messages[0].notification.as_ref().unwrap();
        assert_eq!(n.previous_watermark.as_ref().unwrap().as_str(), "AAAAAMAGAAAAAAAAAQ==");
        assert_eq!(n.more_events, Some(false));
        assert_eq!(n.events.len(), 2);
        assert!(n.events.iter().all(|e| e.element_name() == "NewMailEvent"));
        assert_eq!(n.events[1].watermark().unwrap().as_str(), "AAAAAOQGAAAAAAAAAQ==");
        let c = n.events[1].change().unwrap();
        assert_eq!(c.time_stamp, DateTime::from_text("2006-08-22T01:00:50Z").unwrap());
        assert_eq!(c.object.item_id().unwrap().id.as_str(), "AQApAHRw");
        assert_eq!(c.parent_folder_id, StoreFolderId::new("AQApAH", Some("AQAAAA==")));

        let Body::GetEventsResponse(r) = sample("GetEvents-Error-SubscriptionAccessDenied.response.xml").body else {
            panic!()
        };
        assert_eq!(r.messages[0].status.code(), ResponseCode::ErrorSubscriptionAccessDenied);
        assert_eq!(r.messages[0].notification, None);
    }

    #[test]
    fn schema_validity_and_round_trips() {
        let status_only = Notification {
            subscription_id: SubscriptionId::new("f6bc657d"),
            previous_watermark: Some(Watermark::new("AAAAAMAGAAAAAAAAAQ==")),
            more_events: Some(false),
            events: vec![Event::Status { watermark: Some(Watermark::new("AAAAAM4GAAAAAAAAAQ==")) }],
        };
        let with_changes = Notification {
            more_events: Some(true),
            events: vec![Event::Deleted(ObjectChangedEvent {
                watermark: Some(Watermark::new("AAAAAOQGAAAAAAAAAQ==")),
                time_stamp: DateTime::from_text("2026-03-29T09:00:00.5+02:00").unwrap(),
                object: ChangedObject::Item(ItemId::new("AAMk", None)),
                parent_folder_id: StoreFolderId::new("AQMk", None),
            })],
            ..status_only.clone()
        };
        let envs = [
            (
                "request",
                request(GetEvents { subscription_id: "f6bc657d".into(), watermark: "AAAAAMAGAAAAAAAAAQ==".into() }),
            ),
            (
                "response",
                response(GetEventsResponse {
                    messages: vec![
                        GetEventsResponseMessage { status: ResponseStatus::success(), notification: Some(status_only) },
                        GetEventsResponseMessage {
                            status: ResponseStatus::success(),
                            notification: Some(with_changes),
                        },
                        GetEventsResponseMessage {
                            status: ResponseStatus::error(
                                ResponseCode::ErrorSubscriptionNotFound,
                                "The specified subscription was not found.",
                            ),
                            notification: None,
                        },
                    ],
                }),
            ),
        ];
        let mut docs: Vec<(String, String)> = envs.iter().map(|(l, e)| round_trip(l, e)).collect();
        for name in
            ["GetEvents.request.xml", "GetEvents.response.xml", "GetEvents-Error-SubscriptionAccessDenied.response.xml"]
        {
            docs.push(round_trip(name, &sample(name)));
        }
        ews_schema_check::assert_all_valid(&docs);
    }

    #[test]
    fn errors_name_the_path() {
        for (body, expected) in [
            (
                "<m:GetEvents><m:SubscriptionId>s</m:SubscriptionId></m:GetEvents>",
                "missing element m:Watermark at /soap:Envelope/soap:Body/m:GetEvents",
            ),
            (
                "<m:GetEvents><m:SubscriptionId></m:SubscriptionId><m:Watermark>w</m:Watermark></m:GetEvents>",
                "non-empty string at /soap:Envelope/soap:Body/m:GetEvents/m:SubscriptionId",
            ),
            (
                "<m:GetEventsResponse><m:ResponseMessages><m:GetEventsResponseMessage ResponseClass=\"Success\"><m:Notification><t:StatusEvent/></m:Notification></m:GetEventsResponseMessage></m:ResponseMessages></m:GetEventsResponse>",
                "missing element t:SubscriptionId at /soap:Envelope/soap:Body/m:GetEventsResponse/m:ResponseMessages/m:GetEventsResponseMessage/m:Notification",
            ),
            (
                "<m:GetEventsResponse><m:ResponseMessages><m:GetEventsResponseMessage ResponseClass=\"Fine\"/></m:ResponseMessages></m:GetEventsResponse>",
                "expected one of Success, Warning, Error at /soap:Envelope/soap:Body/m:GetEventsResponse/m:ResponseMessages/m:GetEventsResponseMessage/@ResponseClass",
            ),
        ] {
            let e = parse_err(envelope_with(body).as_bytes());
            assert!(e.contains(expected), "expected {expected:?} in {e:?}");
        }
    }
}
