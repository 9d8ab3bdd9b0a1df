//! Search restrictions: `m:Restriction` of `FindItem` and `t:Condition` of a
//! `SeekToConditionPageItemView`, as a typed tree of search expressions
//! (`t:SearchExpression` substitution group).
//!
//! The schema lets every expression list several paths (`xs:choice maxOccurs="unbounded"`) and a
//! restriction hold several expressions; Exchange uses exactly one path per comparison and one
//! expression per restriction, and so does this module: a second path is ignored on reading, a
//! second top-level expression is an error.

use crate::error::{Error, Result};
use crate::shape::PropertyPath;
use crate::values::DateTime;
use crate::xml::{Element, FromXml, Name, Ns, ToXml, Writer, XmlText, t};
use crate::xml_enum;

xml_enum! {
    /// The two-operand comparisons (`t:TwoOperandExpressionType`); the value is the element name.
    pub enum Comparison {
        IsEqualTo, IsNotEqualTo, IsGreaterThan, IsGreaterThanOrEqualTo, IsLessThan, IsLessThanOrEqualTo,
    }
}

xml_enum! {
    /// `@ContainmentMode` of `t:Contains` (`t:ContainmentModeType`).
    pub enum ContainmentMode { FullString, Prefixed, Substring, PrefixOnWords, ExactPhrase }
}

xml_enum! {
    /// `@ContainmentComparison` of `t:Contains` (`t:ContainmentComparisonType`).
    pub enum ContainmentComparison {
        Exact, IgnoreCase, IgnoreNonSpacingCharacters, Loose, IgnoreCaseAndNonSpacingCharacters,
        LooseAndIgnoreCase, LooseAndIgnoreNonSpace, LooseAndIgnoreCaseAndIgnoreNonSpace,
    }
}

/// `t:FieldURIOrConstant`: the right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldUriOrConstant {
    /// Another property of the same item.
    Path(PropertyPath),
    /// `t:Constant Value="…"`: the value in its XML lexical form (a date-time is
    /// `2014-07-01T07:00:00.000Z`, a boolean `true`).
    Constant(String),
}

impl FieldUriOrConstant {
    /// A constant from any XML scalar value (date-time, boolean, enumeration, number, string).
    pub fn constant<T: XmlText>(value: &T) -> Self {
        FieldUriOrConstant::Constant(value.to_text().into_owned())
    }
}

impl FromXml for FieldUriOrConstant {
    fn from_xml(el: &Element) -> Result<Self> {
        for c in &el.children {
            if c.is(t("Constant")) {
                let value = c.req_attr("Value").map_err(|e| e.at(el))?;
                return Ok(FieldUriOrConstant::Constant(value.to_string()));
            }
            if let Some(path) = PropertyPath::read(c) {
                return path.map(FieldUriOrConstant::Path).map_err(|e| e.at(el));
            }
        }
        Err(Error::missing("t:Constant, t:FieldURI, t:IndexedFieldURI or t:ExtendedFieldURI").at(el))
    }
}

impl ToXml for FieldUriOrConstant {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name);
        match self {
            FieldUriOrConstant::Path(p) => p.write(w),
            FieldUriOrConstant::Constant(v) => {
                w.start(t("Constant")).attr("Value", v).end();
            }
        }
        w.end();
    }
}

/// One node of a restriction (`t:SearchExpression` substitution group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchExpression {
    /// `t:And`: every operand holds (at least one operand).
    And(Vec<SearchExpression>),
    /// `t:Or`: some operand holds (at least one operand).
    Or(Vec<SearchExpression>),
    /// `t:Not`.
    Not(Box<SearchExpression>),
    /// `t:IsEqualTo`, `t:IsLessThan`, …: `path op value`.
    Compare { op: Comparison, path: PropertyPath, value: FieldUriOrConstant },
    /// `t:Exists`: the property is set.
    Exists(PropertyPath),
    /// `t:Contains`: a string property contains `value` (`t:Constant Value`).
    Contains {
        path: PropertyPath,
        value: String,
        mode: Option<ContainmentMode>,
        comparison: Option<ContainmentComparison>,
    },
    /// `t:Excludes`: `path & bitmask == 0`; the bitmask is decimal or `0x`-prefixed hexadecimal.
    Excludes { path: PropertyPath, bitmask: String },
}

