//! How the XDP object is built: shared by `cargo xtask build-ebpf` and the agent's build
//! script (which includes this file with `#[path]`), so the two cannot disagree.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The BPF target; little-endian, which every host PacketGuard supports is.
pub const EBPF_TARGET: &str = "bpfel-unknown-none";
/// The toolchain the eBPF crate needs (`-Z build-std`).
pub const EBPF_TOOLCHAIN: &str = "nightly";

/// The eBPF crate's directory.
pub fn ebpf_dir(root: &Path) -> PathBuf {
    root.join("packetguard-ebpf")
}

/// Where the eBPF crate builds; separate from the host target dir so a build script can run
/// it while the outer cargo holds its own lock.
pub fn ebpf_target_dir(root: &Path) -> PathBuf {
    root.join("target").join("ebpf")
}

/// The built object.
pub fn object_path(root: &Path) -> PathBuf {
    ebpf_target_dir(root)
        .join(EBPF_TARGET)
        .join("release")
        .join("packetguard-ebpf")
}

/// `~/.cargo/bin`, where `cargo install` puts bpf-linker.
pub fn cargo_bin_dir() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        return Some(PathBuf::from(home).join("bin"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo").join("bin"))
}

/// `PATH` with `~/.cargo/bin` in front, so a freshly installed bpf-linker is found.
pub fn path_with_cargo_bin() -> std::ffi::OsString {
    let mut paths: Vec<PathBuf> = cargo_bin_dir().into_iter().collect();
    if let Some(p) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(paths).unwrap_or_default()
}

/// What the eBPF build needs and is missing: a list of short descriptions.
pub fn missing_toolchain() -> Vec<&'static str> {
    let mut missing = Vec::new();
    let sysroot = Command::new("rustup")
        .args(["run", EBPF_TOOLCHAIN, "rustc", "--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    match sysroot {
        None => missing.push("nightly toolchain"),
        Some(root) => {
            if !root.join("lib/rustlib/src/rust/library/core").is_dir() {
                missing.push("rust-src for nightly");
            }
        }
    }
    let linker_found =
        std::env::split_paths(&path_with_cargo_bin()).any(|dir| dir.join("bpf-linker").is_file());
    if !linker_found {
        missing.push("bpf-linker");
    }
    missing
}

/// The command that builds the XDP object (release, BTF; flags in the crate's
/// `.cargo/config.toml`).
pub fn build_command(root: &Path) -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args([
        "run",
        EBPF_TOOLCHAIN,
        "cargo",
        "build",
        "--release",
        "--target-dir",
    ])
    .arg(ebpf_target_dir(root))
    .current_dir(ebpf_dir(root))
    .env("PATH", path_with_cargo_bin());
    // An outer cargo (build script) sets these for the host toolchain; they must not leak
    // into the nightly BPF build.
    for var in [
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTUP_TOOLCHAIN",
        "CARGO",
        "RUSTDOC",
        "CARGO_MAKEFLAGS",
    ] {
        cmd.env_remove(var);
    }
    cmd
}
