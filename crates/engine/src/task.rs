//! Exchange tasks as the application sees them (CONTRACT §4 tasks): [`TaskDoc`], its stable id,
//! the pure mapping EWS `t:Task` ↔ [`TaskDoc`] / mirror rows, and the input of the write API
//! ([`TaskInput`]) with its validation and its EWS form.
//!
//! # Stable ids
//!
//! EWS tasks have no UID. A task's id is derived from the ItemId of its first sighting:
//! `t` followed by the unpadded base64url of the first 16 bytes of the SHA-256 of that ItemId
//! ([`task_id`], 23 characters of `[A-Za-z0-9_-]`). The id is the mirror row's key (folder
//! `tasks`, instance [`InstanceKey::single`]), so `/tasks/{id}` finds the row directly, and a
//! sync that sees an ItemId the mirror already holds keeps that row's key. Since the id is a
//! function of the ItemId, a lost mirror or a full resync gives every task the same id again.
//! If Exchange changes a task's ItemId (a move out of the folder and back), it shows up as a
//! deletion and a creation.
//!
//! # Recurring tasks
//!
//! A recurring task is one item in EWS (the next occurrence; completing it makes Exchange
//! create the next one as a new item). It is mapped as one task; the recurrence itself is not
//! exposed. Completing an occurrence therefore shows as a `task.updated` of the completed item
//! and a `task.created` of the regenerated one, exactly as Exchange reports them.
//!
//! # Dates
//!
//! `start_date`, `due_date` and `completed_at` are RFC 3339 UTC as Exchange stores them
//! (Outlook stores a task's dates as midnight of the user's zone, in UTC). Input accepts RFC
//! 3339 with an offset, or a date `YYYY-MM-DD` (midnight UTC).
//!
//! # Change detection
//!
//! [`task_hash`]: SHA-256 of the document's canonical JSON without `changed_at` and
//! `change_key`, so a task saved again without a visible change raises no `task.updated`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ews_proto::items::{Body, Importance, Item, ItemFields, Sensitivity, Task, TaskStatus};
use ews_proto::ops::ItemUpdate;
use ews_proto::shape::PropertyPath;
use ews_proto::values::DateTime as EwsDateTime;
use exbridge_store::{ChangeKey, FolderKind, InstanceKey, ItemId, MirrorEvent, MirrorKey, MirrorKind};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::api::EngineError;

/// One task as `GET /api/v1/users/{id}/tasks` shows it and a `task.*` webhook's `data`
/// carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskDoc {
    /// Stable: see [`task_id`].
    pub id: String,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    /// `not_started` | `in_progress` | `completed` | `waiting_on_others` | `deferred`.
    pub status: String,
    /// 0..=100.
    pub percent_complete: u8,
    /// `low` | `normal` | `high`.
    pub importance: String,
    pub categories: Vec<String>,
    /// `Sensitivity` Private or Confidential.
    pub is_private: bool,
    /// `CompleteDate`, RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// When Exchange last changed the item (`LastModifiedTime`), RFC 3339 UTC.
    pub changed_at: String,
    /// The EWS ChangeKey: the `If-Match` value of `PATCH`/`DELETE`.
    pub change_key: String,
}

/// Why an API request about tasks failed. The server maps each variant to an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// Unknown user, no mailbox, Exchange or store failures (as for events).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The user's settings forbid it (422 `not_allowed_by_settings`).
    #[error("{0}")]
    NotAllowed(String),
    /// No such task in the user's mirror (404 `task_not_found`).
    #[error("no task {id:?} for user {user}")]
    NotFound { user: String, id: String },
    /// A field of the input is invalid (400 naming the field).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// `If-Match` is not the task's current change key (409 with the current task).
    #[error("task {:?} changed since change key {stale:?}", current.id)]
    Conflict { current: Box<TaskDoc>, stale: String },
    /// Exchange cannot be reached (503 `exchange_unavailable`).
    #[error("Exchange is unavailable: {0}")]
    Unavailable(String),
}

impl TaskError {
    fn invalid(field: &str, message: impl Into<String>) -> Self {
        TaskError::Invalid { field: field.to_owned(), message: message.into() }
    }
}

/// The stable id of a task first seen with `item_id` (see the module documentation).
pub fn task_id(item_id: &str) -> String {
    let digest = Sha256::digest(item_id.as_bytes());
    format!("t{}", URL_SAFE_NO_PAD.encode(&digest[..16]))
}

/// Whether `id` can be a task id (cheap check before a store lookup).
pub fn is_task_id(id: &str) -> bool {
    id.len() == 23 && id.starts_with('t') && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
}

