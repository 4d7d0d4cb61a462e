//! Bad input to the binary: one line that says what to do, a non-zero exit, nothing left
//! attached.

use crate::{
    collect_agent::{assert_detached_in, one_line_error, packetguard, BIN},
    lab::Lab,
};

#[test]
fn an_unknown_interface_is_one_clear_line() {
    let out = packetguard(&["collect", "-i", "nosuch0", "--duration", "1s"]);
    let err = one_line_error(&out);
    assert!(
        err.contains("no network interface named \"nosuch0\""),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn bad_flags_and_durations_are_rejected_by_the_parser() {
    for args in [
        &["collect", "-i", "lo", "--bogus"][..],
        &["collect", "-i", "lo", "--duration", "5x"][..],
    ] {
        let out = packetguard(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error:"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    // Zero, negative and absurd values: refused by the same ranges as the config file.
    for (args, says) in [
        (
            &["collect", "-i", "lo", "--flow-entries", "0"][..],
            "must be between 1 and 16777216 (got 0)",
        ),
        (
            &["run", "-i", "lo", "--flow-entries=-5"][..],
            "\"-5\" is not a whole number",
        ),
        (
            &["run", "-i", "lo", "--idle-timeout", "0s"][..],
            "must be between 1ms and 1day (got 0s)",
        ),
        (
            &["collect", "-i", "lo", "--active-timeout", "400days"][..],
            "must be between 1ms and 1day",
        ),
        (
            &["run", "-i", "lo", "--learn", "10ms"][..],
            "must be between 1s and 30days",
        ),
    ] {
        let out = packetguard(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    for args in [
        &["collect", "-i", "lo", "--direction", "sideways"][..],
        &["run", "-i", "lo", "--direction", "in"][..],
    ] {
        let out = packetguard(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: invalid value"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.contains("[possible values: both, ingress, egress]"),
            "{err}"
        );
    }
}

#[test]
fn missing_privileges_say_what_is_needed() {
    let lab = Lab::new();
    // An unprivileged user (nobody) without capabilities.
    let out = lab.output(
        &lab.router,
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            BIN,
            "collect",
            "-i",
            "rc",
            "--duration",
            "1s",
        ],
    );
    let err = one_line_error(&out);
    assert!(
        err.contains("permission denied") && err.contains("CAP_BPF"),
        "{err}"
    );
    assert_detached_in(&lab, &lab.router, "rc");
}

#[test]
fn an_interface_that_refuses_native_xdp_fails_cleanly_and_auto_falls_back() {
    let lab = Lab::new();
    // Loopback has no driver-mode XDP.
    let out = lab.output(
        &lab.router,
        &[
            BIN,
            "collect",
            "-i",
            "lo",
            "--xdp-mode",
            "native",
            "--duration",
            "1s",
        ],
    );
    let err = one_line_error(&out);
    assert!(
        err.contains("refused XDP in native mode") && err.contains("--xdp-mode skb"),
        "{err}"
    );
    assert_detached_in(&lab, &lab.router, "lo");

    let out = lab.output(
        &lab.router,
        &[
            BIN,
            "collect",
            "-i",
            "lo",
            "--duration",
            "1s",
            "--out",
            "/dev/null",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("attached: lo ingress (XDP generic (skb)), lo egress (TC (tcx))"),
        "{stderr}"
    );
    assert_detached_in(&lab, &lab.router, "lo");
}
