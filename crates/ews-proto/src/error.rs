//! Errors from reading or checking EWS XML. Each names the element path where it happened.

use std::fmt;

use crate::xml::Element;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The bytes are not an acceptable XML document (malformed, DTD, entity, limits).
    Syntax(String),
    /// A required element or attribute is absent.
    Missing(String),
    /// A value does not have the expected form.
    Invalid { value: String, expected: String },
    /// An element appeared where another was expected (wrong name or namespace).
    Unexpected { found: String, expected: String },
}

/// An error with the path (outermost first) of the element where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    /// Path segments, innermost first while the error travels up; read it with [`Error::path`].
    segments: Vec<String>,
}

impl Error {
    pub fn new(kind: ErrorKind) -> Self {
        Error { kind, segments: Vec::new() }
    }

    pub fn syntax(msg: impl Into<String>) -> Self {
        Error::new(ErrorKind::Syntax(msg.into()))
    }

    pub fn invalid(value: impl Into<String>, expected: impl Into<String>) -> Self {
        let mut value: String = value.into();
        if value.len() > 80 {
            let cut = (0..=80).rev().find(|i| value.is_char_boundary(*i)).unwrap_or(0);
            value.truncate(cut);
            value.push('…');
        }
        Error::new(ErrorKind::Invalid { value, expected: expected.into() })
    }

    pub fn missing(what: impl Into<String>) -> Self {
        Error::new(ErrorKind::Missing(what.into()))
    }

    /// Adds the element the error happened in (called on the way up).
    pub fn at(mut self, el: &Element) -> Self {
        self.segments.push(el.display_name());
        self
    }

    /// Adds an attribute segment.
    pub fn at_attr(mut self, name: &str) -> Self {
        self.segments.push(format!("@{name}"));
        self
    }

    /// The path from the root, e.g. `/soap:Envelope/soap:Body/m:GetItemResponse/…/t:Start`.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for s in self.segments.iter().rev() {
            out.push('/');
            out.push_str(s);
        }
        out
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Syntax(msg) => write!(f, "invalid XML: {msg}")?,
            ErrorKind::Missing(what) => write!(f, "missing {what}")?,
            ErrorKind::Invalid { value, expected } => write!(f, "invalid value {value:?}: expected {expected}")?,
            ErrorKind::Unexpected { found, expected } => write!(f, "unexpected element {found}: expected {expected}")?,
        }
        if !self.segments.is_empty() {
            write!(f, " at {}", self.path())?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}
