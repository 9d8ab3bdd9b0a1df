//! # exbridge-sim: an Exchange 2016/2019 simulator
//!
//! * [`activity`]: simulated users changing their calendars (for `exbridge demo`).
//! * [`store`]: the stateful mailbox store (calendars, tasks, OOF, change log, notifications).
//! * [`seed`]: deterministic mailboxes and calendars from a seed.
//! * [`json`]: the JSON shapes of the control API (`/sim/...`) and their effect on the store.
//! * [`ops`]: the EWS operations on the store.
//! * [`server`]: the HTTP(S) server: EWS and Autodiscover endpoints, the control API, the
//!   OAuth2 token endpoint, throttling, injected faults and streaming mechanics.
//! * [`auth`]: Basic, NTLMv2 and Bearer authentication.
//! * [`config`]: the simulator's options and the `exbridge sim` command line.

pub mod activity;
pub mod auth;
pub mod config;
pub mod json;
pub mod json_tasks;
pub mod ops;
pub mod seed;
pub mod server;
pub mod store;

pub use activity::{ActivityGenerator, spawn_activity};
pub use config::{Args, SimConfig};
pub use seed::SeedConfig;
pub use server::{RunningSim, run, start};
pub use store::{Store, StoreConfig, StoreError};
