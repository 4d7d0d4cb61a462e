//! One module per `packetguard` sub-command; `main.rs` only parses and dispatches.

pub mod analyze;
pub mod bench;
pub mod collect;
pub mod evaluate;
pub mod run;
pub mod shutdown;
pub mod simulate;
pub mod status;