impl SearchExpression {
    /// `t:And` of the operands.
    pub fn and(operands: impl IntoIterator<Item = SearchExpression>) -> Self {
        SearchExpression::And(operands.into_iter().collect())
    }

    /// `t:Or` of the operands.
    pub fn or(operands: impl IntoIterator<Item = SearchExpression>) -> Self {
        SearchExpression::Or(operands.into_iter().collect())
    }

    /// `t:Not`.
    #[allow(clippy::should_implement_trait)]
    pub fn not(operand: SearchExpression) -> Self {
        SearchExpression::Not(Box::new(operand))
    }

    /// `path op constant`.
    pub fn compare<T: XmlText>(op: Comparison, path: PropertyPath, value: &T) -> Self {
        SearchExpression::Compare { op, path, value: FieldUriOrConstant::constant(value) }
    }

    pub fn is_equal_to<T: XmlText>(path: PropertyPath, value: &T) -> Self {
        Self::compare(Comparison::IsEqualTo, path, value)
    }

    pub fn is_not_equal_to<T: XmlText>(path: PropertyPath, value: &T) -> Self {
        Self::compare(Comparison::IsNotEqualTo, path, value)
    }

    pub fn is_greater_than<T: XmlText>(path: PropertyPath, value: &T) -> Self {
        Self::compare(Comparison::IsGreaterThan, path, value)
    }

    pub fn is_greater_than_or_equal_to<T: XmlText>(path: PropertyPath, value: &T) -> Self {
        Self::compare(Comparison::IsGreaterThanOrEqualTo, path, value)
    }

    pub fn is_less_than<T: XmlText>(path: PropertyPath, value: &T) -> Self {
        Self::compare(Comparison::IsLessThan, path, value)
    }

    pub fn is_less_than_or_equal_to<T: XmlText>(path: PropertyPath, value: &T) -> Self {
        Self::compare(Comparison::IsLessThanOrEqualTo, path, value)
    }

    /// `t:Exists`.
    pub fn exists(path: PropertyPath) -> Self {
        SearchExpression::Exists(path)
    }

    /// `t:Contains` with a substring match ignoring case, the usual text search.
    pub fn contains(path: PropertyPath, value: impl Into<String>) -> Self {
        SearchExpression::Contains {
            path,
            value: value.into(),
            mode: Some(ContainmentMode::Substring),
            comparison: Some(ContainmentComparison::IgnoreCase),
        }
    }

    /// The element name of this node.
    pub fn element_name(&self) -> &'static str {
        match self {
            SearchExpression::And(_) => "And",
            SearchExpression::Or(_) => "Or",
            SearchExpression::Not(_) => "Not",
            SearchExpression::Compare { op, .. } => op.as_str(),
            SearchExpression::Exists(_) => "Exists",
            SearchExpression::Contains { .. } => "Contains",
            SearchExpression::Excludes { .. } => "Excludes",
        }
    }

    /// Reads a search expression element; `None` if `el` is not one.
    pub fn read(el: &Element) -> Option<Result<Self>> {
        if el.ns != Ns::Types {
            return None;
        }
        let r = match el.name.as_str() {
            "And" => read_operands(el).map(SearchExpression::And),
            "Or" => read_operands(el).map(SearchExpression::Or),
            "Not" => read_single(el).map(|e| SearchExpression::Not(Box::new(e))),
            "Exists" => PropertyPath::read_first(el).map(SearchExpression::Exists),
            "Contains" => (|| {
                let constant = el.req(t("Constant"))?;
                Ok(SearchExpression::Contains {
                    path: PropertyPath::read_first(el)?,
                    value: constant.req_attr("Value").map_err(|e| e.at(el))?.to_string(),
                    mode: el.attr_as("ContainmentMode")?,
                    comparison: el.attr_as("ContainmentComparison")?,
                })
            })(),
            "Excludes" => (|| {
                let bitmask = el.req(t("Bitmask"))?;
                let value = bitmask.req_attr("Value").map_err(|e| e.at(el))?;
                if !is_excludes_bitmask(value) {
                    return Err(Error::invalid(value, "a decimal or 0x-prefixed hexadecimal bitmask")
                        .at_attr("Value")
                        .at(bitmask)
                        .at(el));
                }
                Ok(SearchExpression::Excludes { path: PropertyPath::read_first(el)?, bitmask: value.to_string() })
            })(),
            name => {
                let op = Comparison::ALL.iter().find(|c| c.as_str() == name)?;
                (|| {
                    Ok(SearchExpression::Compare {
                        op: *op,
                        path: PropertyPath::read_first(el)?,
                        value: el.get_req(t("FieldURIOrConstant"))?,
                    })
                })()
            }
        };
        Some(r)
    }

    /// Writes the expression with its own element name.
    pub fn write(&self, w: &mut Writer) {
        w.start(t(self.element_name()));
        match self {
            SearchExpression::And(ops) | SearchExpression::Or(ops) => {
                for op in ops {
                    op.write(w);
                }
            }
            SearchExpression::Not(op) => op.write(w),
            SearchExpression::Compare { path, value, .. } => {
                path.write(w);
                w.child(t("FieldURIOrConstant"), value);
            }
            SearchExpression::Exists(path) => path.write(w),
            SearchExpression::Contains { path, value, mode, comparison } => {
                w.attr_opt("ContainmentMode", mode).attr_opt("ContainmentComparison", comparison);
                path.write(w);
                w.start(t("Constant")).attr("Value", value).end();
            }
            SearchExpression::Excludes { path, bitmask } => {
                path.write(w);
                w.start(t("Bitmask")).attr("Value", bitmask).end();
            }
        }
        w.end();
    }
}

