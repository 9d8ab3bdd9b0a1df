//! Categories, priorities and the application's id in Exchange (`[mapping]` of the
//! configuration).
//!
//! * Categories: `[[mapping.categories]]` maps application category names to Exchange
//!   (Outlook) category names; unmapped names pass through unchanged both ways. Exchange names
//!   compare without case, as Outlook does.
//! * Colours: a category's colour is not on the item but in the mailbox's master category list,
//!   the `CategoryList` user configuration object of the calendar folder (its XML in `XmlData`,
//!   MS-OXOCFG §2.2.5: `<categories xmlns="CategoryList.xsd"><category name=".." color="4"
//!   …/></categories>`, `color` -1 for none or 0…24 for Outlook's presets).
//!   [`ensure_categories`] adds the missing ones.
//! * Priorities: `[mapping.priorities]` maps application priorities to the item's `Importance`;
//!   the reverse takes the alphabetically first priority of an importance. Without a table the
//!   contract's `low` / `normal` / `high` are the priorities and documents carry no `priority`.
//! * The application's id of an event lives in a named string property of the item:
//!   property set [`APP_ID_PROPERTY_SET`] (a GUID of exbridge's own, so that no other
//!   application's `PublicStrings` name can collide with it), name [`APP_ID_PROPERTY_NAME`]. A
//!   sync reads it into [`EventDoc::app_id`]; [`find_by_app_id`] finds the item again, so a
//!   lost mirror is rebuilt from Exchange without creating duplicates.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use ews_client::{ErrorClass, ErrorKind, EwsError};
use ews_proto::SmtpAddress;
use ews_proto::items::{ExtendedProperty, ExtendedValue, Importance, ItemFields};
use ews_proto::ops::{
    CreateUserConfiguration, FindItem, GetUserConfiguration, Restriction, SearchExpression, UpdateUserConfiguration,
    UserConfiguration, UserConfigurationName,
};
use ews_proto::shape::{ExtendedFieldUri, ItemShape, MapiPropertyType, PropertyPath};
use ews_proto::{FolderId, ResponseCode};
use exbridge_config::{CategoryColor, CategoryMapping, MappingConfig};
use sha2::{Digest, Sha256};

use crate::context::{Context, ExchangeServer};
use crate::event::EventDoc;
use crate::sync::message_error;

/// The property set (`PropertySetId`) of exbridge's named properties.
pub const APP_ID_PROPERTY_SET: &str = "6c1f4a52-8e0b-4d7a-9f3c-2b5e7d90a1e4";
/// The name of the property holding the application's id of an event.
pub const APP_ID_PROPERTY_NAME: &str = "exbridge-app-id";

/// The `t:ExtendedFieldURI` of the application id property (String).
pub fn app_id_field() -> ExtendedFieldUri {
    ExtendedFieldUri {
        distinguished_property_set_id: None,
        property_set_id: Some(APP_ID_PROPERTY_SET.to_owned()),
        property_tag: None,
        property_name: Some(APP_ID_PROPERTY_NAME.to_owned()),
        property_id: None,
        property_type: MapiPropertyType::String,
    }
}

/// The extended property that stores `app_id` on an item: put it in
/// `ItemFields::extended_properties` of a CreateItem, or set it with
/// `ews_proto::ops::ItemChange::set_extended_property` in an UpdateItem.
pub fn app_id_property(app_id: &str) -> ExtendedProperty {
    ExtendedProperty { field: app_id_field(), value: ExtendedValue::Single(app_id.to_owned()) }
}

/// The application id an item carries, if any (non-empty).
pub fn app_id_of(fields: &ItemFields) -> Option<String> {
    let field = app_id_field();
    fields.extended_properties.iter().find(|p| same_field(&p.field, &field)).and_then(|p| match &p.value {
        ExtendedValue::Single(v) if !v.is_empty() => Some(v.clone()),
        ExtendedValue::Multi(v) => v.first().filter(|v| !v.is_empty()).cloned(),
        _ => None,
    })
}

/// Exchange may answer the property set GUID in another case than it was written.
fn same_field(a: &ExtendedFieldUri, b: &ExtendedFieldUri) -> bool {
    a.property_name == b.property_name
        && a.property_type == b.property_type
        && a.property_set_id.as_deref().map(str::to_ascii_lowercase)
            == b.property_set_id.as_deref().map(str::to_ascii_lowercase)
}

