//! SIGHUP: the events file is reopened after log rotation, the models and the config
//! file's rules are reloaded, a bad new model keeps the old one and says why, and nothing
//! is detached meanwhile.

use std::{path::Path, time::Duration};

use crate::{
    capture::read_events,
    collect_agent::{attached_in, default_models, start_run, METRICS_ADDR},
    lab::{Lab, Proc, SERVER_V4},
};

fn rules(name: &str) -> String {
    format!(
        "event_rate_limit = 1000\n[[rules]]\nname = \"{name}\"\nfeature = \"packets_per_s\"\nabove = 0\n"
    )
}

fn ping(lab: &Lab) {
    lab.exec(
        &lab.client,
        &["ping", "-q", "-c", "12", "-i", "0.1", SERVER_V4],
    );
    std::thread::sleep(Duration::from_millis(1300));
}

fn hangup(agent: &mut Proc, expect: &str, times: usize) {
    unsafe { libc::kill(agent.pid() as i32, libc::SIGHUP) };
    agent.wait_for_stderr(expect, times, Duration::from_secs(15));
}

fn rule_events(path: &Path, rule: &str) -> usize {
    read_events(path)
        .iter()
        .filter(|e| e["detector"] == "threshold" && e["rule"] == rule)
        .count()
}

#[test]
fn sighup_reopens_the_events_file_and_reloads_models_and_rules_without_detaching() {
    let lab = Lab::new();
    let models = lab.dir.join("models");
    std::fs::create_dir_all(&models).unwrap();
    let shipped = default_models();
    for m in ["flow.pgm", "host.pgm", "source.pgm"] {
        std::fs::copy(shipped.join(m), models.join(m)).unwrap();
    }
    let config = lab.dir.join("agent.toml");
    std::fs::write(&config, rules("first")).unwrap();
    let events = lab.dir.join("events.jsonl");
    let mut agent = start_run(
        &lab,
        &lab.server,
        "s0",
        &events,
        &[
            "--config",
            config.to_str().unwrap(),
            "--model",
            models.to_str().unwrap(),
        ],
    );
    ping(&lab);
    assert!(
        rule_events(&events, "first") > 0,
        "events before the rotation"
    );

    // Log rotation: the file is moved away; SIGHUP makes the agent write a new one.
    let rotated = lab.dir.join("events.jsonl.1");
    std::fs::rename(&events, &rotated).unwrap();
    hangup(&mut agent, "SIGHUP: reopened the events file", 1);
    let before = rule_events(&rotated, "first");
    ping(&lab);
    assert!(
        rule_events(&events, "first") > 0,
        "the new file gets the new events"
    );
    assert_eq!(
        rule_events(&rotated, "first"),
        before,
        "the rotated file is left alone"
    );

    // A corrupt model: the old ones stay, and the agent says why.
    std::fs::write(models.join("flow.pgm"), b"not a model").unwrap();
    hangup(&mut agent, "SIGHUP: keeping the current models", 1);
    assert!(agent.stderr().contains("flow.pgm"), "{}", agent.stderr());

    // A good model again and a renamed rule: both take effect.
    std::fs::copy(shipped.join("flow.pgm"), models.join("flow.pgm")).unwrap();
    std::fs::write(&config, rules("second")).unwrap();
    hangup(&mut agent, "SIGHUP: models reloaded", 1);
    assert!(
        agent.stderr().contains("(1 threshold rules)"),
        "{}",
        agent.stderr()
    );
    ping(&lab);
    assert!(
        rule_events(&events, "second") > 0,
        "the reloaded rule fires"
    );
    let metrics = lab.exec(
        &lab.server,
        &["curl", "-sS", &format!("http://{METRICS_ADDR}/metrics")],
    );
    let text = String::from_utf8_lossy(&metrics.stdout);
    assert!(
        text.contains("packetguard_rule_matches_total{rule=\"second\"}"),
        "{text}"
    );
    assert!(
        !text.contains("rule=\"first\""),
        "the old rule's series is gone"
    );
    assert!(text.contains("packetguard_ringbuf_lost_total 0"), "{text}");

    // Still attached all along.
    let status = attached_in(&lab, &lab.server, "s0");
    assert!(
        status.contains("s0 xdp: id") && status.contains("packetguard_egr"),
        "{status}"
    );
    let exit = agent.stop(libc::SIGTERM, Duration::from_secs(20));
    assert!(exit.success(), "{}", agent.stderr());
}
