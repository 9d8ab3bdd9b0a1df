//! XML for time zone definitions (`t:TimeZoneDefinition`, `t:StartTimeZone`, …).
//!
//! STUB until the time zone types land.

use crate::error::Result;
use crate::tz::TimeZoneDefinition;
use crate::xml::{Element, FromXml, Name, ToXml, Writer};

impl FromXml for TimeZoneDefinition {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(TimeZoneDefinition { id: el.attr_as("Id")?, name: el.attr_as("Name")?, ..TimeZoneDefinition::default() })
    }
}

impl ToXml for TimeZoneDefinition {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).attr_opt("Name", &self.name).attr_opt("Id", &self.id).end();
    }
}
