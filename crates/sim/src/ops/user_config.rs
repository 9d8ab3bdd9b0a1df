//! GetUserConfiguration, CreateUserConfiguration, UpdateUserConfiguration: configuration
//! objects of the calendar and tasks folders (Outlook's `CategoryList` and the like).

use std::sync::Arc;

use ews_proto::ids::{FolderId, ItemId};
use ews_proto::ops::{
    CreateUserConfiguration, CreateUserConfigurationResponse, GetUserConfiguration, GetUserConfigurationResponse,
    GetUserConfigurationResponseMessage, UpdateUserConfiguration, UpdateUserConfigurationResponse, UserConfiguration,
    UserConfigurationName, UserConfigurationProperty as P,
};
use ews_proto::response::StatusMessage;
use ews_proto::soap::Fault;
use ews_proto::{ResponseCode, ResponseStatus};

use super::read::{error_status, request_mailbox};
use crate::server::RequestContext;
use crate::store::user_config::UserConfigError;
use crate::store::{FolderKind, Mailbox, Store};

fn folder(store: &Store, ctx: &RequestContext, id: &FolderId) -> Result<(Arc<Mailbox>, FolderKind), ResponseStatus> {
    let default = request_mailbox(store, ctx)
        .map_err(|f| ResponseStatus::error(ResponseCode::ErrorNonExistentMailbox, f.string.clone()))?;
    store.resolve_folder(&default, id).map_err(|e| error_status(&e))
}

fn not_found(name: &UserConfigurationName) -> ResponseStatus {
    ResponseStatus::error(ResponseCode::ErrorItemNotFound, "The specified object was not found in the store.")
        .with_value("UserConfigurationName", name.name.clone())
}

/// GetUserConfiguration: the object with the properties asked for; `ErrorItemNotFound` if
/// it does not exist.
pub fn get_user_configuration(
    store: &Store,
    ctx: &RequestContext,
    r: GetUserConfiguration,
) -> Result<GetUserConfigurationResponse, Fault> {
    let message = match folder(store, ctx, &r.name.folder) {
        Err(status) => GetUserConfigurationResponseMessage { status, configuration: None },
        Ok((mailbox, kind)) => match store.user_config(&mailbox, kind, &r.name.name) {
            None => GetUserConfigurationResponseMessage { status: not_found(&r.name), configuration: None },
            Some(c) => {
                let wants = |p: P| r.properties.contains(&p) || r.properties.contains(&P::All);
                GetUserConfigurationResponseMessage {
                    status: ResponseStatus::success(),
                    configuration: Some(UserConfiguration {
                        name: r.name.clone(),
                        item_id: wants(P::Id).then(|| ItemId::new(c.item_id.as_str(), None)),
                        xml_data: c.xml_data.filter(|_| wants(P::XmlData)),
                        binary_data: c.binary_data.filter(|_| wants(P::BinaryData)),
                    }),
                }
            }
        },
    };
    Ok(GetUserConfigurationResponse { messages: vec![message] })
}

/// CreateUserConfiguration: `ErrorItemSave` if the name exists in that folder.
pub fn create_user_configuration(
    store: &Store,
    ctx: &RequestContext,
    r: CreateUserConfiguration,
) -> Result<CreateUserConfigurationResponse, Fault> {
    let c = r.configuration;
    let status = match folder(store, ctx, &c.name.folder) {
        Err(status) => status,
        Ok((mailbox, kind)) => {
            match store.create_user_config(&mailbox, kind, &c.name.name, c.xml_data, c.binary_data) {
                Ok(_) => ResponseStatus::success(),
                Err(UserConfigError::Exists | UserConfigError::NotFound) => ResponseStatus::error(
                    ResponseCode::ErrorItemSave,
                    "The user configuration object already exists in the folder.",
                )
                .with_value("UserConfigurationName", c.name.name.clone()),
            }
        }
    };
    Ok(CreateUserConfigurationResponse { messages: vec![StatusMessage { status }] })
}

/// UpdateUserConfiguration: `ErrorItemNotFound` if the name does not exist in that folder.
pub fn update_user_configuration(
    store: &Store,
    ctx: &RequestContext,
    r: UpdateUserConfiguration,
) -> Result<UpdateUserConfigurationResponse, Fault> {
    let c = r.configuration;
    let status = match folder(store, ctx, &c.name.folder) {
        Err(status) => status,
        Ok((mailbox, kind)) => {
            match store.update_user_config(&mailbox, kind, &c.name.name, c.xml_data, c.binary_data) {
                Ok(_) => ResponseStatus::success(),
                Err(_) => not_found(&c.name),
            }
        }
    };
    Ok(UpdateUserConfigurationResponse { messages: vec![StatusMessage { status }] })
}
