//! Tests of the item XML: real samples, constructed items, schema validation, round trips and
//! errors.

use jiff::SignedDuration;
use jiff::civil;

use super::*;
use crate::ids::{ChangeKey, EmailAddress, FolderId, ItemId, MailboxType};
use crate::shape::{DistinguishedPropertySet, ExtendedFieldUri, MapiPropertyType};
use crate::tz::{
    DayOfWeek as TzDay, Period, SerializableTimeZone, SerializableTimeZoneTime, TimeZoneDefinition, Transition,
    TransitionTarget, Transitions, TransitionsGroup,
};
use crate::values::{Date, DateTime, Duration};
use crate::xml::{self, Element, FromXml, Ns, ToXml, Writer, XmlText, m, soap, t};
use ews_schema_check::{assert_all_valid, samples_dir};

fn dt(s: &str) -> DateTime {
    DateTime::from_text(s).unwrap()
}

fn date(s: &str) -> Date {
    Date::from_text(s).unwrap()
}

fn sample(name: &str) -> Element {
    let bytes = std::fs::read(samples_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    xml::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A `m:CreateItem` request carrying `items`, with an optional `t:TimeZoneContext` header.
fn create_item_envelope(items: &[Item], tz_context: Option<&TimeZoneDefinition>) -> String {
    let mut w = Writer::with_declaration();
    w.predeclare(&[Ns::Messages, Ns::Types]).start(soap("Envelope"));
    if let Some(tz) = tz_context {
        w.start(soap("Header")).start(t("TimeZoneContext")).child(t("TimeZoneDefinition"), tz).end().end();
    }
    w.start(soap("Body")).start(m("CreateItem")).start(m("Items"));
    for item in items {
        item.write(&mut w);
    }
    w.end().end().end().end();
    w.finish()
}

/// The elements that hold items directly.
fn is_item_wrapper(el: &Element) -> bool {
    el.is(m("Items")) || ["Items", "Create", "Update", "SetItemField", "AppendToItemField"].iter().any(|n| el.is(t(n)))
}

/// Every item element of a document that sits directly in an item wrapper.
fn items_in(root: &Element) -> Vec<&Element> {
    fn walk<'a>(el: &'a Element, out: &mut Vec<&'a Element>) {
        let wrapper = is_item_wrapper(el);
        for c in &el.children {
            if wrapper && Item::is_item_element(c) {
                out.push(c);
            } else {
                walk(c, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out
}

fn sample_items(name: &str) -> Vec<Item> {
    let root = sample(name);
    items_in(&root).into_iter().map(|el| Item::read(el).unwrap().unwrap_or_else(|e| panic!("{name}: {e}"))).collect()
}

fn calendar(item: &Item) -> &CalendarItem {
    item.as_calendar().expect("a calendar item")
}

/// Writes an item alone and reads it back.
fn reread(item: &Item) -> Item {
    let mut w = Writer::new();
    item.write(&mut w);
    let s = w.finish();
    let el = xml::parse(s.as_bytes()).unwrap();
    Item::read(&el).expect("an item element").unwrap_or_else(|e| panic!("{e}\n{s}"))
}

fn mailbox(addr: &str, name: &str) -> EmailAddress {
    EmailAddress { mailbox_type: Some(MailboxType::Mailbox), ..EmailAddress::smtp(addr, Some(name)) }
}

/// W. Europe Standard Time spelled out as Exchange does.
fn w_europe() -> TimeZoneDefinition {
    TimeZoneDefinition {
        id: Some("W. Europe Standard Time".into()),
        name: Some("(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna".into()),
        periods: vec![
            Period { bias: SignedDuration::from_hours(-1), name: "Standard".into(), id: "Std".into() },
            Period { bias: SignedDuration::from_hours(-2), name: "Daylight".into(), id: "Dlt/1".into() },
        ],
        transitions_groups: vec![TransitionsGroup {
            id: "0".into(),
            transitions: vec![
                Transition::RecurringDay {
                    to: TransitionTarget::period("Dlt/1"),
                    time_offset: SignedDuration::from_hours(2),
                    month: 3,
                    day_of_week: TzDay::Sunday,
                    occurrence: -1,
                },
                Transition::RecurringDay {
                    to: TransitionTarget::period("Std"),
                    time_offset: SignedDuration::from_hours(3),
                    month: 10,
                    day_of_week: TzDay::Sunday,
                    occurrence: -1,
                },
            ],
        }],
        transitions: Some(Transitions { transition: TransitionTarget::group("0"), transitions: vec![] }),
    }
}

/// A definition using every transition kind (not a real zone).
fn every_transition_kind() -> TimeZoneDefinition {
    TimeZoneDefinition {
        id: Some("Test Standard Time".into()),
        name: None,
        periods: vec![
            Period { bias: SignedDuration::from_mins(-330), name: "Standard".into(), id: "Std".into() },
            Period { bias: SignedDuration::from_mins(-390), name: "Daylight".into(), id: "Dlt".into() },
        ],
        transitions_groups: vec![
            TransitionsGroup {
                id: "0".into(),
                transitions: vec![Transition::Plain { to: TransitionTarget::period("Std") }],
            },
            TransitionsGroup {
                id: "1".into(),
                transitions: vec![
                    Transition::RecurringDate {
                        to: TransitionTarget::period("Dlt"),
                        time_offset: SignedDuration::from_mins(90),
                        month: 4,
                        day: 1,
                    },
                    Transition::RecurringDate {
                        to: TransitionTarget::period("Std"),
                        time_offset: SignedDuration::from_hours(2),
                        month: 9,
                        day: 30,
                    },
                ],
            },
        ],
        transitions: Some(Transitions {
            transition: TransitionTarget::group("0"),
            transitions: vec![Transition::AbsoluteDate {
                offset: None,
                to: TransitionTarget::group("1"),
                date_time: civil::date(2010, 1, 1).at(0, 0, 0, 0),
            }],
        }),
    }
}

/// A recurring master with every modelled field set.
fn rich_master() -> CalendarItem {
    let uri_tag = ExtendedFieldUri {
        distinguished_property_set_id: None,
        property_set_id: None,
        property_tag: Some("0x8001".into()),
        property_name: None,
        property_id: None,
        property_type: MapiPropertyType::StringArray,
    };
    let uri_id = ExtendedFieldUri {
        distinguished_property_set_id: Some(DistinguishedPropertySet::Appointment),
        property_set_id: None,
        property_tag: None,
        property_name: None,
        property_id: Some(33332),
        property_type: MapiPropertyType::String,
    };
    CalendarItem {
        item: ItemFields {
            item_id: Some(ItemId::new("AAMkMaster=", Some("DwAAABYA"))),
            parent_folder_id: Some(FolderId::Id {
                id: "AQMkCalendar".into(),
                change_key: Some(ChangeKey::from("AQAAAA==")),
            }),
            item_class: Some("IPM.Appointment".into()),
            subject: Some("Weekly sync <R&D> \"core\"".into()),
            sensitivity: Some(Sensitivity::Private),
            body: Some(Body {
                body_type: BodyType::Html,
                is_truncated: Some(false),
                content: "<html>\r\n<body>Agenda &amp; notes</body>\r\n</html>\r\n".into(),
            }),
            date_time_received: Some(dt("2026-02-20T08:00:00Z")),
            size: Some(4242),
            categories: Some(vec!["Blue category".into(), "Project X".into()]),
            importance: Some(Importance::High),
            in_reply_to: Some("<abc@contoso.test>".into()),
            is_submitted: Some(false),
            is_draft: Some(false),
            is_from_me: Some(true),
            is_resend: Some(false),
            is_unmodified: Some(false),
            date_time_sent: Some(dt("2026-02-20T08:00:00Z")),
            date_time_created: Some(dt("2026-02-20T07:59:58Z")),
            reminder_due_by: Some(dt("2026-03-02T08:00:00Z")),
            reminder_is_set: Some(true),
            reminder_next_time: Some(dt("2026-03-02T07:45:00Z")),
            reminder_minutes_before_start: Some(15),
            display_cc: Some(String::new()),
            display_to: Some("Bob; Carol".into()),
            has_attachments: Some(false),
            extended_properties: vec![
                ExtendedProperty {
                    field: ExtendedFieldUri::public_string("exbridge-id"),
                    value: ExtendedValue::Single("app-123".into()),
                },
                ExtendedProperty { field: uri_tag, value: ExtendedValue::Multi(vec!["a".into(), "b c".into()]) },
                ExtendedProperty {
                    field: uri_id,
                    value: ExtendedValue::Single("(UTC+01:00) Amsterdam, Berlin".into()),
                },
            ],
            culture: Some("en-US".into()),
            last_modified_name: Some("Alice".into()),
            last_modified_time: Some(dt("2026-02-21T10:00:00Z")),
            is_associated: Some(false),
            web_client_read_form_query_string: Some("?ItemID=AAMk&exvsurl=1&viewmodel=ReadMessageItem".into()),
            web_client_edit_form_query_string: Some("?ItemID=AAMk&exvsurl=1".into()),
            conversation_id: Some(ItemId::new("AAQkConv=", None)),
        },
        uid: Some("040000008200E00074C5B7101A82E00800000000".into()),
        recurrence_id: None,
        date_time_stamp: Some(dt("2026-02-20T08:00:00Z")),
        start: Some(dt("2026-03-02T09:00:00+01:00")),
        end: Some(dt("2026-03-02T09:30:00+01:00")),
        original_start: None,
        is_all_day_event: Some(false),
        legacy_free_busy_status: Some(LegacyFreeBusy::Busy),
        location: Some("Room 1 ".into()),
        when: Some("Mondays and Wednesdays 09:00".into()),
        is_meeting: Some(true),
        is_cancelled: Some(false),
        is_recurring: Some(true),
        meeting_request_was_sent: Some(true),
        is_response_requested: Some(true),
        calendar_item_type: Some(CalendarItemType::RecurringMaster),
        my_response_type: Some(ResponseType::Organizer),
        organizer: Some(SingleRecipient { mailbox: mailbox("alice@contoso.test", "Alice") }),
        required_attendees: Some(vec![
            Attendee {
                mailbox: mailbox("bob@contoso.test", "Bob"),
                response_type: Some(ResponseType::Accept),
                last_response_time: Some(dt("2026-02-20T09:00:00Z")),
                proposed_start: None,
                proposed_end: None,
            },
            Attendee {
                mailbox: EmailAddress { email_address: Some("carol@contoso.test".into()), ..EmailAddress::default() },
                response_type: Some(ResponseType::NoResponseReceived),
                ..Attendee::default()
            },
        ]),
        optional_attendees: Some(vec![Attendee {
            mailbox: mailbox("dave@contoso.test", "Dave"),
            response_type: Some(ResponseType::Tentative),
            last_response_time: Some(dt("2026-02-20T10:00:00Z")),
            proposed_start: Some(dt("2026-03-02T10:00:00+01:00")),
            proposed_end: Some(dt("2026-03-02T10:30:00+01:00")),
        }]),
        resources: Some(vec![Attendee {
            mailbox: mailbox("room1@contoso.test", "Room 1"),
            response_type: Some(ResponseType::Decline),
            ..Attendee::default()
        }]),
        conflicting_meeting_count: Some(0),
        adjacent_meeting_count: Some(1),
        duration: Some(Duration::from_mins(30)),
        time_zone: Some("(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna".into()),
        appointment_reply_time: Some(dt("2026-02-20T09:00:00Z")),
        appointment_sequence_number: Some(3),
        appointment_state: Some(1),
        recurrence: Some(Recurrence {
            pattern: RecurrencePattern::Weekly {
                interval: 1,
                days_of_week: vec![DayOfWeek::Monday, DayOfWeek::Wednesday],
                first_day_of_week: Some(DayOfWeek::Monday),
            },
            range: RecurrenceRange::EndDate {
                start_date: date("2026-03-02+01:00"),
                end_date: date("2026-06-29+02:00"),
            },
        }),
        first_occurrence: Some(OccurrenceInfo {
            item_id: ItemId::new("AAMkOcc1=", Some("DwAAABYB")),
            start: dt("2026-03-02T08:00:00Z"),
            end: dt("2026-03-02T08:30:00Z"),
            original_start: dt("2026-03-02T08:00:00Z"),
        }),
        last_occurrence: Some(OccurrenceInfo {
            item_id: ItemId::new("AAMkOccN=", Some("DwAAABYC")),
            start: dt("2026-06-29T07:00:00Z"),
            end: dt("2026-06-29T07:30:00Z"),
            original_start: dt("2026-06-29T07:00:00Z"),
        }),
        modified_occurrences: Some(vec![OccurrenceInfo {
            item_id: ItemId::new("AAMkExc=", Some("DwAAABYD")),
            start: dt("2026-03-04T09:00:00Z"),
            end: dt("2026-03-04T10:00:00Z"),
            original_start: dt("2026-03-04T08:00:00Z"),
        }]),
        deleted_occurrences: Some(vec![
            DeletedOccurrence { start: dt("2026-03-09T08:00:00Z") },
            DeletedOccurrence { start: dt("2026-03-11T08:00:00Z") },
        ]),
        meeting_time_zone: Some(MeetingTimeZone {
            time_zone_name: Some("W. Europe Standard Time".into()),
            base_offset: Some(Duration::from_mins(-60)),
        }),
        start_time_zone: Some(w_europe()),
        end_time_zone: Some(TimeZoneDefinition { id: Some("W. Europe Standard Time".into()), ..Default::default() }),
        conference_type: Some(0),
        allow_new_time_proposal: Some(true),
        is_online_meeting: Some(false),
        meeting_workspace_url: Some("https://workspace.contoso.test/x".into()),
        net_show_url: Some("https://netshow.contoso.test/y".into()),
        start_time_zone_id: Some("W. Europe Standard Time".into()),
        end_time_zone_id: Some("W. Europe Standard Time".into()),
        intended_free_busy_status: Some(LegacyFreeBusy::Busy),
        join_online_meeting_url: Some("https://meet.contoso.test/z".into()),
        is_organizer: Some(true),
    }
}

/// A modified occurrence (exception) of the rich master.
fn exception() -> CalendarItem {
    CalendarItem {
        item: ItemFields {
            item_id: Some(ItemId::new("AAMkExc=", Some("DwAAABYD"))),
            subject: Some("Weekly sync (moved)".into()),
            ..ItemFields::default()
        },
        uid: Some("040000008200E00074C5B7101A82E00800000000".into()),
        recurrence_id: Some(dt("2026-03-04T08:00:00Z")),
        start: Some(dt("2026-03-04T09:00:00Z")),
        end: Some(dt("2026-03-04T10:00:00Z")),
        original_start: Some(dt("2026-03-04T08:00:00Z")),
        calendar_item_type: Some(CalendarItemType::Exception),
        is_recurring: Some(true),
        ..CalendarItem::default()
    }
}

fn every_calendar_pattern() -> Vec<RecurrencePattern> {
    vec![
        RecurrencePattern::RelativeYearly {
            days_of_week: DayOfWeek::Monday,
            day_of_week_index: DayOfWeekIndex::Last,
            month: Month::May,
        },
        RecurrencePattern::AbsoluteYearly { day_of_month: 14, month: Month::February },
        RecurrencePattern::RelativeMonthly {
            interval: 2,
            days_of_week: DayOfWeek::Weekday,
            day_of_week_index: DayOfWeekIndex::First,
        },
        RecurrencePattern::AbsoluteMonthly { interval: 1, day_of_month: 15 },
        RecurrencePattern::Weekly {
            interval: 2,
            days_of_week: vec![DayOfWeek::Tuesday, DayOfWeek::Thursday, DayOfWeek::Saturday],
            first_day_of_week: None,
        },
        RecurrencePattern::Daily { interval: 3 },
    ]
}

fn every_task_pattern() -> Vec<RecurrencePattern> {
    let mut all = every_calendar_pattern();
    all.extend([
        RecurrencePattern::DailyRegeneration { interval: 1 },
        RecurrencePattern::WeeklyRegeneration { interval: 2 },
        RecurrencePattern::MonthlyRegeneration { interval: 3 },
        RecurrencePattern::YearlyRegeneration { interval: 1 },
    ]);
    all
}

fn every_range() -> Vec<RecurrenceRange> {
    vec![
        RecurrenceRange::NoEnd { start_date: date("2026-01-05") },
        RecurrenceRange::EndDate { start_date: date("2026-01-05"), end_date: date("2026-12-31") },
        RecurrenceRange::Numbered { start_date: date("2026-01-05-08:00"), number_of_occurrences: 10 },
    ]
}

fn tasks() -> Vec<Task> {
    let ranges = every_range();
    every_task_pattern()
        .into_iter()
        .enumerate()
        .map(|(i, pattern)| Task {
            item: ItemFields {
                item_class: Some("IPM.Task".into()),
                subject: Some(format!("Task {i}: {}", pattern.element_name())),
                body: Some(Body::text("do it")),
                categories: Some(vec![]),
                ..ItemFields::default()
            },
            actual_work: Some(30),
            billing_information: Some("internal".into()),
            change_count: Some(2),
            companies: Some(vec!["Contoso".into(), "Fabrikam".into()]),
            complete_date: None,
            contacts: Some(vec!["Bob".into()]),
            due_date: Some(dt("2026-01-10T17:00:00Z")),
            is_complete: Some(false),
            is_recurring: Some(true),
            mileage: Some("12 km".into()),
            owner: Some("Alice".into()),
            percent_complete: Some(if i % 2 == 0 { 12.5 } else { 100.0 }),
            recurrence: Some(Recurrence { pattern, range: ranges[i % ranges.len()].clone() }),
            start_date: Some(dt("2026-01-05T08:00:00Z")),
            status: Some(TaskStatus::ALL[i % TaskStatus::ALL.len()]),
            status_description: Some("Not started".into()),
            total_work: Some(60),
        })
        .collect()
}

fn calendar_items_with_every_pattern() -> Vec<CalendarItem> {
    let ranges = every_range();
    every_calendar_pattern()
        .into_iter()
        .enumerate()
        .map(|(i, pattern)| CalendarItem {
            item: ItemFields { subject: Some(format!("Series {i}")), ..ItemFields::default() },
            start: Some(dt("2026-01-05T09:00:00")),
            end: Some(dt("2026-01-05T10:00:00")),
            recurrence: Some(Recurrence { pattern, range: ranges[i % ranges.len()].clone() }),
            start_time_zone: Some(every_transition_kind()),
            ..CalendarItem::default()
        })
        .collect()
}

fn legacy_pacific() -> SerializableTimeZone {
    SerializableTimeZone {
        bias: 480,
        standard_time: SerializableTimeZoneTime {
            bias: 0,
            time: civil::time(2, 0, 0, 0),
            day_order: 1,
            month: 11,
            day_of_week: Some(TzDay::Sunday),
            year: None,
        },
        daylight_time: SerializableTimeZoneTime {
            bias: -60,
            time: civil::time(2, 0, 0, 0),
            day_order: 2,
            month: 3,
            day_of_week: Some(TzDay::Sunday),
            year: Some(0),
        },
    }
}

/// The GetUserAvailability request sample with its `t:TimeZone` replaced by `tz`.
fn availability_request_with(tz: &SerializableTimeZone) -> String {
    let root = sample("GetUserAvailability.request.xml");
    let body = root.req(soap("Body")).unwrap();
    let req = body.req(m("GetUserAvailabilityRequest")).unwrap();
    let mut w = Writer::with_declaration();
    w.predeclare(&[Ns::Messages, Ns::Types]).start(soap("Envelope"));
    w.start(soap("Body")).start(m("GetUserAvailabilityRequest"));
    for c in &req.children {
        if c.is(t("TimeZone")) {
            tz.to_xml(&mut w, t("TimeZone"));
        } else {
            w.element(c);
        }
    }
    w.end().end().end();
    w.finish()
}

#[test]
fn schema_validity_and_round_trips() {
    let mut docs: Vec<(String, String)> = Vec::new();

    // Constructed items.
    let master = Item::Calendar(rich_master());
    let exc = Item::Calendar(exception());
    assert_eq!(reread(&master), master);
    assert_eq!(reread(&exc), exc);
    docs.push(("rich master + exception".into(), create_item_envelope(&[master, exc], Some(&w_europe()))));

    let series: Vec<Item> = calendar_items_with_every_pattern().into_iter().map(Item::Calendar).collect();
    for s in &series {
        assert_eq!(&reread(s), s);
    }
    docs.push(("every calendar pattern".into(), create_item_envelope(&series, Some(&every_transition_kind()))));

    let tasks: Vec<Item> = tasks().into_iter().map(Item::Task).collect();
    assert_eq!(tasks.len(), 10);
    for task in &tasks {
        assert_eq!(&reread(task), task);
    }
    docs.push(("every task pattern".into(), create_item_envelope(&tasks, None)));

    let other = Item::Other(OtherItem::new(
        "Message",
        ItemFields {
            subject: Some("Hello".into()),
            body: Some(Body::text("Hi")),
            extended_properties: vec![ExtendedProperty {
                field: ExtendedFieldUri::public_string("x"),
                value: ExtendedValue::Single("y".into()),
            }],
            ..ItemFields::default()
        },
    ));
    let back = reread(&other);
    assert_eq!(back, other, "an item built in code equals what reading its XML gives");
    assert!(matches!(&back, Item::Other(o) if o.raw.is_some()));
    assert_eq!(reread(&back), back);
    docs.push(("other item without raw element".into(), create_item_envelope(&[other], None)));

    let legacy = legacy_pacific();
    let mut w = Writer::new();
    legacy.to_xml(&mut w, t("TimeZone"));
    let back = SerializableTimeZone::from_xml(&xml::parse(w.finish().as_bytes()).unwrap()).unwrap();
    assert_eq!(back, legacy);
    docs.push(("legacy time zone".into(), availability_request_with(&legacy)));

    // Every item of every sample, written back.
    let mut count = 0;
    let mut names: Vec<_> = std::fs::read_dir(samples_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".xml"))
        .collect();
    names.sort();
    for name in names {
        let Ok(root) = xml::parse(&std::fs::read(samples_dir().join(&name)).unwrap()) else { continue };
        let items: Vec<Item> = items_in(&root)
            .into_iter()
            .map(|el| Item::read(el).unwrap().unwrap_or_else(|e| panic!("{name}: {e}")))
            .collect();
        if items.is_empty() {
            continue;
        }
        for item in &items {
            assert_eq!(&reread(item), item, "{name}");
        }
        count += items.len();
        docs.push((format!("items of {name}"), create_item_envelope(&items, None)));
    }
    assert!(count >= 40, "only {count} sample items");

    assert_all_valid(&docs);
}

#[test]
fn recurring_master_sample() {
    let items = sample_items("GetItem-CalendarItem-Recurrence.response.xml");
    let c = calendar(&items[0]);
    assert_eq!(c.item.subject.as_deref(), Some("Weekly Update Meeting"));
    assert_eq!(c.calendar_item_type, Some(CalendarItemType::RecurringMaster));
    let r = c.recurrence.as_ref().unwrap();
    assert_eq!(
        r.pattern,
        RecurrencePattern::Weekly { interval: 1, days_of_week: vec![DayOfWeek::Saturday], first_day_of_week: None }
    );
    assert_eq!(r.range, RecurrenceRange::Numbered { start_date: date("2014-03-08-08:00"), number_of_occurrences: 10 });
    assert_eq!(r.range.start_date().offset.unwrap().seconds(), -8 * 3600);
    let first = c.first_occurrence.as_ref().unwrap();
    assert_eq!(first.start, dt("2014-03-08T21:21:00Z"));
    assert_eq!(first.item_id.change_key.as_ref().unwrap().as_str(), "DwAAABY");
    assert_eq!(c.last_occurrence.as_ref().unwrap().original_start, dt("2014-05-10T20:21:00Z"));
    assert_eq!(c.modified_occurrences, None);
}

#[test]
fn all_properties_sample() {
    let items = sample_items("GetItem-CalendarItem-AllProperties.response.xml");
    assert_eq!(items.len(), 1, "conflicting meetings are not items of the response");
    let c = calendar(&items[0]);
    let f = &c.item;
    assert_eq!(f.item_id.as_ref().unwrap().id.as_str(), "ASUAdT");
    assert_eq!(f.parent_folder_id, Some(FolderId::Id { id: "ASUAdT==".into(), change_key: None }));
    assert_eq!(f.item_class.as_deref(), Some("IPM.Appointment"));
    assert_eq!(f.body, Some(Body::text("")));
    assert_eq!(f.size, Some(374));
    assert_eq!(f.reminder_minutes_before_start, Some(15));
    assert_eq!(f.display_cc.as_deref(), Some(""));
    assert_eq!(f.culture.as_deref(), Some("en-US"));
    assert_eq!(c.start, Some(dt("2006-06-16T00:30:00Z")));
    assert_eq!(c.legacy_free_busy_status, Some(LegacyFreeBusy::Busy));
    assert_eq!(c.my_response_type, Some(ResponseType::Organizer));
    let org = &c.organizer.as_ref().unwrap().mailbox;
    assert_eq!(org.email_address.as_deref(), Some("someone@example.com"));
    assert_eq!(c.conflicting_meeting_count, Some(2));
    assert_eq!(c.duration, Some(Duration::from_mins(30)));
    assert_eq!(c.time_zone.as_deref(), Some("Pacific Standard Time"));
    assert_eq!(c.appointment_state, Some(0));
}

#[test]
fn attendees_and_occurrences_samples() {
    let items = sample_items("GetItem-CalendarItem-Batch-Attendees.response.xml");
    assert_eq!(items.len(), 3);
    let third = calendar(&items[2]);
    let att = third.required_attendees.as_ref().unwrap();
    assert_eq!(att.len(), 3);
    assert!(att.iter().all(|a| a.response_type == Some(ResponseType::Unknown)));
    assert_eq!(att[1].mailbox.email_address.as_deref(), Some("Sadie@contoso.com"));
    let body = calendar(&items[0]).item.body.as_ref().unwrap();
    assert_eq!(body.body_type, BodyType::Html);
    assert!(body.content.contains("&lt;html&gt;") && body.content.starts_with('\n'), "{:?}", body.content);

    let occ = sample_items("FindItem-CalendarView-Occurrences.response.xml");
    assert_eq!(occ.len(), 5);
    assert!(occ.iter().all(|i| calendar(i).calendar_item_type == Some(CalendarItemType::Occurrence)));
    assert_eq!(calendar(&occ[4]).start, Some(dt("2014-07-30T15:30:00Z")));

    let meeting = sample_items("CreateItem-Meeting-SendToAllAndSaveCopy.request.xml");
    let c = calendar(&meeting[0]);
    assert_eq!(
        c.optional_attendees.as_ref().unwrap()[0].mailbox.email_address.as_deref(),
        Some("Magdalena.Kemp@contoso.com")
    );
    assert_eq!(
        c.meeting_time_zone,
        Some(MeetingTimeZone { time_zone_name: Some("Pacific Standard Time".into()), base_offset: None })
    );
}

#[test]
fn request_samples_with_offsets_and_time_zones() {
    let items = sample_items("CreateItem-RecurringMeeting.request.xml");
    let c = calendar(&items[0]);
    let start = c.start.unwrap();
    assert_eq!(start.offset.unwrap().seconds(), -8 * 3600);
    assert_eq!(start.civil.subsec_nanosecond(), 868_000_000);
    assert_eq!(start.timestamp().unwrap().to_string(), "2014-03-08T21:21:32.868Z");
    assert_eq!(c.item.reminder_minutes_before_start, Some(30));
    assert_eq!(c.required_attendees.as_ref().unwrap().len(), 3);

    let items = sample_items("CreateItem-Appointment-StartTimeZone-ExtendedProperty.request.xml");
    let c = calendar(&items[0]);
    assert_eq!(c.start.unwrap().offset, None, "a floating start, interpreted in StartTimeZone");
    assert_eq!(c.start_time_zone.as_ref().unwrap().id.as_deref(), Some("Central Standard Time"));
    assert!(c.start_time_zone.as_ref().unwrap().periods.is_empty());
    assert_eq!(c.end_time_zone.as_ref().unwrap().id.as_deref(), Some("Central Standard Time"));
    let prop = &c.item.extended_properties[0];
    assert_eq!(prop.field.distinguished_property_set_id, Some(DistinguishedPropertySet::Appointment));
    assert_eq!(prop.field.property_id, Some(33332));
    assert_eq!(prop.value, ExtendedValue::Single("(UTC-06:00) Central Time (US & Canada)".into()));
    assert_eq!(c.item.body.as_ref().unwrap().content, "Time zone: (UTC-06:00) Central Time (US &amp; Canada)");

    let items = sample_items("UpdateItem-StartEndTimeZone-WithStartEnd.request.xml");
    assert_eq!(items.len(), 4);
    assert_eq!(calendar(&items[0]).start_time_zone.as_ref().unwrap().id.as_deref(), Some("Central Standard Time"));
    assert_eq!(calendar(&items[2]).start, Some(dt("2014-06-20T17:00:00Z")));

    let items = sample_items("UpdateItem-SetItemField.request.xml");
    assert_eq!(items[0].kind(), "Message");
    assert_eq!(items[0].fields().sensitivity, Some(Sensitivity::Normal));

    let items = sample_items("CreateItem-CancelCalendarItem.request.xml");
    assert_eq!(items[0].kind(), "CancelCalendarItem");
}

#[test]
fn time_zone_context_samples() {
    let root = sample("CreateItem-RecurringMeeting.request.xml");
    let def_el =
        root.req(soap("Header")).unwrap().req(t("TimeZoneContext")).unwrap().req(t("TimeZoneDefinition")).unwrap();
    let def = TimeZoneDefinition::from_xml(def_el).unwrap();
    assert_eq!(def.id.as_deref(), Some("Pacific Standard Time"));
    assert_eq!(def.name.as_deref(), Some("(UTC-08:00) Pacific Time (US &amp; Canada)"));
    assert_eq!(def.periods.len(), 3);
    assert_eq!(
        def.periods[0],
        Period { bias: SignedDuration::from_hours(8), name: "Standard".into(), id: "Std".into() }
    );
    assert_eq!(def.transitions_groups.len(), 2);
    assert_eq!(
        def.transitions_groups[0].transitions[1],
        Transition::RecurringDay {
            to: TransitionTarget::period("Std"),
            time_offset: SignedDuration::from_hours(2),
            month: 10,
            day_of_week: TzDay::Sunday,
            occurrence: -1,
        }
    );
    let tr = def.transitions.as_ref().unwrap();
    assert_eq!(tr.transition, TransitionTarget::group("0"));
    assert_eq!(
        tr.transitions,
        vec![Transition::AbsoluteDate {
            offset: Some(jiff::tz::Offset::UTC),
            to: TransitionTarget::group("1"),
            date_time: civil::date(2007, 1, 1).at(8, 0, 0, 0)
        }]
    );
    let zone = def.to_time_zone().unwrap();
    let summer = jiff::Timestamp::from_second(1_784_000_000).unwrap(); // 2026-07
    assert_eq!(zone.to_offset(summer).seconds(), -7 * 3600);

    // Writing and reading back keeps it whole.
    let mut w = Writer::new();
    def.to_xml(&mut w, t("TimeZoneDefinition"));
    let back = TimeZoneDefinition::from_xml(&xml::parse(w.finish().as_bytes()).unwrap()).unwrap();
    assert_eq!(back, def);

    let root = sample("GetItem-CalendarItem-Batch-Attendees.request.xml");
    let def_el =
        root.req(soap("Header")).unwrap().req(t("TimeZoneContext")).unwrap().req(t("TimeZoneDefinition")).unwrap();
    let def = TimeZoneDefinition::from_xml(def_el).unwrap();
    assert_eq!(def, TimeZoneDefinition { id: Some("Pacific Standard Time".into()), ..Default::default() });
}

#[test]
fn legacy_time_zone_samples() {
    let root = sample("GetUserAvailability.request.xml");
    let tz_el =
        root.req(soap("Body")).unwrap().req(m("GetUserAvailabilityRequest")).unwrap().req(t("TimeZone")).unwrap();
    let tz = SerializableTimeZone::from_xml(tz_el).unwrap();
    assert_eq!(tz.bias, 480);
    assert_eq!(tz.standard_time.day_order, 5);
    assert_eq!(tz.standard_time.month, 10);
    assert_eq!(tz.daylight_time.bias, -60);
    assert_eq!(tz.daylight_time.time, civil::time(2, 0, 0, 0));
    assert_eq!(tz.daylight_time.day_of_week, Some(TzDay::Sunday));
    assert_eq!(tz.daylight_time.year, None);

    let root = sample("GetUserAvailability.response.xml");
    let mut found = Vec::new();
    fn walk<'a>(el: &'a Element, out: &mut Vec<&'a Element>) {
        for c in &el.children {
            if c.is(t("WorkingHours")) {
                out.push(c.req(t("TimeZone")).unwrap());
            }
            walk(c, out);
        }
    }
    walk(&root, &mut found);
    assert!(!found.is_empty());
    for el in found {
        assert_eq!(SerializableTimeZone::from_xml(el).unwrap(), tz);
    }
}

#[test]
fn other_items_keep_their_element() {
    let items = sample_items("GetItem-MeetingResponse-Exchange2016.response.xml");
    let Item::Other(o) = &items[0] else { panic!("not an other item") };
    assert_eq!(o.kind, "MeetingResponse");
    assert_eq!(o.fields.item_class.as_deref(), Some("IPM.Schedule.Meeting.Resp.Tent"));
    assert_eq!(o.fields.subject.as_deref(), Some("New Time Proposed: something 2"));
    assert_eq!(o.fields.reminder_next_time, Some(dt("2019-01-31T10:15:00Z")));
    let body = o.fields.body.as_ref().unwrap();
    assert_eq!(body.is_truncated, Some(false));
    assert!(body.content.starts_with("<html>\r\n"));
    let raw = o.raw.as_ref().unwrap();
    let uid = raw.req(t("UID")).unwrap();
    assert_eq!(
        uid.text,
        "040000008200E00074C5B7101A82E00800000000275B68894FB9D4010000000000000000100000003C04B5365B02D34ABCD1016A0AABA716"
    );
    assert_eq!(raw.req(t("ProposedStart")).unwrap().value::<DateTime>().unwrap(), dt("2019-01-31T12:00:00Z"));
    assert_eq!(raw.req(t("ResponseType")).unwrap().value::<ResponseType>().unwrap(), ResponseType::Tentative);

    // Written back: every child, same order, same content.
    let mut w = Writer::new();
    items[0].write(&mut w);
    let written = xml::parse(w.finish().as_bytes()).unwrap();
    let names = |e: &Element| e.children.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&written), names(raw));
    assert_eq!(names(&written).len(), 55);
    assert_eq!(
        written.req(t("AssociatedCalendarItemId")).unwrap().attr("ChangeKey"),
        Some("DwAAABYAAAAPKhbVptluTr8d74Dnvry0AAAQRDZR")
    );

    let sync = sample_items("SyncFolderItems-Incremental-CreateUpdateDelete.response.xml");
    assert_eq!(sync.len(), 3);
    assert!(sync.iter().all(|i| i.kind() == "Message"));
    assert_eq!(sync[1].item_id().unwrap().id.as_str(), "AQMkAD+");
    assert_eq!(sync[0].fields().last_modified_name.as_deref(), Some("Mara  Whitley"));
}

/// Reads the items of `<m:Items>` + fragment.
fn read_fragment(fragment: &str) -> Result<Vec<Item>> {
    let doc = format!("<m:Items xmlns:m=\"{}\" xmlns:t=\"{}\">{fragment}</m:Items>", Ns::MESSAGES_URI, Ns::TYPES_URI);
    Item::read_all(&xml::parse(doc.as_bytes()).unwrap())
}

#[track_caller]
fn assert_err(fragment: &str, path: &str, what: &str) {
    let err = read_fragment(fragment).expect_err(fragment);
    let msg = err.to_string();
    assert_eq!(err.path(), path, "{msg}");
    assert!(msg.contains(what), "{msg} does not mention {what}");
}

#[test]
fn errors_name_the_path() {
    assert_err(
        "<t:CalendarItem><t:Start>not a date</t:Start></t:CalendarItem>",
        "/m:Items/t:CalendarItem/t:Start",
        "xs:dateTime",
    );
    assert_err(
        "<t:CalendarItem><t:RequiredAttendees><t:Attendee><t:ResponseType>Accept</t:ResponseType></t:Attendee></t:RequiredAttendees></t:CalendarItem>",
        "/m:Items/t:CalendarItem/t:RequiredAttendees/t:Attendee",
        "missing element t:Mailbox",
    );
    assert_err(
        "<t:CalendarItem><t:MyResponseType>Maybe</t:MyResponseType></t:CalendarItem>",
        "/m:Items/t:CalendarItem/t:MyResponseType",
        "NoResponseReceived",
    );
    assert_err("<t:Message><t:Body>x</t:Body></t:Message>", "/m:Items/t:Message/t:Body", "attribute BodyType");
    assert_err(
        "<t:Message><t:ParentFolderId ChangeKey=\"x\"/></t:Message>",
        "/m:Items/t:Message/t:ParentFolderId",
        "attribute Id",
    );
    assert_err(
        "<t:CalendarItem><t:Recurrence><t:DailyRecurrence><t:Interval>1</t:Interval></t:DailyRecurrence></t:Recurrence></t:CalendarItem>",
        "/m:Items/t:CalendarItem/t:Recurrence",
        "recurrence range",
    );
    assert_err(
        "<t:CalendarItem><t:Recurrence><t:DailyRegeneration><t:Interval>1</t:Interval></t:DailyRegeneration><t:NoEndRecurrence><t:StartDate>2026-01-01</t:StartDate></t:NoEndRecurrence></t:Recurrence></t:CalendarItem>",
        "/m:Items/t:CalendarItem/t:Recurrence",
        "tasks only",
    );
    assert_err(
        "<t:CalendarItem><t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday Funday</t:DaysOfWeek></t:WeeklyRecurrence><t:NoEndRecurrence><t:StartDate>2026-01-01</t:StartDate></t:NoEndRecurrence></t:Recurrence></t:CalendarItem>",
        "/m:Items/t:CalendarItem/t:Recurrence/t:WeeklyRecurrence/t:DaysOfWeek",
        "space-separated",
    );
    assert_err(
        "<t:CalendarItem><t:Recurrence><t:AbsoluteMonthlyRecurrence><t:Interval>1</t:Interval></t:AbsoluteMonthlyRecurrence><t:NoEndRecurrence><t:StartDate>2026-01-01</t:StartDate></t:NoEndRecurrence></t:Recurrence></t:CalendarItem>",
        "/m:Items/t:CalendarItem/t:Recurrence/t:AbsoluteMonthlyRecurrence",
        "missing element t:DayOfMonth",
    );
    assert_err(
        "<t:CalendarItem><t:Recurrence><t:DailyRecurrence><t:Interval>1</t:Interval></t:DailyRecurrence><t:EndDateRecurrence><t:StartDate>2026-01-01</t:StartDate><t:EndDate>soon</t:EndDate></t:EndDateRecurrence></t:Recurrence></t:CalendarItem>",
        "/m:Items/t:CalendarItem/t:Recurrence/t:EndDateRecurrence/t:EndDate",
        "xs:date",
    );
    assert_err(
        "<t:CalendarItem><t:FirstOccurrence><t:ItemId Id=\"a\"/><t:Start>2026-01-01T00:00:00Z</t:Start></t:FirstOccurrence></t:CalendarItem>",
        "/m:Items/t:CalendarItem/t:FirstOccurrence",
        "missing element t:End",
    );
    assert_err(
        "<t:Task><t:PercentComplete>150</t:PercentComplete></t:Task>",
        "/m:Items/t:Task/t:PercentComplete",
        "0 to 100",
    );
    assert_err(
        "<t:Task><t:PercentComplete>NaN</t:PercentComplete></t:Task>",
        "/m:Items/t:Task/t:PercentComplete",
        "0 to 100",
    );
    assert_err(
        "<t:Item><t:ExtendedProperty><t:ExtendedFieldURI PropertyTag=\"0x1\" PropertyType=\"String\"/></t:ExtendedProperty></t:Item>",
        "/m:Items/t:Item/t:ExtendedProperty",
        "t:Value or t:Values",
    );
    assert_err(
        "<t:Item><t:ExtendedProperty><t:ExtendedFieldURI PropertyTag=\"0x1\" PropertyType=\"String\"/><t:Values/></t:ExtendedProperty></t:Item>",
        "/m:Items/t:Item/t:ExtendedProperty/t:Values",
        "missing element t:Value",
    );
    assert_err(
        "<t:CalendarItem><t:StartTimeZone Id=\"X\"><t:Periods><t:Period Name=\"Standard\" Id=\"Std\"/></t:Periods></t:StartTimeZone></t:CalendarItem>",
        "/m:Items/t:CalendarItem/t:StartTimeZone/t:Periods/t:Period",
        "attribute Bias",
    );
    assert_err(
        "<t:CalendarItem><t:StartTimeZone><t:Periods><t:Period Bias=\"8 hours\" Name=\"Standard\" Id=\"Std\"/></t:Periods></t:StartTimeZone></t:CalendarItem>",
        "/m:Items/t:CalendarItem/t:StartTimeZone/t:Periods/t:Period/@Bias",
        "xs:duration",
    );
    assert_err(
        "<t:CalendarItem><t:EndTimeZone><t:TransitionsGroups><t:TransitionsGroup Id=\"0\"><t:Transition><t:To Kind=\"Zone\">Std</t:To></t:Transition></t:TransitionsGroup></t:TransitionsGroups></t:EndTimeZone></t:CalendarItem>",
        "/m:Items/t:CalendarItem/t:EndTimeZone/t:TransitionsGroups/t:TransitionsGroup/t:Transition/t:To/@Kind",
        "Period, Group",
    );
    assert_err(
        "<t:CalendarItem><t:EndTimeZone><t:TransitionsGroups><t:TransitionsGroup Id=\"0\"><t:RecurringDayTransition><t:To Kind=\"Period\">Std</t:To><t:TimeOffset>PT2H</t:TimeOffset><t:Month>3</t:Month><t:DayOfWeek>Sun</t:DayOfWeek><t:Occurrence>1</t:Occurrence></t:RecurringDayTransition></t:TransitionsGroup></t:TransitionsGroups></t:EndTimeZone></t:CalendarItem>",
        "/m:Items/t:CalendarItem/t:EndTimeZone/t:TransitionsGroups/t:TransitionsGroup/t:RecurringDayTransition/t:DayOfWeek",
        "Sunday",
    );
    assert_err(
        "<t:CalendarItem><t:StartTimeZone><t:Transitions><t:AbsoluteDateTransition><t:To Kind=\"Group\">0</t:To><t:DateTime>2007-01-01T00:00:00</t:DateTime></t:AbsoluteDateTransition></t:Transitions></t:StartTimeZone></t:CalendarItem>",
        "/m:Items/t:CalendarItem/t:StartTimeZone/t:Transitions",
        "initial transition",
    );
    // Not an item at all.
    assert_err("<t:ItemId Id=\"a\"/>", "/m:Items/t:ItemId", "an item element");
    assert_err("<m:CalendarItem/>", "/m:Items/m:CalendarItem", "an item element");

    let legacy = xml::parse(
        format!("<t:TimeZone xmlns:t=\"{}\"><t:Bias>480</t:Bias><t:DaylightTime/></t:TimeZone>", Ns::TYPES_URI)
            .as_bytes(),
    )
    .unwrap();
    let err = SerializableTimeZone::from_xml(&legacy).unwrap_err();
    assert!(err.to_string().contains("missing element t:StandardTime at /t:TimeZone"), "{err}");
}

#[test]
fn reading_is_lenient_about_unknown_elements() {
    let items = read_fragment(
        "<t:CalendarItem><t:Future>1</t:Future><t:Subject> padded </t:Subject><t:EnhancedLocation><t:DisplayName>x</t:DisplayName></t:EnhancedLocation></t:CalendarItem><t:Contact><t:Subject>c</t:Subject><t:GivenName>Al</t:GivenName></t:Contact>",
    )
    .unwrap();
    assert_eq!(calendar(&items[0]).item.subject.as_deref(), Some(" padded "));
    assert_eq!(items[1].kind(), "Contact");
    assert_eq!(items[1].fields().subject.as_deref(), Some("c"));
    assert!(read_fragment("").unwrap().is_empty());

    // Unmodelled content still counts when comparing items read from XML.
    let two = read_fragment(
        "<t:Message><t:Subject>a</t:Subject><t:IsRead>true</t:IsRead></t:Message><t:Message><t:Subject>a</t:Subject><t:IsRead>false</t:IsRead></t:Message>",
    )
    .unwrap();
    assert_eq!(two[0].fields(), two[1].fields());
    assert_ne!(two[0], two[1]);

    // Not item elements: `read` says so without an error.
    let el = xml::parse(format!("<m:Message xmlns:m=\"{}\"/>", Ns::MESSAGES_URI).as_bytes()).unwrap();
    assert!(Item::read(&el).is_none());
}

#[test]
fn writer_output_order_and_forms() {
    let mut w = Writer::new();
    Item::Calendar(rich_master()).write(&mut w);
    let s = w.finish();
    // Schema order: ItemType fields before calendar fields, time zones after occurrences.
    let pos = |needle: &str| s.find(needle).unwrap_or_else(|| panic!("{needle} missing in {s}"));
    assert!(pos("<t:ItemId") < pos("<t:ParentFolderId"));
    assert!(pos("<t:ConversationId") < pos("<t:UID>"));
    assert!(pos("<t:DeletedOccurrences>") < pos("<t:MeetingTimeZone"));
    assert!(pos("<t:MeetingTimeZone") < pos("<t:StartTimeZone"));
    assert!(pos("<t:StartTimeZoneId>") < pos("<t:IsOrganizer>"));
    assert!(s.contains("<t:DaysOfWeek>Monday Wednesday</t:DaysOfWeek>"));
    assert!(
        s.contains("<t:Categories><t:String>Blue category</t:String><t:String>Project X</t:String></t:Categories>")
    );
    assert!(s.contains("<t:Period Bias=\"-PT1H\" Name=\"Standard\" Id=\"Std\"/>"));
    assert!(s.contains("<t:To Kind=\"Group\">0</t:To>"));
    assert!(s.contains("<t:Duration>PT30M</t:Duration>"));
    assert!(s.contains("<t:StartDate>2026-03-02+01:00</t:StartDate>"));
    assert!(s.contains("&#13;"), "carriage returns in the body are escaped");

    // Empty non-empty-array wrappers are left out.
    let c = CalendarItem {
        required_attendees: Some(vec![]),
        modified_occurrences: Some(vec![]),
        start_time_zone: Some(TimeZoneDefinition { id: Some("UTC".into()), ..Default::default() }),
        ..CalendarItem::default()
    };
    let mut w = Writer::new();
    Item::Calendar(c).write(&mut w);
    assert_eq!(
        w.finish(),
        format!("<t:CalendarItem xmlns:t=\"{}\"><t:StartTimeZone Id=\"UTC\"/></t:CalendarItem>", Ns::TYPES_URI)
    );
}