/// The configured tables and the per-mailbox cache of the master category lists. One per
/// engine, in [`Context::catmap`].
#[derive(Debug, Default)]
pub struct CatMap {
    categories: Vec<CategoryMapping>,
    priorities: Vec<(String, Importance)>,
    /// Per `server\0mailbox`: the lower-cased names known to be in its master category list
    /// (`None` until the list was read).
    known: Mutex<HashMap<String, KnownSlot>>,
}

/// One mailbox's cache entry: the lower-cased category names known present, once read.
type KnownSlot = Arc<tokio::sync::Mutex<Option<HashSet<String>>>>;

impl CatMap {
    /// The tables of `[mapping]`.
    pub fn new(config: &MappingConfig) -> Self {
        CatMap { categories: config.categories.clone(), priorities: config.priorities.clone(), known: Mutex::default() }
    }

    /// Whether any table is configured (otherwise documents are left as mapped).
    pub fn is_active(&self) -> bool {
        !self.categories.is_empty() || !self.priorities.is_empty()
    }

    /// Whether `[mapping.priorities]` is configured (documents then carry `priority`).
    pub fn has_priorities(&self) -> bool {
        !self.priorities.is_empty()
    }

    /// The configured category entries, in file order.
    pub fn categories(&self) -> &[CategoryMapping] {
        &self.categories
    }

    /// Application category names → Exchange names (unmapped names unchanged, duplicates
    /// dropped, order kept).
    pub fn app_to_exchange_categories(&self, app: &[String]) -> Vec<String> {
        dedup(app.iter().map(|a| match self.categories.iter().find(|c| &c.app == a) {
            Some(c) => c.exchange.clone(),
            None => a.clone(),
        }))
    }

    /// Exchange category names → application names (first entry for an Exchange name, compared
    /// without case; unmapped names unchanged, duplicates dropped, order kept).
    pub fn exchange_to_app_categories(&self, exchange: &[String]) -> Vec<String> {
        dedup(exchange.iter().map(|x| match self.categories.iter().find(|c| c.exchange.eq_ignore_ascii_case(x)) {
            Some(c) => c.app.clone(),
            None => x.clone(),
        }))
    }

    /// The Exchange importance of an application priority. Without a priorities table the
    /// priorities are the contract's `low`, `normal`, `high`. Unknown: an error naming the
    /// allowed values.
    pub fn importance_for_priority(&self, priority: &str) -> Result<Importance, String> {
        if self.priorities.is_empty() {
            return match priority {
                "low" => Ok(Importance::Low),
                "normal" => Ok(Importance::Normal),
                "high" => Ok(Importance::High),
                other => Err(format!("unknown priority {other:?}: expected one of low, normal, high")),
            };
        }
        self.priorities.iter().find(|(p, _)| p == priority).map(|(_, i)| *i).ok_or_else(|| {
            let allowed: Vec<&str> = self.priorities.iter().map(|(p, _)| p.as_str()).collect();
            format!("unknown priority {priority:?}: expected one of {}", allowed.join(", "))
        })
    }

    /// The application priority of an Exchange importance: the alphabetically first configured
    /// priority that maps to it; `None` when no priorities table is configured or none maps
    /// to it.
    pub fn priority_for_importance(&self, importance: Importance) -> Option<String> {
        self.priorities.iter().find(|(_, i)| *i == importance).map(|(p, _)| p.clone())
    }

    /// Rewrites a document mapped from Exchange into the application's terms: categories in
    /// application names, `priority` from `importance` (when a priorities table is set).
    pub fn apply_to_doc(&self, doc: &mut EventDoc) {
        if !self.categories.is_empty() {
            doc.categories = self.exchange_to_app_categories(&doc.categories);
        }
        if self.has_priorities() {
            let importance = match doc.importance.as_str() {
                "low" => Importance::Low,
                "high" => Importance::High,
                _ => Importance::Normal,
            };
            doc.priority = self.priority_for_importance(importance);
        }
    }

    /// Exchange names and colours (`presetN` / `none`) of the mapped categories among
    /// `app_categories` (what [`ensure_categories`] wants for an item's categories).
    pub fn colors_for(&self, app_categories: &[String]) -> Vec<(String, String)> {
        app_categories
            .iter()
            .filter_map(|a| self.categories.iter().find(|c| &c.app == a))
            .map(|c| (c.exchange.clone(), c.color.name()))
            .collect()
    }

