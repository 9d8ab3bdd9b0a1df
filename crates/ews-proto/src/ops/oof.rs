//! Out of office: `GetUserOofSettings` and `SetUserOofSettings` (DIGEST §8).
//!
//! Both operations are Availability-service messages: the element names end in `Request` /
//! `Response` (`m:GetUserOofSettingsRequest`, `m:GetUserOofSettingsResponse`), and the response
//! carries a single `m:ResponseMessage` directly, without an `m:ResponseMessages` wrapper.
//!
//! OOF changes raise no notification events; poll `GetUserOofSettings` or look at availability
//! (`CalendarEvent` with `BusyType` `OOF`). Reading another user's settings needs rights: an
//! Exchange 2007 server answers a non-owner with a SOAP fault ("User is not mailbox owner",
//! `samples/GetUserOofSettings-Error-NotMailboxOwner-Fault.response.xml`), which arrives as
//! [`crate::soap::Body::Fault`].

use jiff::Timestamp;

use crate::error::Result;
use crate::response::ResponseStatus;
use crate::values::DateTime;
use crate::xml::{Element, FromXml, Name, Ns, ToXml, Writer, m, t};
use crate::xml_enum;

xml_enum! {
    /// `t:OofState`.
    pub enum OofState {
        /// Automatic replies are off.
        Disabled,
        /// Automatic replies are on until switched off; `Duration` is ignored.
        Enabled,
        /// Automatic replies are on between `Duration/StartTime` and `Duration/EndTime`.
        Scheduled,
    }
}

xml_enum! {
    /// `t:ExternalAudience`: who outside the organisation gets the external reply
    /// (also the type of `m:AllowExternalOof`, what the administrator allows).
    pub enum ExternalAudience {
        /// No external replies.
        None,
        /// Only senders in the user's contacts.
        Known,
        /// Every external sender.
        All,
    }
}

/// `t:Mailbox` / availability `t:Email`: the schema type `t:EmailAddress` of the Availability
/// service (`Name`, `Address`, `RoutingType`). Not to be confused with [`crate::ids::EmailAddress`]
/// (`t:EmailAddressType`, whose address element is called `EmailAddress`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailboxAddress {
    /// `t:Name`: display name, informational.
    pub name: Option<String>,
    /// `t:Address` (required): the SMTP address.
    pub address: String,
    /// `t:RoutingType`, normally `SMTP`.
    pub routing_type: Option<String>,
}

impl MailboxAddress {
    /// An address with nothing else (what `GetUserOofSettings` and `GetUserAvailability` need).
    pub fn new(address: impl Into<String>) -> Self {
        MailboxAddress { name: None, address: address.into(), routing_type: None }
    }

    /// An SMTP mailbox with a display name.
    pub fn smtp(address: impl Into<String>, name: Option<&str>) -> Self {
        MailboxAddress { name: name.map(str::to_string), address: address.into(), routing_type: Some("SMTP".into()) }
    }
}

impl FromXml for MailboxAddress {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(MailboxAddress {
            name: el.get_text(t("Name"))?,
            address: el.get_text_req(t("Address"))?,
            routing_type: el.get_text(t("RoutingType"))?,
        })
    }
}

impl ToXml for MailboxAddress {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .leaf_opt(t("Name"), &self.name)
            .leaf(t("Address"), &self.address)
            .leaf_opt(t("RoutingType"), &self.routing_type)
            .end();
    }
}

/// `t:Duration`: a start and an end (both required). Used as OOF `Duration`, availability
/// `TimeWindow` and suggestions `DetailedSuggestionsWindow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub start_time: DateTime,
    pub end_time: DateTime,
}

impl TimeWindow {
    pub fn new(start_time: impl Into<DateTime>, end_time: impl Into<DateTime>) -> Self {
        TimeWindow { start_time: start_time.into(), end_time: end_time.into() }
    }

