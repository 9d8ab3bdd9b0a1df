//! `GetUserConfiguration`, `CreateUserConfiguration`, `UpdateUserConfiguration`: the
//! configuration objects (FAI messages) a folder carries, such as Outlook's master category
//! list (`CategoryList` in the calendar folder, its XML in `XmlData`, MS-OXOCFG §2.2.5.4).
//!
//! `t:Dictionary` is not modelled (skipped on reading, never written): exbridge reads and
//! writes `XmlData` only. `XmlData` and `BinaryData` are `xs:base64Binary` on the wire and
//! plain bytes here.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::{Error, Result};
use crate::ids::{FolderId, ItemId};
use crate::response::{ResponseStatus, StatusMessage, read_messages, write_messages};
use crate::xml::{Element, FromXml, Name, ToXml, Writer, XmlText, m, t};
use crate::xml_enum;

/// `t:UserConfigurationNameType` (`m:UserConfigurationName` in requests,
/// `t:UserConfigurationName` inside a `t:UserConfiguration`): a name within a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserConfigurationName {
    /// `@Name` (non-empty), e.g. `CategoryList`.
    pub name: String,
    /// The folder (`t:FolderId` or `t:DistinguishedFolderId` child).
    pub folder: FolderId,
}

impl UserConfigurationName {
    /// Outlook's master category list: `CategoryList` of the default calendar.
    pub fn category_list() -> Self {
        UserConfigurationName { name: "CategoryList".into(), folder: FolderId::calendar() }
    }
}

impl FromXml for UserConfigurationName {
    fn from_xml(el: &Element) -> Result<Self> {
        let name = el.req_attr("Name")?.to_string();
        if name.is_empty() {
            return Err(Error::invalid("", "a non-empty name").at_attr("Name").at(el));
        }
        Ok(UserConfigurationName { name, folder: FolderId::read_wrapped(el)? })
    }
}

impl ToXml for UserConfigurationName {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).attr_val("Name", &self.name);
        self.folder.write(w);
        w.end();
    }
}

xml_enum! {
    /// One of `t:UserConfigurationPropertyType` (a space-separated list on the wire).
    pub enum UserConfigurationProperty { Id, Dictionary, XmlData, BinaryData, All }
}

/// Base64 bytes (`xs:base64Binary`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Base64Bytes(pub Vec<u8>);

impl XmlText for Base64Bytes {
    fn from_text(s: &str) -> std::result::Result<Self, String> {
        let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        STANDARD.decode(compact).map(Base64Bytes).map_err(|_| "base64 data".to_string())
    }
    fn to_text(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Owned(STANDARD.encode(&self.0))
    }
}

/// `t:UserConfigurationType`: a configuration object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserConfiguration {
    /// `t:UserConfigurationName`.
    pub name: UserConfigurationName,
    /// `t:ItemId` (responses, when `Id` was asked for).
    pub item_id: Option<ItemId>,
    /// `t:XmlData`, decoded.
    pub xml_data: Option<Vec<u8>>,
    /// `t:BinaryData`, decoded.
    pub binary_data: Option<Vec<u8>>,
}

impl FromXml for UserConfiguration {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(UserConfiguration {
            name: el.get_req(t("UserConfigurationName"))?,
            item_id: el.get(t("ItemId"))?,
            xml_data: el.get_text::<Base64Bytes>(t("XmlData"))?.map(|b| b.0),
            binary_data: el.get_text::<Base64Bytes>(t("BinaryData"))?.map(|b| b.0),
        })
    }
}

impl ToXml for UserConfiguration {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name).child(t("UserConfigurationName"), &self.name).child_opt(t("ItemId"), &self.item_id);
        w.leaf_opt(t("XmlData"), &self.xml_data.clone().map(Base64Bytes));
        w.leaf_opt(t("BinaryData"), &self.binary_data.clone().map(Base64Bytes));
        w.end();
    }
}

/// `m:GetUserConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetUserConfiguration {
    /// `m:UserConfigurationName`.
    pub name: UserConfigurationName,
    /// `m:UserConfigurationProperties` (at least one).
    pub properties: Vec<UserConfigurationProperty>,
}

impl GetUserConfiguration {
    /// Asks for the id and the XML data of a configuration object.
    pub fn xml_data(name: UserConfigurationName) -> Self {
        GetUserConfiguration {
            name,
            properties: vec![UserConfigurationProperty::Id, UserConfigurationProperty::XmlData],
        }
    }
}