    fn slot(&self, server: &str, mailbox: &SmtpAddress) -> KnownSlot {
        let key = format!("{server}\0{}", mailbox.as_str().to_ascii_lowercase());
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.entry(key).or_default().clone()
    }
}

fn dedup(names: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    names.filter(|n| seen.insert(n.to_lowercase())).collect()
}

fn protocol(server: &ExchangeServer, what: String) -> EwsError {
    EwsError::new(ErrorClass::Transient, ErrorKind::Protocol, format!("server {:?}: {what}", server.name))
}

/// The ItemId of the calendar item of `mailbox` that carries `app_id` in the application id
/// property (FindItem with an `IsEqualTo` restriction; the first if several do), or `None`.
pub async fn find_by_app_id(
    _ctx: &Context,
    server: &ExchangeServer,
    mailbox: &SmtpAddress,
    app_id: &str,
) -> Result<Option<ews_proto::ItemId>, EwsError> {
    let restriction =
        Restriction(SearchExpression::is_equal_to(PropertyPath::Extended(app_id_field()), &app_id.to_owned()));
    let op = FindItem::indexed(FolderId::calendar(), 0, 2, ItemShape::id_only()).with_restriction(restriction);
    let response = server.client.call(Some(mailbox), op).await?;
    let msg =
        response.messages.into_iter().next().ok_or_else(|| protocol(server, "FindItem answered no message".into()))?;
    if !msg.status.is_success() {
        return Err(message_error(server, "FindItem", Some(mailbox), &msg.status));
    }
    let found: Vec<ews_proto::ItemId> = msg.items().iter().filter_map(|i| i.item_id().cloned()).collect();
    if found.len() > 1 {
        tracing::warn!(mailbox = %mailbox, app_id, "several calendar items carry the same application id");
    }
    Ok(found.into_iter().next())
}

/// Makes sure the master category list of `mailbox` has each `(Exchange name, colour)` of
/// `categories` (colour `presetN` or `none`; names compared without case; an existing
/// category keeps its colour). Idempotent; the list is read at most once per mailbox and
/// process: the first call also adds every configured `[[mapping.categories]]` entry, and
/// later calls for names known present send nothing. Asking for a name outside the
/// configuration that is not known present reads the list again.
pub async fn ensure_categories(
    ctx: &Context,
    server: &ExchangeServer,
    mailbox: &SmtpAddress,
    categories: &[(&str, &str)],
) -> Result<(), EwsError> {
    let mut wanted: Vec<(String, CategoryColor)> = Vec::new();
    for (name, color) in categories {
        let color = CategoryColor::parse(color).ok_or_else(|| {
            EwsError::new(
                ErrorClass::Fatal,
                ErrorKind::Config,
                format!("category {name:?} for {mailbox}: colour {color:?} is not none or preset0 … preset24"),
            )
        })?;
        wanted.push(((*name).to_owned(), color));
    }
    let slot = ctx.catmap.slot(&server.name, mailbox);
    let mut known = slot.lock().await;
    if let Some(k) = known.as_ref()
        && wanted.iter().all(|(n, _)| k.contains(&n.to_lowercase()))
    {
        return Ok(());
    }
    // Read the list (first time, or a name outside the configuration).
    let name = UserConfigurationName::category_list();
    let response = server.client.call(Some(mailbox), GetUserConfiguration::xml_data(name.clone())).await?;
    let msg = response
        .messages
        .into_iter()
        .next()
        .ok_or_else(|| protocol(server, "GetUserConfiguration answered no message".into()))?;
    let existing = match msg.status.code() {
        ResponseCode::NoError => Some(msg.configuration.and_then(|c| c.xml_data).unwrap_or_default()),
        ResponseCode::ErrorItemNotFound => None,
        _ => return Err(message_error(server, "GetUserConfiguration", Some(mailbox), &msg.status)),
    };
    let xml = existing.as_deref().map(String::from_utf8_lossy).unwrap_or_default().into_owned();
    let mut present: HashSet<String> = category_names(&xml).into_iter().map(|n| n.to_lowercase()).collect();
    let configured = ctx.catmap.categories.iter().map(|c| (c.exchange.clone(), c.color));
    let mut missing: Vec<(String, CategoryColor)> = Vec::new();
    for (n, c) in wanted.into_iter().chain(configured) {
        if !present.contains(&n.to_lowercase()) && !missing.iter().any(|(m, _)| m.eq_ignore_ascii_case(&n)) {
            missing.push((n, c));
        }
    }
    if !missing.is_empty() {
        let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3f").to_string();
        let updated = add_categories(&xml, &missing, &now);
        let configuration =
            UserConfiguration { name, item_id: None, xml_data: Some(updated.into_bytes()), binary_data: None };
        let (op_name, status) = if existing.is_some() {
            let r = server.client.call(Some(mailbox), UpdateUserConfiguration { configuration }).await?;
            ("UpdateUserConfiguration", r.messages.into_iter().next().map(|m| m.status))
        } else {
            let r = server.client.call(Some(mailbox), CreateUserConfiguration { configuration }).await?;
            ("CreateUserConfiguration", r.messages.into_iter().next().map(|m| m.status))
        };
        let status = status.ok_or_else(|| protocol(server, format!("{op_name} answered no message")))?;
        if !status.is_success() {
            return Err(message_error(server, op_name, Some(mailbox), &status));
        }
        tracing::info!(
            mailbox = %mailbox,
            added = ?missing.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            "categories added to the master category list"
        );
        present.extend(missing.into_iter().map(|(n, _)| n.to_lowercase()));
    }
    *known = Some(present);
    Ok(())
}

