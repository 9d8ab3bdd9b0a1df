//! `t:Task`.

use super::common::ItemFields;
use super::recurrence::Recurrence;
use crate::values::DateTime;
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
    /// 0.0 ..= 100.0.
    pub percent_complete: Option<f64>,
    /// `t:Recurrence` of a task (`TaskRecurrenceType`: may use regenerating patterns).
    pub recurrence: Option<Recurrence>,
    pub start_date: Option<DateTime>,
    pub status: Option<TaskStatus>,
    pub status_description: Option<String>,
    pub total_work: Option<i32>,
}
