//! `GetFolder`: a folder's properties (id, change key, counts, rights) by id or by
//! distinguished name. The connector uses it to turn `calendar` into the calendar's store id
//! and to check `EffectiveRights` before it writes.
//!
//! Also home of [`StoreFolderId`] (`t:FolderIdType`, the id of a resolved folder as responses
//! and notifications carry it) and [`FolderShape`] (`m:FolderShape`).

use crate::error::{Error, Result};
use crate::ids::{ChangeKey, DistinguishedFolderName, FolderId, FolderIdValue};
use crate::items::ExtendedProperty;
use crate::response::{ResponseStatus, read_messages, write_messages};
use crate::shape::{BaseShape, ExtendedFieldUri, PropertyPath};
use crate::xml::{Element, FromXml, Name, ToXml, Writer, m, t};
use crate::xml_enum;

/// `t:FolderIdType`: the store id of a resolved folder and its change key. Responses and
/// notifications always carry this form (`t:FolderId`, `t:ParentFolderId`,
/// `t:OldParentFolderId`); requests may also name a folder by distinguished name, see
/// [`FolderId`]. Folder ids do not change when a folder is moved (DIGEST §5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreFolderId {
    /// `@Id` (required).
    pub id: FolderIdValue,
    /// `@ChangeKey`.
    pub change_key: Option<ChangeKey>,
}

impl StoreFolderId {
    pub fn new(id: impl Into<String>, change_key: Option<&str>) -> Self {
        StoreFolderId { id: FolderIdValue(id.into()), change_key: change_key.map(ChangeKey::from) }
    }
}

impl From<StoreFolderId> for FolderId {
    fn from(f: StoreFolderId) -> Self {
        FolderId::Id { id: f.id, change_key: f.change_key }
    }
}

impl FromXml for StoreFolderId {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(StoreFolderId { id: el.req_attr_as("Id")?, change_key: el.attr_as("ChangeKey")? })
    }
}

impl ToXml for StoreFolderId {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).attr_val("Id", &self.id).attr_opt("ChangeKey", &self.change_key).end();
    }
}

/// Reads a `t:NonEmptyArrayOfBaseFolderIdsType` wrapper (`t:FolderIds`, `m:FolderIds`,
/// `m:ParentFolderIds`): at least one `t:FolderId` / `t:DistinguishedFolderId`.
pub(crate) fn read_folder_ids(el: &Element) -> Result<Vec<FolderId>> {
    let ids = FolderId::read_all(el)?;
    if ids.is_empty() {
        return Err(Error::missing("element t:FolderId or t:DistinguishedFolderId").at(el));
    }
    Ok(ids)
}

/// Writes `<wrapper>` with every folder id in it.
pub(crate) fn write_folder_ids(w: &mut Writer, wrapper: Name<'_>, ids: &[FolderId]) {
    w.start(wrapper);
    for id in ids {
        id.write(w);
    }
    w.end();
}

/// `m:FolderShape` (`t:FolderResponseShapeType`): the base shape and extra properties to return.
/// It is the first two elements of `ItemShape` (no body or MIME options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderShape {
    /// `t:BaseShape`: `IdOnly` returns `FolderId` only; `Default` adds `DisplayName`,
    /// `TotalCount`, `ChildFolderCount`, `UnreadCount`; `AllProperties` the rest.
    pub base_shape: BaseShape,
    /// `t:AdditionalProperties` (non-empty when present), e.g. `folder:EffectiveRights` or an
    /// extended property such as `PR_LOCAL_COMMIT_TIME_MAX` (0x670A, SystemTime; DIGEST §3).
    pub additional_properties: Option<Vec<PropertyPath>>,
}

impl FolderShape {
    pub fn new(base_shape: BaseShape) -> Self {
        FolderShape { base_shape, additional_properties: None }
    }

    /// Adds `t:FieldURI`s (`folder:DisplayName`, `folder:EffectiveRights`, …).
    pub fn with_fields(mut self, uris: &[&str]) -> Self {
        let props = self.additional_properties.get_or_insert_with(Vec::new);
        props.extend(uris.iter().map(|u| PropertyPath::field(u)));
        self
    }

