//! `ResolveNames`: turn a name, alias or partial address into mailboxes (Active Directory
//! and/or contacts). The connector uses it to map attendees and to check that a configured
//! mailbox exists. `ErrorNameResolutionNoResults` means no match;
//! `ErrorNameResolutionMultipleResults` is a warning that still carries the candidates.

use crate::error::{Error, Result};
use crate::ids::{EmailAddress, FolderId, ItemId};
use crate::ops::get_folder::{read_folder_ids, write_folder_ids};
use crate::response::{ResponseStatus, read_messages, write_messages};
use crate::shape::BaseShape;
use crate::xml::{Element, FromXml, Name, ToXml, Writer, m, t};
use crate::xml_enum;

xml_enum! {
    /// `@SearchScope` (`t:ResolveNamesSearchScopeType`); the server's default is
    /// `ActiveDirectoryContacts`.
    pub enum ResolveNamesSearchScope { ActiveDirectory, ActiveDirectoryContacts, Contacts, ContactsActiveDirectory }
}

/// Maximum resolutions in one `ResolutionSet` (`t:ArrayOfResolutionType`, `maxOccurs="100"`).
pub const MAX_RESOLUTIONS: usize = 100;

/// `m:ResolveNames`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveNames {
    /// `@ReturnFullContactData` (required): return the `t:Contact` of each resolution.
    pub return_full_contact_data: bool,
    /// `@SearchScope` (default `ActiveDirectoryContacts`).
    pub search_scope: Option<ResolveNamesSearchScope>,
    /// `@ContactDataShape` (Exchange 2010 SP2+): `IdOnly`, `Default` or `AllProperties`.
    pub contact_data_shape: Option<BaseShape>,
    /// `m:ParentFolderIds` (non-empty when present): contacts folders to search.
    pub parent_folder_ids: Option<Vec<FolderId>>,
    /// `m:UnresolvedEntry` (non-empty): the name or address to resolve.
    pub unresolved_entry: String,
}

impl ResolveNames {
    /// Resolve `entry` in the directory and contacts, mailboxes only.
    pub fn new(entry: impl Into<String>) -> Self {
        ResolveNames {
            return_full_contact_data: false,
            search_scope: None,
            contact_data_shape: None,
            parent_folder_ids: None,
            unresolved_entry: entry.into(),
        }
    }
}

impl FromXml for ResolveNames {
    fn from_xml(el: &Element) -> Result<Self> {
        let parent_folder_ids = match el.child(m("ParentFolderIds")) {
            None => None,
            Some(p) => Some(read_folder_ids(p).map_err(|e| e.at(el))?),
        };
        let entry = el.req(m("UnresolvedEntry"))?;
        if entry.text.trim().is_empty() {
            return Err(Error::invalid("", "a non-empty string").at(entry).at(el));
        }
        Ok(ResolveNames {
            return_full_contact_data: el.req_attr_as("ReturnFullContactData")?,
            search_scope: el.attr_as("SearchScope")?,
            contact_data_shape: el.attr_as("ContactDataShape")?,
            parent_folder_ids,
            unresolved_entry: entry.text.clone(),
        })
    }
}

impl ToXml for ResolveNames {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .attr_val("ReturnFullContactData", &self.return_full_contact_data)
            .attr_opt("SearchScope", &self.search_scope)
            .attr_opt("ContactDataShape", &self.contact_data_shape);
        if let Some(ids) = &self.parent_folder_ids {
            write_folder_ids(w, m("ParentFolderIds"), ids);
        }
        w.leaf(m("UnresolvedEntry"), &self.unresolved_entry).end();
    }
}

xml_enum! {
    /// `t:EmailAddressKeyType`.
    pub enum EmailAddressKey { EmailAddress1, EmailAddress2, EmailAddress3 }
}

xml_enum! {
    /// `t:ContactSourceType`.
    pub enum ContactSource { ActiveDirectory, Store }
}

