//! `DeleteItem`: deletes items, optionally cancelling meetings.

use crate::error::Result;
use crate::ids::BaseItemId;
use crate::response::{StatusMessage, read_messages, write_messages};
use crate::xml::{Element, FromXml, Name, ToXml, Writer, m};
use crate::xml_enum;

use super::create_item::CalendarItemCreateOrDeleteOperation;
use super::get_item::{read_item_ids, write_item_ids};

xml_enum! {
    /// `@DeleteType` (`t:DisposalType`): `HardDelete` purges, `SoftDelete` moves to the
    /// recoverable items (dumpster), `MoveToDeletedItems` moves to Deleted Items.
    pub enum DisposalType { HardDelete, SoftDelete, MoveToDeletedItems }
}

xml_enum! {
    /// `@AffectedTaskOccurrences` (`t:AffectedTaskOccurrencesType`). Required by Exchange when
    /// deleting tasks.
    pub enum AffectedTaskOccurrences { AllOccurrences, SpecifiedOccurrenceOnly }
}

/// `m:DeleteItem`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeleteItem {
    pub delete_type: DisposalType,
    /// `@SendMeetingCancellations`: required by Exchange when deleting calendar items; a
    /// meeting the mailbox organizes is cancelled for its attendees unless `SendToNone`.
    pub send_meeting_cancellations: Option<CalendarItemCreateOrDeleteOperation>,
    pub affected_task_occurrences: Option<AffectedTaskOccurrences>,
    pub suppress_read_receipts: Option<bool>,
    /// `m:ItemIds` (at least one; `t:RecurringMasterItemIdRanges` is skipped on reading).
    pub item_ids: Vec<BaseItemId>,
}

impl DeleteItem {
    /// Deletes calendar items (or occurrences, by `t:OccurrenceItemId`) the way `delete_type`
    /// says, sending cancellations as `send` says.
    pub fn calendar_items<I: Into<BaseItemId>>(
        ids: impl IntoIterator<Item = I>,
        delete_type: DisposalType,
        send: CalendarItemCreateOrDeleteOperation,
    ) -> Self {
        DeleteItem {
            delete_type,
            send_meeting_cancellations: Some(send),
            affected_task_occurrences: None,
            suppress_read_receipts: None,
            item_ids: ids.into_iter().map(Into::into).collect(),
        }
    }

    /// Deletes tasks (all occurrences of recurring ones).
    pub fn tasks<I: Into<BaseItemId>>(ids: impl IntoIterator<Item = I>, delete_type: DisposalType) -> Self {
        DeleteItem {
            delete_type,
            send_meeting_cancellations: None,
            affected_task_occurrences: Some(AffectedTaskOccurrences::AllOccurrences),
            suppress_read_receipts: None,
            item_ids: ids.into_iter().map(Into::into).collect(),
        }
    }
}

impl FromXml for DeleteItem {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(DeleteItem {
            delete_type: el.req_attr_as("DeleteType")?,
            send_meeting_cancellations: el.attr_as("SendMeetingCancellations")?,
            affected_task_occurrences: el.attr_as("AffectedTaskOccurrences")?,
            suppress_read_receipts: el.attr_as("SuppressReadReceipts")?,
            item_ids: read_item_ids(el.req(m("ItemIds"))?).map_err(|e| e.at(el))?,
        })
    }
}

impl ToXml for DeleteItem {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .attr_val("DeleteType", &self.delete_type)
            .attr_opt("SendMeetingCancellations", &self.send_meeting_cancellations)
            .attr_opt("AffectedTaskOccurrences", &self.affected_task_occurrences)
            .attr_opt("SuppressReadReceipts", &self.suppress_read_receipts);
        write_item_ids(w, m("ItemIds"), &self.item_ids);
        w.end();
    }
}

/// `m:DeleteItemResponseMessage` (`m:DeleteItemResponseMessageType`): a status only.
pub type DeleteItemResponseMessage = StatusMessage;

/// `m:DeleteItemResponse`: one message per id, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeleteItemResponse {
    pub messages: Vec<DeleteItemResponseMessage>,
}

impl FromXml for DeleteItemResponse {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(DeleteItemResponse { messages: read_messages(el, "DeleteItemResponseMessage")? })
    }
}

