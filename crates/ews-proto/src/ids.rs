//! Identifiers: item and folder ids, change keys, sync states, subscriptions, watermarks,
//! SMTP addresses. Opaque values are newtypes so they cannot be mixed up.

use std::borrow::Cow;
use std::fmt;

use crate::error::{Error, Result};
use crate::xml::{Element, FromXml, Name, ToXml, Writer, XmlText, t};
use crate::xml_enum;

macro_rules! opaque {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Self {
                $name(s.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl XmlText for $name {
            fn from_text(s: &str) -> std::result::Result<Self, String> {
                Ok($name(s.to_string()))
            }
            fn to_text(&self) -> Cow<'_, str> {
                Cow::Borrowed(&self.0)
            }
        }
    };
}

opaque!(
    /// `ItemId/@Id`: the store id of an item. It can change when an item moves; key mirrors on UID.
    ItemIdValue
);
opaque!(
    /// `@ChangeKey`: a new one is generated every time an item changes.
    ChangeKey
);
opaque!(
    /// `m:SyncState` of SyncFolderItems: opaque base64, can be large; keep it after every page.
    SyncState
);
opaque!(
    /// `t:SubscriptionId` of a pull, push or streaming subscription.
    SubscriptionId
);
opaque!(
    /// `t:Watermark`: a bookmark in a subscription's event queue.
    Watermark
);
opaque!(
    /// The id of a folder (`t:FolderId/@Id`).
    FolderIdValue
);

/// An SMTP address, compared case-insensitively.
#[derive(Debug, Clone, Eq, PartialOrd, Ord)]
pub struct SmtpAddress(String);

impl SmtpAddress {
    /// Checks the shape `local@domain` (no spaces, one `@`, non-empty parts).
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        let (local, domain) = s.split_once('@').ok_or_else(|| format!("{s:?} is not an email address (no @)"))?;
        if local.is_empty() || domain.is_empty() || domain.contains('@') || s.contains(char::is_whitespace) {
            return Err(format!("{s:?} is not an email address"));
        }
        Ok(SmtpAddress(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after `@`, lower case.
    pub fn domain(&self) -> String {
        self.0.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default()
    }

    /// Lower-case form for keys.
    pub fn normalized(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl PartialEq for SmtpAddress {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl std::hash::Hash for SmtpAddress {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.normalized().hash(state)
    }
}

impl fmt::Display for SmtpAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl XmlText for SmtpAddress {
    fn from_text(s: &str) -> std::result::Result<Self, String> {
        SmtpAddress::parse(s)
    }
    fn to_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.0)
    }
}

/// `t:ItemId`: id plus change key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemId {
    pub id: ItemIdValue,
    pub change_key: Option<ChangeKey>,
}

impl ItemId {
    pub fn new(id: impl Into<String>, change_key: Option<&str>) -> Self {
        ItemId { id: ItemIdValue(id.into()), change_key: change_key.map(ChangeKey::from) }
    }
}

impl FromXml for ItemId {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(ItemId { id: el.req_attr_as("Id")?, change_key: el.attr_as("ChangeKey")? })
    }
}

impl ToXml for ItemId {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).attr_val("Id", &self.id).attr_opt("ChangeKey", &self.change_key).end();
    }
}

/// `t:OccurrenceItemId`: the n-th occurrence (1-based) of a recurring master.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OccurrenceItemId {
    pub recurring_master_id: ItemIdValue,
    pub change_key: Option<ChangeKey>,
    pub instance_index: i32,
}

impl FromXml for OccurrenceItemId {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(OccurrenceItemId {
            recurring_master_id: el.req_attr_as("RecurringMasterId")?,
            change_key: el.attr_as("ChangeKey")?,
            instance_index: el.req_attr_as("InstanceIndex")?,
        })
    }
}

impl ToXml for OccurrenceItemId {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .attr_val("RecurringMasterId", &self.recurring_master_id)
            .attr_opt("ChangeKey", &self.change_key)
            .attr_val("InstanceIndex", &self.instance_index)
            .end();
    }
}

/// `t:RecurringMasterItemId`: the master of the series an occurrence belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecurringMasterItemId {
    pub occurrence_id: ItemIdValue,
    pub change_key: Option<ChangeKey>,
}

impl FromXml for RecurringMasterItemId {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(RecurringMasterItemId {
            occurrence_id: el.req_attr_as("OccurrenceId")?,
            change_key: el.attr_as("ChangeKey")?,
        })
    }
}

impl ToXml for RecurringMasterItemId {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).attr_val("OccurrenceId", &self.occurrence_id).attr_opt("ChangeKey", &self.change_key).end();
    }
}

