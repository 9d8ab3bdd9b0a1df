//! XML for time zones: `t:TimeZoneDefinitionType` (`t:StartTimeZone`, `t:EndTimeZone`,
//! `t:TimeZoneContext/t:TimeZoneDefinition`) and the legacy `t:SerializableTimeZone`
//! (`t:TimeZone` of GetUserAvailability, `WorkingHours/TimeZone`). The types live in
//! [`crate::tz`]; this module only reads and writes them.
//!
//! Reading checks the forms of the values (durations, integers, day names, times); whether they
//! make a usable zone (months 1..=12, occurrences 1..=5 or -1, periods that exist, …) is checked
//! by [`TimeZoneDefinition::to_time_zone`] and [`SerializableTimeZone::to_time_zone`].
//!
//! Not modelled: the `Id` attribute of the top-level `t:Transitions` element (skipped).

use std::borrow::Cow;

use crate::error::{Error, ErrorKind, Result};
use crate::tz::{
    DayOfWeek, Period, SerializableTimeZone, SerializableTimeZoneTime, TimeZoneDefinition, Transition,
    TransitionTarget, TransitionTargetKind, Transitions, TransitionsGroup,
};
use crate::values::{DateTime, Duration, Time};
use crate::xml::{Element, FromXml, Name, Ns, ToXml, Writer, XmlText, t};

/// `t:DayOfWeekType`: one type for recurrence patterns, time zone transitions and availability.
impl XmlText for DayOfWeek {
    fn from_text(s: &str) -> std::result::Result<Self, String> {
        s.parse().map_err(|_| {
            "one of Sunday, Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Day, Weekday, WeekendDay".into()
        })
    }
    fn to_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.as_str())
    }
}

/// `@Kind` of `t:To`.
struct Kind(TransitionTargetKind);

impl XmlText for Kind {
    fn from_text(s: &str) -> std::result::Result<Self, String> {
        match s {
            "Period" => Ok(Kind(TransitionTargetKind::Period)),
            "Group" => Ok(Kind(TransitionTargetKind::Group)),
            _ => Err("one of Period, Group".into()),
        }
    }
    fn to_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.0.as_str())
    }
}

impl FromXml for TransitionTarget {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(TransitionTarget { kind: el.req_attr_as::<Kind>("Kind")?.0, id: el.text.trim().to_string() })
    }
}

impl ToXml for TransitionTarget {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).attr("Kind", self.kind.as_str());
        if !self.id.is_empty() {
            w.text(&self.id);
        }
        w.end();
    }
}

impl FromXml for Period {
    /// `t:Period`: `Bias`, `Name` and `Id` are optional in the schema but required here (a
    /// period without them cannot be used).
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(Period {
            bias: el.req_attr_as::<Duration>("Bias")?.0,
            name: el.req_attr("Name")?.to_string(),
            id: el.req_attr("Id")?.to_string(),
        })
    }
}

impl ToXml for Period {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).attr_val("Bias", &Duration(self.bias)).attr("Name", &self.name).attr("Id", &self.id).end();
    }
}

/// Reads one element of the `t:Transition` substitution group; `None` for anything else.
fn read_transition(el: &Element) -> Option<Result<Transition>> {
    if el.ns != Ns::Types {
        return None;
    }
    let to = || el.get_req::<TransitionTarget>(t("To"));
    let offset = || el.get_text_req::<Duration>(t("TimeOffset")).map(|d| d.0);
    Some(match el.name.as_str() {
        "Transition" => to().map(|to| Transition::Plain { to }),
        "AbsoluteDateTransition" => (|| {
            let dt = el.get_text_req::<DateTime>(t("DateTime"))?;
            Ok(Transition::AbsoluteDate { to: to()?, date_time: dt.civil, offset: dt.offset })
        })(),
        "RecurringDayTransition" => (|| {
            Ok(Transition::RecurringDay {
                to: to()?,
                time_offset: offset()?,
                month: el.get_text_req(t("Month"))?,
                day_of_week: el.get_text_req::<DayOfWeek>(t("DayOfWeek"))?,
                occurrence: el.get_text_req(t("Occurrence"))?,
            })
        })(),
        "RecurringDateTransition" => (|| {
            Ok(Transition::RecurringDate {
                to: to()?,
                time_offset: offset()?,
                month: el.get_text_req(t("Month"))?,
                day: el.get_text_req(t("Day"))?,
            })
        })(),
        _ => return None,
    })
}

/// Every transition child of an `t:ArrayOfTransitionsType` element, in document order (other
/// children are skipped).
fn read_transitions(el: &Element) -> Result<Vec<Transition>> {
    el.children.iter().filter_map(read_transition).collect::<Result<_>>().map_err(|e| e.at(el))
}

