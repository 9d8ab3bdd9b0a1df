//! The control API's tasks (`/sim/mailboxes/{smtp}/tasks[/{item_id}]`): what a user does to
//! their tasks in Outlook, with the same notifications as EWS writes.
//!
//! [`TaskJson`]: `{item_id, change_key, subject, body, start_date, due_date, complete_date,
//! status, percent_complete, importance, sensitivity, categories}` with EWS values (`status`:
//! `NotStarted`, `InProgress`, `Completed`, `WaitingOnOthers`, `Deferred`; `importance`: `Low`,
//! `Normal`, `High`; `sensitivity`: `Normal`, `Personal`, `Private`, `Confidential`), dates
//! RFC 3339 UTC or null. Inputs take the same fields but `item_id`/`change_key`/
//! `complete_date` (dates: RFC 3339 or `YYYY-MM-DD`, midnight UTC); `subject` is required on
//! create; null clears `body`, `start_date`, `due_date`, `categories`. Errors name the field.

use ews_proto::items::{Body, Importance, Item, Sensitivity, Task, TaskStatus};
use ews_proto::values::DateTime;
use ews_proto::{BaseItemId, ItemId, ItemIdValue};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::json::ApiError;
use crate::store::folder::FolderKind;
use crate::store::{ChangeKeyCheck, Store, StoreError};

/// One task as the control API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskJson {
    pub item_id: String,
    pub change_key: Option<String>,
    pub subject: String,
    pub body: Option<String>,
    pub start_date: Option<String>,
    pub due_date: Option<String>,
    pub complete_date: Option<String>,
    pub status: &'static str,
    pub percent_complete: f64,
    pub importance: &'static str,
    pub sensitivity: &'static str,
    pub categories: Vec<String>,
}

const FIELDS: &[&str] = &[
    "subject",
    "body",
    "start_date",
    "due_date",
    "status",
    "percent_complete",
    "importance",
    "sensitivity",
    "categories",
];

fn date(v: &Option<DateTime>) -> Option<String> {
    v.as_ref().and_then(|d| d.timestamp_in(&jiff::tz::TimeZone::UTC)).map(|t| t.to_string())
}

fn task_json(t: &Task) -> TaskJson {
    let id = t.item.item_id.clone().unwrap_or_else(|| ItemId::new("", None));
    TaskJson {
        item_id: id.id.as_str().to_owned(),
        change_key: id.change_key.map(|c| c.to_string()),
        subject: t.item.subject.clone().unwrap_or_default(),
        body: t.item.body.as_ref().map(|b| b.content.clone()),
        start_date: date(&t.start_date),
        due_date: date(&t.due_date),
        complete_date: date(&t.complete_date),
        status: t.status.unwrap_or(TaskStatus::NotStarted).as_str(),
        percent_complete: t.percent_complete.unwrap_or(0.0),
        importance: t.item.importance.unwrap_or(Importance::Normal).as_str(),
        sensitivity: t.item.sensitivity.unwrap_or(Sensitivity::Normal).as_str(),
        categories: t.item.categories.clone().unwrap_or_default(),
    }
}

/// `GET /sim/mailboxes/{smtp}/tasks`: every task in creation order.
pub fn list_tasks(store: &Store, smtp: &str) -> Result<Vec<TaskJson>, ApiError> {
    let mb = store.mailbox(smtp)?;
    Ok(store.tasks(&mb).iter().map(task_json).collect())
}

fn time_input(field: &str, v: &Value) -> Result<Option<DateTime>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => {
            if let Ok(ts) = s.parse::<Timestamp>() {
                return Ok(Some(DateTime::utc(ts)));
            }
            let d: jiff::civil::Date =
                s.parse().map_err(|_| ApiError::invalid(field, format!("{s:?} is not RFC 3339 or a date")))?;
            let ts = jiff::tz::TimeZone::UTC
                .to_ambiguous_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
                .compatible()
                .map_err(|e| ApiError::invalid(field, e.to_string()))?;
            Ok(Some(DateTime::utc(ts)))
        }
        _ => Err(ApiError::invalid(field, "must be a string or null")),
    }
}