    /// The window as instants; a value without an offset is read as UTC (OOF durations
    /// "SHOULD be specified in UTC", MS-OXWOOF `t:UserOofSettings`).
    pub fn timestamps_utc(&self) -> Option<(Timestamp, Timestamp)> {
        let utc = jiff::tz::TimeZone::UTC;
        Some((self.start_time.timestamp_in(&utc)?, self.end_time.timestamp_in(&utc)?))
    }

    /// Whether `start <= now < end` (offset-less values read as UTC).
    pub fn contains(&self, now: Timestamp) -> bool {
        self.timestamps_utc().is_some_and(|(start, end)| start <= now && now < end)
    }
}

impl FromXml for TimeWindow {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(TimeWindow { start_time: el.get_text_req(t("StartTime"))?, end_time: el.get_text_req(t("EndTime"))? })
    }
}

impl ToXml for TimeWindow {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).leaf_val(t("StartTime"), &self.start_time).leaf_val(t("EndTime"), &self.end_time).end();
    }
}

/// `t:ReplyBody`: an automatic reply text with an optional `xml:lang`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplyBody {
    /// `t:Message`: the reply (plain text or HTML, as the user wrote it).
    pub message: Option<String>,
    /// `@xml:lang`, e.g. `en-US`.
    pub lang: Option<String>,
}

impl ReplyBody {
    pub fn new(message: impl Into<String>) -> Self {
        ReplyBody { message: Some(message.into()), lang: None }
    }
}

impl FromXml for ReplyBody {
    fn from_xml(el: &Element) -> Result<Self> {
        let xml_ns = Ns::from_uri(Ns::XML_URI);
        Ok(ReplyBody { message: el.get_text(t("Message"))?, lang: el.attr_ns(&xml_ns, "lang").map(str::to_string) })
    }
}

impl ToXml for ReplyBody {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name);
        if let Some(lang) = &self.lang {
            w.attr_ns(&Ns::from_uri(Ns::XML_URI), "lang", lang);
        }
        w.leaf_opt(t("Message"), &self.message).end();
    }
}

/// `t:UserOofSettings` (as `t:UserOofSettings` in SetUserOofSettings and `t:OofSettings` in the
/// GetUserOofSettings response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserOofSettings {
    /// `t:OofState` (required).
    pub oof_state: OofState,
    /// `t:ExternalAudience` (required).
    pub external_audience: ExternalAudience,
    /// `t:Duration`: only counts when `oof_state` is [`OofState::Scheduled`]; ignored otherwise.
    /// Times should be UTC; a value without an offset is read as UTC.
    pub duration: Option<TimeWindow>,
    /// `t:InternalReply`: sent to senders in the organisation.
    pub internal_reply: Option<ReplyBody>,
    /// `t:ExternalReply`: sent to external senders as `external_audience` allows.
    pub external_reply: Option<ReplyBody>,
    /// `t:DeclineMeetingReply` (Exchange 2016+): text of the decline sent for meetings.
    pub decline_meeting_reply: Option<ReplyBody>,
    /// `t:DeclineEventsForScheduledOOF`: decline meetings that fall in the scheduled period.
    pub decline_events_for_scheduled_oof: Option<bool>,
    /// `t:DeclineAllEventsForScheduledOOF`.
    pub decline_all_events_for_scheduled_oof: Option<bool>,
    /// `t:CreateOOFEvent`: put an OOF appointment in the calendar for the period.
    pub create_oof_event: Option<bool>,
    /// `t:OOFEventSubject`: subject of that appointment.
    pub oof_event_subject: Option<String>,
    /// `t:AutoDeclineFutureRequestsWhenOOF`.
    pub auto_decline_future_requests_when_oof: Option<bool>,
    /// `t:OOFEventID`: id of the OOF appointment the server created.
    pub oof_event_id: Option<String>,
    /// `t:EventsToDeleteIDs/t:EventToDeleteID`: calendar events to cancel for the period.
    pub events_to_delete_ids: Option<Vec<String>>,
}