impl FromXml for GetUserConfiguration {
    fn from_xml(el: &Element) -> Result<Self> {
        let props = el.req(m("UserConfigurationProperties"))?;
        let properties = props
            .text
            .split_ascii_whitespace()
            .map(|p| {
                p.parse::<UserConfigurationProperty>().map_err(|expected| Error::invalid(p, expected).at(props).at(el))
            })
            .collect::<Result<Vec<_>>>()?;
        if properties.is_empty() {
            return Err(Error::invalid("", "one or more of Id, Dictionary, XmlData, BinaryData, All").at(props).at(el));
        }
        Ok(GetUserConfiguration { name: el.get_req(m("UserConfigurationName"))?, properties })
    }
}

impl ToXml for GetUserConfiguration {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        let props: Vec<&str> = self.properties.iter().map(|p| p.as_str()).collect();
        w.start(name)
            .child(m("UserConfigurationName"), &self.name)
            .leaf(m("UserConfigurationProperties"), &props.join(" "));
        w.end();
    }
}

/// `m:GetUserConfigurationResponseMessage`: the status and, on success, the object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetUserConfigurationResponseMessage {
    pub status: ResponseStatus,
    /// `m:UserConfiguration`.
    pub configuration: Option<UserConfiguration>,
}

impl FromXml for GetUserConfigurationResponseMessage {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(GetUserConfigurationResponseMessage {
            status: ResponseStatus::read(el)?,
            configuration: el.get(m("UserConfiguration"))?,
        })
    }
}

impl ToXml for GetUserConfigurationResponseMessage {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        self.status.write_start(w, name);
        w.child_opt(m("UserConfiguration"), &self.configuration);
        w.end();
    }
}

/// `m:GetUserConfigurationResponse`. A missing object is `ErrorItemNotFound`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetUserConfigurationResponse {
    pub messages: Vec<GetUserConfigurationResponseMessage>,
}

impl FromXml for GetUserConfigurationResponse {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(GetUserConfigurationResponse { messages: read_messages(el, "GetUserConfigurationResponseMessage")? })
    }
}

impl ToXml for GetUserConfigurationResponse {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        write_messages(w, name, "GetUserConfigurationResponseMessage", &self.messages);
    }
}

/// `m:CreateUserConfiguration`: creates the object (`ErrorItemSave` / an error if it exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateUserConfiguration {
    /// `m:UserConfiguration`.
    pub configuration: UserConfiguration,
}

/// `m:UpdateUserConfiguration`: replaces the properties it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateUserConfiguration {
    /// `m:UserConfiguration`.
    pub configuration: UserConfiguration,
}

macro_rules! configuration_request {
    ($req:ident, $resp:ident, $message:literal) => {
        impl FromXml for $req {
            fn from_xml(el: &Element) -> Result<Self> {
                Ok($req { configuration: el.get_req(m("UserConfiguration"))? })
            }
        }

        impl ToXml for $req {
            fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
                w.start(name).child(m("UserConfiguration"), &self.configuration).end();
            }
        }

        #[doc = concat!("`m:", stringify!($resp), "`: status messages only.")]
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $resp {
            pub messages: Vec<StatusMessage>,
        }

        impl FromXml for $resp {
            fn from_xml(el: &Element) -> Result<Self> {
                Ok($resp { messages: read_messages(el, $message)? })
            }
        }

        impl ToXml for $resp {
            fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
                write_messages(w, name, $message, &self.messages);
            }
        }
    };
}