    /// Adds an extended property path.
    pub fn with_extended(mut self, uri: ExtendedFieldUri) -> Self {
        self.additional_properties.get_or_insert_with(Vec::new).push(PropertyPath::Extended(uri));
        self
    }
}

impl FromXml for FolderShape {
    fn from_xml(el: &Element) -> Result<Self> {
        let additional_properties = match el.child(t("AdditionalProperties")) {
            None => None,
            Some(a) => {
                let props = PropertyPath::read_all(a).map_err(|e| e.at(el))?;
                if props.is_empty() {
                    return Err(Error::missing("a property path").at(a).at(el));
                }
                Some(props)
            }
        };
        Ok(FolderShape { base_shape: el.get_text_req(t("BaseShape"))?, additional_properties })
    }
}

impl ToXml for FolderShape {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).leaf_val(t("BaseShape"), &self.base_shape);
        if let Some(props) = &self.additional_properties {
            w.start(t("AdditionalProperties"));
            for p in props {
                p.write(w);
            }
            w.end();
        }
        w.end();
    }
}

/// `t:EffectiveRights`: what the calling (or impersonated) account may do in a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EffectiveRights {
    pub create_associated: bool,
    /// Create items (events) in the folder.
    pub create_contents: bool,
    pub create_hierarchy: bool,
    pub delete: bool,
    pub modify: bool,
    pub read: bool,
    /// Whether private items are visible (delegates). Exchange 2010+.
    pub view_private_items: Option<bool>,
}

impl FromXml for EffectiveRights {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(EffectiveRights {
            create_associated: el.get_text_req(t("CreateAssociated"))?,
            create_contents: el.get_text_req(t("CreateContents"))?,
            create_hierarchy: el.get_text_req(t("CreateHierarchy"))?,
            delete: el.get_text_req(t("Delete"))?,
            modify: el.get_text_req(t("Modify"))?,
            read: el.get_text_req(t("Read"))?,
            view_private_items: el.get_text(t("ViewPrivateItems"))?,
        })
    }
}

impl ToXml for EffectiveRights {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .leaf_val(t("CreateAssociated"), &self.create_associated)
            .leaf_val(t("CreateContents"), &self.create_contents)
            .leaf_val(t("CreateHierarchy"), &self.create_hierarchy)
            .leaf_val(t("Delete"), &self.delete)
            .leaf_val(t("Modify"), &self.modify)
            .leaf_val(t("Read"), &self.read)
            .leaf_opt(t("ViewPrivateItems"), &self.view_private_items)
            .end();
    }
}

xml_enum! {
    /// `t:CalendarPermissionReadAccessType`: `SharingEffectiveRights` of a calendar folder.
    pub enum CalendarReadAccess { None, TimeOnly, TimeAndSubjectAndLocation, FullDetails }
}

xml_enum! {
    /// `t:PermissionReadAccessType`: `SharingEffectiveRights` of a contacts folder.
    pub enum PermissionReadAccess { None, FullDetails }
}

/// The folder element kinds of `t:ArrayOfFoldersType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FolderKind {
    /// `t:Folder` (`t:FolderType`), e.g. the inbox.
    #[default]
    Folder,
    /// `t:CalendarFolder`.
    Calendar,
    /// `t:ContactsFolder`.
    Contacts,
    /// `t:SearchFolder` (a `t:FolderType` plus `SearchParameters`).
    Search,
    /// `t:TasksFolder` (a `t:FolderType`).
    Tasks,
}

impl FolderKind {
    pub const ALL: &'static [FolderKind] =
        &[FolderKind::Folder, FolderKind::Calendar, FolderKind::Contacts, FolderKind::Search, FolderKind::Tasks];

    /// The element's local name.
    pub fn element_name(&self) -> &'static str {
        match self {
            FolderKind::Folder => "Folder",
            FolderKind::Calendar => "CalendarFolder",
            FolderKind::Contacts => "ContactsFolder",
            FolderKind::Search => "SearchFolder",
            FolderKind::Tasks => "TasksFolder",
        }
    }

    fn of(el: &Element) -> Option<FolderKind> {
        FolderKind::ALL.iter().copied().find(|k| el.is(t(k.element_name())))
    }
}

