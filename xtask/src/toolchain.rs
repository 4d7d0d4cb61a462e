//! Installs what the eBPF build and the tests need on a fresh machine.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::ebpf_build::{missing_toolchain, path_with_cargo_bin, EBPF_TOOLCHAIN};

/// bpf-linker release known to work with LLVM 22 here.
const BPF_LINKER_VERSION: &str = "0.13.0";
const LLVM_APT: [&str; 4] = [
    "llvm-22-dev",
    "libpolly-22-dev",
    "libzstd-dev",
    "zlib1g-dev",
];

/// Debian packages the tests drive: real traffic tools, capture, Prometheus, an SSH
/// server and client with sshpass and openssl (the attack lab's SSH brute force),
/// `systemd-analyze` (the install and unit security tests), and util-linux's `setpriv`,
/// `prlimit` and `unshare` (the agent confined as the unit confines it), Chromium with its
/// driver (the live page opened in a real browser), and `tcpreplay` (a capture replayed
/// into the live agent, compared with the offline reading of it).
pub const TEST_APT: [(&str, &str); 18] = [
    ("hping3", "hping3"),
    ("nmap", "nmap"),
    ("iperf3", "iperf3"),
    ("ping", "iputils-ping"),
    ("curl", "curl"),
    ("tcpdump", "tcpdump"),
    ("ip", "iproute2"),
    ("prometheus", "prometheus"),
    ("python3", "python3"),
    ("systemd-analyze", "systemd"),
    ("sshd", "openssh-server"),
    ("ssh", "openssh-client"),
    ("sshpass", "sshpass"),
    ("openssl", "openssl"),
    ("setpriv", "util-linux"),
    ("chromium", "chromium"),
    ("chromedriver", "chromium-driver"),
    ("tcpreplay", "tcpreplay"),
];

pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("failed to start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn on_path(program: &str) -> bool {
    std::env::split_paths(&path_with_cargo_bin())
        .chain([std::path::PathBuf::from("/usr/sbin"), "/sbin".into()])
        .any(|dir| dir.join(program).is_file())
}

fn dpkg_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// Installs Debian packages that are not installed yet (one `apt-get update` first).
pub fn apt_install(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !dpkg_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("installing Debian packages: {}", missing.join(" "));
    run(Command::new("apt-get").arg("update").arg("-qq"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Makes sure nightly with rust-src and bpf-linker (against LLVM 22) are present.
pub fn ensure_ebpf_toolchain() -> Result<()> {
    let missing = missing_toolchain();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!(
        "installing the eBPF toolchain ({}); bpf-linker takes about 3 minutes to build",
        missing.join(", ")
    );
    if missing.contains(&"nightly toolchain") {
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            EBPF_TOOLCHAIN,
            "--profile",
            "minimal",
            "--component",
            "rust-src",
        ]))?;
    }
    if missing_toolchain().contains(&"rust-src for nightly") {
        run(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            EBPF_TOOLCHAIN,
        ]))?;
    }
    if missing.contains(&"bpf-linker") {
        apt_install(&LLVM_APT)?;
        let mut path = std::ffi::OsString::from("/usr/lib/llvm-22/bin:");
        path.push(path_with_cargo_bin());
        run(Command::new("cargo")
            .args(["install", "bpf-linker", "--version", BPF_LINKER_VERSION])
            .args(["--no-default-features", "--features", "llvm-22"])
            .env("PATH", path))?;
    }
    let still = missing_toolchain();
    if !still.is_empty() {
        bail!(
            "the eBPF toolchain is still incomplete: {}",
            still.join(", ")
        );
    }
    Ok(())
}

/// Installs the traffic tools and servers the tests use, when missing.
pub fn ensure_test_tools() -> Result<()> {
    let missing: Vec<&str> = TEST_APT
        .iter()
        .filter(|(bin, _)| !on_path(bin))
        .map(|(_, pkg)| *pkg)
        .collect();
    apt_install(&missing)
}
