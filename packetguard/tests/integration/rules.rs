//! Threshold rules in a live agent: a rule fires on the one-second window that crosses
//! its limit, with a `threshold` event naming the rule and the address, stays silent
//! below it and outside its prefix; a malformed rule is a one-line config error with
//! nothing attached.

use std::time::Duration;

use serde_json::Value;

use crate::{
    capture::read_events,
    collect_agent::{assert_detached_in, one_line_error, start_run, BIN},
    lab::{Lab, SERVER_V4},
};

const RULES: &str = r#"
[[rules]]
name = "lab-syn"
window = "destination"
cidr = "198.51.100.0/24"
feature = "new_flows_per_s"
above = 50

[[rules]]
name = "other-prefix"
cidr = "203.0.113.0/24"
feature = "new_flows_per_s"
above = 50
"#;

fn threshold_events(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["detector"] == "threshold")
        .collect()
}

#[test]
fn a_rule_fires_above_its_limit_only_and_only_inside_its_prefix() {
    let lab = Lab::new();
    let config = lab.dir.join("rules.toml");
    std::fs::write(&config, RULES).unwrap();
    let events = lab.dir.join("events.jsonl");
    let mut agent = start_run(
        &lab,
        &lab.server,
        "s0",
        &events,
        &["--config", config.to_str().unwrap()],
    );
    agent.wait_for_stderr(
        "threshold rules: lab-syn, other-prefix",
        1,
        Duration::from_secs(30),
    );

    // Below the limit: a few pings and ten connection attempts spread over two seconds.
    lab.exec(&lab.client, &["ping", "-c", "4", "-i", "0.2", SERVER_V4]);
    lab.syn_burst(10, 200_000);
    std::thread::sleep(Duration::from_millis(2200));
    let quiet = read_events(&events);
    assert!(
        threshold_events(&quiet).is_empty(),
        "no rule crossed: {quiet:?}"
    );

    // Above it: 400 attempts at about 1000 a second.
    lab.syn_burst(400, 1_000);
    std::thread::sleep(Duration::from_millis(2200));
    agent.stop(libc::SIGTERM, Duration::from_secs(20));
    let all = read_events(&events);
    let fired = threshold_events(&all);
    assert!(!fired.is_empty(), "the rule fired: {all:?}");
    for e in &fired {
        assert_eq!(e["rule"], "lab-syn", "{e}");
        assert_eq!(e["host"], SERVER_V4, "{e}");
        let top = &e["top_features"][0];
        assert_eq!(top["name"], "new_flows_per_s", "{e}");
        assert!(top["value"].as_f64().unwrap() > 50.0, "{e}");
    }
    assert_detached_in(&lab, &lab.server, "s0");
}

#[test]
fn a_malformed_rule_is_one_line_and_nothing_is_attached() {
    let lab = Lab::new();
    let config = lab.dir.join("bad.toml");
    std::fs::write(
        &config,
        "[[rules]]\nname = \"x\"\nfeature = \"syn_flood_level\"\nabove = 5\n",
    )
    .unwrap();
    let out = lab.output(
        &lab.server,
        &[BIN, "run", "-i", "s0", "--config", config.to_str().unwrap()],
    );
    let err = one_line_error(&out);
    assert!(
        err.contains("rule 1 \"x\"") && err.contains("unknown feature \"syn_flood_level\""),
        "{err}"
    );
    assert_detached_in(&lab, &lab.server, "s0");
}