configuration_request!(
    CreateUserConfiguration,
    CreateUserConfigurationResponse,
    "CreateUserConfigurationResponseMessage"
);
configuration_request!(
    UpdateUserConfiguration,
    UpdateUserConfigurationResponse,
    "UpdateUserConfigurationResponseMessage"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{DistinguishedFolderName, FolderIdValue};
    use crate::ops::subscribe::test_support::{parse_err, request, response};
    use crate::ops::testing::{body, round_trip};
    use crate::response_code::ResponseCode;
    use crate::soap::{Body, Envelope};

    const CATEGORIES: &str = r#"<?xml version="1.0"?><categories default="" xmlns="CategoryList.xsd"><category name="Customer visit" color="4" keyboardShortcut="0" guid="{00000000-0000-0000-0000-000000000001}"/></categories>"#;

    fn configuration() -> UserConfiguration {
        UserConfiguration {
            name: UserConfigurationName::category_list(),
            item_id: None,
            xml_data: Some(CATEGORIES.as_bytes().to_vec()),
            binary_data: None,
        }
    }

    #[test]
    fn round_trips_and_schema_validity() {
        let mut with_id = configuration();
        with_id.item_id = Some(ItemId::new("AAMkCfg", Some("CQAAAB")));
        with_id.binary_data = Some(vec![0, 1, 2, 255]);
        let in_folder = UserConfigurationName {
            name: "IPM.Configuration.Custom".into(),
            folder: FolderId::Id { id: FolderIdValue::from("AQMkFolder"), change_key: None },
        };
        let docs = vec![
            round_trip("get", &request(GetUserConfiguration::xml_data(UserConfigurationName::category_list()))),
            round_trip(
                "get all, folder id",
                &request(GetUserConfiguration { name: in_folder, properties: vec![UserConfigurationProperty::All] }),
            ),
            round_trip(
                "get response",
                &response(GetUserConfigurationResponse {
                    messages: vec![GetUserConfigurationResponseMessage {
                        status: ResponseStatus::success(),
                        configuration: Some(with_id),
                    }],
                }),
            ),
            round_trip(
                "get response, not found",
                &response(GetUserConfigurationResponse {
                    messages: vec![GetUserConfigurationResponseMessage {
                        status: ResponseStatus::error(ResponseCode::ErrorItemNotFound, "not found"),
                        configuration: None,
                    }],
                }),
            ),
            round_trip("create", &request(CreateUserConfiguration { configuration: configuration() })),
            round_trip(
                "create response",
                &response(CreateUserConfigurationResponse { messages: vec![StatusMessage::default()] }),
            ),
            round_trip("update", &request(UpdateUserConfiguration { configuration: configuration() })),
            round_trip(
                "update response",
                &response(UpdateUserConfigurationResponse { messages: vec![StatusMessage::default()] }),
            ),
        ];
        ews_schema_check::assert_all_valid(&docs);
    }

    #[test]
    fn reads_the_wire_form() {
        let env = Envelope::parse(&body(
            r#"<m:GetUserConfiguration><m:UserConfigurationName Name="CategoryList"><t:DistinguishedFolderId Id="calendar"/></m:UserConfigurationName><m:UserConfigurationProperties>Id XmlData</m:UserConfigurationProperties></m:GetUserConfiguration>"#,
        ))
        .unwrap();
        let Body::GetUserConfiguration(g) = env.body else { panic!("not a GetUserConfiguration") };
        assert_eq!(g.name.name, "CategoryList");
        assert_eq!(g.name.folder, FolderId::distinguished(DistinguishedFolderName::Calendar));
        assert_eq!(g.properties, vec![UserConfigurationProperty::Id, UserConfigurationProperty::XmlData]);

        let env = Envelope::parse(&body(
            r#"<m:UpdateUserConfiguration><m:UserConfiguration><t:UserConfigurationName Name="CategoryList"><t:DistinguishedFolderId Id="calendar"/></t:UserConfigurationName><t:XmlData>PGEvPg==</t:XmlData></m:UserConfiguration></m:UpdateUserConfiguration>"#,
        ))
        .unwrap();
        let Body::UpdateUserConfiguration(u) = env.body else { panic!("not an UpdateUserConfiguration") };
        assert_eq!(u.configuration.xml_data.as_deref(), Some(&b"<a/>"[..]));
    }

    #[test]
    fn errors_name_the_path() {
        let e = parse_err(&body(
            r#"<m:GetUserConfiguration><m:UserConfigurationName Name="CategoryList"><t:DistinguishedFolderId Id="calendar"/></m:UserConfigurationName><m:UserConfigurationProperties>Id Colours</m:UserConfigurationProperties></m:GetUserConfiguration>"#,
        ));
        assert!(
            e.contains("\"Colours\"") && e.contains("/m:GetUserConfiguration/m:UserConfigurationProperties"),
            "{e}"
        );
        let e = parse_err(&body(
            r#"<m:CreateUserConfiguration><m:UserConfiguration><t:UserConfigurationName Name="CategoryList"><t:DistinguishedFolderId Id="calendar"/></t:UserConfigurationName><t:XmlData>!!!</t:XmlData></m:UserConfiguration></m:CreateUserConfiguration>"#,
        ));
        assert!(e.contains("base64") && e.contains("/m:UserConfiguration/t:XmlData"), "{e}");
        let e = parse_err(&body(
            r#"<m:GetUserConfiguration><m:UserConfigurationName><t:DistinguishedFolderId Id="calendar"/></m:UserConfigurationName><m:UserConfigurationProperties>All</m:UserConfigurationProperties></m:GetUserConfiguration>"#,
        ));
        assert!(e.contains("missing attribute Name") && e.contains("m:UserConfigurationName"), "{e}");
    }
}