/// A folder as `GetFolder` (and `FindFolder`) return it: the elements of `t:BaseFolderType`
/// and of the derived types, in schema order. Which kind-specific fields apply depends on
/// [`Folder::kind`]; the others are neither read nor written:
///
/// | field | kinds |
/// |---|---|
/// | `unread_count` | Folder, Search, Tasks (`t:FolderType`) |
/// | `sharing_effective_rights` | Calendar |
/// | `contacts_sharing_effective_rights`, `source_id`, `account_name` | Contacts |
/// | `search_parameters` | Search |
/// | `permission_set` | all (for calendars it is a `t:CalendarPermissionSetType`) |
///
/// Not modelled (skipped when read): `ManagedFolderInformation`, `PolicyTag`, `ArchiveTag`,
/// `ReplicaList`. `PermissionSet` and `SearchParameters` are kept as raw elements.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Folder {
    pub kind: FolderKind,
    pub folder_id: Option<StoreFolderId>,
    pub parent_folder_id: Option<StoreFolderId>,
    /// `IPF.Appointment` for calendars, `IPF.Task`, `IPF.Note`, `IPF.Contact`.
    pub folder_class: Option<String>,
    pub display_name: Option<String>,
    pub total_count: Option<i32>,
    pub child_folder_count: Option<i32>,
    /// `t:ExtendedProperty`, any number (requested through `AdditionalProperties`).
    pub extended_properties: Vec<ExtendedProperty>,
    pub effective_rights: Option<EffectiveRights>,
    /// `t:DistinguishedFolderId` (Exchange 2013+): which well-known folder this is.
    pub distinguished_folder_id: Option<DistinguishedFolderName>,
    /// Calendar folders: `t:SharingEffectiveRights`.
    pub sharing_effective_rights: Option<CalendarReadAccess>,
    /// Contacts folders: `t:SharingEffectiveRights`.
    pub contacts_sharing_effective_rights: Option<PermissionReadAccess>,
    /// `t:PermissionSet` (or the calendar variant), kept as it came.
    pub permission_set: Option<Element>,
    /// Folder, Search and Tasks folders: `t:UnreadCount`.
    pub unread_count: Option<i32>,
    /// Contacts folders: `t:SourceId`.
    pub source_id: Option<String>,
    /// Contacts folders: `t:AccountName`.
    pub account_name: Option<String>,
    /// Search folders: `t:SearchParameters`, kept as it came.
    pub search_parameters: Option<Element>,
}

impl Folder {
    /// A folder of the given kind with just an id.
    pub fn with_id(kind: FolderKind, id: StoreFolderId) -> Self {
        Folder { kind, folder_id: Some(id), ..Folder::default() }
    }

    /// Reads a folder element; `None` if `el` is not one of the folder elements.
    pub fn read(el: &Element) -> Option<Result<Folder>> {
        let kind = FolderKind::of(el)?;
        Some(Folder::read_kind(el, kind))
    }

    /// Every folder child of a wrapper (`m:Folders`); any other child is an error.
    pub fn read_all(el: &Element) -> Result<Vec<Folder>> {
        el.children
            .iter()
            .map(|c| {
                Folder::read(c).unwrap_or_else(|| {
                    Err(Error::invalid(
                        c.display_name(),
                        "t:Folder, t:CalendarFolder, t:ContactsFolder, t:SearchFolder or t:TasksFolder",
                    )
                    .at(c))
                })
            })
            .collect::<Result<_>>()
            .map_err(|e| e.at(el))
    }

    fn read_kind(el: &Element, kind: FolderKind) -> Result<Folder> {
        let extended_properties = el.get_all(t("ExtendedProperty"))?;
        let mut f = Folder {
            kind,
            folder_id: el.get(t("FolderId"))?,
            parent_folder_id: el.get(t("ParentFolderId"))?,
            folder_class: el.get_text(t("FolderClass"))?,
            display_name: el.get_text(t("DisplayName"))?,
            total_count: el.get_text(t("TotalCount"))?,
            child_folder_count: el.get_text(t("ChildFolderCount"))?,
            extended_properties,
            effective_rights: el.get(t("EffectiveRights"))?,
            distinguished_folder_id: el.get_text(t("DistinguishedFolderId"))?,
            permission_set: el.child(t("PermissionSet")).cloned(),
            ..Folder::default()
        };
        match kind {
            FolderKind::Calendar => f.sharing_effective_rights = el.get_text(t("SharingEffectiveRights"))?,
            FolderKind::Contacts => {
                f.contacts_sharing_effective_rights = el.get_text(t("SharingEffectiveRights"))?;
                f.source_id = el.get_text(t("SourceId"))?;
                f.account_name = el.get_text(t("AccountName"))?;
            }
            FolderKind::Folder | FolderKind::Search | FolderKind::Tasks => {
                f.unread_count = el.get_text(t("UnreadCount"))?;
            }
        }
        if kind == FolderKind::Search {
            f.search_parameters = el.child(t("SearchParameters")).cloned();
        }
        Ok(f)
    }

