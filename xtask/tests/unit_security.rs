//! The shipped unit's exposure as `systemd-analyze security` rates it, offline (no running
//! systemd needed; `--offline` exists since systemd 250): at most 2.0, with the hardening
//! directives deploy/README.md documents in effect.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// Highest overall exposure the unit may have (0 is fully confined, 10 is unconfined).
const MAX_EXPOSURE: f64 = 2.0;

fn unit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/packetguard.service")
}

/// The major version `systemd-analyze --version` reports ("systemd 252 (252.38-1~deb12u1)").
fn systemd_version() -> u32 {
    let out = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .expect("systemd-analyze runs (Debian package systemd)");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no version in {text:?}"))
}

/// `systemd-analyze security --offline=yes` of the shipped unit: its text report, in the
/// C locale so that its marks are ASCII whatever the environment ("+" confined, "-" not,
/// "->" before the overall level).
fn security_report() -> String {
    let version = systemd_version();
    assert!(
        version >= 250,
        "systemd {version}: `systemd-analyze security --offline` needs systemd 250 or newer"
    );
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(unit())
        .env("LC_ALL", "C")
        .output()
        .expect("systemd-analyze security runs");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "systemd-analyze security failed ({}): {}{report}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

/// The number of the report's closing line,
/// "-> Overall exposure level for packetguard.service: 1.9 OK :-)".
fn overall_exposure(report: &str) -> f64 {
    const LEAD: &str = "Overall exposure level for packetguard.service:";
    let line = report
        .lines()
        .find(|l| l.contains(LEAD))
        .unwrap_or_else(|| panic!("no overall exposure line in:\n{report}"));
    line.split_once(LEAD)
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number in {line:?}"))
}

#[test]
fn overall_exposure_is_parsed_from_the_closing_line() {
    let report = "- PrivateNetwork=   Service has access to the host's network   0.5\n\n\
                  -> Overall exposure level for packetguard.service: 2.7 OK :-)\n";
    assert_eq!(overall_exposure(report), 2.7);
}

#[test]
fn shipped_unit_exposure_is_at_most_two() {
    let report = security_report();
    let exposure = overall_exposure(&report);
    eprintln!("systemd-analyze security --offline=yes packetguard.service: {exposure}");
    assert!(
        exposure <= MAX_EXPOSURE,
        "exposure {exposure} is above {MAX_EXPOSURE}:\n{report}"
    );
    // systemd's own reading of the directives the exposure rests on: each is rated as
    // confined ("+").
    for setting in [
        "ProtectKernelTunables=",
        "PrivateMounts=",
        "ProtectSystem=",
        "NoNewPrivileges=",
        "CapabilityBoundingSet=~CAP_SYS_(NICE|RESOURCE)",
        "CapabilityBoundingSet=~CAP_SYS_ADMIN",
        "SystemCallFilter=~@debug",
        "SystemCallFilter=~@resources",
        "ProcSubset=",
        "UMask=",
    ] {
        let confined = report
            .lines()
            .any(|l| l.strip_prefix("+ ").is_some_and(|r| r.starts_with(setting)));
        assert!(confined, "{setting} is not rated as confined:\n{report}");
    }
    // A loopback-only allow list is the best an agent with a metrics port can do.
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("- IPAddressDeny=") && l.contains("only localhost entries")),
        "IPAddressDeny= is not a localhost-only allow list:\n{report}"
    );
}