/// `t:EmailAddresses/t:Entry` of a contact. The value is as sent, often with a routing
/// prefix (`SMTP:user@example.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddressEntry {
    pub key: EmailAddressKey,
    pub name: Option<String>,
    pub routing_type: Option<String>,
    pub mailbox_type: Option<crate::ids::MailboxType>,
    pub address: String,
}

impl EmailAddressEntry {
    /// The address without an `SMTP:` / `smtp:` prefix.
    pub fn smtp_address(&self) -> &str {
        let a = self.address.trim();
        match a.split_once(':') {
            Some((p, rest)) if p.eq_ignore_ascii_case("smtp") => rest,
            _ => a,
        }
    }
}

impl FromXml for EmailAddressEntry {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(EmailAddressEntry {
            key: el.req_attr_as("Key")?,
            name: el.attr_as("Name")?,
            routing_type: el.attr_as("RoutingType")?,
            mailbox_type: el.attr_as("MailboxType")?,
            address: el.text.clone(),
        })
    }
}

impl ToXml for EmailAddressEntry {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .attr_val("Key", &self.key)
            .attr_opt("Name", &self.name)
            .attr_opt("RoutingType", &self.routing_type)
            .attr_opt("MailboxType", &self.mailbox_type)
            .text(&self.address)
            .end();
    }
}

/// The `t:Contact` of a resolution (`t:ContactItemType`), modelled minimally: the elements
/// below, in schema order. Everything else (phone numbers, physical addresses, `CompleteName`,
/// `PhoneticFullName`, `Notes`, manager, direct reports, …) is skipped when read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contact {
    /// `t:ItemId` (store contacts only).
    pub item_id: Option<ItemId>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub company_name: Option<String>,
    /// `t:EmailAddresses/t:Entry` (non-empty when present).
    pub email_addresses: Option<Vec<EmailAddressEntry>>,
    pub contact_source: Option<ContactSource>,
    pub department: Option<String>,
    pub job_title: Option<String>,
    pub office_location: Option<String>,
    pub surname: Option<String>,
}

impl FromXml for Contact {
    fn from_xml(el: &Element) -> Result<Self> {
        let email_addresses: Option<Vec<EmailAddressEntry>> = el.get_list(t("EmailAddresses"), t("Entry"))?;
        if email_addresses.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::missing("element t:Entry").at(el.req(t("EmailAddresses"))?).at(el));
        }
        Ok(Contact {
            item_id: el.get(t("ItemId"))?,
            display_name: el.get_text(t("DisplayName"))?,
            given_name: el.get_text(t("GivenName"))?,
            company_name: el.get_text(t("CompanyName"))?,
            email_addresses,
            contact_source: el.get_text(t("ContactSource"))?,
            department: el.get_text(t("Department"))?,
            job_title: el.get_text(t("JobTitle"))?,
            office_location: el.get_text(t("OfficeLocation"))?,
            surname: el.get_text(t("Surname"))?,
        })
    }
}

impl ToXml for Contact {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .child_opt(t("ItemId"), &self.item_id)
            .leaf_opt(t("DisplayName"), &self.display_name)
            .leaf_opt(t("GivenName"), &self.given_name)
            .leaf_opt(t("CompanyName"), &self.company_name)
            .list_opt(t("EmailAddresses"), t("Entry"), &self.email_addresses)
            .leaf_opt(t("ContactSource"), &self.contact_source)
            .leaf_opt(t("Department"), &self.department)
            .leaf_opt(t("JobTitle"), &self.job_title)
            .leaf_opt(t("OfficeLocation"), &self.office_location)
            .leaf_opt(t("Surname"), &self.surname)
            .end();
    }
}

/// `t:Resolution`: a mailbox and, with `ReturnFullContactData`, its contact data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolution {
    /// `t:Mailbox` (required).
    pub mailbox: EmailAddress,
    pub contact: Option<Contact>,
}

