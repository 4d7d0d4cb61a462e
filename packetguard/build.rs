//! Builds the XDP object and hands its path to `include_bytes_aligned!`.
//!
//! With the eBPF toolchain present (nightly + rust-src + bpf-linker) a plain `cargo build`
//! rebuilds the object whenever the eBPF or common sources change. Without it the build
//! stops with a message naming `cargo xtask build-ebpf`, which installs the toolchain.

#[path = "../xtask/src/ebpf_build.rs"]
#[allow(dead_code)]
mod ebpf_build;

use std::{path::Path, process::exit};

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest)
        .parent()
        .expect("crate is in the workspace");
    for dir in ["packetguard-ebpf/src", "packetguard-common/src"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    for file in [
        "packetguard-ebpf/Cargo.toml",
        "packetguard-ebpf/.cargo/config.toml",
        "xtask/src/ebpf_build.rs",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }

    let missing = ebpf_build::missing_toolchain();
    if !missing.is_empty() {
        eprintln!(
            "error: cannot build the XDP object: missing {}. Run `cargo xtask build-ebpf` once; \
             it installs the eBPF toolchain and builds the object.",
            missing.join(", ")
        );
        exit(1);
    }
    let output = ebpf_build::build_command(root)
        .output()
        .unwrap_or_else(|e| {
            eprintln!("error: cannot start the eBPF build (rustup run nightly cargo): {e}");
            exit(1)
        });
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        eprintln!(
            "error: building the XDP object failed; `cargo xtask build-ebpf` shows the same build"
        );
        exit(1);
    }
    let object = ebpf_build::object_path(root);
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("packetguard-ebpf.o");
    std::fs::copy(&object, &out).unwrap_or_else(|e| {
        eprintln!(
            "error: copying {} to {}: {e}",
            object.display(),
            out.display()
        );
        exit(1)
    });
}
