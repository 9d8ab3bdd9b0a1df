//! CreateItem, UpdateItem and DeleteItem over HTTP against a started simulator: appointments,
//! meetings and their attendee copies, series and occurrences, all-day and private items,
//! tasks, extended properties, time zones and ChangeKey conflicts. Every response document is
//! validated against the EWS schema.

use std::sync::{Arc, Mutex};

use ews_proto::items::{Item, ResponseType, Sensitivity};
use ews_proto::soap::{Body, Envelope};
use ews_proto::{BaseItemId, ItemId, ResponseCode};
use exbridge_sim::config::SimConfig;
use exbridge_sim::server::{self, RunningSim};

const SVC: &str = "svc@contoso.test";
const PASSWORD: &str = "secret";
const U1: &str = "user1@contoso.test";
const U2: &str = "user2@contoso.test";
const U3: &str = "user3@contoso.test";

const T: &str = "http://schemas.microsoft.com/exchange/services/2006/types";
const M: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";

/// Sends EWS requests as the service account impersonating a mailbox; keeps every response.
struct Ews {
    http: reqwest::Client,
    url: String,
    docs: Arc<Mutex<Vec<(String, String)>>>,
}

impl Ews {
    fn new(sim: &RunningSim) -> Self {
        Ews { http: reqwest::Client::new(), url: sim.ews_url(), docs: Arc::default() }
    }

    async fn call(&self, label: &str, mailbox: &str, body: &str) -> Body {
        self.call_with(label, mailbox, "", body).await
    }

    async fn call_with(&self, label: &str, mailbox: &str, extra_header: &str, body: &str) -> Body {
        let xml = format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="{T}" xmlns:m="{M}">
<soap:Header><t:RequestServerVersion Version="Exchange2016"/><t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{mailbox}</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>{extra_header}</soap:Header>
<soap:Body>{body}</soap:Body></soap:Envelope>"#
        );
        let resp = self
            .http
            .post(&self.url)
            .basic_auth(SVC, Some(PASSWORD))
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(xml)
            .send()
            .await
            .unwrap();
        let text = resp.text().await.unwrap();
        self.docs.lock().unwrap().push((label.to_string(), text.clone()));
        Envelope::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{label}: {e}\n{text}")).body
    }

    fn assert_valid(&self) {
        let docs = self.docs.lock().unwrap();
        assert!(!docs.is_empty());
        ews_schema_check::assert_all_valid(&docs);
    }
}

async fn start() -> RunningSim {
    let mut c = SimConfig::for_tests();
    c.service_user = SVC.into();
    c.service_password = PASSWORD.into();
    server::start(c).await.unwrap()
}

fn created_id(body: Body) -> Result<ItemId, ResponseCode> {
    let Body::CreateItemResponse(r) = body else { panic!("not a CreateItemResponse: {body:?}") };
    let m = &r.messages[0];
    if !m.status.is_success() {
        return Err(m.status.code());
    }
    Ok(m.items[0].item_id().cloned().expect("an item id"))
}

fn updated_id(body: Body) -> Result<ItemId, ResponseCode> {
    let Body::UpdateItemResponse(r) = body else { panic!("not an UpdateItemResponse: {body:?}") };
    let m = &r.messages[0];
    if !m.status.is_success() {
        return Err(m.status.code());
    }
    Ok(m.items[0].item_id().cloned().expect("an item id"))
}

fn delete_codes(body: Body) -> Vec<ResponseCode> {
    let Body::DeleteItemResponse(r) = body else { panic!("not a DeleteItemResponse: {body:?}") };
    r.messages.iter().map(|m| m.status.code()).collect()
}