/// `ExcludesAttributeType`: `((0x|0X)[0-9A-Fa-f]*)|([0-9]*)`.
fn is_excludes_bitmask(s: &str) -> bool {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => hex.chars().all(|c| c.is_ascii_hexdigit()),
        None => s.chars().all(|c| c.is_ascii_digit()),
    }
}

/// Every search expression child of `el` (other children are skipped); at least one.
fn read_operands(el: &Element) -> Result<Vec<SearchExpression>> {
    let ops =
        el.children.iter().filter_map(SearchExpression::read).collect::<Result<Vec<_>>>().map_err(|e| e.at(el))?;
    if ops.is_empty() {
        return Err(Error::missing("a search expression (t:And, t:Or, t:Not, t:IsEqualTo, …)").at(el));
    }
    Ok(ops)
}

/// Exactly one search expression child of `el`.
fn read_single(el: &Element) -> Result<SearchExpression> {
    let mut ops = read_operands(el)?;
    if ops.len() > 1 {
        return Err(Error::invalid(format!("{} search expressions", ops.len()), "exactly one search expression").at(el));
    }
    Ok(ops.remove(0))
}

/// `m:Restriction` / `t:Condition` (`t:RestrictionType`): one search expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restriction(pub SearchExpression);

impl Restriction {
    /// Calendar items that overlap `[start, end)`: `calendar:End > start AND calendar:Start < end`.
    /// With an `IndexedPageItemView` this returns singles and recurring masters (not expanded;
    /// a master's Start/End are those of its first occurrence).
    pub fn calendar_overlapping(start: &DateTime, end: &DateTime) -> Self {
        Restriction(SearchExpression::and([
            SearchExpression::is_greater_than(PropertyPath::field("calendar:End"), start),
            SearchExpression::is_less_than(PropertyPath::field("calendar:Start"), end),
        ]))
    }

    /// The search expression.
    pub fn expression(&self) -> &SearchExpression {
        &self.0
    }
}

impl From<SearchExpression> for Restriction {
    fn from(e: SearchExpression) -> Self {
        Restriction(e)
    }
}

impl FromXml for Restriction {
    fn from_xml(el: &Element) -> Result<Self> {
        read_single(el).map(Restriction)
    }
}

