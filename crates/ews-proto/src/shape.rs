//! Property paths (`t:FieldURI`, `t:IndexedFieldURI`, `t:ExtendedFieldURI`) and response shapes
//! (`m:ItemShape`, `m:FolderShape`).

use crate::error::{Error, Result};
use crate::items::BodyType;
use crate::xml::{Element, FromXml, Name, ToXml, Writer, t};
use crate::xml_enum;

xml_enum! {
    /// `t:DistinguishedPropertySetType`.
    pub enum DistinguishedPropertySet {
        Meeting, Appointment, Common, PublicStrings, Address, InternetHeaders, CalendarAssistant,
        UnifiedMessaging, Task, Sharing,
    }
}

xml_enum! {
    /// `t:MapiPropertyTypeType`.
    pub enum MapiPropertyType {
        ApplicationTime, ApplicationTimeArray, Binary, BinaryArray, Boolean, CLSID, CLSIDArray, Currency,
        CurrencyArray, Double, DoubleArray, Error, Float, FloatArray, Integer, IntegerArray, Long, LongArray,
        Null, Object, ObjectArray, Short, ShortArray, SystemTime, SystemTimeArray, String, StringArray,
    }
}

/// `t:ExtendedFieldURI`: a MAPI property by tag, by id or name within a property set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtendedFieldUri {
    pub distinguished_property_set_id: Option<DistinguishedPropertySet>,
    /// A property set GUID.
    pub property_set_id: Option<String>,
    /// A property tag such as `0x670A`.
    pub property_tag: Option<String>,
    pub property_name: Option<String>,
    pub property_id: Option<i32>,
    pub property_type: MapiPropertyType,
}

impl ExtendedFieldUri {
    /// A named string property in `PublicStrings` (how exbridge stores the application's id).
    pub fn public_string(name: &str) -> Self {
        ExtendedFieldUri {
            distinguished_property_set_id: Some(DistinguishedPropertySet::PublicStrings),
            property_set_id: None,
            property_tag: None,
            property_name: Some(name.to_string()),
            property_id: None,
            property_type: MapiPropertyType::String,
        }
    }
}

impl FromXml for ExtendedFieldUri {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(ExtendedFieldUri {
            distinguished_property_set_id: el.attr_as("DistinguishedPropertySetId")?,
            property_set_id: el.attr_as("PropertySetId")?,
            property_tag: el.attr_as("PropertyTag")?,
            property_name: el.attr_as("PropertyName")?,
            property_id: el.attr_as("PropertyId")?,
            property_type: el.req_attr_as("PropertyType")?,
        })
    }
}

impl ToXml for ExtendedFieldUri {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .attr_opt("DistinguishedPropertySetId", &self.distinguished_property_set_id)
            .attr_opt("PropertySetId", &self.property_set_id)
            .attr_opt("PropertyTag", &self.property_tag)
            .attr_opt("PropertyName", &self.property_name)
            .attr_opt("PropertyId", &self.property_id)
            .attr_val("PropertyType", &self.property_type)
            .end();
    }
}

/// A path to a property (`t:Path` substitution group).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PropertyPath {
    /// `t:FieldURI FieldURI="calendar:Start"`.
    Field(String),
    /// `t:IndexedFieldURI FieldURI="contacts:EmailAddress" FieldIndex="EmailAddress1"`.
    Indexed { field_uri: String, field_index: String },
    /// `t:ExtendedFieldURI`.
    Extended(ExtendedFieldUri),
}

impl PropertyPath {
    pub fn field(uri: &str) -> Self {
        PropertyPath::Field(uri.to_string())
    }

    /// Reads a path element; `None` if `el` is not one.
    pub fn read(el: &Element) -> Option<Result<Self>> {
        if el.is(t("FieldURI")) {
            Some(el.req_attr("FieldURI").map(|v| PropertyPath::Field(v.to_string())))
        } else if el.is(t("IndexedFieldURI")) {
            Some((|| {
                Ok(PropertyPath::Indexed {
                    field_uri: el.req_attr("FieldURI")?.to_string(),
                    field_index: el.req_attr("FieldIndex")?.to_string(),
                })
            })())
        } else if el.is(t("ExtendedFieldURI")) {
            Some(ExtendedFieldUri::from_xml(el).map(PropertyPath::Extended))
        } else {
            None
        }
    }

