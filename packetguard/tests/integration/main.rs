//! Integration tests, compiled into one test binary.
//!
//! Tests that load the XDP program need root (CAP_BPF, CAP_NET_ADMIN) and the traffic tools
//! `cargo xtask test` installs.
mod capture;
mod collect_agent;
mod lab;
mod prometheus_scrape;
mod traffic;
