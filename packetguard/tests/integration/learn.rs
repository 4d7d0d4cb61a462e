//! `packetguard run --learn`: the agent learns a baseline from live traffic, writes the
//! models, and detects with them without detaching.

use std::time::Duration;

use crate::{
    collect_agent::{assert_detached_in, assert_ok, packetguard, BIN},
    lab::Lab,
};

#[test]
fn learn_trains_on_live_traffic_saves_the_models_and_then_detects_with_them() {
    let lab = Lab::new();
    let learned = lab.dir.join("learned");
    let events = lab.dir.join("events.jsonl");
    let mut agent = lab.spawn(
        &lab.server,
        &[
            BIN,
            "run",
            "-i",
            "s0",
            "--learn",
            "8s",
            "--learn-dir",
            learned.to_str().unwrap(),
            // The SYNs below are answered by RSTs the server sends, which ingress XDP on s0
            // does not see: the flows end by idle expiry, within the learning time.
            "--idle-timeout",
            "1s",
            "--events",
            events.to_str().unwrap(),
        ],
    );
    agent.wait_for_stderr(
        "learning this host's traffic for 8s",
        1,
        Duration::from_secs(30),
    );

    // 120 connection attempts (one flow each) and a few pings: well over the 32 rows a
    // model needs.
    lab.syn_burst(120, 5_000);
    lab.exec(
        &lab.client,
        &[
            "ping",
            "-c",
            "5",
            "-i",
            "0.2",
            "-W",
            "2",
            crate::lab::SERVER_V4,
        ],
    );

    agent.wait_for_stderr("flow detector: model", 1, Duration::from_secs(30));
    let stderr = agent.stderr();
    let flow_file = learned.join("flow.pgm");
    assert!(flow_file.is_file(), "no learned flow model: {stderr}");
    assert!(
        stderr.contains(&format!("({})", flow_file.display())),
        "the flow detector must use the learned model: {stderr}"
    );
    // Eight one-second windows of one host are too few for a host model: the agent says so
    // and keeps the shipped default for that detector.
    assert!(
        stderr.contains("too few to train a host model")
            && stderr.contains("host detector: model host-"),
        "{stderr}"
    );
    assert!(!learned.join("host.pgm").exists());

    let inspect = packetguard(&["model", "inspect", flow_file.to_str().unwrap()]);
    assert_ok(&inspect);
    let text = String::from_utf8_lossy(&inspect.stdout).into_owned();
    let field = |name: &str| -> String {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .to_string()
    };
    assert_eq!(field("kind"), "flow");
    // The client opened 120-odd of the flows: one address may give at most 1% of a model's
    // rows, and never fewer than 50, so 50 of them are learned, beside the few flows other
    // addresses opened (neighbour discovery and the like).
    let rows: u64 = field("rows").parse().unwrap();
    assert!((50..60).contains(&rows), "trained on {rows} rows: {text}");
    assert!(
        stderr.contains("flow rows left out: no address may give more than 1% of a model's rows"),
        "{stderr}"
    );

    let status = agent.stop(libc::SIGTERM, Duration::from_secs(20));
    assert!(status.success(), "{}", agent.stderr());
    assert_detached_in(&lab, &lab.server, "s0");
}

#[test]
fn learning_over_learned_models_is_refused_from_a_flag_and_skipped_from_the_config() {
    let lab = Lab::new();
    let learned = lab.dir.join("learned");
    std::fs::create_dir_all(&learned).unwrap();
    let shipped = crate::collect_agent::default_models().join("flow.pgm");
    std::fs::copy(&shipped, learned.join("flow.pgm")).unwrap();
    let dir = learned.to_str().unwrap();
    let out = lab.output(
        &lab.server,
        &[BIN, "run", "-i", "s0", "--learn", "5s", "--learn-dir", dir],
    );
    let err = crate::collect_agent::one_line_error(&out);
    assert!(
        err.contains("learned models are already in") && err.contains("--learn-overwrite"),
        "{err}"
    );
    assert_detached_in(&lab, &lab.server, "s0");

    // `learn` in the config file: the agent detects with what it learned before.
    let config = lab.dir.join("learn.toml");
    std::fs::write(&config, "learn = \"5s\"\n").unwrap();
    let out = lab.output(
        &lab.server,
        &[
            BIN,
            "run",
            "-i",
            "s0",
            "--config",
            config.to_str().unwrap(),
            "--learn-dir",
            dir,
            "--duration",
            "1s",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("detecting with them, not learning again"),
        "{stderr}"
    );
    assert!(
        stderr.contains("flow detector: model flow-") && stderr.contains(dir),
        "{stderr}"
    );
    assert!(!stderr.contains("learning this host's traffic"), "{stderr}");
}
