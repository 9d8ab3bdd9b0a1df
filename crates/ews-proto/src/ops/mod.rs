//! One module per EWS operation: request and response types.

pub mod availability;
pub mod create_item;
pub mod delete_item;
pub mod export_items;
pub mod find_item;
pub mod get_events;
pub mod get_folder;
pub mod get_item;
pub mod get_streaming_events;
pub mod oof;
pub mod resolve_names;
pub mod subscribe;
pub mod sync_folder_items;
pub mod unsubscribe;
pub mod update_item;
pub mod user_config;

pub use availability::*;
pub use create_item::*;
pub use delete_item::*;
pub use export_items::*;
pub use find_item::*;
pub use get_events::*;
pub use get_folder::*;
pub use get_item::*;
pub use get_streaming_events::*;
pub use oof::*;
pub use resolve_names::*;
pub use subscribe::*;
pub use sync_folder_items::*;
pub use unsubscribe::*;
pub use update_item::*;
pub use user_config::*;
pub mod restriction;
pub use restriction::*;
