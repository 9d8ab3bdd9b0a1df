//! # ews-proto: the Exchange Web Services protocol as Rust types
//!
//! Requests, responses, SOAP headers and faults, calendar items, tasks, recurrence, time zones
//! and Autodiscover, each readable from and writable to XML that validates against Microsoft's
//! EWS schema (Exchange 2016, `V2016_10_10`). No I/O: the client and the simulator both build
//! on this crate.
//!
//! ```
//! use ews_proto::soap::{Envelope, Header, ExchangeVersion, ConnectingSid};
//! let header = Header {
//!     request_server_version: Some(ExchangeVersion::Exchange2016),
//!     impersonation: Some(ConnectingSid::SmtpAddress("user1@contoso.test".into())),
//!     ..Header::default()
//! };
//! # let _ = header;
//! ```
//!
//! Reading is strict about structure (namespaces, required elements, value forms) and lenient
//! about elements it does not model (they are skipped). Every error names the XML path.

pub mod autodiscover;
pub mod error;
pub mod ids;
pub mod items;
pub mod ops;
pub mod response;
pub mod response_code;
pub mod shape;
pub mod soap;
pub mod stream;
pub mod tz;
pub mod values;
pub mod xml;

pub use error::{Error, Result};
pub use ids::*;
pub use response::{ResponseClass, ResponseStatus};
pub use response_code::ResponseCode;
pub use soap::{Body, Envelope, Fault, Header, Operation};