fn enum_input<T: Copy>(field: &str, v: &Value, all: &[T], name: impl Fn(&T) -> &'static str) -> Result<T, ApiError> {
    let s = v.as_str().ok_or_else(|| ApiError::invalid(field, "must be a string"))?;
    all.iter().find(|x| name(x).eq_ignore_ascii_case(s)).copied().ok_or_else(|| {
        ApiError::invalid(field, format!("must be one of {}", all.iter().map(&name).collect::<Vec<_>>().join(", ")))
    })
}

/// Applies the given fields to `t`.
fn apply(map: &Map<String, Value>, t: &mut Task) -> Result<(), ApiError> {
    if let Some(k) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::invalid(k.as_str(), format!("unknown field; expected one of {}", FIELDS.join(", "))));
    }
    for (k, v) in map {
        match k.as_str() {
            "subject" => {
                t.item.subject =
                    Some(v.as_str().ok_or_else(|| ApiError::invalid("subject", "must be a string"))?.into())
            }
            "body" => {
                t.item.body = match v {
                    Value::Null => None,
                    Value::String(s) if s.is_empty() => None,
                    Value::String(s) => Some(Body::text(s.clone())),
                    _ => return Err(ApiError::invalid("body", "must be a string or null")),
                }
            }
            "start_date" => t.start_date = time_input("start_date", v)?,
            "due_date" => t.due_date = time_input("due_date", v)?,
            "status" => {
                t.status = Some(enum_input("status", v, TaskStatus::ALL, |x| x.as_str())?);
                // The rendered IsComplete would otherwise keep a completed task completed.
                t.is_complete = None;
                t.complete_date = None;
            }
            "percent_complete" => {
                t.percent_complete = Some(
                    v.as_f64()
                        .filter(|p| (0.0..=100.0).contains(p))
                        .ok_or_else(|| ApiError::invalid("percent_complete", "must be a number from 0 to 100"))?,
                )
            }
            "importance" => t.item.importance = Some(enum_input("importance", v, Importance::ALL, |x| x.as_str())?),
            "sensitivity" => t.item.sensitivity = Some(enum_input("sensitivity", v, Sensitivity::ALL, |x| x.as_str())?),
            "categories" => {
                t.item.categories = match v {
                    Value::Null => None,
                    Value::Array(a) => Some(
                        a.iter()
                            .map(|c| c.as_str().map(str::to_owned))
                            .collect::<Option<Vec<_>>>()
                            .ok_or_else(|| ApiError::invalid("categories", "must be an array of strings"))?,
                    )
                    .filter(|c: &Vec<String>| !c.is_empty()),
                    _ => return Err(ApiError::invalid("categories", "must be an array of strings or null")),
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object().ok_or_else(|| ApiError::invalid("body", "must be a JSON object"))
}

fn one(smtp: &str, item: &Item) -> Result<TaskJson, ApiError> {
    match item {
        Item::Task(t) => Ok(task_json(t)),
        _ => Err(ApiError::invalid("item_id", format!("not a task in {smtp}"))),
    }
}

/// `POST /sim/mailboxes/{smtp}/tasks`: creates a task (Created notification).
pub fn create_task(store: &Store, smtp: &str, body: &Value) -> Result<TaskJson, ApiError> {
    let mb = store.mailbox(smtp)?;
    let map = object(body)?;
    if !map.get("subject").is_some_and(Value::is_string) {
        return Err(ApiError::invalid("subject", "is required"));
    }
    let mut t = Task::default();
    apply(map, &mut t)?;
    let created = store.create_item(&mb, FolderKind::Tasks, &Item::Task(t))?;
    one(smtp, &created)
}

/// `PATCH /sim/mailboxes/{smtp}/tasks/{item_id}`: changes the given fields (Modified).
pub fn patch_task(store: &Store, smtp: &str, item_id: &str, body: &Value) -> Result<TaskJson, ApiError> {
    let mb = store.mailbox(smtp)?;
    let map = object(body)?;
    let id = BaseItemId::Item(ItemId { id: ItemIdValue(item_id.to_owned()), change_key: None });
    let mut failure = None;
    let updated = store
        .update_item(&mb, &id, ChangeKeyCheck::Ignore, |item| {
            let Item::Task(t) = item else { return Err(StoreError::ItemNotFound) };
            apply(map, t).map_err(|e| {
                let message = e.message.clone();
                failure = Some(e);
                StoreError::invalid("body", message)
            })
        })
        .map_err(|e| failure.clone().unwrap_or_else(|| e.into()))?;
    one(smtp, &updated)
}
