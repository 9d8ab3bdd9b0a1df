//! `t:Task`.
//!
//! Elements of `t:TaskType` that are not modelled (skipped when read, never written):
//! `AssignedTime`, `DelegationState`, `Delegator`, `IsAssignmentEditable` and `IsTeamTask`
//! (task delegation; the samples carry none of them).

use super::common::{ItemFields, get_string, get_strings, write_strings};
use super::recurrence::Recurrence;
use crate::error::{Error, Result};
use crate::values::DateTime;
use crate::xml::{Element, FromXml, Name, ToXml, Writer, t};
use crate::xml_enum;

xml_enum! {
    /// `t:TaskStatusType`.
    pub enum TaskStatus { NotStarted, InProgress, Completed, WaitingOnOthers, Deferred }
}

/// `t:Task`: the fields of `t:ItemType` in `item`, then the task fields in schema order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Task {
    pub item: ItemFields,
    pub actual_work: Option<i32>,
    pub billing_information: Option<String>,
    pub change_count: Option<i32>,
    pub companies: Option<Vec<String>>,
    pub complete_date: Option<DateTime>,
    pub contacts: Option<Vec<String>>,
    pub due_date: Option<DateTime>,
    pub is_complete: Option<bool>,
    pub is_recurring: Option<bool>,
    pub mileage: Option<String>,
    pub owner: Option<String>,
    /// `t:PercentComplete` (xs:double), 0.0 ..= 100.0; a value outside that range, or not
    /// finite, is an error when read.
    pub percent_complete: Option<f64>,
    /// `t:Recurrence` of a task (`TaskRecurrenceType`: may use regenerating patterns).
    pub recurrence: Option<Recurrence>,
    pub start_date: Option<DateTime>,
    pub status: Option<TaskStatus>,
    pub status_description: Option<String>,
    pub total_work: Option<i32>,
}

/// Reads `t:PercentComplete`: an xs:double in 0..=100.
fn read_percent(el: &Element) -> Result<Option<f64>> {
    let Some(c) = el.child(t("PercentComplete")) else { return Ok(None) };
    let text = c.text.trim();
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=100.0).contains(&v) => Ok(Some(v)),
        _ => Err(Error::invalid(text, "a number from 0 to 100").at(c).at(el)),
    }
}

impl FromXml for Task {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(Task {
            item: ItemFields::read(el)?,
            actual_work: el.get_text(t("ActualWork"))?,
            billing_information: get_string(el, t("BillingInformation")),
            change_count: el.get_text(t("ChangeCount"))?,
            companies: get_strings(el, t("Companies")),
            complete_date: el.get_text(t("CompleteDate"))?,
            contacts: get_strings(el, t("Contacts")),
            due_date: el.get_text(t("DueDate"))?,
            is_complete: el.get_text(t("IsComplete"))?,
            is_recurring: el.get_text(t("IsRecurring"))?,
            mileage: get_string(el, t("Mileage")),
            owner: get_string(el, t("Owner")),
            percent_complete: read_percent(el)?,
            recurrence: el.get(t("Recurrence"))?,
            start_date: el.get_text(t("StartDate"))?,
            status: el.get_text(t("Status"))?,
            status_description: get_string(el, t("StatusDescription")),
            total_work: el.get_text(t("TotalWork"))?,
        })
    }
}

impl ToXml for Task {
    /// Writes the item fields, then the task fields, in schema order.
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name);
        self.item.write(w);
        w.leaf_opt(t("ActualWork"), &self.actual_work).leaf_opt(t("BillingInformation"), &self.billing_information);
        w.leaf_opt(t("ChangeCount"), &self.change_count);
        write_strings(w, t("Companies"), &self.companies);
        w.leaf_opt(t("CompleteDate"), &self.complete_date);
        write_strings(w, t("Contacts"), &self.contacts);
        w.leaf_opt(t("DueDate"), &self.due_date)
            .leaf_opt(t("IsComplete"), &self.is_complete)
            .leaf_opt(t("IsRecurring"), &self.is_recurring)
            .leaf_opt(t("Mileage"), &self.mileage)
            .leaf_opt(t("Owner"), &self.owner);
        if let Some(p) = self.percent_complete {
            w.leaf(t("PercentComplete"), &p.to_string());
        }
        w.child_opt(t("Recurrence"), &self.recurrence)
            .leaf_opt(t("StartDate"), &self.start_date)
            .leaf_opt(t("Status"), &self.status)
            .leaf_opt(t("StatusDescription"), &self.status_description)
            .leaf_opt(t("TotalWork"), &self.total_work);
        w.end();
    }
}