impl UserOofSettings {
    /// Settings with the given state and audience and nothing else.
    pub fn new(oof_state: OofState, external_audience: ExternalAudience) -> Self {
        UserOofSettings {
            oof_state,
            external_audience,
            duration: None,
            internal_reply: None,
            external_reply: None,
            decline_meeting_reply: None,
            decline_events_for_scheduled_oof: None,
            decline_all_events_for_scheduled_oof: None,
            create_oof_event: None,
            oof_event_subject: None,
            auto_decline_future_requests_when_oof: None,
            oof_event_id: None,
            events_to_delete_ids: None,
        }
    }

    /// Whether the user is out of office at `now`: state `Enabled`, or `Scheduled` with
    /// `StartTime <= now < EndTime` (values without an offset are read as UTC). `Scheduled`
    /// without a `Duration` counts as not OOF. The formula is inferred (DIGEST §8): the server
    /// does not turn `Scheduled` into `Enabled` in responses.
    pub fn is_active_at(&self, now: Timestamp) -> bool {
        match self.oof_state {
            OofState::Disabled => false,
            OofState::Enabled => true,
            OofState::Scheduled => self.duration.is_some_and(|d| d.contains(now)),
        }
    }
}

impl FromXml for UserOofSettings {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(UserOofSettings {
            oof_state: el.get_text_req(t("OofState"))?,
            external_audience: el.get_text_req(t("ExternalAudience"))?,
            duration: el.get(t("Duration"))?,
            internal_reply: el.get(t("InternalReply"))?,
            external_reply: el.get(t("ExternalReply"))?,
            decline_meeting_reply: el.get(t("DeclineMeetingReply"))?,
            decline_events_for_scheduled_oof: el.get_text(t("DeclineEventsForScheduledOOF"))?,
            decline_all_events_for_scheduled_oof: el.get_text(t("DeclineAllEventsForScheduledOOF"))?,
            create_oof_event: el.get_text(t("CreateOOFEvent"))?,
            oof_event_subject: el.get_text(t("OOFEventSubject"))?,
            auto_decline_future_requests_when_oof: el.get_text(t("AutoDeclineFutureRequestsWhenOOF"))?,
            oof_event_id: el.get_text(t("OOFEventID"))?,
            events_to_delete_ids: el
                .child(t("EventsToDeleteIDs"))
                .map(|ids| ids.children_named(t("EventToDeleteID")).map(|c| c.text.clone()).collect()),
        })
    }
}

impl ToXml for UserOofSettings {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .leaf_val(t("OofState"), &self.oof_state)
            .leaf_val(t("ExternalAudience"), &self.external_audience)
            .child_opt(t("Duration"), &self.duration)
            .child_opt(t("InternalReply"), &self.internal_reply)
            .child_opt(t("ExternalReply"), &self.external_reply)
            .child_opt(t("DeclineMeetingReply"), &self.decline_meeting_reply)
            .leaf_opt(t("DeclineEventsForScheduledOOF"), &self.decline_events_for_scheduled_oof)
            .leaf_opt(t("DeclineAllEventsForScheduledOOF"), &self.decline_all_events_for_scheduled_oof)
            .leaf_opt(t("CreateOOFEvent"), &self.create_oof_event)
            .leaf_opt(t("OOFEventSubject"), &self.oof_event_subject)
            .leaf_opt(t("AutoDeclineFutureRequestsWhenOOF"), &self.auto_decline_future_requests_when_oof)
            .leaf_opt(t("OOFEventID"), &self.oof_event_id);
        if let Some(ids) = &self.events_to_delete_ids {
            w.start(t("EventsToDeleteIDs"));
            for id in ids {
                w.leaf(t("EventToDeleteID"), id);
            }
            w.end();
        }
        w.end();
    }
}

/// `m:GetUserOofSettingsRequest`: the OOF settings of one mailbox (`t:Mailbox`, required).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetUserOofSettingsRequest {
    pub mailbox: MailboxAddress,
}

impl GetUserOofSettingsRequest {
    pub fn new(address: impl Into<String>) -> Self {
        GetUserOofSettingsRequest { mailbox: MailboxAddress::new(address) }
    }
}