impl FromXml for Resolution {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(Resolution { mailbox: el.get_req(t("Mailbox"))?, contact: el.get(t("Contact"))? })
    }
}

impl ToXml for Resolution {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).child(t("Mailbox"), &self.mailbox).child_opt(t("Contact"), &self.contact).end();
    }
}

/// `m:ResolutionSet` (`t:ArrayOfResolutionType`) with its paging attributes
/// (`t:FindResponsePagingAttributes`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolutionSet {
    pub indexed_paging_offset: Option<i32>,
    pub numerator_offset: Option<i32>,
    pub absolute_denominator: Option<i32>,
    pub includes_last_item_in_range: Option<bool>,
    pub total_items_in_view: Option<i32>,
    /// `t:Resolution`, at most [`MAX_RESOLUTIONS`] (100).
    pub resolutions: Vec<Resolution>,
}

impl FromXml for ResolutionSet {
    fn from_xml(el: &Element) -> Result<Self> {
        let resolutions: Vec<Resolution> = el.get_all(t("Resolution"))?;
        if resolutions.len() > MAX_RESOLUTIONS {
            return Err(Error::invalid(
                format!("{} t:Resolution elements", resolutions.len()),
                format!("at most {MAX_RESOLUTIONS}"),
            )
            .at(el));
        }
        Ok(ResolutionSet {
            indexed_paging_offset: el.attr_as("IndexedPagingOffset")?,
            numerator_offset: el.attr_as("NumeratorOffset")?,
            absolute_denominator: el.attr_as("AbsoluteDenominator")?,
            includes_last_item_in_range: el.attr_as("IncludesLastItemInRange")?,
            total_items_in_view: el.attr_as("TotalItemsInView")?,
            resolutions,
        })
    }
}

impl ToXml for ResolutionSet {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .attr_opt("IndexedPagingOffset", &self.indexed_paging_offset)
            .attr_opt("NumeratorOffset", &self.numerator_offset)
            .attr_opt("AbsoluteDenominator", &self.absolute_denominator)
            .attr_opt("IncludesLastItemInRange", &self.includes_last_item_in_range)
            .attr_opt("TotalItemsInView", &self.total_items_in_view)
            .each(t("Resolution"), &self.resolutions)
            .end();
    }
}

/// `m:ResolveNamesResponseMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolveNamesResponseMessage {
    pub status: ResponseStatus,
    pub resolution_set: Option<ResolutionSet>,
}

impl FromXml for ResolveNamesResponseMessage {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(ResolveNamesResponseMessage {
            status: ResponseStatus::read(el)?,
            resolution_set: el.get(m("ResolutionSet"))?,
        })
    }
}

impl ToXml for ResolveNamesResponseMessage {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        self.status.write_start(w, name);
        w.child_opt(m("ResolutionSet"), &self.resolution_set);
        w.end();
    }
}

/// `m:ResolveNamesResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolveNamesResponse {
    pub messages: Vec<ResolveNamesResponseMessage>,
}

impl FromXml for ResolveNamesResponse {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(ResolveNamesResponse { messages: read_messages(el, "ResolveNamesResponseMessage")? })
    }
}