/// Any item id a request may carry (`t:ItemId`, `t:OccurrenceItemId`, `t:RecurringMasterItemId`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BaseItemId {
    Item(ItemId),
    Occurrence(OccurrenceItemId),
    RecurringMaster(RecurringMasterItemId),
}

impl BaseItemId {
    /// Reads one id element; `None` if the element is not an item id.
    pub fn read(el: &Element) -> Option<Result<Self>> {
        if el.is(t("ItemId")) {
            Some(ItemId::from_xml(el).map(BaseItemId::Item))
        } else if el.is(t("OccurrenceItemId")) {
            Some(OccurrenceItemId::from_xml(el).map(BaseItemId::Occurrence))
        } else if el.is(t("RecurringMasterItemId")) {
            Some(RecurringMasterItemId::from_xml(el).map(BaseItemId::RecurringMaster))
        } else {
            None
        }
    }

    /// Every item id child of `el`, in order; any other child is an error.
    pub fn read_all(el: &Element) -> Result<Vec<Self>> {
        el.children
            .iter()
            .map(|c| {
                BaseItemId::read(c).unwrap_or_else(|| {
                    Err(Error::invalid(c.display_name(), "t:ItemId, t:OccurrenceItemId or t:RecurringMasterItemId")
                        .at(c))
                })
            })
            .collect::<Result<_>>()
            .map_err(|e| e.at(el))
    }

    /// Writes the id with its own element name.
    pub fn write(&self, w: &mut Writer) {
        match self {
            BaseItemId::Item(id) => id.to_xml(w, t("ItemId")),
            BaseItemId::Occurrence(id) => id.to_xml(w, t("OccurrenceItemId")),
            BaseItemId::RecurringMaster(id) => id.to_xml(w, t("RecurringMasterItemId")),
        }
    }
}

impl From<ItemId> for BaseItemId {
    fn from(id: ItemId) -> Self {
        BaseItemId::Item(id)
    }
}

xml_enum! {
    /// The well-known folders of a mailbox (`DistinguishedFolderIdNameType`, most used first).
    pub enum DistinguishedFolderName {
        Calendar = "calendar", Contacts = "contacts", DeletedItems = "deleteditems", Drafts = "drafts",
        Inbox = "inbox", Journal = "journal", Notes = "notes", Outbox = "outbox", SentItems = "sentitems",
        Tasks = "tasks", MsgFolderRoot = "msgfolderroot", PublicFoldersRoot = "publicfoldersroot", Root = "root",
        JunkEmail = "junkemail", SearchFolders = "searchfolders", VoiceMail = "voicemail",
        RecoverableItemsRoot = "recoverableitemsroot", RecoverableItemsDeletions = "recoverableitemsdeletions",
        RecoverableItemsVersions = "recoverableitemsversions", RecoverableItemsPurges = "recoverableitemspurges",
        ArchiveRoot = "archiveroot", ArchiveMsgFolderRoot = "archivemsgfolderroot",
        ArchiveDeletedItems = "archivedeleteditems", ArchiveInbox = "archiveinbox",
        SyncIssues = "syncissues", Conflicts = "conflicts", LocalFailures = "localfailures",
        ServerFailures = "serverfailures", RecipientCache = "recipientcache", QuickContacts = "quickcontacts",
        ConversationHistory = "conversationhistory", AdminAuditLogs = "adminauditlogs", ToDoSearch = "todosearch",
        MyContacts = "mycontacts", Directory = "directory", ImContactList = "imcontactlist",
        PeopleConnect = "peopleconnect", Favorites = "favorites",
    }
}

xml_enum! {
    /// `t:MailboxType` of an email address.
    pub enum MailboxType {
        Unknown, OneOff, Mailbox, PublicDL, PrivateDL, Contact, PublicFolder, GroupMailbox, ImplicitContact,
    }
}

/// `t:EmailAddressType` (used as `t:Mailbox` and inside recipients).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EmailAddress {
    pub name: Option<String>,
    pub email_address: Option<String>,
    pub routing_type: Option<String>,
    pub mailbox_type: Option<MailboxType>,
    pub item_id: Option<ItemId>,
    pub original_display_name: Option<String>,
}

impl EmailAddress {
    /// An SMTP mailbox.
    pub fn smtp(address: impl Into<String>, name: Option<&str>) -> Self {
        EmailAddress {
            name: name.map(str::to_string),
            email_address: Some(address.into()),
            routing_type: Some("SMTP".into()),
            mailbox_type: None,
            item_id: None,
            original_display_name: None,
        }
    }
}