impl FromXml for GetUserOofSettingsRequest {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(GetUserOofSettingsRequest { mailbox: el.get_req(t("Mailbox"))? })
    }
}

impl ToXml for GetUserOofSettingsRequest {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).child(t("Mailbox"), &self.mailbox).end();
    }
}

/// `m:GetUserOofSettingsResponse`: `m:ResponseMessage` (required), `t:OofSettings` and
/// `m:AllowExternalOof` (what the administrator allows for external replies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetUserOofSettingsResponse {
    pub response_message: ResponseStatus,
    pub oof_settings: Option<UserOofSettings>,
    pub allow_external_oof: Option<ExternalAudience>,
}

impl GetUserOofSettingsResponse {
    /// A successful response.
    pub fn success(settings: UserOofSettings, allow_external_oof: ExternalAudience) -> Self {
        GetUserOofSettingsResponse {
            response_message: ResponseStatus::success(),
            oof_settings: Some(settings),
            allow_external_oof: Some(allow_external_oof),
        }
    }

    /// An error response (no settings).
    pub fn error(status: ResponseStatus) -> Self {
        GetUserOofSettingsResponse { response_message: status, oof_settings: None, allow_external_oof: None }
    }
}

impl FromXml for GetUserOofSettingsResponse {
    fn from_xml(el: &Element) -> Result<Self> {
        let msg = el.req(m("ResponseMessage"))?;
        Ok(GetUserOofSettingsResponse {
            response_message: ResponseStatus::read(msg).map_err(|e| e.at(el))?,
            oof_settings: el.get(t("OofSettings"))?,
            allow_external_oof: el.get_text(m("AllowExternalOof"))?,
        })
    }
}

impl ToXml for GetUserOofSettingsResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name);
        self.response_message.write_start(w, m("ResponseMessage"));
        w.end();
        w.child_opt(t("OofSettings"), &self.oof_settings);
        w.leaf_opt(m("AllowExternalOof"), &self.allow_external_oof);
        w.end();
    }
}

/// `m:SetUserOofSettingsRequest`: `t:Mailbox` and `t:UserOofSettings` (both required).
/// A `Scheduled` state needs a `Duration` whose end is after its start, else the server answers
/// `ErrorInvalidScheduledOofDuration`; see [`SetUserOofSettingsRequest::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetUserOofSettingsRequest {
    pub mailbox: MailboxAddress,
    pub user_oof_settings: UserOofSettings,
}

impl SetUserOofSettingsRequest {
    /// What a server checks before storing the settings: a `Scheduled` state needs a
    /// `Duration` with `EndTime` after `StartTime` (`ErrorInvalidScheduledOofDuration`).
    pub fn check(&self) -> std::result::Result<(), (crate::ResponseCode, String)> {
        let s = &self.user_oof_settings;
        if s.oof_state == OofState::Scheduled {
            let ok = s.duration.and_then(|d| d.timestamps_utc()).is_some_and(|(start, end)| start < end);
            if !ok {
                return Err((
                    crate::ResponseCode::ErrorInvalidScheduledOofDuration,
                    "a Scheduled OOF state needs a Duration whose EndTime is after its StartTime".into(),
                ));
            }
        }
        Ok(())
    }
}

impl FromXml for SetUserOofSettingsRequest {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(SetUserOofSettingsRequest {
            mailbox: el.get_req(t("Mailbox"))?,
            user_oof_settings: el.get_req(t("UserOofSettings"))?,
        })
    }
}

impl ToXml for SetUserOofSettingsRequest {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).child(t("Mailbox"), &self.mailbox).child(t("UserOofSettings"), &self.user_oof_settings).end();
    }
}

/// `m:SetUserOofSettingsResponse`: an optional `m:ResponseMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetUserOofSettingsResponse {
    pub response_message: Option<ResponseStatus>,
}

impl SetUserOofSettingsResponse {
    /// `Success` / `NoError`.
    pub fn success() -> Self {
        SetUserOofSettingsResponse { response_message: Some(ResponseStatus::success()) }
    }

