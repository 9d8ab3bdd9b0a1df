//! placeholder

pub mod tz;