impl ToXml for DeleteItemResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        write_messages(w, name, "DeleteItemResponseMessage", &self.messages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ItemId, OccurrenceItemId};
    use crate::ops::testing::{body, round_trip, sample};
    use crate::response::ResponseStatus;
    use crate::response_code::ResponseCode;
    use crate::soap::{Body, Envelope, ExchangeVersion, Header};

    fn delete(env: &Envelope) -> &DeleteItem {
        match &env.body {
            Body::DeleteItem(d) => d,
            other => panic!("not a DeleteItem: {}", other.element_name()),
        }
    }

    fn response(env: &Envelope) -> &DeleteItemResponse {
        match &env.body {
            Body::DeleteItemResponse(d) => d,
            other => panic!("not a DeleteItemResponse: {}", other.element_name()),
        }
    }

    const SAMPLES: &[&str] = &[
        "DeleteItem-Appointment.request.xml",
        "DeleteItem-Appointment.response.xml",
        "DeleteItem-Error-ItemNotFound.response.xml",
        "DeleteItem.request.xml",
        "DeleteItem.response.xml",
    ];

    #[test]
    fn parses_samples() {
        let env = sample("DeleteItem-Appointment.request.xml");
        let d = delete(&env);
        assert_eq!(d.delete_type, DisposalType::MoveToDeletedItems);
        assert_eq!(d.send_meeting_cancellations, Some(CalendarItemCreateOrDeleteOperation::SendToAllAndSaveCopy));
        assert_eq!(d.item_ids, vec![BaseItemId::Item(ItemId::new("AAMkA", Some("DwAAA")))]);

        let env = sample("DeleteItem.request.xml");
        let d = delete(&env);
        assert_eq!(d.delete_type, DisposalType::HardDelete);
        assert_eq!(d.send_meeting_cancellations, None);
        assert_eq!(d.item_ids, vec![BaseItemId::Item(ItemId::new("AS4AUn==", None))]);

        let env = sample("DeleteItem.response.xml");
        assert!(response(&env).messages[0].status.is_success());
        let env = sample("DeleteItem-Error-ItemNotFound.response.xml");
        let status = &response(&env).messages[0].status;
        assert_eq!(status.code(), ResponseCode::ErrorItemNotFound);
        assert_eq!(status.message_text.as_deref(), Some("The specified object was not found in the store."));
    }

    #[test]
    fn serializes_valid_documents_and_round_trips() {
        let mut docs: Vec<_> = SAMPLES.iter().map(|name| round_trip(name, &sample(name))).collect();
        let header = Header { request_server_version: Some(ExchangeVersion::Exchange2016), ..Header::default() };
        let mut req = DeleteItem::calendar_items(
            [
                BaseItemId::Item(ItemId::new("AAMkA", Some("DwAAA"))),
                BaseItemId::Occurrence(OccurrenceItemId {
                    recurring_master_id: "AAMkM".into(),
                    change_key: None,
                    instance_index: 2,
                }),
            ],
            DisposalType::SoftDelete,
            CalendarItemCreateOrDeleteOperation::SendToNone,
        );
        req.suppress_read_receipts = Some(true);
        docs.push(round_trip("constructed calendar delete", &Envelope::new(header.clone(), req)));
        let tasks = DeleteItem::tasks([ItemId::new("AAMkT", None)], DisposalType::MoveToDeletedItems);
        docs.push(round_trip("constructed task delete", &Envelope::new(header, tasks)));
        let resp = DeleteItemResponse {
            messages: vec![
                StatusMessage::default(),
                StatusMessage { status: ResponseStatus::error(ResponseCode::ErrorItemNotFound, "not found") },
            ],
        };
        docs.push(round_trip("constructed response", &Envelope::new(Header::default(), resp)));
        ews_schema_check::assert_all_valid(&docs);
    }

    #[test]
    fn errors_name_the_path() {
        let e = Envelope::parse(&body(r#"<m:DeleteItem><m:ItemIds><t:ItemId Id="a"/></m:ItemIds></m:DeleteItem>"#))
            .unwrap_err();
        assert!(e.to_string().contains("missing attribute DeleteType at /soap:Envelope/soap:Body/m:DeleteItem"), "{e}");
        let e = Envelope::parse(&body(
            r#"<m:DeleteItem DeleteType="Shred"><m:ItemIds><t:ItemId Id="a"/></m:ItemIds></m:DeleteItem>"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("\"Shred\"") && e.to_string().contains("/m:DeleteItem/@DeleteType"), "{e}");
        let e =
            Envelope::parse(&body(r#"<m:DeleteItem DeleteType="HardDelete"><m:ItemIds/></m:DeleteItem>"#)).unwrap_err();
        assert!(e.to_string().contains("/m:DeleteItem/m:ItemIds"), "{e}");
        let e = Envelope::parse(&body(
            r#"<m:DeleteItem DeleteType="HardDelete"><m:ItemIds><t:OccurrenceItemId RecurringMasterId="m" InstanceIndex="first"/></m:ItemIds></m:DeleteItem>"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("/m:DeleteItem/m:ItemIds/t:OccurrenceItemId/@InstanceIndex"), "{e}");
    }
}
