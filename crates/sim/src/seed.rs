//! Deterministic mailboxes and calendars from a seed.
//!
//! `(seed, mailboxes N, events_per_mailbox M, domain, anchor)` always gives the same store
//! content, byte for byte (ids, UIDs, change keys, every field): see the `determinism` tests.
//!
//! * **Randomness.** A hand-written splitmix64 generator, one stream per mailbox seeded from
//!   `(seed, mailbox number)`. Chosen over `rand`/`rand_chacha` because the output must stay
//!   identical across dependency upgrades (`rand`'s range sampling has changed between
//!   versions), it needs no dependency, and it is fast (one multiply-xorshift per number).
//!   Quality is ample for test data. Per-mailbox streams make mailboxes independent (seeding
//!   runs on all cores) and the content of `user7` does not depend on the order of seeding.
//! * **Time.** Everything is placed relative to an *anchor* date (UTC): events from about two
//!   weeks before to four weeks after it, recurring series started up to four months before.
//!   [`SeedConfig::new`] anchors on today (UTC), so the demo shows a live-looking calendar;
//!   tests set [`SeedConfig::anchor`] to a fixed date, and the same anchor gives the same bytes.
//!   No wall-clock time enters the seeded data (creation times are derived from the anchor).
//! * **Users.** `user1@DOMAIN` … `userN@DOMAIN`, display names from a 100 × 100 table of first
//!   and last names (unique up to 10,000 users), aliases `first.last@DOMAIN` (with the number
//!   appended past 10,000) and `uN@alias.DOMAIN`, a time zone each from several Windows zones.
//! * **Calendars.** Per mailbox M calendar items: single appointments, all-day events, private
//!   items, meetings the user organizes and meetings from colleagues (attendees are other
//!   simulator users, with response types), with Teams, Zoom and Webex join links in location or
//!   body, and ordinary URLs that are not meeting links; recurring daily, weekly, monthly and
//!   yearly series, some with modified and deleted occurrences; some items in a zone other than
//!   the mailbox's. The first twelve items of each mailbox cycle through every kind, so every
//!   mailbox with `M ≥ 12` has each kind. Plus a few tasks.

use std::sync::Arc;

use ews_proto::items::{
    DayOfWeek, DayOfWeekIndex, Importance, LegacyFreeBusy, Month, Recurrence, RecurrencePattern, RecurrenceRange,
    ResponseType, Sensitivity, TaskStatus,
};
use ews_proto::values::Date as XDate;
use jiff::civil::{self, Date};
use jiff::{SignedDuration, Timestamp};

use crate::store::item::{
    AttendeeData, BodyData, CalData, ExceptionData, External, Identity, Person, RecurrenceData, Role, Stored, TaskData,
};
use crate::store::{FolderKind, Mailbox, MailboxSpec, Store, StoreConfig, StoreError, Zone};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedConfig {
    pub seed: u64,
    pub mailboxes: u32,
    pub events_per_mailbox: u32,
    pub tasks_per_mailbox: u32,
    pub domain: String,
    /// The day the calendars are built around (UTC).
    pub anchor: Date,
}

impl SeedConfig {
    /// Anchored on today (UTC); three tasks per mailbox.
    pub fn new(seed: u64, mailboxes: u32, events_per_mailbox: u32, domain: impl Into<String>) -> Self {
        SeedConfig {
            seed,
            mailboxes,
            events_per_mailbox,
            tasks_per_mailbox: 3,
            domain: domain.into(),
            anchor: Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date(),
        }
    }

    /// The same, anchored on a fixed date (tests).
    pub fn with_anchor(mut self, anchor: Date) -> Self {
        self.anchor = anchor;
        self
    }
}

/// A new store holding the seeded mailboxes (ids keyed from the seed).
pub fn seeded_store(config: &SeedConfig) -> Result<Store, StoreError> {
    let store = Store::new(StoreConfig::from_seed(config.seed));
    populate(&store, config)?;
    Ok(store)
}