impl ToXml for Restriction {
    fn to_xml(&self, w: &mut Writer, name: Name<'_>) {
        w.start(name);
        self.0.write(w);
        w.end();
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers shared by the tests of the item operations.

    use crate::soap::Envelope;

    /// Parses a sample of the reference folder, panicking with the error path.
    pub(crate) fn sample(name: &str) -> Envelope {
        let path = ews_schema_check::samples_dir().join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        Envelope::parse(&bytes).unwrap_or_else(|e| panic!("{name} does not parse: {e}"))
    }

    /// Serializes, checks that parsing the output gives the same value back, and returns the
    /// labelled document for one batch schema check.
    pub(crate) fn round_trip(label: &str, env: &Envelope) -> (String, String) {
        let xml = env.to_xml_string();
        let back =
            Envelope::parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{label}: output does not parse: {e}\n{xml}"));
        assert_eq!(&back, env, "{label}: round trip changed the value\n{xml}");
        (label.to_string(), xml)
    }

    /// Builds a request envelope in the messages and types namespaces around a body fragment.
    pub(crate) fn body(fragment: &str) -> Vec<u8> {
        format!(
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><soap:Body>{fragment}</soap:Body></soap:Envelope>"#
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse;

    fn t_el(xml: &str) -> Element {
        let doc = format!(r#"<r xmlns:t="{}">{xml}</r>"#, Ns::TYPES_URI);
        parse(doc.as_bytes()).unwrap().children.remove(0)
    }

    fn reparse(e: &SearchExpression) -> SearchExpression {
        let mut w = Writer::new();
        w.predeclare(&[Ns::Types]).start(crate::xml::unq("r"));
        e.write(&mut w);
        w.end();
        let root = parse(w.finish().as_bytes()).unwrap();
        SearchExpression::read(&root.children[0]).unwrap().unwrap()
    }

    #[test]
    fn reads_and_writes_every_kind() {
        let start = DateTime::from_text("2014-07-01T07:00:00.000Z").unwrap();
        let tree = SearchExpression::or([
            SearchExpression::not(SearchExpression::exists(PropertyPath::field("item:Categories"))),
            SearchExpression::contains(PropertyPath::field("item:Subject"), "budget"),
            SearchExpression::Excludes {
                path: PropertyPath::field("calendar:AppointmentState"),
                bitmask: "0x4".into(),
            },
            SearchExpression::and([
                SearchExpression::is_equal_to(PropertyPath::field("calendar:IsAllDayEvent"), &true),
                SearchExpression::is_not_equal_to(PropertyPath::field("item:Subject"), &"x".to_string()),
                SearchExpression::is_greater_than_or_equal_to(PropertyPath::field("calendar:Start"), &start),
                SearchExpression::is_less_than_or_equal_to(PropertyPath::field("calendar:End"), &start),
                SearchExpression::Compare {
                    op: Comparison::IsEqualTo,
                    path: PropertyPath::field("calendar:Start"),
                    value: FieldUriOrConstant::Path(PropertyPath::field("calendar:End")),
                },
            ]),
        ]);
        assert_eq!(reparse(&tree), tree);
        let overlap = Restriction::calendar_overlapping(&start, &start);
        assert_eq!(reparse(overlap.expression()), overlap.0);
    }

    #[test]
    fn errors_name_the_path() {
        let e = SearchExpression::read(&t_el(r#"<t:And/>"#)).unwrap().unwrap_err();
        assert!(e.to_string().contains("/t:And"), "{e}");
        let e = SearchExpression::read(&t_el(r#"<t:IsEqualTo><t:FieldURI FieldURI="item:Subject"/></t:IsEqualTo>"#))
            .unwrap()
            .unwrap_err();
        assert!(e.to_string().contains("missing element t:FieldURIOrConstant at /t:IsEqualTo"), "{e}");
        let e = SearchExpression::read(&t_el(
            r#"<t:Excludes><t:FieldURI FieldURI="calendar:AppointmentState"/><t:Bitmask Value="0xZZ"/></t:Excludes>"#,
        ))
        .unwrap()
        .unwrap_err();
        assert!(e.to_string().contains("/t:Excludes/t:Bitmask/@Value"), "{e}");
        let e = SearchExpression::read(&t_el(
            r#"<t:Contains ContainmentMode="Everywhere"><t:FieldURI FieldURI="item:Subject"/><t:Constant Value="a"/></t:Contains>"#,
        ))
        .unwrap()
        .unwrap_err();
        assert!(e.to_string().contains("@ContainmentMode"), "{e}");
        let e = Restriction::from_xml(&t_el(r#"<t:Condition><t:Exists><t:FieldURI FieldURI="item:Subject"/></t:Exists><t:Exists><t:FieldURI FieldURI="item:Body"/></t:Exists></t:Condition>"#)).unwrap_err();
        assert!(e.to_string().contains("exactly one"), "{e}");
        assert!(SearchExpression::read(&t_el("<t:Nothing/>")).is_none());
    }
}
