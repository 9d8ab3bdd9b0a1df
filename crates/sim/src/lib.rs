//! # exbridge-sim: an Exchange 2016/2019 simulator
//!
//! * [`store`]: the stateful mailbox store (calendars, tasks, OOF, change log, notifications).
//! * [`seed`]: deterministic mailboxes and calendars from a seed.
//! * [`json`]: the JSON shapes of the control API (`/sim/...`) and their effect on the store.

pub mod json;
pub mod seed;
pub mod store;

pub use seed::SeedConfig;
pub use store::{Store, StoreConfig, StoreError};
