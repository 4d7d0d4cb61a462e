//! Settings, defined once: each command's settings are one type that clap fills from the
//! flags and serde from the TOML file (`run --config`), merged flags over file, and
//! resolved against [`defaults`], where every default lives.
//!
//! `run` and `collect` share the live data path's settings (which packets, how to attach,
//! timeouts, the flow map, how long to run): [`live_settings!`] writes those fields, with
//! their help and ranges, into both types from one definition. (A flattened struct would
//! say it once too, but serde cannot refuse unknown keys through a flattened struct, and a
//! misspelt key must be refused.)
//!
//! Ranges are checked by [`crate::limits`] in both paths: clap's value parsers for flags,
//! [`crate::config::parse`] for the file.

pub mod defaults;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use packetguard_forest::Contamination;
use serde::{Deserialize, Deserializer};

use crate::{
    config::RuleConfig,
    datapath::{AttachMode, AttachOptions, DataPathConfig, Direction, TcMode},
    limits,
};

/// Declares a settings struct with its own fields, then the live data path's, and
/// the accessors every live command uses.
macro_rules! live_settings {
    (
        $(#[$attr:meta])*
        pub struct $name:ident {
            $($(#[$fattr:meta])* $fvis:vis $field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$attr])*
        pub struct $name {
            $($(#[$fattr])* $fvis $field: $ty,)*
            /// Which packets to see: `both` (arriving through XDP and leaving through TC
            /// egress: an end host's two-sided flows), `ingress` (a router or bridge,
            /// attached on every interface, sees each forwarded packet once) or `egress`.
            /// Default: both.
            #[arg(long, value_enum)]
            pub direction: Option<Direction>,
            /// How to attach XDP: `auto` (native, falling back to generic skb mode, which
            /// is reported), `native` or `skb`. Default: auto.
            #[arg(long, value_enum)]
            pub xdp_mode: Option<AttachMode>,
            /// How to attach the egress program: `auto` (a TCX link on Linux 6.6+, else a
            /// clsact qdisc with a netlink filter), `tcx` or `netlink`. Default: auto.
            #[arg(long, value_enum)]
            pub tc_mode: Option<TcMode>,
            /// A flow with no packet for this long is exported and removed from the kernel
            /// (for example 15s, 2m). Default: 15s.
            #[arg(long, value_parser = limits::IDLE_TIMEOUT.parser())]
            #[serde(default, deserialize_with = "crate::settings::duration")]
            pub idle_timeout: Option<Duration>,
            /// A flow reporting for this long emits an interim record and goes on.
            /// Default: 1m.
            #[arg(long, value_parser = limits::ACTIVE_TIMEOUT.parser())]
            #[serde(default, deserialize_with = "crate::settings::duration")]
            pub active_timeout: Option<Duration>,
            /// Kernel flow map size; least recently used flows are evicted beyond it, and
            /// counted. Default: 262144.
            #[arg(long, value_parser = limits::FLOW_ENTRIES.parse_u32())]
            pub flow_entries: Option<u32>,
            /// Stop after this long (for example 30s, 5m). Default: until SIGINT or
            /// SIGTERM.
            #[arg(long, value_parser = limits::RUN_DURATION.parser())]
            #[serde(skip)]
            pub duration: Option<Duration>,
        }

        impl $name {
            /// How to attach, defaults filled in.
            pub fn attach(&self) -> AttachOptions {
                AttachOptions {
                    direction: self.direction.unwrap_or(defaults::DIRECTION),
                    xdp_mode: self.xdp_mode.unwrap_or(defaults::XDP_MODE),
                    tc_mode: self.tc_mode.unwrap_or(defaults::TC_MODE),
                }
            }

            /// The idle timeout, default filled in.
            pub fn idle_timeout(&self) -> Duration {
                self.idle_timeout.unwrap_or(defaults::IDLE_TIMEOUT)
            }

            /// The kernel programs' load-time settings, defaults filled in.
            pub fn datapath(&self) -> DataPathConfig {
                DataPathConfig {
                    flow_entries: self.flow_entries.unwrap_or(defaults::FLOW_ENTRIES),
                    active_timeout: self.active_timeout.unwrap_or(defaults::ACTIVE_TIMEOUT),
                    ..DataPathConfig::default()
                }
            }

            /// Fills the live fields `self` leaves unset from `file`.
            #[allow(dead_code)] // `collect` reads no file
            fn live_or(&mut self, file: &Self) {
                self.direction = self.direction.or(file.direction);
                self.xdp_mode = self.xdp_mode.or(file.xdp_mode);
                self.tc_mode = self.tc_mode.or(file.tc_mode);
                self.idle_timeout = self.idle_timeout.or(file.idle_timeout);
                self.active_timeout = self.active_timeout.or(file.active_timeout);
                self.flow_entries = self.flow_entries.or(file.flow_entries);
                self.duration = self.duration.or(file.duration);
            }
        }
    };
}

live_settings! {
    /// Settings of `packetguard run`: flags, and the keys of its TOML file
    /// (`deploy/packetguard.toml` documents every key). Flags override the file.
    #[derive(clap::Args, Clone, Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    pub struct RunSettings {
        /// Interface to watch. Default: the interface of the default route.
        #[arg(long, short)]
        pub iface: Option<String>,
        /// Model directory (holding flow.pgm, host.pgm and source.pgm) or one model file.
        /// Default: each detector's model from the first of /var/lib/packetguard/models
        /// (learned), <exe>/../share/packetguard/models and models/ that holds it.
        #[arg(long)]
        pub model: Option<PathBuf>,
        /// Where `/metrics` is served, and the live page at `/` with its JSON API under
        /// `/api/`. Default: 127.0.0.1:9617.
        #[arg(long)]
        pub metrics_addr: Option<SocketAddr>,
        /// Do not serve the live page and its JSON API: only `/metrics` and `/healthz`
        /// (`ui = false` in the file).
        #[arg(long)]
        #[serde(skip)]
        pub no_ui: bool,
        /// File key `ui`: serve the live page (default true).
        #[arg(skip)]
        pub ui: Option<bool>,
        /// Anomaly events: `-` for standard output, or a file to append to. Default: -.
        #[arg(long)]
        pub events: Option<String>,
        /// TOML configuration file (see deploy/packetguard.toml).
        #[arg(long)]
        #[serde(skip)]
        pub config: Option<PathBuf>,
        /// Learn a baseline from this host's traffic for this long (e.g. 1h), train the
        /// models, save them to /var/lib/packetguard/models (or $STATE_DIRECTORY/models),
        /// then detect with them. Only learn on traffic you trust to be normal.
        #[arg(long, value_parser = limits::LEARN.parser())]
        #[serde(default, deserialize_with = "crate::settings::duration")]
        pub learn: Option<Duration>,
        /// Expected share of anomalies in the learned traffic (`auto`: threshold 0.5).
        /// Default: auto.
        #[arg(long)]
        #[serde(skip)]
        pub learn_contamination: Option<Contamination>,
        /// Where `--learn` writes its models (default: see --learn).
        #[arg(long)]
        #[serde(skip)]
        pub learn_dir: Option<PathBuf>,
        /// Let `--learn` replace models learned before (they are kept as NAME.previous);
        /// without it a learn over existing learned models is refused.
        #[arg(long)]
        #[serde(skip)]
        pub learn_overwrite: bool,
        /// Write every scored flow record (key, the model's features, score, verdict) to
        /// this CSV file, for evaluating the flow model on live traffic.
        #[arg(long)]
        #[serde(skip)]
        pub flow_scores: Option<PathBuf>,
        /// File key: anomaly events per address and detector in each interval (default 5).
        #[arg(skip)]
        pub event_rate_limit: Option<u32>,
        /// File key: length of the event rate-limit interval (default 10s).
        #[arg(skip)]
        #[serde(default, deserialize_with = "crate::settings::duration")]
        pub event_rate_interval: Option<Duration>,
        /// File key: addresses the event rate limiter tracks at once (default 4096).
        #[arg(skip)]
        pub event_rate_hosts: Option<usize>,
        /// File key: events written per second over every address and detector (default
        /// 100).
        #[arg(skip)]
        pub event_budget_per_s: Option<u32>,
        /// File tables `[[rules]]`: threshold rules, in file order; none by default.
        /// Filled by [`crate::config::parse`] from `rule_tables`.
        #[arg(skip)]
        #[serde(skip)]
        pub rules: Vec<RuleConfig>,
        /// The `[[rules]]` tables as written, read into `rules` (and emptied) by
        /// [`crate::config::parse`].
        #[arg(skip)]
        #[serde(default, rename = "rules")]
        pub(crate) rule_tables: Vec<toml::Table>,
    }
}

impl RunSettings {
    /// These flags over `file`: what a flag sets wins, the rest comes from the file.
    pub fn over(mut self, file: RunSettings) -> RunSettings {
        self.live_or(&file);
        self.iface = self.iface.or(file.iface);
        self.model = self.model.or(file.model);
        self.metrics_addr = self.metrics_addr.or(file.metrics_addr);
        self.ui = match (self.no_ui, file.ui) {
            (true, _) => Some(false),
            (false, ui) => ui,
        };
        self.events = self.events.or(file.events);
        self.learn = self.learn.or(file.learn);
        self.event_rate_limit = self.event_rate_limit.or(file.event_rate_limit);
        self.event_rate_interval = self.event_rate_interval.or(file.event_rate_interval);
        self.event_rate_hosts = self.event_rate_hosts.or(file.event_rate_hosts);
        self.event_budget_per_s = self.event_budget_per_s.or(file.event_budget_per_s);
        self.rules = file.rules;
        self
    }

    /// The event rate limits, defaults filled in.
    pub fn rate_limit(&self) -> crate::events::RateLimit {
        crate::events::RateLimit {
            burst: self.event_rate_limit.unwrap_or(defaults::EVENT_RATE_LIMIT),
            interval: self
                .event_rate_interval
                .unwrap_or(defaults::EVENT_RATE_INTERVAL),
            max_hosts: self.event_rate_hosts.unwrap_or(defaults::EVENT_RATE_HOSTS),
            global_per_s: self
                .event_budget_per_s
                .unwrap_or(defaults::EVENT_BUDGET_PER_S),
        }
    }
}

live_settings! {
    /// Settings of `packetguard collect`.
    #[derive(clap::Args, Clone, Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    pub struct CollectSettings {
        /// Interface to attach to; repeat to watch several (for example both sides of a
        /// router). Default: the interface of the default route.
        #[arg(long, short)]
        pub iface: Vec<String>,
        /// Flow CSV to write. Default: standard output.
        #[arg(long, short)]
        pub out: Option<PathBuf>,
        /// Sample one packet in this many (per CPU) into --samples-out; 0 turns sampling
        /// off. Default: 0.
        #[arg(long)]
        pub sample: Option<u32>,
        /// CSV file for packet samples.
        #[arg(long)]
        pub samples_out: Option<PathBuf>,
        /// Write each kernel record as its own row instead of one row per flow.
        #[arg(long)]
        pub per_record: bool,
    }
}

/// Reads a humantime duration such as `"15s"`, `"2m"` or `"1h 30m"` from the file.
pub(crate) fn duration<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(de)?;
    humantime::parse_duration(&text).map(Some).map_err(|err| {
        serde::de::Error::custom(format!(
            "invalid duration {text:?} ({err}); write it like \"15s\", \"2m\" or \"1h 30m\""
        ))
    })
}

#[cfg(test)]
mod tests;