/// Adds the seeded mailboxes and their items to a store (in parallel on all cores).
pub fn populate(store: &Store, config: &SeedConfig) -> Result<(), StoreError> {
    let alias_domain = format!("alias.{}", config.domain);
    let mut mailboxes = Vec::with_capacity(config.mailboxes as usize);
    for n in 1..=config.mailboxes {
        let mut rng = Rng::for_mailbox(config.seed, n);
        let (first, last) = person_name(config.seed, n);
        let alias = if n <= 10_000 {
            format!("{}.{}@{}", first.to_ascii_lowercase(), last.to_ascii_lowercase(), config.domain)
        } else {
            format!("{}.{}{}@{}", first.to_ascii_lowercase(), last.to_ascii_lowercase(), n, config.domain)
        };
        let spec = MailboxSpec {
            smtp: format!("user{n}@{}", config.domain),
            aliases: vec![alias, format!("u{n}@{alias_domain}")],
            display_name: Some(format!("{first} {last}")),
            time_zone: Some(rng.weighted(MAILBOX_ZONES).to_string()),
        };
        mailboxes.push(store.add_mailbox_numbered(spec, Some(n))?);
    }
    let identities: Vec<Arc<Identity>> = mailboxes.iter().map(|m| m.identity().clone()).collect();
    let zones: Vec<Arc<Zone>> = MAILBOX_ZONES.iter().map(|(z, _)| store.zone(z)).collect::<Result<_, _>>()?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 16);
    let chunk = mailboxes.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for part in mailboxes.chunks(chunk) {
            let (identities, zones) = (&identities, &zones);
            s.spawn(move || {
                for mb in part {
                    seed_mailbox(store, mb, config, identities, zones);
                }
            });
        }
    });
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The generator

/// splitmix64 (Steele, Lea, Flood 2014): a 64-bit counter through a strong finaliser.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn for_mailbox(seed: u64, mailbox: u32) -> Self {
        let mut r = Rng(seed ^ 0xa076_1d64_78bd_642f);
        r.0 ^= u64::from(mailbox).wrapping_mul(0xe703_7ed1_a0b4_28db);
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d4_9bb1_3311_49eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn weighted<'a, T>(&mut self, items: &'a [(T, u64)]) -> &'a T {
        let total: u64 = items.iter().map(|(_, w)| w).sum();
        let mut x = self.below(total);
        for (item, w) in items {
            if x < *w {
                return item;
            }
            x -= w;
        }
        &items[items.len() - 1].0
    }
}

// ---------------------------------------------------------------------------------------------
// Vocabulary

const MAILBOX_ZONES: &[(&str, u64)] = &[
    ("W. Europe Standard Time", 28),
    ("GMT Standard Time", 10),
    ("Romance Standard Time", 6),
    ("Eastern Standard Time", 14),
    ("Pacific Standard Time", 10),
    ("Central Standard Time", 5),
    ("India Standard Time", 10),
    ("Tokyo Standard Time", 5),
    ("AUS Eastern Standard Time", 6),
    ("E. South America Standard Time", 3),
    ("UTC", 3),
];

const FIRST: [&str; 100] = [
    "Adele",
    "Alex",
    "Amara",
    "Anders",
    "Ana",
    "Arjun",
    "Astrid",
    "Ben",
    "Bianca",
    "Carlos",
    "Chen",
    "Chloe",
    "Dana",
    "Daniel",
    "Dmitri",
    "Elena",
    "Emeka",
    "Emma",
    "Erik",
    "Fatima",
    "Felix",
    "Fiona",
    "Gabriel",
    "Grace",
    "Hana",
    "Hannah",
    "Hiro",
    "Ines",
    "Isaac",
    "Ivy",
    "Jakob",
    "James",
    "Jana",
    "Javier",
    "Jin",
    "Julia",
    "Kai",
    "Karin",
    "Kenji",
    "Lara",
    "Leo",
    "Lina",
    "Lucas",
    "Lukas",
    "Maja",
    "Marco",
    "Maria",
    "Mateo",
    "Mei",
    "Mia",
    "Mohammed",
    "Nadia",
    "Nico",
    "Nina",
    "Noah",
    "Nora",
    "Olga",
    "Oliver",
    "Omar",
    "Paula",
    "Pedro",
    "Priya",
    "Rafael",
    "Rania",
    "Ravi",
    "Rosa",
    "Ryan",
    "Sakura",
    "Sam",
    "Sara",
    "Sean",
    "Sofia",
    "Sven",
    "Tariq",
    "Tess",
    "Theo",
    "Tom",
    "Uma",
    "Valentina",
    "Victor",
    "Wei",
    "Xavier",
    "Yara",
    "Yusuf",
    "Zoe",
    "Aisha",
    "Bruno",
    "Clara",
    "Diego",
    "Eva",
    "Frank",
    "Greta",
    "Hugo",
    "Ida",
    "Jonas",
    "Kim",
    "Liam",
    "Milan",
    "Olivia",
    "Pablo",
];

