//! The EWS operations of the simulator, on top of the [`Store`]: what Exchange 2016/2019 does
//! for each request a calendar connector (or any EWS client) sends.
//!
//! * [`read`]: GetFolder, FindItem, GetItem, SyncFolderItems, ResolveNames, OOF, availability.
//! * [`write`]: CreateItem, UpdateItem, DeleteItem (meetings, attendee copies, conflicts).
//! * [`user_config`]: GetUserConfiguration, CreateUserConfiguration, UpdateUserConfiguration.
//! * [`notify`]: Subscribe, GetStreamingEvents, GetEvents, Unsubscribe.
//! * [`autodiscover`]: SOAP GetUserSettings and POX Autodiscover, including a redirect case.
//!
//! The server ([`crate::server`]) has already authenticated the caller, resolved the mailbox
//! (impersonation rules), applied faults, throttling and latency when an operation runs.

// A `Fault` is large, but it is the error path of a request, never a hot loop.
#![allow(clippy::result_large_err)]

pub mod autodiscover;
pub mod notify;
pub mod read;
pub mod user_config;
pub mod write;

use std::sync::Arc;

use axum::body::Bytes;
use ews_proto::ops::GetStreamingEvents;
use ews_proto::soap::{Body, Envelope, Fault};

use crate::server::faults;
use crate::server::streaming::BoxFuture;
use crate::server::{EwsOperations, RequestContext, StreamOpen};
use crate::store::Store;

/// The simulator's [`EwsOperations`].
#[derive(Debug, Clone)]
pub struct SimOperations {
    pub store: Arc<Store>,
}

impl SimOperations {
    pub fn new(store: Arc<Store>) -> Self {
        SimOperations { store }
    }
}

impl EwsOperations for SimOperations {
    fn handle<'a>(&'a self, ctx: &'a RequestContext, body: Body) -> BoxFuture<'a, Result<Body, Fault>> {
        Box::pin(async move {
            let store = &self.store;
            match body {
                Body::GetFolder(r) => read::get_folder(store, ctx, r).map(Body::from),
                Body::FindItem(r) => read::find_item(store, ctx, r).map(Body::from),
                Body::GetItem(r) => read::get_item(store, ctx, r).map(Body::from),
                Body::SyncFolderItems(r) => read::sync_folder_items(store, ctx, r).map(Body::from),
                Body::ResolveNames(r) => read::resolve_names(store, ctx, r).map(Body::from),
                Body::GetUserOofSettings(r) => read::get_user_oof_settings(store, ctx, r).map(Body::from),
                Body::SetUserOofSettings(r) => read::set_user_oof_settings(store, ctx, r).map(Body::from),
                Body::GetUserAvailability(r) => read::get_user_availability(store, ctx, r).map(Body::from),
                Body::CreateItem(r) => write::create_item(store, ctx, r).map(Body::from),
                Body::UpdateItem(r) => write::update_item(store, ctx, r).map(Body::from),
                Body::DeleteItem(r) => write::delete_item(store, ctx, r).map(Body::from),
                Body::Subscribe(r) => notify::subscribe(store, ctx, r).map(Body::from),
                Body::GetEvents(r) => notify::get_events(store, ctx, r).map(Body::from),
                Body::Unsubscribe(r) => notify::unsubscribe(store, ctx, r).map(Body::from),
                Body::GetUserConfiguration(r) => user_config::get_user_configuration(store, ctx, r).map(Body::from),
                Body::CreateUserConfiguration(r) => {
                    user_config::create_user_configuration(store, ctx, r).map(Body::from)
                }
                Body::UpdateUserConfiguration(r) => {
                    user_config::update_user_configuration(store, ctx, r).map(Body::from)
                }
                other => Err(faults::not_implemented(crate::server::ews::operation_name(&other))),
            }
        })
    }

    fn open_stream<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: GetStreamingEvents,
    ) -> BoxFuture<'a, Result<StreamOpen, Fault>> {
        Box::pin(async move { notify::open_stream(&self.store, ctx, request) })
    }

    fn autodiscover_soap<'a>(
        &'a self,
        ctx: &'a RequestContext,
        request: Envelope,
    ) -> BoxFuture<'a, Result<Envelope, Fault>> {
        Box::pin(async move { autodiscover::soap(&self.store, ctx, request) })
    }

    fn autodiscover_pox<'a>(&'a self, ctx: &'a RequestContext, request: Bytes) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move { autodiscover::pox(&self.store, ctx, &request) })
    }
}