impl ToXml for ResolveNamesResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        write_messages(w, name, "ResolveNamesResponseMessage", &self.messages);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{DistinguishedFolderName, MailboxType};
    use crate::ops::subscribe::test_support::*;
    use crate::response::ResponseClass;
    use crate::response_code::ResponseCode;
    use crate::soap::Body;

    #[test]
    fn samples() {
        let Body::ResolveNames(r) = sample("ResolveNames.request.xml").body else { panic!() };
        assert!(r.return_full_contact_data);
        assert_eq!(r.unresolved_entry, "User2");
        assert_eq!((r.search_scope, r.contact_data_shape, r.parent_folder_ids.as_ref()), (None, None, None));

        let Body::ResolveNamesResponse(r) = sample("ResolveNames.response.xml").body else { panic!() };
        let set = r.messages[0].resolution_set.as_ref().unwrap();
        assert_eq!((set.total_items_in_view, set.includes_last_item_in_range), (Some(1), Some(true)));
        let res = &set.resolutions[0];
        assert_eq!(res.mailbox.email_address.as_deref(), Some("User2@example.com"));
        assert_eq!(res.mailbox.mailbox_type, Some(MailboxType::Mailbox));
        let c = res.contact.as_ref().unwrap();
        assert_eq!(c.display_name.as_deref(), Some("User2"));
        assert_eq!(c.contact_source, Some(ContactSource::ActiveDirectory));
        let entry = &c.email_addresses.as_ref().unwrap()[0];
        assert_eq!(entry.key, EmailAddressKey::EmailAddress1);
        assert_eq!(entry.address, "SMTP:User2@example.com");
        assert_eq!(entry.smtp_address(), "User2@example.com");

        let Body::ResolveNamesResponse(r) = sample("ResolveNames-Error-NameResolutionNoResults.response.xml").body
        else {
            panic!()
        };
        assert_eq!(r.messages[0].status.code(), ResponseCode::ErrorNameResolutionNoResults);
        assert_eq!(r.messages[0].resolution_set, None);
    }

    fn contact() -> Contact {
        Contact {
            item_id: Some(ItemId::new("AAMkContact", Some("EQAAAA=="))),
            display_name: Some("Jörg Müller".into()),
            given_name: Some("Jörg".into()),
            company_name: Some("Contoso".into()),
            email_addresses: Some(vec![
                EmailAddressEntry {
                    key: EmailAddressKey::EmailAddress1,
                    name: None,
                    routing_type: None,
                    mailbox_type: None,
                    address: "SMTP:joerg@contoso.test".into(),
                },
                EmailAddressEntry {
                    key: EmailAddressKey::EmailAddress2,
                    name: Some("Jörg (alt)".into()),
                    routing_type: Some("SMTP".into()),
                    mailbox_type: Some(MailboxType::Mailbox),
                    address: "jm@contoso.test".into(),
                },
            ]),
            contact_source: Some(ContactSource::Store),
            department: Some("R&D".into()),
            job_title: Some("Engineer".into()),
            office_location: Some("B2 <3>".into()),
            surname: Some("Müller".into()),
        }
    }

    #[test]
    fn schema_validity_and_round_trips() {
        let envs = [
            ("request minimal", request(ResolveNames::new("joerg"))),
            (
                "request full",
                request(ResolveNames {
                    return_full_contact_data: true,
                    search_scope: Some(ResolveNamesSearchScope::ContactsActiveDirectory),
                    contact_data_shape: Some(BaseShape::AllProperties),
                    parent_folder_ids: Some(vec![
                        FolderId::distinguished(DistinguishedFolderName::Contacts),
                        FolderId::Id { id: "AAMkC".into(), change_key: None },
                    ]),
                    unresolved_entry: "SMTP:joerg@contoso.test".into(),
                }),
            ),
            (
                "response",
                response(ResolveNamesResponse {
                    messages: vec![
                        ResolveNamesResponseMessage {
                            status: ResponseStatus {
                                class: ResponseClass::Warning,
                                message_text: Some("Multiple results were found.".into()),
                                code: Some(ResponseCode::ErrorNameResolutionMultipleResults),
                                descriptive_link_key: Some(0),
                                message_xml: None,
                            },
                            resolution_set: Some(ResolutionSet {
                                indexed_paging_offset: Some(2),
                                numerator_offset: Some(2),
                                absolute_denominator: Some(3),
                                includes_last_item_in_range: Some(true),
                                total_items_in_view: Some(2),
                                resolutions: vec![
                                    Resolution {
                                        mailbox: EmailAddress::smtp("joerg@contoso.test", Some("Jörg Müller")),
                                        contact: Some(contact()),
                                    },
                                    Resolution {
                                        mailbox: EmailAddress::smtp("jm@contoso.test", None),
                                        contact: Some(Contact::default()),
                                    },
                                ],
                            }),
                        },
                        ResolveNamesResponseMessage {
                            status: ResponseStatus::success(),
                            resolution_set: Some(ResolutionSet::default()),
                        },
                    ],
                }),
            ),
        ];
        let mut docs: Vec<(String, String)> = envs.iter().map(|(l, e)| round_trip(l, e)).collect();
        for name in [
            "ResolveNames.request.xml",
            "ResolveNames.response.xml",
            "ResolveNames-Error-NameResolutionNoResults.response.xml",
        ] {
            docs.push(round_trip(name, &sample(name)));
        }
        ews_schema_check::assert_all_valid(&docs);
    }

    #[test]
    fn errors_name_the_path() {
        let set = |inner: &str| {
            envelope_with(&format!(
                "<m:ResolveNamesResponse><m:ResponseMessages><m:ResolveNamesResponseMessage ResponseClass=\"Success\"><m:ResolutionSet>{inner}</m:ResolutionSet></m:ResolveNamesResponseMessage></m:ResponseMessages></m:ResolveNamesResponse>"
            ))
        };
        let s = "/soap:Envelope/soap:Body/m:ResolveNamesResponse/m:ResponseMessages/m:ResolveNamesResponseMessage/m:ResolutionSet";
        let too_many = "<t:Resolution><t:Mailbox/></t:Resolution>".repeat(101);
        for (doc, expected) in [
            (
                envelope_with("<m:ResolveNames><m:UnresolvedEntry>x</m:UnresolvedEntry></m:ResolveNames>"),
                "missing attribute ReturnFullContactData at /soap:Envelope/soap:Body/m:ResolveNames".to_string(),
            ),
            (
                envelope_with(
                    "<m:ResolveNames ReturnFullContactData=\"false\" SearchScope=\"Everywhere\"><m:UnresolvedEntry>x</m:UnresolvedEntry></m:ResolveNames>",
                ),
                "at /soap:Envelope/soap:Body/m:ResolveNames/@SearchScope".to_string(),
            ),
            (
                envelope_with(
                    "<m:ResolveNames ReturnFullContactData=\"false\"><m:UnresolvedEntry> </m:UnresolvedEntry></m:ResolveNames>",
                ),
                "non-empty string at /soap:Envelope/soap:Body/m:ResolveNames/m:UnresolvedEntry".to_string(),
            ),
            (
                envelope_with("<m:ResolveNames ReturnFullContactData=\"true\"/>"),
                "missing element m:UnresolvedEntry at /soap:Envelope/soap:Body/m:ResolveNames".to_string(),
            ),
            (set("<t:Resolution/>"), format!("missing element t:Mailbox at {s}/t:Resolution")),
            (set(&too_many), format!("101 t:Resolution elements\": expected at most 100 at {s}")),
            (
                set(
                    "<t:Resolution><t:Mailbox/><t:Contact><t:EmailAddresses><t:Entry>a@b</t:Entry></t:EmailAddresses></t:Contact></t:Resolution>",
                ),
                format!("missing attribute Key at {s}/t:Resolution/t:Contact/t:EmailAddresses/t:Entry"),
            ),
            (
                set("<t:Resolution><t:Mailbox/><t:Contact><t:EmailAddresses/></t:Contact></t:Resolution>"),
                format!("missing element t:Entry at {s}/t:Resolution/t:Contact/t:EmailAddresses"),
            ),
            (
                set("<t:Resolution><t:Mailbox/></t:Resolution>")
                    .replace("<m:ResolutionSet>", "<m:ResolutionSet TotalItemsInView=\"one\">"),
                format!("at {s}/@TotalItemsInView"),
            ),
        ] {
            let e = parse_err(doc.as_bytes());
            assert!(e.contains(&expected), "expected {expected:?} in {e:?}");
        }
    }
}