const LAST: [&str; 100] = [
    "Adams",
    "Alvarez",
    "Andersen",
    "Bauer",
    "Becker",
    "Berg",
    "Brown",
    "Campbell",
    "Chen",
    "Costa",
    "Cruz",
    "Dubois",
    "Eriksson",
    "Fischer",
    "Fontaine",
    "Garcia",
    "Gupta",
    "Hall",
    "Hansen",
    "Hoffmann",
    "Ito",
    "Jansen",
    "Johansson",
    "Jones",
    "Kato",
    "Keller",
    "Khan",
    "Kim",
    "Klein",
    "Kowalski",
    "Krause",
    "Larsen",
    "Laurent",
    "Lee",
    "Lopez",
    "Martin",
    "Meyer",
    "Miller",
    "Moreau",
    "Muller",
    "Nakamura",
    "Nguyen",
    "Nielsen",
    "Novak",
    "Okafor",
    "Olsen",
    "Patel",
    "Perez",
    "Petrov",
    "Quinn",
    "Ramos",
    "Reddy",
    "Richter",
    "Rossi",
    "Sato",
    "Schmidt",
    "Schneider",
    "Schulz",
    "Silva",
    "Singh",
    "Smith",
    "Sousa",
    "Suzuki",
    "Svensson",
    "Tanaka",
    "Taylor",
    "Thomas",
    "Torres",
    "Tran",
    "Vargas",
    "Vogel",
    "Wagner",
    "Walker",
    "Wang",
    "Weber",
    "White",
    "Wilson",
    "Wolf",
    "Wong",
    "Yamamoto",
    "Young",
    "Zhang",
    "Zimmermann",
    "Ahmed",
    "Bianchi",
    "Castro",
    "Dias",
    "Evans",
    "Ferrari",
    "Gomez",
    "Horvat",
    "Ivanova",
    "Jovanovic",
    "Kaur",
    "Lindqvist",
    "Mendes",
    "Nowak",
    "Ortiz",
    "Popescu",
    "Romano",
];

/// A unique (first, last) name per user up to 10,000 users, permuted by the seed.
fn person_name(seed: u64, n: u32) -> (&'static str, &'static str) {
    let offset = seed % 10_000;
    let idx = ((u64::from(n) - 1) * 7919 + offset) % 10_000;
    (FIRST[(idx % 100) as usize], LAST[(idx / 100) as usize])
}

const TOPICS: &[&str] = &[
    "Project Falcon",
    "Q3 planning",
    "Budget review",
    "Customer onboarding",
    "Release 4.2",
    "Hiring loop",
    "Design review",
    "Security audit",
    "Marketing sync",
    "Board preparation",
    "Data migration",
    "Partner program",
    "Roadmap",
    "Incident review",
    "Sales pipeline",
    "Website relaunch",
    "Vendor selection",
    "Compliance training",
];

const ROOMS: &[&str] = &[
    "Room 1.01",
    "Room 2.14",
    "Conference room Alpha",
    "Conference room Orion",
    "Building 7 / Atrium",
    "Cafeteria",
    "Customer site",
    "Board room",
];

/// Ordinary links that are *not* meeting links (some on meeting providers' hosts).
const PLAIN_URLS: &[&str] = &[
    "https://intranet.contoso.com/wiki/Quarterly-Planning",
    "https://docs.contoso.com/sites/projects/Shared%20Documents/agenda.docx",
    "https://teams.microsoft.com/l/channel/19%3a4f1d2c7e%40thread.tacv2/General?groupId=7c1e",
    "https://zoom.us/download",
    "https://www.webex.com/downloads.html",
    "https://maps.example.com/?q=Contoso+Conference+Center",
    "https://github.com/contoso/roadmap/issues/42",
];

