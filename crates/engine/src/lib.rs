//! # exbridge-engine: the sync engine
//!
//! Keeps a live mirror of every directory user's Exchange calendar in the [store] and tells
//! the application about every change through the outbox.
//!
//! * [`connection`]: connection tests of one Exchange server (`check-connection`, the admin
//!   UI's "Test connection").
//! * [`context`]: what every part shares: the store, the Exchange servers, the settings.
//! * [`catmap`]: `[mapping]` categories (with colours in the master category list) and
//!   priorities, and the application id property of items.
//! * [`event`]: the documents the application sees (an event, a presence, a free/busy slot)
//!   and the stable event ids.
//! * [`mapping`]: EWS calendar items → [`event::EventDoc`]s and mirror rows (series expanded
//!   in the sync window). Pure.
//! * [`plan`]: the sync decision table: (mirror before, Exchange now) → mirror changes and
//!   outbox events. Pure, exhaustively tested.
//! * [`policy`]: a user's sync settings on the Exchange → application path (direction,
//!   `delete_in_app`, `skip_private`, `sync_start`, the `changed` list of updates).
//! * [`sync`]: one folder of one mailbox: SyncFolderItems (initial, incremental, full resync
//!   after a lost sync state), GetItem in batches, the plan applied in one store transaction.
//! * [`resolve`]: a directory user's mailbox: identifiers tried in contract order.
//! * [`reads`]: live reads from Exchange (calendar view, free/busy, OOF).
//! * [`runtime`]: the running engine: per-user workers, directory sources and refresh,
//!   streaming notifications, reconcile, presence scheduling and OOF polling; implements
//!   [`api::Connector`] for the server.
//! * [`task`]: tasks as the application sees them ([`task::TaskDoc`]), their stable ids and
//!   the pure mapping EWS task ↔ document; [`task_sync`]: the tasks folder's sync and the
//!   task writes of the API.
//! * [`writes`]: event writes from the application to Exchange: validation, conflicts, echo
//!   tagging, policy, the durable queue.
//! * [`telemetry`]: the engine's Prometheus series (through the `metrics` facade) and the
//!   notification-to-webhook clock.
//!
//! [store]: exbridge_store

pub mod api;
pub mod catmap;
pub mod connection;
pub mod context;
pub mod event;
pub mod mapping;
pub mod plan;
pub mod policy;
pub mod reads;
pub mod resolve;
pub mod runtime;
pub mod sync;
pub mod task;
pub mod task_sync;
pub mod telemetry;
pub mod writes;

pub use api::{ConnectionReport, Connector, EngineError, Readiness, WriteMeta, WriteOutcome};
pub use context::{Context, EngineSettings, ExchangeServer, Servers};