fn write_transition(w: &mut Writer, tr: &Transition) {
    match tr {
        Transition::Plain { to } => {
            w.start(t("Transition")).child(t("To"), to).end();
        }
        Transition::AbsoluteDate { to, date_time, offset } => {
            w.start(t("AbsoluteDateTransition"))
                .child(t("To"), to)
                .leaf_val(t("DateTime"), &DateTime { civil: *date_time, offset: *offset })
                .end();
        }
        Transition::RecurringDay { to, time_offset, month, day_of_week, occurrence } => {
            w.start(t("RecurringDayTransition"))
                .child(t("To"), to)
                .leaf_val(t("TimeOffset"), &Duration(*time_offset))
                .leaf_val(t("Month"), month)
                .leaf_val(t("DayOfWeek"), day_of_week)
                .leaf_val(t("Occurrence"), occurrence)
                .end();
        }
        Transition::RecurringDate { to, time_offset, month, day } => {
            w.start(t("RecurringDateTransition"))
                .child(t("To"), to)
                .leaf_val(t("TimeOffset"), &Duration(*time_offset))
                .leaf_val(t("Month"), month)
                .leaf_val(t("Day"), day)
                .end();
        }
    }
}

impl FromXml for TransitionsGroup {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(TransitionsGroup { id: el.req_attr("Id")?.to_string(), transitions: read_transitions(el)? })
    }
}

impl ToXml for TransitionsGroup {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).attr("Id", &self.id);
        for tr in &self.transitions {
            write_transition(w, tr);
        }
        w.end();
    }
}

/// Reads the `t:Transitions` of a definition: an initial plain `t:Transition`, then the dated
/// ones. An empty element reads as `None`.
fn read_definition_transitions(el: &Element) -> Result<Option<Transitions>> {
    let mut all = read_transitions(el)?.into_iter();
    match all.next() {
        None => Ok(None),
        Some(Transition::Plain { to }) => Ok(Some(Transitions { transition: to, transitions: all.collect() })),
        Some(_) => Err(Error::new(ErrorKind::Unexpected {
            found: el.children.iter().find_map(|c| read_transition(c).map(|_| c.display_name())).unwrap_or_default(),
            expected: "t:Transition (the initial transition, without a date) first".into(),
        })
        .at(el)),
    }
}

impl FromXml for TimeZoneDefinition {
    fn from_xml(el: &Element) -> Result<Self> {
        let periods = match el.child(t("Periods")) {
            Some(p) => p.get_all(t("Period")).map_err(|e| e.at(el))?,
            None => Vec::new(),
        };
        let transitions_groups = match el.child(t("TransitionsGroups")) {
            Some(g) => g.get_all(t("TransitionsGroup")).map_err(|e| e.at(el))?,
            None => Vec::new(),
        };
        let transitions = match el.child(t("Transitions")) {
            Some(tr) => read_definition_transitions(tr).map_err(|e| e.at(el))?,
            None => None,
        };
        Ok(TimeZoneDefinition {
            id: el.attr_as("Id")?,
            name: el.attr_as("Name")?,
            periods,
            transitions_groups,
            transitions,
        })
    }
}

impl ToXml for TimeZoneDefinition {
    /// Writes `Id`, `Name`, then `t:Periods`, `t:TransitionsGroups`, `t:Transitions` (empty
    /// lists are left out: their wrappers may not be empty).
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).attr_opt("Id", &self.id).attr_opt("Name", &self.name);
        if !self.periods.is_empty() {
            w.list(t("Periods"), t("Period"), &self.periods);
        }
        if !self.transitions_groups.is_empty() {
            w.list(t("TransitionsGroups"), t("TransitionsGroup"), &self.transitions_groups);
        }
        if let Some(tr) = &self.transitions {
            w.start(t("Transitions"));
            write_transition(w, &Transition::Plain { to: tr.transition.clone() });
            for x in &tr.transitions {
                write_transition(w, x);
            }
            w.end();
        }
        w.end();
    }
}

impl FromXml for SerializableTimeZoneTime {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(SerializableTimeZoneTime {
            bias: el.get_text_req(t("Bias"))?,
            time: el.get_text_req::<Time>(t("Time"))?.0,
            day_order: el.get_text_req(t("DayOrder"))?,
            month: el.get_text_req(t("Month"))?,
            day_of_week: el.get_text::<DayOfWeek>(t("DayOfWeek"))?,
            year: el.get_text(t("Year"))?,
        })
    }
}

impl ToXml for SerializableTimeZoneTime {
    /// Children in schema order; `DayOfWeek` (required by the schema) is left out when absent,
    /// as it was read.
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .leaf_val(t("Bias"), &self.bias)
            .leaf_val(t("Time"), &Time(self.time))
            .leaf_val(t("DayOrder"), &self.day_order)
            .leaf_val(t("Month"), &self.month)
            .leaf_opt(t("DayOfWeek"), &self.day_of_week)
            .leaf_opt(t("Year"), &self.year)
            .end();
    }
}

impl FromXml for SerializableTimeZone {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(SerializableTimeZone {
            bias: el.get_text_req(t("Bias"))?,
            standard_time: el.get_req(t("StandardTime"))?,
            daylight_time: el.get_req(t("DaylightTime"))?,
        })
    }
}

impl ToXml for SerializableTimeZone {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .leaf_val(t("Bias"), &self.bias)
            .child(t("StandardTime"), &self.standard_time)
            .child(t("DaylightTime"), &self.daylight_time)
            .end();
    }
}