    /// Writes the folder with its own element name.
    pub fn write(&self, w: &mut Writer) {
        let kind = self.kind;
        w.start(t(kind.element_name()))
            .child_opt(t("FolderId"), &self.folder_id)
            .child_opt(t("ParentFolderId"), &self.parent_folder_id)
            .leaf_opt(t("FolderClass"), &self.folder_class)
            .leaf_opt(t("DisplayName"), &self.display_name)
            .leaf_opt(t("TotalCount"), &self.total_count)
            .leaf_opt(t("ChildFolderCount"), &self.child_folder_count);
        w.each(t("ExtendedProperty"), &self.extended_properties);
        w.child_opt(t("EffectiveRights"), &self.effective_rights)
            .leaf_opt(t("DistinguishedFolderId"), &self.distinguished_folder_id);
        match kind {
            FolderKind::Calendar => {
                w.leaf_opt(t("SharingEffectiveRights"), &self.sharing_effective_rights);
                w.child_opt(t("PermissionSet"), &self.permission_set);
            }
            FolderKind::Contacts => {
                w.leaf_opt(t("SharingEffectiveRights"), &self.contacts_sharing_effective_rights);
                w.child_opt(t("PermissionSet"), &self.permission_set);
                w.leaf_opt(t("SourceId"), &self.source_id);
                w.leaf_opt(t("AccountName"), &self.account_name);
            }
            FolderKind::Folder | FolderKind::Search | FolderKind::Tasks => {
                w.child_opt(t("PermissionSet"), &self.permission_set);
                w.leaf_opt(t("UnreadCount"), &self.unread_count);
                if kind == FolderKind::Search {
                    w.child_opt(t("SearchParameters"), &self.search_parameters);
                }
            }
        }
        w.end();
    }
}

/// `m:GetFolder`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetFolder {
    /// `m:FolderShape` (required).
    pub folder_shape: FolderShape,
    /// `m:FolderIds`: at least one folder id or distinguished folder id.
    pub folder_ids: Vec<FolderId>,
}

impl GetFolder {
    /// The user's default calendar with the given shape.
    pub fn calendar(shape: FolderShape) -> Self {
        GetFolder { folder_shape: shape, folder_ids: vec![FolderId::calendar()] }
    }
}

impl FromXml for GetFolder {
    fn from_xml(el: &Element) -> Result<Self> {
        let ids = el.req(m("FolderIds"))?;
        Ok(GetFolder {
            folder_shape: el.get_req(m("FolderShape"))?,
            folder_ids: read_folder_ids(ids).map_err(|e| e.at(el))?,
        })
    }
}

impl ToXml for GetFolder {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).child(m("FolderShape"), &self.folder_shape);
        write_folder_ids(w, m("FolderIds"), &self.folder_ids);
        w.end();
    }
}

/// `m:GetFolderResponseMessage` (`m:FolderInfoResponseMessageType`), one per requested id, in
/// request order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetFolderResponseMessage {
    pub status: ResponseStatus,
    /// `m:Folders`; error messages often carry an empty `<m:Folders/>`.
    pub folders: Option<Vec<Folder>>,
}

impl FromXml for GetFolderResponseMessage {
    fn from_xml(el: &Element) -> Result<Self> {
        let folders = match el.child(m("Folders")) {
            None => None,
            Some(f) => Some(Folder::read_all(f).map_err(|e| e.at(el))?),
        };
        Ok(GetFolderResponseMessage { status: ResponseStatus::read(el)?, folders })
    }
}