impl FromXml for EmailAddress {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(EmailAddress {
            name: el.get_text(t("Name"))?,
            email_address: el.get_text(t("EmailAddress"))?,
            routing_type: el.get_text(t("RoutingType"))?,
            mailbox_type: el.get_text(t("MailboxType"))?,
            item_id: el.get(t("ItemId"))?,
            original_display_name: el.get_text(t("OriginalDisplayName"))?,
        })
    }
}

impl ToXml for EmailAddress {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .leaf_opt(t("Name"), &self.name)
            .leaf_opt(t("EmailAddress"), &self.email_address)
            .leaf_opt(t("RoutingType"), &self.routing_type)
            .leaf_opt(t("MailboxType"), &self.mailbox_type)
            .child_opt(t("ItemId"), &self.item_id)
            .leaf_opt(t("OriginalDisplayName"), &self.original_display_name)
            .end();
    }
}

/// `t:DistinguishedFolderId`, optionally in another mailbox (delegate access).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistinguishedFolderId {
    pub id: DistinguishedFolderName,
    pub change_key: Option<ChangeKey>,
    pub mailbox: Option<EmailAddress>,
}

/// A folder id of either kind (`t:FolderId` or `t:DistinguishedFolderId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderId {
    Id { id: FolderIdValue, change_key: Option<ChangeKey> },
    Distinguished(DistinguishedFolderId),
}

impl FolderId {
    /// The user's default calendar.
    pub fn calendar() -> Self {
        FolderId::distinguished(DistinguishedFolderName::Calendar)
    }

    /// The user's default tasks folder.
    pub fn tasks() -> Self {
        FolderId::distinguished(DistinguishedFolderName::Tasks)
    }

    pub fn distinguished(id: DistinguishedFolderName) -> Self {
        FolderId::Distinguished(DistinguishedFolderId { id, change_key: None, mailbox: None })
    }

    /// Reads a `t:FolderId` or `t:DistinguishedFolderId` element; `None` for anything else.
    pub fn read(el: &Element) -> Option<Result<Self>> {
        if el.is(t("FolderId")) {
            Some((|| Ok(FolderId::Id { id: el.req_attr_as("Id")?, change_key: el.attr_as("ChangeKey")? }))())
        } else if el.is(t("DistinguishedFolderId")) {
            Some((|| {
                Ok(FolderId::Distinguished(DistinguishedFolderId {
                    id: el.req_attr_as("Id")?,
                    change_key: el.attr_as("ChangeKey")?,
                    mailbox: el.get(t("Mailbox"))?,
                }))
            })())
        } else {
            None
        }
    }

    /// Every folder id child of a wrapper element (`t:FolderIds`, `m:ParentFolderIds`, …).
    pub fn read_all(el: &Element) -> Result<Vec<Self>> {
        el.children
            .iter()
            .map(|c| {
                FolderId::read(c).unwrap_or_else(|| {
                    Err(Error::invalid(c.display_name(), "t:FolderId or t:DistinguishedFolderId").at(c))
                })
            })
            .collect::<Result<_>>()
            .map_err(|e| e.at(el))
    }

    /// The single folder id inside a wrapper (`m:SyncFolderId`, `m:ParentFolderId`, `m:SavedItemFolderId`).
    pub fn read_wrapped(el: &Element) -> Result<Self> {
        let c = el.single_child()?;
        FolderId::read(c)
            .unwrap_or_else(|| Err(Error::invalid(c.display_name(), "t:FolderId or t:DistinguishedFolderId").at(c)))
            .map_err(|e| e.at(el))
    }

    /// Writes the id with its own element name.
    pub fn write(&self, w: &mut Writer) {
        match self {
            FolderId::Id { id, change_key } => {
                w.start(t("FolderId")).attr_val("Id", id).attr_opt("ChangeKey", change_key).end();
            }
            FolderId::Distinguished(d) => {
                w.start(t("DistinguishedFolderId")).attr_val("Id", &d.id).attr_opt("ChangeKey", &d.change_key);
                w.child_opt(t("Mailbox"), &d.mailbox);
                w.end();
            }
        }
    }
}

/// Writes a folder id as the only child of a wrapper element (`m:SyncFolderId` …).
pub struct Wrapped<'a>(pub &'a FolderId);

impl ToXml for Wrapped<'_> {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name);
        self.0.write(w);
        w.end();
    }
}

impl FromXml for FolderId {
    /// Reads a wrapper holding one folder id.
    fn from_xml(el: &Element) -> Result<Self> {
        FolderId::read_wrapped(el)
    }
}

impl ToXml for FolderId {
    /// Writes a wrapper holding this folder id.
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        Wrapped(self).to_xml(w, name)
    }
}