fn id_xml(id: &ItemId) -> String {
    match &id.change_key {
        Some(ck) => format!(r#"<t:ItemId Id="{}" ChangeKey="{}"/>"#, id.id.0, ck.as_str()),
        None => format!(r#"<t:ItemId Id="{}"/>"#, id.id.0),
    }
}

fn create_calendar(send: Option<&str>, item: &str) -> String {
    let send = send.map(|s| format!(r#" SendMeetingInvitations="{s}""#)).unwrap_or_default();
    format!(
        r#"<m:CreateItem{send}><m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items>{item}</m:Items></m:CreateItem>"#
    )
}

fn update(conflict: &str, send: &str, id: &str, updates: &str) -> String {
    format!(
        r#"<m:UpdateItem ConflictResolution="{conflict}" SendMeetingInvitationsOrCancellations="{send}"><m:ItemChanges><t:ItemChange>{id}<t:Updates>{updates}</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>"#
    )
}

fn set_calendar(uri: &str, inner: &str) -> String {
    format!(
        r#"<t:SetItemField><t:FieldURI FieldURI="{uri}"/><t:CalendarItem>{inner}</t:CalendarItem></t:SetItemField>"#
    )
}

fn delete_calendar(ids: &str, send: &str) -> String {
    format!(
        r#"<m:DeleteItem DeleteType="HardDelete" SendMeetingCancellations="{send}"><m:ItemIds>{ids}</m:ItemIds></m:DeleteItem>"#
    )
}

const APPOINTMENT: &str = r#"<t:CalendarItem><t:Subject>Dentist</t:Subject><t:Start>2026-03-10T09:00:00</t:Start><t:End>2026-03-10T10:00:00</t:End><t:Location>Main St</t:Location><t:StartTimeZone Id="W. Europe Standard Time"/><t:EndTimeZone Id="W. Europe Standard Time"/></t:CalendarItem>"#;

fn calendar(store: &exbridge_sim::Store, mailbox: &str, id: &ItemId) -> ews_proto::items::CalendarItem {
    let mb = store.mailbox(mailbox).unwrap();
    match store.get_item(&mb, &BaseItemId::Item(ItemId { change_key: None, ..id.clone() })).unwrap() {
        Item::Calendar(c) => c,
        other => panic!("not a calendar item: {other:?}"),
    }
}

#[tokio::test]
async fn single_appointment_create_update_delete_and_change_keys() {
    let sim = start().await;
    let ews = Ews::new(&sim);
    let store = sim.store().clone();

    // SendMeetingInvitations is required for calendar items.
    let r = ews.call("create-no-send", U1, &create_calendar(None, APPOINTMENT)).await;
    assert_eq!(created_id(r), Err(ResponseCode::ErrorSendMeetingInvitationsRequired));

    let id = created_id(ews.call("create", U1, &create_calendar(Some("SendToNone"), APPOINTMENT)).await).unwrap();
    assert!(id.change_key.is_some());
    let c = calendar(&store, U1, &id);
    // 09:00 in Berlin (UTC+1 in March before DST) is 08:00Z.
    assert_eq!(c.start.unwrap().timestamp().unwrap().to_string(), "2026-03-10T08:00:00Z");
    assert_eq!(c.start_time_zone_id.as_deref(), Some("W. Europe Standard Time"));

    // An update with the current change key: new change key.
    let r = ews
        .call(
            "update",
            U1,
            &update(
                "AutoResolve",
                "SendToNone",
                &id_xml(&id),
                &set_calendar("item:Subject", "<t:Subject>Dentist (moved)</t:Subject>"),
            ),
        )
        .await;
    let id2 = updated_id(r).unwrap();
    assert_ne!(id2.change_key, id.change_key, "the change key changes on every modification");
    assert_eq!(calendar(&store, U1, &id2).item.subject.as_deref(), Some("Dentist (moved)"));

    // The old change key is stale now.
    for conflict in ["NeverOverwrite", "AutoResolve"] {
        let r = ews
            .call(
                &format!("update-stale-{conflict}"),
                U1,
                &update(
                    conflict,
                    "SendToNone",
                    &id_xml(&id),
                    &set_calendar("calendar:Location", "<t:Location>Elsewhere</t:Location>"),
                ),
            )
            .await;
        assert_eq!(updated_id(r), Err(ResponseCode::ErrorIrresolvableConflict), "{conflict}");
    }
    // NeverOverwrite needs a change key.
    let no_ck = ItemId { change_key: None, ..id.clone() };
    let r = ews
        .call(
            "update-no-ck",
            U1,
            &update(
                "NeverOverwrite",
                "SendToNone",
                &id_xml(&no_ck),
                &set_calendar("calendar:Location", "<t:Location>X</t:Location>"),
            ),
        )
        .await;
    assert_eq!(updated_id(r), Err(ResponseCode::ErrorChangeKeyRequiredForWriteOperations));
    // AlwaysOverwrite ignores it.
    let r = ews
        .call(
            "update-always",
            U1,
            &update(
                "AlwaysOverwrite",
                "SendToNone",
                &id_xml(&id),
                &set_calendar("calendar:Location", "<t:Location>Elsewhere</t:Location>"),
            ),
        )
        .await;
    let id3 = updated_id(r).unwrap();
    assert_eq!(calendar(&store, U1, &id3).location.as_deref(), Some("Elsewhere"));
    // DeleteItemField and a missing SendMeetingInvitationsOrCancellations.
    let r = ews
        .call(
            "update-delete-field",
            U1,
            &update(
                "AlwaysOverwrite",
                "SendToNone",
                &id_xml(&id3),
                r#"<t:DeleteItemField><t:FieldURI FieldURI="calendar:Location"/></t:DeleteItemField>"#,
            ),
        )
        .await;
    let id4 = updated_id(r).unwrap();
    assert_eq!(calendar(&store, U1, &id4).location, None);
    let body = format!(
        r#"<m:UpdateItem ConflictResolution="AlwaysOverwrite"><m:ItemChanges><t:ItemChange>{}<t:Updates>{}</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>"#,
        id_xml(&id4),
        set_calendar("item:Subject", "<t:Subject>x</t:Subject>")
    );
    assert_eq!(
        updated_id(ews.call("update-no-send", U1, &body).await),
        Err(ResponseCode::ErrorSendMeetingInvitationsOrCancellationsRequired)
    );

    // A batch: one good id, one unknown → per-item answers.
    let bogus = ItemId { id: ews_proto::ItemIdValue("AAMkAGIz".into()), change_key: None };
    let r = ews
        .call("delete-batch", U1, &delete_calendar(&format!("{}{}", id_xml(&id4), id_xml(&bogus)), "SendToNone"))
        .await;
    let codes = delete_codes(r);
    assert_eq!(codes[0], ResponseCode::NoError);
    assert_ne!(codes[1], ResponseCode::NoError);
    let r = ews.call("delete-again", U1, &delete_calendar(&id_xml(&id4), "SendToNone")).await;
    assert_eq!(delete_codes(r), vec![ResponseCode::ErrorItemNotFound]);
    let r = ews
        .call(
            "delete-no-send",
            U1,
            &format!(
                r#"<m:DeleteItem DeleteType="MoveToDeletedItems"><m:ItemIds>{}</m:ItemIds></m:DeleteItem>"#,
                id_xml(&id2)
            ),
        )
        .await;
    assert_eq!(delete_codes(r), vec![ResponseCode::ErrorItemNotFound]);
    ews.assert_valid();
    sim.shutdown().await;
}

#[tokio::test]
async fn series_occurrences_all_day_and_private() {
    let sim = start().await;
    let ews = Ews::new(&sim);
    let store = sim.store().clone();
    let series = r#"<t:CalendarItem><t:Subject>Standup</t:Subject><t:Start>2026-03-02T09:00:00Z</t:Start><t:End>2026-03-02T09:15:00Z</t:End><t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday</t:DaysOfWeek></t:WeeklyRecurrence><t:NumberedRecurrence><t:StartDate>2026-03-02</t:StartDate><t:NumberOfOccurrences>5</t:NumberOfOccurrences></t:NumberedRecurrence></t:Recurrence><t:StartTimeZone Id="UTC"/></t:CalendarItem>"#;
    let id = created_id(ews.call("create-series", U1, &create_calendar(Some("SendToNone"), series)).await).unwrap();
    let master = ews_proto::ItemIdValue(id.id.0.clone());
    let occ = |index: i32| format!(r#"<t:OccurrenceItemId RecurringMasterId="{}" InstanceIndex="{index}"/>"#, master.0);

    // Changing the second occurrence makes an exception.
    let r = ews
        .call(
            "update-occurrence",
            U1,
            &update(
                "AlwaysOverwrite",
                "SendToNone",
                &occ(2),
                &set_calendar("calendar:Location", "<t:Location>Room 7</t:Location>"),
            ),
        )
        .await;
    updated_id(r).unwrap();
    let m = calendar(&store, U1, &id);
    assert_eq!(m.modified_occurrences.as_ref().map(Vec::len), Some(1));
    // Deleting the third removes it from the series.
    let r = ews.call("delete-occurrence", U1, &delete_calendar(&occ(3), "SendToNone")).await;
    assert_eq!(delete_codes(r), vec![ResponseCode::NoError]);
    let m = calendar(&store, U1, &id);
    assert_eq!(m.deleted_occurrences.as_ref().map(Vec::len), Some(1));
    assert_eq!(m.deleted_occurrences.unwrap()[0].start.timestamp().unwrap().to_string(), "2026-03-16T09:00:00Z");
    // An index beyond the range.
    let r = ews.call("delete-occurrence-9", U1, &delete_calendar(&occ(9), "SendToNone")).await;
    assert_eq!(delete_codes(r), vec![ResponseCode::ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange]);

    // All-day and private.
    let all_day = r#"<t:CalendarItem><t:Subject>Holiday</t:Subject><t:Sensitivity>Private</t:Sensitivity><t:Start>2026-04-06T00:00:00</t:Start><t:End>2026-04-07T00:00:00</t:End><t:IsAllDayEvent>true</t:IsAllDayEvent><t:LegacyFreeBusyStatus>OOF</t:LegacyFreeBusyStatus><t:StartTimeZone Id="W. Europe Standard Time"/></t:CalendarItem>"#;
    let id = created_id(ews.call("create-all-day", U1, &create_calendar(Some("SendToNone"), all_day)).await).unwrap();
    let c = calendar(&store, U1, &id);
    assert_eq!(c.is_all_day_event, Some(true));
    assert_eq!(c.item.sensitivity, Some(Sensitivity::Private));
    // Midnight in Berlin.
    assert_eq!(c.start.unwrap().timestamp().unwrap().to_string(), "2026-04-05T22:00:00Z");
    ews.assert_valid();
    sim.shutdown().await;
}

#[tokio::test]
async fn tasks_in_the_tasks_folder() {
    let sim = start().await;
    let ews = Ews::new(&sim);
    let store = sim.store().clone();
    let body = r#"<m:CreateItem><m:SavedItemFolderId><t:DistinguishedFolderId Id="tasks"/></m:SavedItemFolderId><m:Items><t:Task><t:Subject>File taxes</t:Subject><t:DueDate>2026-04-30T17:00:00Z</t:DueDate><t:Status>NotStarted</t:Status></t:Task></m:Items></m:CreateItem>"#;
    let id = created_id(ews.call("create-task", U1, body).await).unwrap();
    let mb = store.mailbox(U1).unwrap();
    assert!(matches!(store.get_item(&mb, &BaseItemId::Item(id.clone())).unwrap(), Item::Task(_)));
    // A calendar item cannot go into the tasks folder.
    let body = format!(
        r#"<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId><t:DistinguishedFolderId Id="tasks"/></m:SavedItemFolderId><m:Items>{APPOINTMENT}</m:Items></m:CreateItem>"#
    );
    let r = created_id(ews.call("create-appointment-in-tasks", U1, &body).await);
    assert!(r.is_err(), "{r:?}");

    let r = ews
        .call(
            "update-task",
            U1,
            &format!(
                r#"<m:UpdateItem ConflictResolution="AutoResolve"><m:ItemChanges><t:ItemChange>{}<t:Updates><t:SetItemField><t:FieldURI FieldURI="task:PercentComplete"/><t:Task><t:PercentComplete>50</t:PercentComplete></t:Task></t:SetItemField><t:SetItemField><t:FieldURI FieldURI="task:Status"/><t:Task><t:Status>InProgress</t:Status></t:Task></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>"#,
                id_xml(&id)
            ),
        )
        .await;
    let id2 = updated_id(r).unwrap();
    let Item::Task(t) = store.get_item(&mb, &BaseItemId::Item(id2.clone())).unwrap() else { panic!() };
    assert_eq!(t.percent_complete, Some(50.0));
    assert_eq!(t.status, Some(ews_proto::items::TaskStatus::InProgress));

    let del = |ato: &str| {
        format!(r#"<m:DeleteItem DeleteType="SoftDelete"{ato}><m:ItemIds>{}</m:ItemIds></m:DeleteItem>"#, id_xml(&id2))
    };
    assert_eq!(
        delete_codes(ews.call("delete-task-no-ato", U1, &del("")).await),
        vec![ResponseCode::ErrorAffectedTaskOccurrencesRequired]
    );
    assert_eq!(
        delete_codes(ews.call("delete-task", U1, &del(r#" AffectedTaskOccurrences="AllOccurrences""#)).await),
        vec![ResponseCode::NoError]
    );
    assert!(store.get_item(&mb, &BaseItemId::Item(id2)).is_err());
    ews.assert_valid();
    sim.shutdown().await;
}

async fn control_items(sim: &RunningSim, smtp: &str) -> Vec<serde_json::Value> {
    let url = format!("{}/sim/mailboxes/{smtp}/items", sim.base_url());
    reqwest::get(url).await.unwrap().json::<Vec<serde_json::Value>>().await.unwrap()
}

fn by_uid<'a>(items: &'a [serde_json::Value], uid: &str) -> Option<&'a serde_json::Value> {
    items.iter().find(|i| i["uid"] == uid)
}

fn meeting(subject: &str) -> String {
    format!(
        r#"<t:CalendarItem><t:Subject>{subject}</t:Subject><t:Start>2026-03-11T14:00:00Z</t:Start><t:End>2026-03-11T15:00:00Z</t:End><t:Location>Room 1</t:Location><t:RequiredAttendees><t:Attendee><t:Mailbox><t:EmailAddress>{U2}</t:EmailAddress></t:Mailbox></t:Attendee><t:Attendee><t:Mailbox><t:EmailAddress>{U3}</t:EmailAddress></t:Mailbox></t:Attendee></t:RequiredAttendees><t:OptionalAttendees><t:Attendee><t:Mailbox><t:EmailAddress>guest@fabrikam.example</t:EmailAddress></t:Mailbox></t:Attendee></t:OptionalAttendees></t:CalendarItem>"#
    )
}

#[tokio::test]
async fn meeting_invitations_updates_responses_and_cancellations_reach_attendees() {
    let sim = start().await;
    let ews = Ews::new(&sim);
    let store = sim.store().clone();

    // SendToNone: saved, nobody invited.
    let quiet =
        created_id(ews.call("create-meeting-quiet", U1, &create_calendar(Some("SendToNone"), &meeting("Quiet"))).await)
            .unwrap();
    let uid_quiet = calendar(&store, U1, &quiet).uid.unwrap();
    assert!(by_uid(&control_items(&sim, U2).await, &uid_quiet).is_none());

    let id = created_id(
        ews.call("create-meeting", U1, &create_calendar(Some("SendToAllAndSaveCopy"), &meeting("Planning"))).await,
    )
    .unwrap();
    let org = calendar(&store, U1, &id);
    let uid = org.uid.clone().unwrap();
    assert_eq!(org.meeting_request_was_sent, Some(true));
    for who in [U2, U3] {
        let items = control_items(&sim, who).await;
        let copy = by_uid(&items, &uid).unwrap_or_else(|| panic!("{who} has no copy"));
        assert_eq!(copy["subject"], "Planning");
        assert_eq!(copy["organizer"]["email"], U1);
    }

    // The organiser moves it: the attendees' copies follow.
    let r = ews
        .call(
            "update-meeting",
            U1,
            &update(
                "AutoResolve",
                "SendToAllAndSaveCopy",
                &id_xml(&id),
                &set_calendar("calendar:Location", "<t:Location>Room 2</t:Location>"),
            ),
        )
        .await;
    let id = updated_id(r).unwrap();
    let items = control_items(&sim, U2).await;
    let copy = by_uid(&items, &uid).unwrap();
    assert_eq!(copy["location"], "Room 2");

    // The organiser drops user3 from the meeting: user3's copy is cancelled, user2's is not.
    let attendees = format!(
        "<t:RequiredAttendees><t:Attendee><t:Mailbox><t:EmailAddress>{U2}</t:EmailAddress></t:Mailbox></t:Attendee></t:RequiredAttendees>"
    );
    let r = ews
        .call(
            "update-attendees",
            U1,
            &update(
                "AutoResolve",
                "SendToAllAndSaveCopy",
                &id_xml(&id),
                &set_calendar("calendar:RequiredAttendees", &attendees),
            ),
        )
        .await;
    let id = updated_id(r).unwrap();
    let copy3 = by_uid(&control_items(&sim, U3).await, &uid).unwrap().clone();
    let c3 = calendar(&store, U3, &ItemId::new(copy3["item_id"].as_str().unwrap(), None));
    assert_eq!(c3.is_cancelled, Some(true));
    let copy = by_uid(&control_items(&sim, U2).await, &uid).unwrap().clone();
    let c2 = calendar(&store, U2, &ItemId::new(copy["item_id"].as_str().unwrap(), None));
    assert_ne!(c2.is_cancelled, Some(true));

    // user2 accepts: their copy and the organiser's attendee list say so.
    let copy_id = ItemId::new(copy["item_id"].as_str().unwrap(), Some(copy["change_key"].as_str().unwrap()));
    let accept = format!(
        r#"<m:CreateItem MessageDisposition="SendAndSaveCopy"><m:Items><t:AcceptItem><t:ReferenceItemId Id="{}" ChangeKey="{}"/></t:AcceptItem></m:Items></m:CreateItem>"#,
        copy_id.id.0,
        copy_id.change_key.as_ref().unwrap().as_str()
    );
    let r = ews.call("accept", U2, &accept).await;
    let Body::CreateItemResponse(r) = r else { panic!() };
    assert!(r.messages[0].status.is_success(), "{:?}", r.messages[0].status);
    assert_eq!(calendar(&store, U2, &copy_id).my_response_type, Some(ResponseType::Accept));
    let org = calendar(&store, U1, &id);
    let a =
        org.required_attendees.unwrap().into_iter().find(|a| a.mailbox.email_address.as_deref() == Some(U2)).unwrap();
    assert_eq!(a.response_type, Some(ResponseType::Accept));

    // user3 declines: the meeting leaves their calendar.
    let copy3 = by_uid(&control_items(&sim, U3).await, &uid).unwrap().clone();
    let decline = format!(
        r#"<m:CreateItem MessageDisposition="SendAndSaveCopy"><m:Items><t:DeclineItem><t:ReferenceItemId Id="{}"/></t:DeclineItem></m:Items></m:CreateItem>"#,
        copy3["item_id"].as_str().unwrap()
    );
    let Body::CreateItemResponse(r) = ews.call("decline", U3, &decline).await else { panic!() };
    assert!(r.messages[0].status.is_success());
    assert!(by_uid(&control_items(&sim, U3).await, &uid).is_none());

    // The organiser deletes it with cancellations: user2's copy is cancelled.
    let r = ews.call("delete-meeting", U1, &delete_calendar(&id_xml(&id), "SendToAllAndSaveCopy")).await;
    assert_eq!(delete_codes(r), vec![ResponseCode::NoError]);
    let c = calendar(&store, U2, &copy_id);
    assert_eq!(c.is_cancelled, Some(true));

    // CancelCalendarItem on another meeting: attendees' copies cancelled, organiser's removed.
    let id =
        created_id(ews.call("create-meeting-2", U1, &create_calendar(Some("SendOnlyToAll"), &meeting("Review"))).await)
            .unwrap();
    let uid = calendar(&store, U1, &id).uid.unwrap();
    let cancel = format!(
        r#"<m:CreateItem MessageDisposition="SendAndSaveCopy"><m:Items><t:CancelCalendarItem><t:ReferenceItemId Id="{}"/></t:CancelCalendarItem></m:Items></m:CreateItem>"#,
        id.id.0
    );
    let Body::CreateItemResponse(r) = ews.call("cancel", U1, &cancel).await else { panic!() };
    assert!(r.messages[0].status.is_success(), "{:?}", r.messages[0].status);
    assert!(by_uid(&control_items(&sim, U1).await, &uid).is_none());
    let copy = by_uid(&control_items(&sim, U3).await, &uid).unwrap().clone();
    let c = calendar(&store, U3, &ItemId::new(copy["item_id"].as_str().unwrap(), None));
    assert_eq!(c.is_cancelled, Some(true));
    // user3 removes the cancelled meeting from their calendar.
    let remove = format!(
        r#"<m:CreateItem MessageDisposition="SaveOnly"><m:Items><t:RemoveItem><t:ReferenceItemId Id="{}"/></t:RemoveItem></m:Items></m:CreateItem>"#,
        copy["item_id"].as_str().unwrap()
    );
    let Body::CreateItemResponse(r) = ews.call("remove", U3, &remove).await else { panic!() };
    assert!(r.messages[0].status.is_success(), "{:?}", r.messages[0].status);
    assert!(by_uid(&control_items(&sim, U3).await, &uid).is_none());
    ews.assert_valid();
    sim.shutdown().await;
}

#[tokio::test]
async fn extended_property_round_trip() {
    let sim = start().await;
    let ews = Ews::new(&sim);
    let store = sim.store().clone();
    let prop = |v: &str| {
        format!(
            r#"<t:ExtendedProperty><t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings" PropertyName="exbridge-id" PropertyType="String"/><t:Value>{v}</t:Value></t:ExtendedProperty>"#
        )
    };
    let item = format!(
        r#"<t:CalendarItem><t:Subject>Synced</t:Subject>{}<t:Start>2026-03-12T10:00:00Z</t:Start><t:End>2026-03-12T11:00:00Z</t:End></t:CalendarItem>"#,
        prop("app-42")
    );
    let id = created_id(ews.call("create-ext", U1, &create_calendar(Some("SendToNone"), &item)).await).unwrap();
    let value = |c: &ews_proto::items::CalendarItem| {
        c.item
            .extended_properties
            .iter()
            .find(|p| p.field.property_name.as_deref() == Some("exbridge-id"))
            .map(|p| format!("{:?}", p.value))
    };
    assert!(value(&calendar(&store, U1, &id)).unwrap().contains("app-42"));
    let path = r#"<t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings" PropertyName="exbridge-id" PropertyType="String"/>"#;
    let set = format!(r#"<t:SetItemField>{path}<t:CalendarItem>{}</t:CalendarItem></t:SetItemField>"#, prop("app-43"));
    let id =
        updated_id(ews.call("update-ext", U1, &update("AutoResolve", "SendToNone", &id_xml(&id), &set)).await).unwrap();
    let c = calendar(&store, U1, &id);
    assert!(value(&c).unwrap().contains("app-43"));
    assert_eq!(c.item.extended_properties.len(), 1);
    let del = format!(r#"<t:DeleteItemField>{path}</t:DeleteItemField>"#);
    let id =
        updated_id(ews.call("delete-ext", U1, &update("AutoResolve", "SendToNone", &id_xml(&id), &del)).await).unwrap();
    assert_eq!(value(&calendar(&store, U1, &id)), None);
    ews.assert_valid();
    sim.shutdown().await;
}

#[tokio::test]
async fn time_zones_context_and_shift() {
    let sim = start().await;
    let ews = Ews::new(&sim);
    let store = sim.store().clone();
    // Floating times without StartTimeZone: the TimeZoneContext governs them.
    let item = r#"<t:CalendarItem><t:Subject>NY call</t:Subject><t:Start>2026-01-15T09:00:00</t:Start><t:End>2026-01-15T10:00:00</t:End></t:CalendarItem>"#;
    let ctx = r#"<t:TimeZoneContext><t:TimeZoneDefinition Id="Eastern Standard Time"/></t:TimeZoneContext>"#;
    let r = ews.call_with("create-tzcontext", U1, ctx, &create_calendar(Some("SendToNone"), item)).await;
    let id = created_id(r).unwrap();
    let c = calendar(&store, U1, &id);
    assert_eq!(c.start.unwrap().timestamp().unwrap().to_string(), "2026-01-15T14:00:00Z");
    assert_eq!(c.start_time_zone_id.as_deref(), Some("Eastern Standard Time"));
    // Without a context or zone: UTC.
    let r = ews.call("create-floating-utc", U1, &create_calendar(Some("SendToNone"), item)).await;
    let id_utc = created_id(r).unwrap();
    assert_eq!(calendar(&store, U1, &id_utc).start.unwrap().timestamp().unwrap().to_string(), "2026-01-15T09:00:00Z");

    // A new StartTimeZone keeps the wall clock: 09:00 New York becomes 09:00 Los Angeles.
    let set = r#"<t:SetItemField><t:FieldURI FieldURI="calendar:StartTimeZone"/><t:CalendarItem><t:StartTimeZone Id="Pacific Standard Time"/></t:CalendarItem></t:SetItemField>"#;
    let id =
        updated_id(ews.call("update-tz", U1, &update("AutoResolve", "SendToNone", &id_xml(&id), set)).await).unwrap();
    let c = calendar(&store, U1, &id);
    assert_eq!(c.start.unwrap().timestamp().unwrap().to_string(), "2026-01-15T17:00:00Z");
    assert_eq!(c.end.unwrap().timestamp().unwrap().to_string(), "2026-01-15T18:00:00Z");
    assert_eq!(c.start_time_zone_id.as_deref(), Some("Pacific Standard Time"));
    ews.assert_valid();
    sim.shutdown().await;
}

#[tokio::test]
async fn changes_to_a_recurring_meeting_reach_the_attendees_series() {
    let sim = start().await;
    let ews = Ews::new(&sim);
    let store = sim.store().clone();
    let series = format!(
        r#"<t:CalendarItem><t:Subject>Weekly sync</t:Subject><t:Start>2026-03-02T09:00:00Z</t:Start><t:End>2026-03-02T09:30:00Z</t:End><t:RequiredAttendees><t:Attendee><t:Mailbox><t:EmailAddress>{U2}</t:EmailAddress></t:Mailbox></t:Attendee></t:RequiredAttendees><t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday</t:DaysOfWeek></t:WeeklyRecurrence><t:NumberedRecurrence><t:StartDate>2026-03-02</t:StartDate><t:NumberOfOccurrences>6</t:NumberOfOccurrences></t:NumberedRecurrence></t:Recurrence><t:StartTimeZone Id="UTC"/></t:CalendarItem>"#
    );
    let id = created_id(
        ews.call("create-series-meeting", U1, &create_calendar(Some("SendToAllAndSaveCopy"), &series)).await,
    )
    .unwrap();
    let uid = calendar(&store, U1, &id).uid.unwrap();
    let occ = |index: i32| format!(r#"<t:OccurrenceItemId RecurringMasterId="{}" InstanceIndex="{index}"/>"#, id.id.0);
    let copy_id =
        |items: &[serde_json::Value]| ItemId::new(by_uid(items, &uid).unwrap()["item_id"].as_str().unwrap(), None);

    // The organiser moves the second occurrence and deletes the fourth, telling the attendees.
    let r = ews
        .call(
            "update-meeting-occurrence",
            U1,
            &update(
                "AlwaysOverwrite",
                "SendToAllAndSaveCopy",
                &occ(2),
                &format!(
                    "{}{}",
                    set_calendar("calendar:Start", "<t:Start>2026-03-09T11:00:00Z</t:Start>"),
                    set_calendar("calendar:End", "<t:End>2026-03-09T11:30:00Z</t:End>")
                ),
            ),
        )
        .await;
    updated_id(r).unwrap();
    let r = ews.call("delete-meeting-occurrence", U1, &delete_calendar(&occ(4), "SendToAllAndSaveCopy")).await;
    assert_eq!(delete_codes(r), vec![ResponseCode::NoError]);

    let copy = calendar(&store, U2, &copy_id(&control_items(&sim, U2).await));
    let modified = copy.modified_occurrences.expect("the attendee's series has the exception");
    assert_eq!(modified.len(), 1);
    assert_eq!(modified[0].start.timestamp().unwrap().to_string(), "2026-03-09T11:00:00Z");
    assert_eq!(copy.deleted_occurrences.map(|d| d.len()), Some(1));
    ews.assert_valid();
    sim.shutdown().await;
}