impl ToXml for GetFolderResponseMessage {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        self.status.write_start(w, name);
        if let Some(folders) = &self.folders {
            w.start(m("Folders"));
            for f in folders {
                f.write(w);
            }
            w.end();
        }
        w.end();
    }
}

/// `m:GetFolderResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetFolderResponse {
    pub messages: Vec<GetFolderResponseMessage>,
}

impl FromXml for GetFolderResponse {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(GetFolderResponse { messages: read_messages(el, "GetFolderResponseMessage")? })
    }
}

impl ToXml for GetFolderResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        write_messages(w, name, "GetFolderResponseMessage", &self.messages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::subscribe::test_support::*;
    use crate::response_code::ResponseCode;
    use crate::shape::{DistinguishedPropertySet, MapiPropertyType};
    use crate::soap::{Body, ExchangeVersion};

    fn folders(name: &str) -> GetFolderResponse {
        match sample(name).body {
            Body::GetFolderResponse(r) => r,
            other => panic!("{name}: {}", other.element_name()),
        }
    }

    #[test]
    fn samples() {
        let env = sample("GetFolder-Calendar.request.xml");
        assert_eq!(env.header.request_server_version, Some(ExchangeVersion::Exchange2007_SP1));
        let Body::GetFolder(r) = env.body else { panic!() };
        assert_eq!(r, GetFolder::calendar(FolderShape::new(BaseShape::IdOnly)));

        let Body::GetFolder(r) = sample("GetFolder.request.xml").body else { panic!() };
        assert_eq!(r.folder_shape.base_shape, BaseShape::Default);
        assert_eq!(r.folder_ids, vec![FolderId::distinguished(DistinguishedFolderName::Inbox)]);

        let r = folders("GetFolder.response.xml");
        let f = &r.messages[0].folders.as_ref().unwrap()[0];
        assert_eq!(f.kind, FolderKind::Folder);
        assert_eq!(f.folder_id, Some(StoreFolderId::new("AQApA=", Some("AQAAAB"))));
        assert_eq!(f.display_name.as_deref(), Some("Inbox"));
        assert_eq!((f.total_count, f.child_folder_count, f.unread_count), (Some(2), Some(0), Some(2)));

        let r = folders("GetFolder-Calendar.response.xml");
        let f = &r.messages[0].folders.as_ref().unwrap()[0];
        assert_eq!(*f, Folder::with_id(FolderKind::Calendar, StoreFolderId::new("AAMk", Some("AgAA"))));

        let r = folders("GetFolder-Error-InvalidIdMalformed.response.xml");
        assert_eq!(r.messages[0].status.code(), ResponseCode::ErrorInvalidIdMalformed);
        assert_eq!(r.messages[0].folders, Some(vec![]));
    }

    fn commit_time() -> ExtendedFieldUri {
        ExtendedFieldUri {
            distinguished_property_set_id: None,
            property_set_id: None,
            property_tag: Some("0x670A".into()),
            property_name: None,
            property_id: None,
            property_type: MapiPropertyType::SystemTime,
        }
    }

    fn rights() -> EffectiveRights {
        EffectiveRights {
            create_associated: true,
            create_contents: true,
            create_hierarchy: false,
            delete: true,
            modify: true,
            read: true,
            view_private_items: Some(false),
        }
    }

    /// A folder of each kind with every field that applies to it.
    fn every_kind() -> Vec<Folder> {
        let base = Folder {
            folder_id: Some(StoreFolderId::new("AAMkCal", Some("AgAAABYAAAA"))),
            parent_folder_id: Some(StoreFolderId::new("AAMkRoot", None)),
            folder_class: Some("IPF.Appointment".into()),
            display_name: Some("Calendar & <Kalender>".into()),
            total_count: Some(120),
            child_folder_count: Some(1),
            extended_properties: vec![
                ExtendedProperty {
                    field: commit_time(),
                    value: crate::items::ExtendedValue::Single("2026-03-29T09:00:00Z".into()),
                },
                ExtendedProperty {
                    field: ExtendedFieldUri::public_string("exbridge-tags"),
                    value: crate::items::ExtendedValue::Multi(vec!["a".into(), "b".into()]),
                },
            ],
            effective_rights: Some(rights()),
            distinguished_folder_id: Some(DistinguishedFolderName::Calendar),
            ..Folder::default()
        };
        vec![
            Folder {
                kind: FolderKind::Calendar,
                sharing_effective_rights: Some(CalendarReadAccess::TimeAndSubjectAndLocation),
                permission_set: Some(raw(
                    "<t:PermissionSet><t:CalendarPermissions/><t:UnknownEntries><t:UnknownEntry>x</t:UnknownEntry></t:UnknownEntries></t:PermissionSet>",
                )),
                ..base.clone()
            },
            Folder {
                kind: FolderKind::Folder,
                folder_class: Some("IPF.Note".into()),
                distinguished_folder_id: Some(DistinguishedFolderName::Inbox),
                permission_set: Some(raw("<t:PermissionSet><t:Permissions/></t:PermissionSet>")),
                unread_count: Some(7),
                ..base.clone()
            },
            Folder {
                kind: FolderKind::Tasks,
                folder_class: Some("IPF.Task".into()),
                distinguished_folder_id: Some(DistinguishedFolderName::Tasks),
                unread_count: Some(0),
                ..base.clone()
            },
            Folder {
                kind: FolderKind::Contacts,
                folder_class: Some("IPF.Contact".into()),
                distinguished_folder_id: Some(DistinguishedFolderName::Contacts),
                contacts_sharing_effective_rights: Some(PermissionReadAccess::FullDetails),
                permission_set: Some(raw("<t:PermissionSet><t:Permissions/></t:PermissionSet>")),
                source_id: Some("src".into()),
                account_name: Some("acct".into()),
                ..base.clone()
            },
            Folder {
                kind: FolderKind::Search,
                folder_class: None,
                distinguished_folder_id: None,
                unread_count: Some(3),
                search_parameters: Some(raw(
                    "<t:SearchParameters Traversal=\"Deep\"><t:Restriction><t:Exists><t:FieldURI FieldURI=\"item:Subject\"/></t:Exists></t:Restriction><t:BaseFolderIds><t:DistinguishedFolderId Id=\"calendar\"/></t:BaseFolderIds></t:SearchParameters>",
                )),
                ..base
            },
            Folder::default(),
        ]
    }

    #[test]
    fn schema_validity_and_round_trips() {
        let shape = FolderShape::new(BaseShape::AllProperties)
            .with_fields(&["folder:EffectiveRights", "folder:DisplayName"])
            .with_extended(commit_time())
            .with_extended(ExtendedFieldUri {
                distinguished_property_set_id: Some(DistinguishedPropertySet::PublicStrings),
                ..ExtendedFieldUri::public_string("exbridge-tags")
            });
        let envs = [
            ("request calendar", request(GetFolder::calendar(FolderShape::new(BaseShape::IdOnly)))),
            (
                "request full",
                request(GetFolder {
                    folder_shape: shape,
                    folder_ids: vec![
                        FolderId::calendar(),
                        FolderId::tasks(),
                        StoreFolderId::new("AAMkOther", Some("AgAA")).into(),
                    ],
                }),
            ),
            (
                "response every kind",
                response(GetFolderResponse {
                    messages: vec![
                        GetFolderResponseMessage { status: ResponseStatus::success(), folders: Some(every_kind()) },
                        GetFolderResponseMessage {
                            status: ResponseStatus::error(
                                ResponseCode::ErrorFolderNotFound,
                                "The specified folder could not be found in the store.",
                            ),
                            folders: Some(vec![]),
                        },
                        GetFolderResponseMessage {
                            status: ResponseStatus::error(ResponseCode::ErrorAccessDenied, "Access is denied."),
                            folders: None,
                        },
                    ],
                }),
            ),
        ];
        let mut docs: Vec<(String, String)> = envs.iter().map(|(l, e)| round_trip(l, e)).collect();
        for name in [
            "GetFolder.request.xml",
            "GetFolder.response.xml",
            "GetFolder-Calendar.request.xml",
            "GetFolder-Calendar.response.xml",
            "GetFolder-Error-InvalidIdMalformed.response.xml",
        ] {
            docs.push(round_trip(name, &sample(name)));
        }
        ews_schema_check::assert_all_valid(&docs);
    }

    #[test]
    fn fields_of_other_kinds_are_not_written() {
        let f = Folder {
            kind: FolderKind::Calendar,
            unread_count: Some(4),
            source_id: Some("x".into()),
            ..Folder::default()
        };
        let mut w = Writer::new();
        w.predeclare(&[crate::xml::Ns::Types]).start(m("Folders"));
        f.write(&mut w);
        w.end();
        let s = w.finish();
        assert!(!s.contains("UnreadCount") && !s.contains("SourceId"), "{s}");
    }

    #[test]
    fn errors_name_the_path() {
        let resp = |folder: &str| {
            envelope_with(&format!(
                "<m:GetFolderResponse><m:ResponseMessages><m:GetFolderResponseMessage ResponseClass=\"Success\"><m:Folders>{folder}</m:Folders></m:GetFolderResponseMessage></m:ResponseMessages></m:GetFolderResponse>"
            ))
        };
        let f = "/soap:Envelope/soap:Body/m:GetFolderResponse/m:ResponseMessages/m:GetFolderResponseMessage/m:Folders";
        for (doc, expected) in [
            (
                envelope_with("<m:GetFolder><m:FolderShape/><m:FolderIds><t:DistinguishedFolderId Id=\"calendar\"/></m:FolderIds></m:GetFolder>"),
                "missing element t:BaseShape at /soap:Envelope/soap:Body/m:GetFolder/m:FolderShape".to_string(),
            ),
            (
                envelope_with("<m:GetFolder><m:FolderShape><t:BaseShape>Everything</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id=\"calendar\"/></m:FolderIds></m:GetFolder>"),
                "at /soap:Envelope/soap:Body/m:GetFolder/m:FolderShape/t:BaseShape".to_string(),
            ),
            (
                envelope_with("<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds/></m:GetFolder>"),
                "missing element t:FolderId or t:DistinguishedFolderId at /soap:Envelope/soap:Body/m:GetFolder/m:FolderIds".to_string(),
            ),
            (
                envelope_with("<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id=\"kalender\"/></m:FolderIds></m:GetFolder>"),
                "at /soap:Envelope/soap:Body/m:GetFolder/m:FolderIds/t:DistinguishedFolderId/@Id".to_string(),
            ),
            (
                envelope_with("<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties/></m:FolderShape><m:FolderIds><t:FolderId Id=\"x\"/></m:FolderIds></m:GetFolder>"),
                "missing a property path at /soap:Envelope/soap:Body/m:GetFolder/m:FolderShape/t:AdditionalProperties".to_string(),
            ),
            (resp("<t:Folder><t:FolderId/></t:Folder>"), format!("missing attribute Id at {f}/t:Folder/t:FolderId")),
            (resp("<t:Item/>"), format!("expected t:Folder, t:CalendarFolder, t:ContactsFolder, t:SearchFolder or t:TasksFolder at {f}/t:Item")),
            (resp("<t:TasksFolder><t:TotalCount>-</t:TotalCount></t:TasksFolder>"), format!("at {f}/t:TasksFolder/t:TotalCount")),
            (
                resp("<t:CalendarFolder><t:EffectiveRights><t:CreateAssociated>true</t:CreateAssociated><t:CreateContents>true</t:CreateContents><t:CreateHierarchy>true</t:CreateHierarchy><t:Delete>true</t:Delete><t:Modify>true</t:Modify></t:EffectiveRights></t:CalendarFolder>"),
                format!("missing element t:Read at {f}/t:CalendarFolder/t:EffectiveRights"),
            ),
            (resp("<t:CalendarFolder><t:SharingEffectiveRights>Some</t:SharingEffectiveRights></t:CalendarFolder>"), format!("at {f}/t:CalendarFolder/t:SharingEffectiveRights")),
            (
                resp("<t:Folder><t:ExtendedProperty><t:ExtendedFieldURI PropertyTag=\"0x670A\" PropertyType=\"SystemTime\"/></t:ExtendedProperty></t:Folder>"),
                format!("missing element t:Value or t:Values at {f}/t:Folder/t:ExtendedProperty"),
            ),
        ] {
            let e = parse_err(doc.as_bytes());
            assert!(e.contains(&expected), "expected {expected:?} in {e:?}");
        }
    }
}