/// The status string of the API.
pub fn status_str(s: TaskStatus) -> &'static str {
    match s {
        TaskStatus::NotStarted => "not_started",
        TaskStatus::InProgress => "in_progress",
        TaskStatus::Completed => "completed",
        TaskStatus::WaitingOnOthers => "waiting_on_others",
        TaskStatus::Deferred => "deferred",
    }
}

/// The statuses of the API, in order.
pub const STATUSES: [&str; 5] = ["not_started", "in_progress", "completed", "waiting_on_others", "deferred"];

fn parse_status(s: &str) -> Option<TaskStatus> {
    match s {
        "not_started" => Some(TaskStatus::NotStarted),
        "in_progress" => Some(TaskStatus::InProgress),
        "completed" => Some(TaskStatus::Completed),
        "waiting_on_others" => Some(TaskStatus::WaitingOnOthers),
        "deferred" => Some(TaskStatus::Deferred),
        _ => None,
    }
}

fn importance_str(i: Option<Importance>) -> &'static str {
    match i {
        Some(Importance::Low) => "low",
        Some(Importance::High) => "high",
        _ => "normal",
    }
}

fn utc(v: &Option<EwsDateTime>) -> Option<String> {
    v.as_ref().and_then(|d| d.timestamp_in(&jiff::tz::TimeZone::UTC)).map(|t| t.to_string())
}

/// The hash [`MirrorEvent::content_hash`] holds for a task.
pub fn task_hash(doc: &TaskDoc) -> String {
    let mut value = serde_json::to_value(doc).unwrap_or(Value::Null);
    if let Some(obj) = value.as_object_mut() {
        obj.remove("changed_at");
        obj.remove("change_key");
    }
    let digest = Sha256::digest(value.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The document of `task` with the given id. `None` without an ItemId.
pub fn task_doc(task: &Task, id: &str) -> Option<TaskDoc> {
    let fields = &task.item;
    let item_id = fields.item_id.as_ref()?;
    let status = task.status.unwrap_or(if task.is_complete == Some(true) {
        TaskStatus::Completed
    } else {
        TaskStatus::NotStarted
    });
    Some(TaskDoc {
        id: id.to_owned(),
        subject: fields.subject.clone().unwrap_or_default(),
        body: fields.body.as_ref().map(|b| b.content.clone()).filter(|b| !b.is_empty()),
        start_date: utc(&task.start_date),
        due_date: utc(&task.due_date),
        status: status_str(status).to_owned(),
        percent_complete: task.percent_complete.unwrap_or(0.0).clamp(0.0, 100.0).round() as u8,
        importance: importance_str(fields.importance).to_owned(),
        categories: fields.categories.clone().unwrap_or_default(),
        is_private: matches!(fields.sensitivity, Some(Sensitivity::Private | Sensitivity::Confidential)),
        completed_at: utc(&task.complete_date),
        changed_at: utc(&fields.last_modified_time).unwrap_or_default(),
        change_key: item_id.change_key.as_ref().map(|c| c.to_string()).unwrap_or_default(),
    })
}

/// The mirror row of `task` under id `id` (`now` when Exchange sent no `LastModifiedTime`).
/// `None` without an ItemId.
pub fn task_row(task: &Task, id: &str, now: Timestamp) -> Option<MirrorEvent> {
    let item_id = task.item.item_id.as_ref()?;
    let doc = task_doc(task, id)?;
    let changed_at = doc.changed_at.parse().unwrap_or(now);
    Some(MirrorEvent {
        key: MirrorKey::new(FolderKind::Tasks, id, InstanceKey::single()),
        kind: MirrorKind::Single,
        item_id: ItemId::new(item_id.id.as_str()),
        change_key: item_id.change_key.as_ref().map(|c| ChangeKey::new(c.to_string())),
        series_id: None,
        start: None,
        end: None,
        content_hash: task_hash(&doc),
        event: serde_json::to_value(&doc).unwrap_or(Value::Null),
        changed_at,
        deleted: false,
    })
}

// ---------------------------------------------------------------------------------------------
// Input

/// A field of [`TaskInput`]: absent, `null` (clear it), or a value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Field<T> {
    #[default]
    Absent,
    Clear,
    Set(T),
}

impl<T> Field<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }
}

/// The body of `POST …/tasks` (every field but `subject` optional) or `PATCH …/tasks/{id}`
/// (every field optional, `null` clears), validated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskInput {
    pub subject: Option<String>,
    pub body: Field<String>,
    pub start_date: Field<Timestamp>,
    pub due_date: Field<Timestamp>,
    pub status: Option<TaskStatus>,
    pub percent_complete: Option<u8>,
    pub importance: Option<Importance>,
    pub categories: Field<Vec<String>>,
    pub is_private: Option<bool>,
}

