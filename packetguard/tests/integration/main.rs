//! Integration tests, compiled into one test binary.
//!
//! Tests that load the XDP program need root (CAP_BPF, CAP_NET_ADMIN) and the traffic tools
//! `cargo xtask test` installs.
mod attack;
mod both_directions;
mod capture;
mod cli_errors;
mod collect_agent;
mod detector;
mod evictions;
mod flow_races;
mod flow_table;
mod frames;
mod host_credit;
mod lab;
mod learn;
mod offline;
mod parser;
mod prometheus_scrape;
mod rules;
mod source_credit;
mod traffic;
