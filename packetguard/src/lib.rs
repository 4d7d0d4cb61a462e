//! PacketGuard agent library.
//!
//! # Layout
//!
//! - [`metrics`]: the Prometheus registry, every metric the agent exports, and the HTTP
//!   server behind `/metrics`.
//! - [`events`]: JSON anomaly events, one per line, rate-limited per host.
//! - [`config`]: the TOML configuration file of `packetguard run`.
pub mod config;
pub mod events;
pub mod metrics;
