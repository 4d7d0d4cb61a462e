use std::time::Duration;

use clap::{Args, Command, ValueEnum};

use super::*;

fn help<T: Args>(name: &'static str) -> String {
    T::augment_args(Command::new(name))
        .render_long_help()
        .to_string()
}

fn name(v: impl ValueEnum) -> String {
    v.to_possible_value().unwrap().get_name().to_owned()
}

#[test]
fn every_flag_has_help_and_the_help_quotes_the_defaults() {
    for (name, cmd) in [
        ("run", RunSettings::augment_args(Command::new("run"))),
        (
            "collect",
            CollectSettings::augment_args(Command::new("collect")),
        ),
    ] {
        for arg in cmd.get_arguments() {
            assert!(
                arg.get_help().is_some_and(|h| !h.to_string().is_empty()),
                "{name} --{} has no help",
                arg.get_id()
            );
        }
    }
    let run = help::<RunSettings>("run");
    let collect = help::<CollectSettings>("collect");
    let span = |d: Duration| format!("Default: {}", humantime::format_duration(d));
    for text in [&run, &collect] {
        assert!(text.contains(&span(defaults::IDLE_TIMEOUT)), "{text}");
        assert!(text.contains(&span(defaults::ACTIVE_TIMEOUT)), "{text}");
        assert!(
            text.contains(&format!("Default: {}", defaults::FLOW_ENTRIES)),
            "{text}"
        );
        assert!(
            text.contains(&format!("Default: {}", name(defaults::DIRECTION))),
            "{text}"
        );
        assert!(
            text.contains(&format!("Default: {}", name(defaults::XDP_MODE))),
            "{text}"
        );
        assert!(
            text.contains(&format!("Default: {}", name(defaults::TC_MODE))),
            "{text}"
        );
    }
    assert!(
        run.contains(&format!("Default: {}", defaults::METRICS_ADDR)),
        "{run}"
    );
    assert!(
        run.contains(&format!("Default: {}", defaults::EVENTS)),
        "{run}"
    );
    assert!(
        collect.contains(&format!("Default: {}", defaults::SAMPLE_EVERY)),
        "{collect}"
    );
}

#[test]
fn flags_win_over_the_file_and_the_rest_comes_from_the_file() {
    let flags = RunSettings {
        idle_timeout: Some(Duration::from_secs(3)),
        no_ui: true,
        ..RunSettings::default()
    };
    let file = RunSettings {
        idle_timeout: Some(Duration::from_secs(30)),
        active_timeout: Some(Duration::from_secs(90)),
        iface: Some("eth1".into()),
        ui: Some(true),
        event_rate_limit: Some(9),
        ..RunSettings::default()
    };
    let s = flags.over(file);
    assert_eq!(s.idle_timeout(), Duration::from_secs(3));
    assert_eq!(s.datapath().active_timeout, Duration::from_secs(90));
    assert_eq!(s.datapath().flow_entries, defaults::FLOW_ENTRIES);
    assert_eq!(s.iface.as_deref(), Some("eth1"));
    assert_eq!(s.ui, Some(false), "--no-ui wins over ui = true");
    assert_eq!(s.rate_limit().burst, 9);
    assert_eq!(s.rate_limit().interval, defaults::EVENT_RATE_INTERVAL);
}

#[test]
fn nothing_set_is_every_default() {
    let s = RunSettings::default().over(RunSettings::default());
    assert_eq!(s.idle_timeout(), defaults::IDLE_TIMEOUT);
    assert_eq!(
        s.attach(),
        AttachOptions {
            direction: defaults::DIRECTION,
            xdp_mode: defaults::XDP_MODE,
            tc_mode: defaults::TC_MODE,
        }
    );
    assert_eq!(s.rate_limit(), crate::events::RateLimit::default());
    assert_eq!(s.ui, None);
}

#[test]
fn flag_only_settings_are_unknown_keys_in_the_file() {
    for key in [
        "no_ui = true",
        "config = \"x.toml\"",
        "learn_overwrite = true",
        "duration = \"5s\"",
    ] {
        let err = crate::config::parse(key, std::path::Path::new("pg.toml")).unwrap_err();
        let name = key.split(' ').next().unwrap();
        assert!(
            err.to_string().contains(&format!("unknown field `{name}`")),
            "{err}"
        );
    }
}