const CATEGORIES: &[&str] = &["Blue category", "Red category", "Green category", "Project", "Customer"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provider {
    Teams,
    Zoom,
    Webex,
}

fn join_link(rng: &mut Rng, provider: Provider) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut token = |len: usize| -> String { (0..len).map(|_| *rng.pick(ALNUM) as char).collect() };
    match provider {
        Provider::Teams => {
            let thread = token(40);
            let tid = token(8);
            format!(
                "https://teams.microsoft.com/l/meetup-join/19%3ameeting_{thread}%40thread.v2/0?context=%7b%22Tid%22%3a%22{tid}%22%7d"
            )
        }
        Provider::Zoom => {
            let pwd = token(22);
            let id = rng.range(10_000_000_000, 99_999_999_999);
            format!("https://contoso.zoom.us/j/{id}?pwd={pwd}")
        }
        Provider::Webex => {
            let room = token(10).to_ascii_lowercase();
            format!("https://contoso.webex.com/meet/{room}")
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Items

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Single,
    AllDay,
    Private,
    Organized,
    Received,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

/// The first items of every mailbox, so each kind is present.
const CYCLE: [Kind; 12] = [
    Kind::Single,
    Kind::Organized,
    Kind::Weekly,
    Kind::AllDay,
    Kind::Received,
    Kind::Daily,
    Kind::Private,
    Kind::Monthly,
    Kind::Organized,
    Kind::Yearly,
    Kind::Received,
    Kind::Weekly,
];

const KINDS: &[(Kind, u64)] = &[
    (Kind::Single, 26),
    (Kind::AllDay, 7),
    (Kind::Private, 6),
    (Kind::Organized, 17),
    (Kind::Received, 14),
    (Kind::Daily, 5),
    (Kind::Weekly, 14),
    (Kind::Monthly, 7),
    (Kind::Yearly, 4),
];

struct Ctx<'a> {
    rng: Rng,
    me: &'a Arc<Identity>,
    identities: &'a [Arc<Identity>],
    zone: Arc<Zone>,
    zones: &'a [Arc<Zone>],
    anchor: Date,
    /// Creation times count up from here.
    created_base: Timestamp,
}

impl Ctx<'_> {
    fn local(&self, zone: &Zone, d: Date, h: i8, m: i8) -> Timestamp {
        zone.tz
            .to_ambiguous_timestamp(d.to_datetime(civil::time(h, m, 0, 0)))
            .compatible()
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn day(&self, offset: i64) -> Date {
        self.anchor.checked_add(jiff::Span::new().days(offset)).unwrap_or(self.anchor)
    }

    fn weekday_near(&self, offset: i64) -> Date {
        let d = self.day(offset);
        match d.weekday() {
            jiff::civil::Weekday::Saturday => d.checked_add(jiff::Span::new().days(2)).unwrap_or(d),
            jiff::civil::Weekday::Sunday => d.tomorrow().unwrap_or(d),
            _ => d,
        }
    }

    fn colleague(&mut self) -> Option<Arc<Identity>> {
        if self.identities.len() < 2 {
            return None;
        }
        loop {
            let c = self.rng.pick(self.identities);
            if c.number != self.me.number {
                return Some(c.clone());
            }
        }
    }

    fn topic(&mut self) -> &'static str {
        let i = self.rng.below(TOPICS.len() as u64) as usize;
        TOPICS[i]
    }

    fn item_zone(&mut self) -> Arc<Zone> {
        if self.rng.chance(12) { self.rng.pick(self.zones).clone() } else { self.zone.clone() }
    }

    fn attendees(&mut self, organizer: Option<&Arc<Identity>>) -> Vec<AttendeeData> {
        let mut out: Vec<AttendeeData> = Vec::new();
        let n = self.rng.range(1, 5);
        for _ in 0..n {
            let Some(c) = self.colleague() else { break };
            if organizer.is_some_and(|o| o.number == c.number)
                || out.iter().any(|a| a.person.email() == c.smtp.as_str())
            {
                continue;
            }
            out.push(AttendeeData {
                person: Person::Local(c),
                role: if self.rng.chance(20) { Role::Optional } else { Role::Required },
                response: *self.rng.pick(&[
                    ResponseType::Accept,
                    ResponseType::Accept,
                    ResponseType::Tentative,
                    ResponseType::Decline,
                    ResponseType::NoResponseReceived,
                    ResponseType::Unknown,
                ]),
            });
        }
        if organizer.is_some() {
            // A meeting from a colleague: I am an attendee too.
            out.push(AttendeeData {
                person: Person::Local(self.me.clone()),
                role: Role::Required,
                response: ResponseType::Accept,
            });
        }
        if self.rng.chance(25) || out.is_empty() {
            out.push(AttendeeData {
                person: Person::External(Box::new(External {
                    name: Some("Pat Partner".into()),
                    email: "pat.partner@fabrikam.example".into(),
                })),
                role: Role::Required,
                response: ResponseType::NoResponseReceived,
            });
        }
        if self.rng.chance(15) {
            out.push(AttendeeData {
                person: Person::External(Box::new(External {
                    name: Some(self.rng.pick(ROOMS).to_string().into()),
                    email: "rooms@resources.contoso.example".into(),
                })),
                role: Role::Resource,
                response: ResponseType::Accept,
            });
        }
        out
    }

    /// Location and body of a meeting with a join link (in the location or the body), and a
    /// plain URL now and then.
    fn meeting_text(&mut self, topic: &str) -> (Option<Box<str>>, Option<BodyData>) {
        let provider = *self.rng.pick(&[Provider::Teams, Provider::Teams, Provider::Zoom, Provider::Webex]);
        let link = join_link(&mut self.rng, provider);
        let plain = if self.rng.chance(40) { Some(*self.rng.pick(PLAIN_URLS)) } else { None };
        let docs = plain.map(|u| format!("\n\nDocuments: {u}")).unwrap_or_default();
        let link_in_location = provider == Provider::Zoom || self.rng.chance(25);
        if link_in_location {
            let body = format!("Agenda for {topic}:\n1. Status\n2. Open issues\n3. Next steps{docs}");
            (Some(link.into()), Some(BodyData { html: false, content: body.into() }))
        } else {
            let (location, body) = match provider {
                Provider::Teams => (
                    "Microsoft Teams Meeting",
                    format!(
                        "<html><body><p>Agenda for {topic}.</p>{}<hr><p>Microsoft Teams meeting</p><p><a href=\"{link}\">Join the meeting now</a></p></body></html>",
                        plain.map(|u| format!("<p>Documents: <a href=\"{u}\">{u}</a></p>")).unwrap_or_default()
                    ),
                ),
                Provider::Zoom => ("Zoom", format!("Join Zoom Meeting\n{link}{docs}")),
                Provider::Webex => ("Webex", format!("Join the Webex meeting: {link}{docs}")),
            };
            let html = body.starts_with("<html>");
            let location = if self.rng.chance(30) { self.rng.pick(ROOMS).to_string() } else { location.to_string() };
            (Some(location.into()), Some(BodyData { html, content: body.into() }))
        }
    }

    fn base(&mut self, subject: String, zone: Arc<Zone>, start: Timestamp, end: Timestamp, i: u32) -> CalData {
        let created =
            self.created_base.checked_add(SignedDuration::from_mins(i64::from(i) * 7)).unwrap_or(self.created_base);
        let importance = match self.rng.below(20) {
            0 | 1 => Importance::High,
            2 => Importance::Low,
            _ => Importance::Normal,
        };
        let categories = if self.rng.chance(20) { vec![(*self.rng.pick(CATEGORIES)).into()] } else { Vec::new() };
        CalData {
            uid: None,
            subject: subject.into(),
            start,
            end,
            zone,
            is_all_day: false,
            free_busy: LegacyFreeBusy::Busy,
            sensitivity: Sensitivity::Normal,
            importance,
            location: None,
            body: None,
            categories,
            organizer: None,
            attendees: Vec::new(),
            my_response: ResponseType::Organizer,
            is_cancelled: false,
            meeting_request_was_sent: false,
            sequence: 0,
            reminder: if self.rng.chance(75) { Some(15) } else { None },
            created,
            modified: created,
            recurrence: None,
            extended: Vec::new(),
        }
    }

    fn timed(&mut self, zone: &Zone, date: Date) -> (Timestamp, Timestamp) {
        let h = self.rng.range(8, 17) as i8;
        let m = if self.rng.chance(50) { 0 } else { 30 };
        let minutes = *self.rng.pick(&[30i64, 30, 45, 60, 60, 60, 90, 120]);
        let start = self.local(zone, date, h, m);
        (start, start.checked_add(SignedDuration::from_mins(minutes)).unwrap_or(start))
    }

    fn item(&mut self, kind: Kind, i: u32) -> CalData {
        match kind {
            Kind::Single => {
                let zone = self.item_zone();
                let date = {
                    let o = self.rng.range(-14, 28);
                    self.weekday_near(o)
                };
                let (s, e) = self.timed(&zone, date);
                let topic = self.topic();
                let subject = match self.rng.below(4) {
                    0 => format!("{topic} prep"),
                    1 => format!("Focus time: {topic}"),
                    2 => "Lunch with the team".to_string(),
                    _ => format!("Call about {topic}"),
                };
                let mut c = self.base(subject, zone, s, e, i);
                if self.rng.chance(60) {
                    c.location = Some((*self.rng.pick(ROOMS)).into());
                }
                if self.rng.chance(35) {
                    c.body =
                        Some(BodyData { html: false, content: format!("Notes: {}", self.rng.pick(PLAIN_URLS)).into() });
                }
                c.free_busy = *self.rng.pick(&[
                    LegacyFreeBusy::Busy,
                    LegacyFreeBusy::Busy,
                    LegacyFreeBusy::Busy,
                    LegacyFreeBusy::Tentative,
                    LegacyFreeBusy::Free,
                ]);
                c
            }
            Kind::Private => {
                let date = {
                    let o = self.rng.range(-10, 21);
                    self.weekday_near(o)
                };
                let zone = self.zone.clone();
                let (s, e) = self.timed(&zone, date);
                let subject = (*self.rng.pick(&[
                    "Doctor appointment",
                    "Dentist",
                    "Parent-teacher meeting",
                    "Personal errand",
                    "Apartment viewing",
                ]))
                .to_string();
                let mut c = self.base(subject, zone, s, e, i);
                c.sensitivity = Sensitivity::Private;
                c.location = Some((*self.rng.pick(&["Dr. Weber, Main Street 12", "City Hall", "Home"])).into());
                c.body = Some(BodyData { html: false, content: "Private note: bring the insurance card.".into() });
                c.free_busy = LegacyFreeBusy::Busy;
                c
            }
            Kind::AllDay => {
                let zone = self.zone.clone();
                let date = {
                    let o = self.rng.range(-14, 35);
                    self.day(o)
                };
                let days = *self.rng.pick(&[1i64, 1, 1, 2, 3, 5]);
                let end = date.checked_add(jiff::Span::new().days(days)).unwrap_or(date);
                let (subject, fb) = match self.rng.below(5) {
                    0 => ("Vacation".to_string(), LegacyFreeBusy::Oof),
                    1 => (format!("Conference: {}", self.topic()), LegacyFreeBusy::Busy),
                    2 => ("Public holiday".to_string(), LegacyFreeBusy::Free),
                    3 => ("Working from home".to_string(), LegacyFreeBusy::WorkingElsewhere),
                    _ => ("Team offsite".to_string(), LegacyFreeBusy::Busy),
                };
                let (s, e) = (self.local(&zone, date, 0, 0), self.local(&zone, end, 0, 0));
                let mut c = self.base(subject, zone, s, e, i);
                c.is_all_day = true;
                c.free_busy = fb;
                c.reminder = None;
                if self.rng.chance(15) {
                    c.sensitivity = Sensitivity::Private;
                }
                c
            }
            Kind::Organized | Kind::Received => {
                let zone = self.item_zone();
                let date = {
                    let o = self.rng.range(-14, 28);
                    self.weekday_near(o)
                };
                let (s, e) = self.timed(&zone, date);
                let topic = self.topic();
                let subject = match self.rng.below(3) {
                    0 => format!("{topic} sync"),
                    1 => format!("{topic}: kickoff"),
                    _ => format!("Review: {topic}"),
                };
                let mut c = self.base(subject, zone, s, e, i);
                let (location, body) = self.meeting_text(topic);
                c.location = location;
                c.body = body;
                if kind == Kind::Received {
                    match self.colleague() {
                        Some(org) => {
                            c.attendees = self.attendees(Some(&org));
                            c.organizer = Some(Person::Local(org));
                        }
                        None => {
                            c.attendees = self.attendees(None);
                            c.organizer = Some(Person::External(Box::new(External {
                                name: Some("Pat Partner".into()),
                                email: "pat.partner@fabrikam.example".into(),
                            })));
                        }
                    }
                    c.my_response = *self.rng.pick(&[
                        ResponseType::Accept,
                        ResponseType::Accept,
                        ResponseType::Tentative,
                        ResponseType::NoResponseReceived,
                    ]);
                    c.free_busy = if c.my_response == ResponseType::Tentative {
                        LegacyFreeBusy::Tentative
                    } else {
                        LegacyFreeBusy::Busy
                    };
                } else {
                    c.attendees = self.attendees(None);
                    c.meeting_request_was_sent = true;
                }
                c.is_cancelled = kind == Kind::Received && self.rng.chance(5);
                c
            }
            Kind::Daily | Kind::Weekly | Kind::Monthly | Kind::Yearly => self.series(kind, i),
        }
    }

    fn series(&mut self, kind: Kind, i: u32) -> CalData {
        let zone = if kind == Kind::Yearly { self.zone.clone() } else { self.item_zone() };
        let start_date = {
            let o = -self.rng.range(7, 120);
            self.day(o)
        };
        let (pattern, subject, all_day) = match kind {
            Kind::Daily => {
                if self.rng.chance(60) {
                    (
                        RecurrencePattern::Weekly {
                            interval: 1,
                            // Outlook writes a weekday series as the five days; `Weekday` is for
                            // relative patterns only (exchangelib refuses it in a weekly one).
                            days_of_week: vec![
                                DayOfWeek::Monday,
                                DayOfWeek::Tuesday,
                                DayOfWeek::Wednesday,
                                DayOfWeek::Thursday,
                                DayOfWeek::Friday,
                            ],
                            first_day_of_week: Some(DayOfWeek::Monday),
                        },
                        "Daily standup".to_string(),
                        false,
                    )
                } else {
                    (
                        RecurrencePattern::Daily { interval: *self.rng.pick(&[1, 1, 2]) },
                        "Team check-in".to_string(),
                        false,
                    )
                }
            }
            Kind::Weekly => {
                let days = if self.rng.chance(30) {
                    vec![DayOfWeek::Tuesday, DayOfWeek::Thursday]
                } else {
                    vec![*self.rng.pick(&[
                        DayOfWeek::Monday,
                        DayOfWeek::Tuesday,
                        DayOfWeek::Wednesday,
                        DayOfWeek::Thursday,
                        DayOfWeek::Friday,
                    ])]
                };
                let subject = format!("Weekly {}", self.topic());
                (
                    RecurrencePattern::Weekly {
                        interval: *self.rng.pick(&[1, 1, 1, 2]),
                        days_of_week: days,
                        first_day_of_week: Some(if self.rng.chance(50) {
                            DayOfWeek::Monday
                        } else {
                            DayOfWeek::Sunday
                        }),
                    },
                    subject,
                    false,
                )
            }
            Kind::Monthly => {
                if self.rng.chance(50) {
                    let subject = format!("Monthly {} review", self.topic());
                    (
                        RecurrencePattern::AbsoluteMonthly {
                            interval: 1,
                            day_of_month: *self.rng.pick(&[1, 5, 15, 28, 31]),
                        },
                        subject,
                        false,
                    )
                } else {
                    (
                        RecurrencePattern::RelativeMonthly {
                            interval: 1,
                            days_of_week: *self.rng.pick(&[
                                DayOfWeek::Monday,
                                DayOfWeek::Thursday,
                                DayOfWeek::Friday,
                                DayOfWeek::Weekday,
                            ]),
                            day_of_week_index: *self.rng.pick(&[
                                DayOfWeekIndex::First,
                                DayOfWeekIndex::Second,
                                DayOfWeekIndex::Last,
                            ]),
                        },
                        "Town hall".to_string(),
                        false,
                    )
                }
            }
            _ => {
                let target = {
                    let o = self.rng.range(-20, 40);
                    self.day(o)
                };
                let month = Month::ALL[(target.month() - 1) as usize];
                let (first, _) = person_name(0, self.rng.range(1, 10_000) as u32);
                (
                    RecurrencePattern::AbsoluteYearly { day_of_month: i32::from(target.day()), month },
                    if self.rng.chance(70) { format!("{first}'s birthday") } else { "Company anniversary".to_string() },
                    true,
                )
            }
        };
        let range_start = XDate::new(start_date);
        let range = match self.rng.below(10) {
            0..=3 => RecurrenceRange::NoEnd { start_date: range_start },
            4..=6 => RecurrenceRange::EndDate {
                start_date: range_start,
                end_date: XDate::new({
                    let o = self.rng.range(30, 200);
                    self.day(o)
                }),
            },
            _ => RecurrenceRange::Numbered {
                start_date: range_start,
                number_of_occurrences: if kind == Kind::Yearly { 10 } else { self.rng.range(20, 80) as i32 },
            },
        };
        let (s, e) = if all_day {
            let next = start_date.tomorrow().unwrap_or(start_date);
            (self.local(&zone, start_date, 0, 0), self.local(&zone, next, 0, 0))
        } else {
            let h = self.rng.range(8, 16) as i8;
            let m = *self.rng.pick(&[0i8, 0, 15, 30]);
            let start = self.local(&zone, start_date, h, m);
            let minutes = if kind == Kind::Daily { 15 } else { *self.rng.pick(&[30i64, 60, 60, 90]) };
            (start, start.checked_add(SignedDuration::from_mins(minutes)).unwrap_or(start))
        };
        let mut c = self.base(subject, zone, s, e, i);
        c.is_all_day = all_day;
        if all_day {
            c.free_busy = LegacyFreeBusy::Free;
            c.reminder = None;
        } else if kind != Kind::Daily && self.rng.chance(50) {
            let topic = self.topic();
            let (location, body) = self.meeting_text(topic);
            c.location = location;
            c.body = body;
            c.attendees = self.attendees(None);
            c.meeting_request_was_sent = true;
        } else {
            c.location = Some((*self.rng.pick(ROOMS)).into());
        }
        c.recurrence = Some(Box::new(RecurrenceData::new(Recurrence { pattern, range })));
        if c.normalize_series().is_err() {
            c.recurrence = None;
            return c;
        }
        self.exceptions(&mut c);
        c
    }

    /// Moves and deletes a few occurrences near the anchor.
    fn exceptions(&mut self, c: &mut CalData) {
        let modify = self.rng.chance(50);
        let delete = self.rng.chance(40);
        if !modify && !delete {
            return;
        }
        let window_start = self.local(&self.zone, self.day(-14), 0, 0);
        let window_end = self.local(&self.zone, self.day(28), 0, 0);
        let Some(occurrences) = c.series().and_then(|s| s.expand(window_start, window_end).ok()) else { return };
        if occurrences.len() < 3 {
            return;
        }
        let modified = self.rng.below(occurrences.len() as u64) as usize;
        let mut deleted = self.rng.below(occurrences.len() as u64) as usize;
        if deleted == modified {
            deleted = (deleted + 1) % occurrences.len();
        }
        let rec = c.recurrence.as_deref_mut().expect("a series");
        if modify {
            let o = occurrences[modified];
            let shift = SignedDuration::from_hours(if c.is_all_day { 24 } else { self.rng.range(1, 3) });
            rec.exceptions.push(ExceptionData {
                original_start: o.original_start,
                start: o.start.checked_add(shift).unwrap_or(o.start),
                end: o.end.checked_add(shift).unwrap_or(o.end),
                subject: if self.rng.chance(50) { Some(format!("{} (moved)", c.subject).into()) } else { None },
                location: if self.rng.chance(30) { Some(Some("Room 3.02".into())) } else { None },
                body: None,
                free_busy: None,
            });
        }
        if delete {
            rec.deleted.push(occurrences[deleted].original_start);
        }
        rec.sync_modified();
        c.modified = c.created.checked_add(SignedDuration::from_hours(24)).unwrap_or(c.created);
    }

    fn task(&mut self, i: u32) -> TaskData {
        let topic = self.topic();
        let subject = match self.rng.below(5) {
            0 => "Submit expense report".to_string(),
            1 => format!("Prepare slides for {topic}"),
            2 => "Review pull request #42".to_string(),
            3 => "Renew TLS certificate".to_string(),
            _ => format!("Follow up on {topic}"),
        };
        let created =
            self.created_base.checked_add(SignedDuration::from_mins(i64::from(i) * 11)).unwrap_or(self.created_base);
        let status = *self.rng.pick(&[
            TaskStatus::NotStarted,
            TaskStatus::NotStarted,
            TaskStatus::InProgress,
            TaskStatus::Completed,
            TaskStatus::WaitingOnOthers,
        ]);
        let due_day = {
            let o = self.rng.range(-5, 20);
            self.day(o)
        };
        let due = self.local(&self.zone, due_day, 17, 0);
        TaskData {
            subject: subject.into(),
            body: if self.rng.chance(50) {
                Some(BodyData { html: false, content: format!("See {}", self.rng.pick(PLAIN_URLS)).into() })
            } else {
                None
            },
            sensitivity: Sensitivity::Normal,
            importance: if self.rng.chance(20) { Importance::High } else { Importance::Normal },
            categories: Vec::new(),
            start_date: Some(created),
            due_date: Some(due),
            complete_date: (status == TaskStatus::Completed).then_some(due),
            percent_complete: match status {
                TaskStatus::Completed => 100,
                TaskStatus::InProgress => 50,
                _ => 0,
            },
            status,
            created,
            modified: created,
            extended: Vec::new(),
        }
    }
}

fn seed_mailbox(
    store: &Store,
    mb: &Arc<Mailbox>,
    config: &SeedConfig,
    identities: &[Arc<Identity>],
    zones: &[Arc<Zone>],
) {
    let anchor_utc = config
        .anchor
        .to_datetime(civil::Time::midnight())
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .map_or(Timestamp::UNIX_EPOCH, |z| z.timestamp());
    let mut ctx = Ctx {
        rng: Rng::for_mailbox(config.seed ^ 0x17e7_5eed, mb.number()),
        me: mb.identity(),
        identities,
        zone: mb.zone().clone(),
        zones,
        anchor: config.anchor,
        created_base: anchor_utc.checked_sub(SignedDuration::from_hours(24 * 150)).unwrap_or(anchor_utc),
    };
    let items: Vec<Stored> = (0..config.events_per_mailbox)
        .map(|i| {
            let kind = if (i as usize) < CYCLE.len() { CYCLE[i as usize] } else { *ctx.rng.weighted(KINDS) };
            Stored::Calendar(ctx.item(kind, i))
        })
        .collect();
    store.insert_quiet(mb, FolderKind::Calendar, items);
    let tasks: Vec<Stored> = (0..config.tasks_per_mailbox).map(|i| Stored::Task(ctx.task(i))).collect();
    store.insert_quiet(mb, FolderKind::Tasks, tasks);
}