    /// Reads every path child of a wrapper (`t:AdditionalProperties`); anything else is an error.
    pub fn read_all(el: &Element) -> Result<Vec<Self>> {
        el.children
            .iter()
            .map(|c| {
                PropertyPath::read(c).unwrap_or_else(|| {
                    Err(Error::invalid(c.display_name(), "t:FieldURI, t:IndexedFieldURI or t:ExtendedFieldURI").at(c))
                })
            })
            .collect::<Result<_>>()
            .map_err(|e| e.at(el))
    }

    /// The first path child of `el` (for `SetItemField` & co, where an item follows the path).
    pub fn read_first(el: &Element) -> Result<Self> {
        el.children
            .iter()
            .find_map(PropertyPath::read)
            .unwrap_or_else(|| Err(Error::missing("t:FieldURI, t:IndexedFieldURI or t:ExtendedFieldURI").at(el)))
    }

    /// Writes the path with its own element name.
    pub fn write(&self, w: &mut Writer) {
        match self {
            PropertyPath::Field(uri) => {
                w.start(t("FieldURI")).attr("FieldURI", uri).end();
            }
            PropertyPath::Indexed { field_uri, field_index } => {
                w.start(t("IndexedFieldURI")).attr("FieldURI", field_uri).attr("FieldIndex", field_index).end();
            }
            PropertyPath::Extended(x) => x.to_xml(w, t("ExtendedFieldURI")),
        }
    }
}

xml_enum! {
    /// `t:BaseShape`.
    pub enum BaseShape { IdOnly, Default, AllProperties }
}

xml_enum! {
    /// `t:BodyTypeResponseType`.
    pub enum BodyTypeResponse { Best, Html = "HTML", Text }
}

impl From<BodyType> for BodyTypeResponse {
    fn from(b: BodyType) -> Self {
        match b {
            BodyType::Html => BodyTypeResponse::Html,
            BodyType::Text => BodyTypeResponse::Text,
        }
    }
}

/// `m:ItemShape` (`t:ItemResponseShapeType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemShape {
    pub base_shape: BaseShape,
    pub include_mime_content: Option<bool>,
    pub body_type: Option<BodyTypeResponse>,
    pub additional_properties: Option<Vec<PropertyPath>>,
}

impl ItemShape {
    pub fn new(base_shape: BaseShape) -> Self {
        ItemShape { base_shape, include_mime_content: None, body_type: None, additional_properties: None }
    }

    pub fn id_only() -> Self {
        ItemShape::new(BaseShape::IdOnly)
    }

    /// Adds `t:FieldURI`s to `AdditionalProperties`.
    pub fn with_fields(mut self, uris: &[&str]) -> Self {
        let props = self.additional_properties.get_or_insert_with(Vec::new);
        props.extend(uris.iter().map(|u| PropertyPath::field(u)));
        self
    }
}

impl FromXml for ItemShape {
    fn from_xml(el: &Element) -> Result<Self> {
        Ok(ItemShape {
            base_shape: el.get_text_req(t("BaseShape"))?,
            include_mime_content: el.get_text(t("IncludeMimeContent"))?,
            body_type: el.get_text(t("BodyType"))?,
            additional_properties: match el.child(t("AdditionalProperties")) {
                Some(a) => Some(PropertyPath::read_all(a).map_err(|e| e.at(el))?),
                None => None,
            },
        })
    }
}

impl ToXml for ItemShape {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name)
            .leaf_val(t("BaseShape"), &self.base_shape)
            .leaf_opt(t("IncludeMimeContent"), &self.include_mime_content)
            .leaf_opt(t("BodyType"), &self.body_type);
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