    /// The status; an absent `ResponseMessage` counts as success.
    pub fn status(&self) -> ResponseStatus {
        self.response_message.clone().unwrap_or_default()
    }
}

impl FromXml for SetUserOofSettingsResponse {
    fn from_xml(el: &Element) -> Result<Self> {
        let response_message = match el.child(m("ResponseMessage")) {
            None => None,
            Some(msg) => Some(ResponseStatus::read(msg).map_err(|e| e.at(el))?),
        };
        Ok(SetUserOofSettingsResponse { response_message })
    }
}

impl ToXml for SetUserOofSettingsResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name);
        if let Some(status) = &self.response_message {
            status.write_start(w, m("ResponseMessage"));
            w.end();
        }
        w.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::{Body, Envelope, ExchangeVersion, Header};

    fn sample(name: &str) -> Vec<u8> {
        std::fs::read(ews_schema_check::samples_dir().join(name)).unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn round_trip(env: &Envelope) -> String {
        let s = env.to_xml_string();
        let back = Envelope::parse(s.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{s}"));
        assert_eq!(&back, env, "round trip changed the envelope:\n{s}");
        s
    }

    fn full_settings() -> UserOofSettings {
        UserOofSettings {
            oof_state: OofState::Scheduled,
            external_audience: ExternalAudience::Known,
            duration: Some(TimeWindow::new(ts("2026-07-01T00:00:00Z"), ts("2026-07-15T00:00:00Z"))),
            internal_reply: Some(ReplyBody {
                message: Some("Away <until> 15 July & back".into()),
                lang: Some("en-US".into()),
            }),
            external_reply: Some(ReplyBody::new("Away.")),
            decline_meeting_reply: Some(ReplyBody {
                message: Some("Declined while away.".into()),
                lang: Some("de-DE".into()),
            }),
            decline_events_for_scheduled_oof: Some(true),
            decline_all_events_for_scheduled_oof: Some(false),
            create_oof_event: Some(true),
            oof_event_subject: Some("Vacation".into()),
            auto_decline_future_requests_when_oof: Some(true),
            oof_event_id: Some("AAMkAGI=".into()),
            events_to_delete_ids: Some(vec!["ev1".into(), "ev2".into()]),
        }
    }

    #[test]
    fn parses_samples() {
        let env = Envelope::parse(&sample("GetUserOofSettings.request.xml")).unwrap();
        let Body::GetUserOofSettings(req) = &env.body else { panic!("{:?}", env.body) };
        assert_eq!(req.mailbox, MailboxAddress::new("User1@example.com"));

        let env = Envelope::parse(&sample("GetUserOofSettings-Disabled.response.xml")).unwrap();
        let Body::GetUserOofSettingsResponse(resp) = &env.body else { panic!() };
        assert!(resp.response_message.is_success());
        assert_eq!(resp.allow_external_oof, Some(ExternalAudience::All));
        let s = resp.oof_settings.as_ref().unwrap();
        assert_eq!(s.oof_state, OofState::Disabled);
        assert_eq!(s.external_audience, ExternalAudience::All);
        let d = s.duration.unwrap();
        assert_eq!(d.start_time.to_string(), "2006-11-03T23:00:00");
        assert_eq!(d.end_time.to_string(), "2006-11-04T23:00:00");
        assert_eq!(
            s.internal_reply.as_ref().unwrap().message.as_deref(),
            Some("I am out of office. This is my internal reply.")
        );
        assert_eq!(
            s.external_reply.as_ref().unwrap().message.as_deref(),
            Some("I am out of office. This is my external reply.")
        );
        // Disabled: not OOF even inside the duration.
        assert!(!s.is_active_at(ts("2006-11-04T00:00:00Z")));

        for name in ["SetUserOofSettings-Enabled.request.xml", "SetUserOofSettings-Enabled-WithDuration.request.xml"] {
            let env = Envelope::parse(&sample(name)).unwrap();
            let Body::SetUserOofSettings(req) = &env.body else { panic!() };
            assert_eq!(req.mailbox.routing_type.as_deref(), Some("SMTP"));
            assert!(req.mailbox.name.is_some());
            assert_eq!(req.user_oof_settings.oof_state, OofState::Enabled);
            assert!(req.user_oof_settings.duration.is_some());
            assert!(req.user_oof_settings.is_active_at(ts("2030-01-01T00:00:00Z")), "Enabled ignores Duration");
            assert!(req.check().is_ok());
        }
        let env = Envelope::parse(&sample("SetUserOofSettings-Enabled-WithDuration.request.xml")).unwrap();
        let Body::SetUserOofSettings(req) = &env.body else { panic!() };
        assert_eq!(req.mailbox.address, "user1@example.com");
        assert_eq!(req.mailbox.name.as_deref(), Some("User1"));

        let env = Envelope::parse(&sample("SetUserOofSettings.response.xml")).unwrap();
        let Body::SetUserOofSettingsResponse(resp) = &env.body else { panic!() };
        assert!(resp.status().is_success());
        assert_eq!(env.header.server_version_info.as_ref().unwrap().major_build_number, Some(685));

        let env = Envelope::parse(&sample("GetUserOofSettings-Error-NotMailboxOwner-Fault.response.xml")).unwrap();
        let Body::Fault(f) = &env.body else { panic!() };
        assert!(f.string.contains("User is not mailbox owner"));
    }

    #[test]
    fn is_active_at() {
        let mut s = UserOofSettings::new(OofState::Disabled, ExternalAudience::None);
        let now = ts("2026-07-05T12:00:00Z");
        assert!(!s.is_active_at(now));
        s.oof_state = OofState::Enabled;
        assert!(s.is_active_at(now));
        s.oof_state = OofState::Scheduled;
        assert!(!s.is_active_at(now), "Scheduled without Duration is not OOF");
        s.duration = Some(TimeWindow::new(ts("2026-07-01T00:00:00Z"), ts("2026-07-15T00:00:00Z")));
        assert!(s.is_active_at(now));
        assert!(s.is_active_at(ts("2026-07-01T00:00:00Z")), "start is inclusive");
        assert!(!s.is_active_at(ts("2026-07-15T00:00:00Z")), "end is exclusive");
        assert!(!s.is_active_at(ts("2026-06-30T23:59:59Z")));
        // Offsets are honoured; values without an offset are UTC.
        s.duration = Some(TimeWindow {
            start_time: xml_dt("2026-07-01T09:00:00+02:00"),
            end_time: xml_dt("2026-07-01T17:00:00"),
        });
        assert!(!s.is_active_at(ts("2026-07-01T06:59:59Z")));
        assert!(s.is_active_at(ts("2026-07-01T07:00:00Z")));
        assert!(s.is_active_at(ts("2026-07-01T16:59:59Z")));
        assert!(!s.is_active_at(ts("2026-07-01T17:00:00Z")));
        // An empty or inverted window is never active.
        s.duration = Some(TimeWindow::new(ts("2026-07-02T00:00:00Z"), ts("2026-07-01T00:00:00Z")));
        assert!(!s.is_active_at(ts("2026-07-01T12:00:00Z")));
    }

    fn xml_dt(s: &str) -> DateTime {
        <DateTime as crate::xml::XmlText>::from_text(s).unwrap()
    }

    #[test]
    fn check_scheduled_duration() {
        let mut req = SetUserOofSettingsRequest {
            mailbox: MailboxAddress::new("a@contoso.test"),
            user_oof_settings: UserOofSettings::new(OofState::Scheduled, ExternalAudience::All),
        };
        assert_eq!(req.check().unwrap_err().0, crate::ResponseCode::ErrorInvalidScheduledOofDuration);
        req.user_oof_settings.duration = Some(TimeWindow::new(ts("2026-07-01T00:00:00Z"), ts("2026-07-01T00:00:00Z")));
        assert!(req.check().is_err());
        req.user_oof_settings.duration = Some(TimeWindow::new(ts("2026-07-01T00:00:00Z"), ts("2026-07-02T00:00:00Z")));
        assert!(req.check().is_ok());
    }

    #[test]
    fn serializes_valid_xml_and_round_trips() {
        let header = Header { request_server_version: Some(ExchangeVersion::Exchange2016), ..Header::default() };
        let mut docs = Vec::new();
        let constructed: Vec<Envelope> = vec![
            Envelope::new(header.clone(), GetUserOofSettingsRequest::new("user1@contoso.test")),
            Envelope::new(
                header.clone(),
                SetUserOofSettingsRequest {
                    mailbox: MailboxAddress::smtp("user1@contoso.test", Some("User One")),
                    user_oof_settings: full_settings(),
                },
            ),
            Envelope::new(
                Header::default(),
                GetUserOofSettingsResponse::success(full_settings(), ExternalAudience::Known),
            ),
            Envelope::new(
                Header::default(),
                GetUserOofSettingsResponse::error(ResponseStatus::error(
                    crate::ResponseCode::ErrorMailRecipientNotFound,
                    "No mailbox",
                )),
            ),
            Envelope::new(Header::default(), SetUserOofSettingsResponse::success()),
            Envelope::new(Header::default(), SetUserOofSettingsResponse::default()),
            Envelope::new(
                Header::default(),
                SetUserOofSettingsResponse {
                    response_message: Some(ResponseStatus::error(
                        crate::ResponseCode::ErrorInvalidScheduledOofDuration,
                        "bad duration",
                    )),
                },
            ),
        ];
        for (i, env) in constructed.iter().enumerate() {
            docs.push((format!("constructed #{i}"), round_trip(env)));
        }
        for name in [
            "GetUserOofSettings.request.xml",
            "GetUserOofSettings-Disabled.response.xml",
            "GetUserOofSettings-Error-NotMailboxOwner-Fault.response.xml",
            "SetUserOofSettings-Enabled.request.xml",
            "SetUserOofSettings-Enabled-WithDuration.request.xml",
            "SetUserOofSettings.response.xml",
        ] {
            let env = Envelope::parse(&sample(name)).unwrap();
            docs.push((name.to_string(), round_trip(&env)));
        }
        // xml:lang is written with the xml prefix and read back.
        assert!(docs[1].1.contains("<t:InternalReply xml:lang=\"en-US\">"), "{}", docs[1].1);
        ews_schema_check::assert_all_valid(&docs);
    }

    #[test]
    fn errors_name_the_path() {
        let bad_state = String::from_utf8(sample("GetUserOofSettings-Disabled.response.xml"))
            .unwrap()
            .replace("<OofState>Disabled</OofState>", "<OofState>Away</OofState>");
        let err = Envelope::parse(bad_state.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("Away"), "{err}");
        assert_eq!(err.path(), "/soap:Envelope/soap:Body/m:GetUserOofSettingsResponse/t:OofSettings/t:OofState");

        let no_address = String::from_utf8(sample("GetUserOofSettings.request.xml"))
            .unwrap()
            .replace("<Address>User1@example.com</Address>", "");
        let err = Envelope::parse(no_address.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("missing element t:Address"), "{err}");
        assert_eq!(err.path(), "/soap:Envelope/soap:Body/m:GetUserOofSettingsRequest/t:Mailbox");

        let no_status = String::from_utf8(sample("GetUserOofSettings-Disabled.response.xml")).unwrap().replace(
            "<ResponseMessage ResponseClass=\"Success\">\n        <ResponseCode>NoError</ResponseCode>\n      </ResponseMessage>",
            "",
        );
        let err = Envelope::parse(no_status.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("missing element m:ResponseMessage"), "{err}");

        let bad_date = String::from_utf8(sample("SetUserOofSettings-Enabled.request.xml"))
            .unwrap()
            .replace("2005-10-05T00:00:00", "yesterday");
        let err = Envelope::parse(bad_date.as_bytes()).unwrap_err();
        assert_eq!(
            err.path(),
            "/soap:Envelope/soap:Body/m:SetUserOofSettingsRequest/t:UserOofSettings/t:Duration/t:StartTime"
        );
    }
}