/// The fields a task body may have.
pub const INPUT_FIELDS: [&str; 9] = [
    "subject",
    "body",
    "start_date",
    "due_date",
    "status",
    "percent_complete",
    "importance",
    "categories",
    "is_private",
];

fn date_input(field: &str, v: &Value) -> Result<Field<Timestamp>, TaskError> {
    match v {
        Value::Null => Ok(Field::Clear),
        Value::String(s) => {
            if let Ok(ts) = s.parse::<Timestamp>() {
                return Ok(Field::Set(ts));
            }
            if let Ok(d) = s.parse::<jiff::civil::Date>()
                && let Ok(ts) = jiff::tz::TimeZone::UTC
                    .to_ambiguous_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
                    .compatible()
            {
                return Ok(Field::Set(ts));
            }
            Err(TaskError::invalid(field, format!("{s:?} is not an RFC 3339 time with offset or a YYYY-MM-DD date")))
        }
        _ => Err(TaskError::invalid(field, "must be a string (RFC 3339 or YYYY-MM-DD) or null")),
    }
}

impl TaskInput {
    /// Validates a JSON body; `create` requires a non-empty `subject`. Errors name the field.
    pub fn from_json(body: &Value, create: bool) -> Result<TaskInput, TaskError> {
        let obj = body.as_object().ok_or_else(|| TaskError::invalid("body", "must be a JSON object"))?;
        if let Some(k) = obj.keys().find(|k| !INPUT_FIELDS.contains(&k.as_str())) {
            return Err(TaskError::invalid(k, format!("unknown field; expected one of {}", INPUT_FIELDS.join(", "))));
        }
        let mut input = TaskInput::default();
        match obj.get("subject") {
            None if create => return Err(TaskError::invalid("subject", "is required")),
            None => {}
            Some(Value::String(s)) if !s.trim().is_empty() => input.subject = Some(s.clone()),
            Some(_) => return Err(TaskError::invalid("subject", "must be a non-empty string")),
        }
        input.body = match obj.get("body") {
            None => Field::Absent,
            Some(Value::Null) => Field::Clear,
            Some(Value::String(s)) if s.is_empty() => Field::Clear,
            Some(Value::String(s)) => Field::Set(s.clone()),
            Some(_) => return Err(TaskError::invalid("body", "must be a string or null")),
        };
        if let Some(v) = obj.get("start_date") {
            input.start_date = date_input("start_date", v)?;
        }
        if let Some(v) = obj.get("due_date") {
            input.due_date = date_input("due_date", v)?;
        }
        if let (Field::Set(s), Field::Set(d)) = (&input.start_date, &input.due_date)
            && d < s
        {
            return Err(TaskError::invalid("due_date", "is before start_date"));
        }
        match obj.get("status") {
            None => {}
            Some(Value::String(s)) => {
                input.status = Some(parse_status(s).ok_or_else(|| {
                    TaskError::invalid("status", format!("{s:?} is not one of {}", STATUSES.join(", ")))
                })?)
            }
            Some(_) => return Err(TaskError::invalid("status", "must be a string")),
        }
        match obj.get("percent_complete") {
            None => {}
            Some(v) => match v.as_u64() {
                Some(p) if p <= 100 => input.percent_complete = Some(p as u8),
                _ => return Err(TaskError::invalid("percent_complete", "must be an integer from 0 to 100")),
            },
        }
        match obj.get("importance") {
            None => {}
            Some(Value::String(s)) => {
                input.importance = Some(match s.as_str() {
                    "low" => Importance::Low,
                    "normal" => Importance::Normal,
                    "high" => Importance::High,
                    _ => {
                        return Err(TaskError::invalid("importance", format!("{s:?} is not one of low, normal, high")));
                    }
                })
            }
            Some(_) => return Err(TaskError::invalid("importance", "must be a string")),
        }
        input.categories = match obj.get("categories") {
            None => Field::Absent,
            Some(Value::Null) => Field::Clear,
            Some(Value::Array(a)) => {
                let list = a
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| TaskError::invalid("categories", "must be an array of strings"))?;
                if list.is_empty() { Field::Clear } else { Field::Set(list) }
            }
            Some(_) => return Err(TaskError::invalid("categories", "must be an array of strings or null")),
        };
        match obj.get("is_private") {
            None => {}
            Some(Value::Bool(b)) => input.is_private = Some(*b),
            Some(_) => return Err(TaskError::invalid("is_private", "must be true or false")),
        }
        if input.status == Some(TaskStatus::Completed) && input.percent_complete.is_some_and(|p| p != 100) {
            return Err(TaskError::invalid("percent_complete", "must be 100 (or absent) when status is completed"));
        }
        Ok(input)
    }

    /// Whether no field is given (a PATCH that changes nothing).
    pub fn is_empty(&self) -> bool {
        *self == TaskInput::default()
    }

    /// The task CreateItem sends.
    pub fn to_task(&self) -> Task {
        let mut task = Task {
            item: ItemFields {
                subject: self.subject.clone(),
                body: match &self.body {
                    Field::Set(b) => Some(Body::text(b.clone())),
                    _ => None,
                },
                sensitivity: self.is_private.map(sensitivity),
                importance: self.importance,
                categories: match &self.categories {
                    Field::Set(c) => Some(c.clone()),
                    _ => None,
                },
                ..ItemFields::default()
            },
            ..Task::default()
        };
        if let Field::Set(t) = self.start_date {
            task.start_date = Some(EwsDateTime::utc(t));
        }
        if let Field::Set(t) = self.due_date {
            task.due_date = Some(EwsDateTime::utc(t));
        }
        task.status = self.status;
        task.percent_complete = self.percent_complete.map(f64::from);
        task
    }

    /// The UpdateItem changes of a PATCH: one SetItemField / DeleteItemField per given field.
    pub fn updates(&self) -> Vec<ItemUpdate> {
        fn set(uri: &str, fill: impl FnOnce(&mut Task)) -> ItemUpdate {
            let mut t = Task::default();
            fill(&mut t);
            ItemUpdate::set(PropertyPath::field(uri), Item::Task(t))
        }
        let del = |uri: &str| ItemUpdate::delete(PropertyPath::field(uri));
        let mut out = Vec::new();
        if let Some(s) = &self.subject {
            out.push(set("item:Subject", |t| t.item.subject = Some(s.clone())));
        }
        match &self.body {
            Field::Absent => {}
            Field::Clear => out.push(del("item:Body")),
            Field::Set(b) => out.push(set("item:Body", |t| t.item.body = Some(Body::text(b.clone())))),
        }
        for (uri, field) in [("task:StartDate", &self.start_date), ("task:DueDate", &self.due_date)] {
            match field {
                Field::Absent => {}
                Field::Clear => out.push(del(uri)),
                Field::Set(ts) => out.push(set(uri, |t| {
                    let v = Some(EwsDateTime::utc(*ts));
                    if uri == "task:StartDate" {
                        t.start_date = v;
                    } else {
                        t.due_date = v;
                    }
                })),
            }
        }
        if let Some(s) = self.status {
            out.push(set("task:Status", |t| t.status = Some(s)));
        }
        if let Some(p) = self.percent_complete {
            out.push(set("task:PercentComplete", |t| t.percent_complete = Some(f64::from(p))));
        }
        if let Some(i) = self.importance {
            out.push(set("item:Importance", |t| t.item.importance = Some(i)));
        }
        match &self.categories {
            Field::Absent => {}
            Field::Clear => out.push(del("item:Categories")),
            Field::Set(c) => out.push(set("item:Categories", |t| t.item.categories = Some(c.clone()))),
        }
        if let Some(p) = self.is_private {
            out.push(set("item:Sensitivity", |t| t.item.sensitivity = Some(sensitivity(p))));
        }
        out
    }
}

