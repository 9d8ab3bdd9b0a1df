//! exbridge-sim: an Exchange server simulator for tests, the demo and benchmarks.

pub mod auth;
pub mod config;
pub mod server;
