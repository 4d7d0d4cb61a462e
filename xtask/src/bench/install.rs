//! The peers' Debian packages, installed by the bench when missing. A package that cannot
//! be installed is reported and its peer skipped, never fatal: xtask builds and the rest of
//! the bench runs on a machine without any of them.

use std::{path::Path, process::Command};

use crate::toolchain;

/// Program the bench runs and the Debian package that has it.
const PEER_APT: [(&str, &str); 9] = [
    ("trafgen", "netsniff-ng"),
    ("fastnetmon", "fastnetmon"),
    ("softflowd", "softflowd"),
    ("nfcapd", "nfdump"),
    ("bpftool", "bpftool"),
    ("curl", "curl"),
    ("nft", "nftables"),
    ("python3", "python3-scapy"),
    ("python3", "python3-venv"),
];

/// Where the bench looks for programs.
const BIN_DIRS: [&str; 4] = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// The first of `programs` that is not installed, as a one-line reason.
pub fn missing_program(programs: &[&str]) -> Option<String> {
    programs
        .iter()
        .find(|p| !BIN_DIRS.iter().any(|d| Path::new(d).join(p).is_file()))
        .map(|p| format!("{p} is not installed"))
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// Installs the peers' packages that are missing, saying so; failures are printed.
/// A FastNetMon installed here is a system service on a machine with systemd: it is
/// stopped and disabled again, since the bench starts its own in the lab.
pub fn ensure() {
    let missing: Vec<&str> = PEER_APT
        .iter()
        .map(|(_, pkg)| *pkg)
        .filter(|p| !installed(p))
        .collect();
    if missing.is_empty() {
        return;
    }
    eprintln!(
        "the peers bench needs Debian packages that are missing: {}",
        missing.join(" ")
    );
    if let Err(e) = toolchain::apt_install(&missing) {
        eprintln!("could not install them ({e:#}); the peers without them are skipped");
    }
    if missing.contains(&"fastnetmon") && Path::new("/run/systemd/system").is_dir() {
        let _ = Command::new("systemctl")
            .args(["disable", "--now", "fastnetmon.service"])
            .status();
    }
}