/// The `name` attributes of the `category` elements of a master category list (empty for
/// an empty or unreadable document).
pub fn category_names(xml: &str) -> Vec<String> {
    let Ok(root) = ews_proto::xml::parse(xml.as_bytes()) else { return Vec::new() };
    root.children.iter().filter(|c| c.name == "category").filter_map(|c| c.attr("name").map(str::to_owned)).collect()
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A stable GUID for a category name (Outlook wants one per category).
fn category_guid(name: &str) -> String {
    let d = Sha256::digest(name.to_lowercase().as_bytes());
    let h: String = d.iter().take(16).map(|b| format!("{b:02X}")).collect();
    format!("{{{}-{}-{}-{}-{}}}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// `xml` (a master category list, or empty) with `categories` appended.
pub fn add_categories(xml: &str, categories: &[(String, CategoryColor)], now: &str) -> String {
    let mut elements = String::new();
    for (name, color) in categories {
        elements.push_str(&format!(
            r#"<category name="{}" color="{}" keyboardShortcut="0" usageCount="0" lastTimeUsedNotes="1601-01-01T00:00:00.000" lastTimeUsedJournal="1601-01-01T00:00:00.000" lastTimeUsedContacts="1601-01-01T00:00:00.000" lastTimeUsedTasks="1601-01-01T00:00:00.000" lastTimeUsedCalendar="1601-01-01T00:00:00.000" lastTimeUsedMail="1601-01-01T00:00:00.000" lastTimeUsed="{now}" lastSessionUsed="0" guid="{}" renameOnFirstUse="0"/>"#,
            escape_attr(name),
            color.list_value(),
            category_guid(name)
        ));
    }
    let trimmed = xml.trim_end();
    if let Some(at) = trimmed.rfind("</categories>") {
        return format!("{}{elements}{}", &trimmed[..at], &trimmed[at..]);
    }
    if trimmed.ends_with("/>")
        && let Some(open) = trimmed.rfind("<categories")
        && trimmed[open..].find('>') == Some(trimmed.len() - open - 1)
    {
        // `<categories … />`: open it.
        let head = &trimmed[..trimmed.len() - 2];
        return format!("{head}>{elements}</categories>");
    }
    format!(
        r#"<?xml version="1.0"?><categories default="" lastSavedSession="0" lastSavedTime="{now}" xmlns="CategoryList.xsd">{elements}</categories>"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> CatMap {
        CatMap::new(&MappingConfig {
            categories: vec![
                CategoryMapping {
                    app: "customer-visit".into(),
                    exchange: "Customer visit".into(),
                    color: CategoryColor::Preset(4),
                },
                CategoryMapping { app: "internal".into(), exchange: "Internal".into(), color: CategoryColor::None },
            ],
            priorities: vec![
                ("high".into(), Importance::High),
                ("low".into(), Importance::Low),
                ("normal".into(), Importance::Normal),
                ("urgent".into(), Importance::High),
            ],
        })
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn categories_both_ways() {
        let m = map();
        assert_eq!(
            m.app_to_exchange_categories(&s(&["customer-visit", "other", "internal"])),
            s(&["Customer visit", "other", "Internal"])
        );
        assert_eq!(
            m.exchange_to_app_categories(&s(&["customer VISIT", "Red category", "Internal"])),
            s(&["customer-visit", "Red category", "internal"])
        );
        // A pass-through name equal to a mapped one is not repeated.
        assert_eq!(m.exchange_to_app_categories(&s(&["Customer visit", "customer-visit"])), s(&["customer-visit"]));
        let none = CatMap::default();
        assert_eq!(none.exchange_to_app_categories(&s(&["Customer visit"])), s(&["Customer visit"]));
        assert_eq!(m.colors_for(&s(&["customer-visit", "x"])), vec![("Customer visit".into(), "preset4".into())]);
    }

    #[test]
    fn priorities_both_ways() {
        let m = map();
        assert_eq!(m.importance_for_priority("urgent"), Ok(Importance::High));
        assert_eq!(m.importance_for_priority("low"), Ok(Importance::Low));
        let e = m.importance_for_priority("critical").unwrap_err();
        assert!(e.contains("\"critical\"") && e.contains("high, low, normal, urgent"), "{e}");
        assert_eq!(m.priority_for_importance(Importance::High).as_deref(), Some("high"));
        assert_eq!(m.priority_for_importance(Importance::Normal).as_deref(), Some("normal"));
        let none = CatMap::default();
        assert_eq!(none.importance_for_priority("high"), Ok(Importance::High));
        assert!(none.importance_for_priority("urgent").unwrap_err().contains("low, normal, high"));
        assert_eq!(none.priority_for_importance(Importance::High), None);
    }

    #[test]
    fn category_list_documents() {
        let now = "2026-03-16T12:00:00.000";
        let fresh = add_categories("", &[("Customer visit".into(), CategoryColor::Preset(4))], now);
        assert!(fresh.starts_with("<?xml") && fresh.contains(r#"xmlns="CategoryList.xsd""#), "{fresh}");
        assert!(fresh.contains(r#"name="Customer visit" color="4""#), "{fresh}");
        assert_eq!(category_names(&fresh), s(&["Customer visit"]));
        let more = add_categories(&fresh, &[("R&D <x>".into(), CategoryColor::None)], now);
        assert_eq!(category_names(&more), s(&["Customer visit", "R&D <x>"]));
        assert!(more.contains(r#"color="-1""#));
        let empty = r#"<?xml version="1.0"?><categories default="" xmlns="CategoryList.xsd"/>"#;
        assert_eq!(category_names(&add_categories(empty, &[("A".into(), CategoryColor::Preset(0))], now)), s(&["A"]));
        assert_eq!(category_guid("A"), category_guid("a"));
    }

    #[test]
    fn app_id_property_round_trip() {
        let mut fields = ItemFields::default();
        assert_eq!(app_id_of(&fields), None);
        let mut p = app_id_property("order-42");
        p.field.property_set_id = p.field.property_set_id.map(|g| g.to_uppercase());
        fields.extended_properties.push(p);
        assert_eq!(app_id_of(&fields).as_deref(), Some("order-42"));
    }

    #[test]
    fn documents_in_application_terms() {
        let m = map();
        let mut doc: EventDoc = serde_json::from_value(serde_json::json!({
            "id": "x", "uid": "x", "subject": "s", "start": "2026-03-16T09:00:00Z", "end": "2026-03-16T10:00:00Z",
            "time_zone": "UTC", "is_all_day": false, "location": null, "is_private": false,
            "categories": ["Customer visit"], "importance": "high", "free_busy": "busy", "organizer": null,
            "attendees": [], "is_meeting": false, "is_cancelled": false, "changed_at": "2026-03-16T08:00:00Z"
        }))
        .unwrap();
        assert_eq!(doc.priority, None);
        m.apply_to_doc(&mut doc);
        assert_eq!(doc.categories, s(&["customer-visit"]));
        assert_eq!(doc.priority.as_deref(), Some("high"));
        assert_eq!(doc.importance, "high");
    }
}
