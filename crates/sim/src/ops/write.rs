//! Write operations. STUBS: each answers "not implemented" until written.

use ews_proto::ops::*;
use ews_proto::soap::Fault;

use crate::server::RequestContext;
use crate::server::faults::not_implemented;
use crate::store::Store;

pub fn create_item(_store: &Store, _ctx: &RequestContext, _r: CreateItem) -> Result<CreateItemResponse, Fault> {
    Err(not_implemented("CreateItem"))
}

pub fn update_item(_store: &Store, _ctx: &RequestContext, _r: UpdateItem) -> Result<UpdateItemResponse, Fault> {
    Err(not_implemented("UpdateItem"))
}

pub fn delete_item(_store: &Store, _ctx: &RequestContext, _r: DeleteItem) -> Result<DeleteItemResponse, Fault> {
    Err(not_implemented("DeleteItem"))
}
