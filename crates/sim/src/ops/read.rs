//! Read operations. STUBS: each answers "not implemented" until written.

use ews_proto::ops::*;
use ews_proto::soap::Fault;

use crate::server::RequestContext;
use crate::server::faults::not_implemented;
use crate::store::Store;

pub fn get_folder(_store: &Store, _ctx: &RequestContext, _r: GetFolder) -> Result<GetFolderResponse, Fault> {
    Err(not_implemented("GetFolder"))
}

pub fn find_item(_store: &Store, _ctx: &RequestContext, _r: FindItem) -> Result<FindItemResponse, Fault> {
    Err(not_implemented("FindItem"))
}

pub fn get_item(_store: &Store, _ctx: &RequestContext, _r: GetItem) -> Result<GetItemResponse, Fault> {
    Err(not_implemented("GetItem"))
}

pub fn sync_folder_items(
    _store: &Store,
    _ctx: &RequestContext,
    _r: SyncFolderItems,
) -> Result<SyncFolderItemsResponse, Fault> {
    Err(not_implemented("SyncFolderItems"))
}

pub fn resolve_names(_store: &Store, _ctx: &RequestContext, _r: ResolveNames) -> Result<ResolveNamesResponse, Fault> {
    Err(not_implemented("ResolveNames"))
}

pub fn get_user_oof_settings(
    _store: &Store,
    _ctx: &RequestContext,
    _r: GetUserOofSettingsRequest,
) -> Result<GetUserOofSettingsResponse, Fault> {
    Err(not_implemented("GetUserOofSettings"))
}

pub fn set_user_oof_settings(
    _store: &Store,
    _ctx: &RequestContext,
    _r: SetUserOofSettingsRequest,
) -> Result<SetUserOofSettingsResponse, Fault> {
    Err(not_implemented("SetUserOofSettings"))
}

pub fn get_user_availability(
    _store: &Store,
    _ctx: &RequestContext,
    _r: GetUserAvailabilityRequest,
) -> Result<GetUserAvailabilityResponse, Fault> {
    Err(not_implemented("GetUserAvailability"))
}
