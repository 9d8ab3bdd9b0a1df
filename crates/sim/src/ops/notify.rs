//! Notification operations. STUBS: each answers "not implemented" until written.

use ews_proto::ops::*;
use ews_proto::soap::Fault;

use crate::server::faults::not_implemented;
use crate::server::{RequestContext, StreamOpen};
use crate::store::Store;

pub fn subscribe(_store: &Store, _ctx: &RequestContext, _r: Subscribe) -> Result<SubscribeResponse, Fault> {
    Err(not_implemented("Subscribe"))
}

pub fn get_events(_store: &Store, _ctx: &RequestContext, _r: GetEvents) -> Result<GetEventsResponse, Fault> {
    Err(not_implemented("GetEvents"))
}

pub fn unsubscribe(_store: &Store, _ctx: &RequestContext, _r: Unsubscribe) -> Result<UnsubscribeResponse, Fault> {
    Err(not_implemented("Unsubscribe"))
}

pub fn open_stream(_store: &Store, _ctx: &RequestContext, _r: GetStreamingEvents) -> Result<StreamOpen, Fault> {
    Err(not_implemented("GetStreamingEvents"))
}