fn sensitivity(private: bool) -> Sensitivity {
    if private { Sensitivity::Private } else { Sensitivity::Normal }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Task {
        Task {
            item: ItemFields {
                item_id: Some(ews_proto::ItemId::new("AAMk1", Some("CK1"))),
                subject: Some("File taxes".into()),
                body: Some(Body::text("forms")),
                sensitivity: Some(Sensitivity::Confidential),
                importance: Some(Importance::High),
                categories: Some(vec!["Home".into()]),
                last_modified_time: Some(EwsDateTime::utc("2026-03-10T08:00:00Z".parse().unwrap())),
                ..ItemFields::default()
            },
            start_date: Some(EwsDateTime::utc("2026-03-01T00:00:00Z".parse().unwrap())),
            due_date: Some(EwsDateTime::utc("2026-04-15T00:00:00Z".parse().unwrap())),
            status: Some(TaskStatus::InProgress),
            percent_complete: Some(49.6),
            ..Task::default()
        }
    }

    #[test]
    fn ids_are_stable_and_url_safe() {
        let a = task_id("AAMk1");
        assert_eq!(a, task_id("AAMk1"));
        assert_ne!(a, task_id("AAMk2"));
        assert!(is_task_id(&a), "{a}");
        assert!(!is_task_id("AAMk1"));
        assert!(!is_task_id(&format!("{a}x")));
    }

    #[test]
    fn a_task_maps_to_its_document() {
        let id = task_id("AAMk1");
        let doc = task_doc(&sample(), &id).unwrap();
        assert_eq!(
            serde_json::to_value(&doc).unwrap(),
            json!({"id": id, "subject": "File taxes", "body": "forms", "start_date": "2026-03-01T00:00:00Z",
                "due_date": "2026-04-15T00:00:00Z", "status": "in_progress", "percent_complete": 50,
                "importance": "high", "categories": ["Home"], "is_private": true,
                "changed_at": "2026-03-10T08:00:00Z", "change_key": "CK1"})
        );
        let row = task_row(&sample(), &id, Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!(row.key.folder, FolderKind::Tasks);
        assert_eq!(row.item_id.as_str(), "AAMk1");
        assert_eq!(row.changed_at.to_string(), "2026-03-10T08:00:00Z");
        // A save without a visible change (new change key, new time) hashes the same.
        let mut again = sample();
        again.item.item_id = Some(ews_proto::ItemId::new("AAMk1", Some("CK2")));
        again.item.last_modified_time = Some(EwsDateTime::utc("2026-03-11T08:00:00Z".parse().unwrap()));
        assert_eq!(task_row(&again, &id, Timestamp::UNIX_EPOCH).unwrap().content_hash, row.content_hash);
        again.status = Some(TaskStatus::Completed);
        assert_ne!(task_row(&again, &id, Timestamp::UNIX_EPOCH).unwrap().content_hash, row.content_hash);
        // Defaults: no status → not_started (completed when IsComplete), normal importance.
        let bare =
            Task { item: ItemFields { item_id: sample().item.item_id, ..ItemFields::default() }, ..Task::default() };
        let doc = task_doc(&bare, &id).unwrap();
        assert_eq!((doc.status.as_str(), doc.importance.as_str(), doc.percent_complete), ("not_started", "normal", 0));
        assert!(task_doc(&Task::default(), &id).is_none());
    }

    #[test]
    fn input_is_validated_naming_the_field() {
        let ok = TaskInput::from_json(
            &json!({"subject": "x", "due_date": "2026-04-01", "start_date": "2026-03-01T10:00:00+01:00",
                "status": "waiting_on_others", "percent_complete": 20, "importance": "low",
                "categories": ["A"], "is_private": true, "body": "b"}),
            true,
        )
        .unwrap();
        assert_eq!(ok.due_date, Field::Set("2026-04-01T00:00:00Z".parse().unwrap()));
        assert_eq!(ok.start_date, Field::Set("2026-03-01T09:00:00Z".parse().unwrap()));
        let task = ok.to_task();
        assert_eq!(task.status, Some(TaskStatus::WaitingOnOthers));
        assert_eq!(task.item.sensitivity, Some(Sensitivity::Private));
        assert_eq!(ok.updates().len(), 9);

        let field = |body: Value, create: bool| match TaskInput::from_json(&body, create) {
            Err(TaskError::Invalid { field, .. }) => field,
            other => panic!("{body}: {other:?}"),
        };
        assert_eq!(field(json!({}), true), "subject");
        assert_eq!(field(json!({"subject": ""}), true), "subject");
        assert_eq!(field(json!({"subject": "x", "status": "done"}), true), "status");
        assert_eq!(field(json!({"percent_complete": 101}), false), "percent_complete");
        assert_eq!(field(json!({"percent_complete": -1}), false), "percent_complete");
        assert_eq!(field(json!({"due_date": "tomorrow"}), false), "due_date");
        assert_eq!(field(json!({"start_date": "2026-03-02", "due_date": "2026-03-01"}), false), "due_date");
        assert_eq!(field(json!({"importance": "urgent"}), false), "importance");
        assert_eq!(field(json!({"categories": [1]}), false), "categories");
        assert_eq!(field(json!({"is_private": "yes"}), false), "is_private");
        assert_eq!(field(json!({"colour": "red"}), false), "colour");
        assert_eq!(field(json!({"status": "completed", "percent_complete": 50}), false), "percent_complete");
        assert_eq!(field(json!([]), false), "body");

        let patch = TaskInput::from_json(&json!({"body": null, "due_date": null}), false).unwrap();
        assert_eq!(patch.updates().len(), 2);
        assert!(matches!(patch.updates()[0], ItemUpdate::DeleteItemField { .. }));
        assert!(TaskInput::from_json(&json!({}), false).unwrap().is_empty());
    }
}
