//! Integration tests, compiled into one test binary.
//!
//! Tests that load the XDP program need root (CAP_BPF, CAP_NET_ADMIN) and the traffic tools
//! `cargo xtask test` installs.
mod analyze;
mod analyze_capture;
mod attack;
mod attacks;
mod both_directions;
mod browser;
mod capture;
mod cli_errors;
mod collect_agent;
mod detector;
mod evaluate;
mod event_sinks;
mod evictions;
mod flow_races;
mod flow_table;
mod fragments;
mod frames;
mod fuzz;
mod host_credit;
mod hostile_clients;
mod lab;
mod learn;
mod lengths;
mod live_page;
mod login_context;
mod offline;
mod offline_parser;
mod offline_replay;
mod parser;
mod prometheus_scrape;
mod raw_ip;
mod report_capture;
mod report_page;
mod restart;
mod rules;
mod sighup;
mod simulate;
mod source_credit;
mod spoofed_flood;
mod sshd;
mod stall;
mod traffic;
mod unit_confinement;
