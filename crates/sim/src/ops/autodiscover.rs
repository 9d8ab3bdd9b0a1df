//! SOAP and POX Autodiscover. STUBS until written.

use ews_proto::soap::{Envelope, Fault};

use crate::server::RequestContext;
use crate::server::faults::not_implemented;
use crate::store::Store;

pub fn soap(_store: &Store, _ctx: &RequestContext, _request: Envelope) -> Result<Envelope, Fault> {
    Err(not_implemented("GetUserSettings"))
}

pub fn pox(_store: &Store, _ctx: &RequestContext, _request: &[u8]) -> Option<String> {
    None
}
