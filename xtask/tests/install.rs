//! `cargo xtask install --root DIR --binary STAND_IN`: the real install code, run as the
//! xtask binary into a scratch root, with a stand-in agent so no release build is needed.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// A fresh scratch directory, removed on drop (also when an assertion fails).
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "packetguard-install-test.{name}.{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn xtask(args: &[&Path]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("install")
        .args(args)
        .output()
        .expect("running xtask");
    eprintln!(
        "--- xtask install stderr ---\n{}--- stdout ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

fn stand_in(dir: &Path) -> PathBuf {
    let path = dir.join("packetguard-stand-in");
    fs::write(&path, "#!/bin/sh\necho stand-in\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).unwrap();
    path
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn shipped_models() -> Vec<PathBuf> {
    let mut models: Vec<PathBuf> = match fs::read_dir(workspace().join("models")) {
        Ok(entries) => entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "pgm"))
            .collect(),
        Err(_) => Vec::new(),
    };
    models.sort();
    models
}

#[test]
fn install_into_a_root_twice() {
    let scratch = Scratch::new("twice");
    let root = scratch.0.join("root");
    let binary = stand_in(&scratch.0);
    let ws = workspace();

    let out = xtask(&[Path::new("--root"), &root, Path::new("--binary"), &binary]);
    assert!(out.status.success(), "first install failed");
    let stderr = String::from_utf8_lossy(&out.stderr);

    let bin = root.join("usr/local/bin/packetguard");
    let unit = root.join("etc/systemd/system/packetguard.service");
    let config = root.join("etc/packetguard/packetguard.toml");
    let doc = root.join("usr/local/share/doc/packetguard/README.md");
    assert_eq!(mode(&bin), 0o755);
    assert_eq!(mode(&unit), 0o644);
    assert_eq!(mode(&config), 0o640);
    assert_eq!(mode(&doc), 0o644);
    assert_eq!(fs::read(&bin).unwrap(), fs::read(&binary).unwrap());
    assert_eq!(
        fs::read(&unit).unwrap(),
        fs::read(ws.join("deploy/packetguard.service")).unwrap(),
        "the installed unit is the shipped one, unchanged"
    );
    assert_eq!(
        fs::read(&config).unwrap(),
        fs::read(ws.join("deploy/packetguard.toml")).unwrap()
    );
    assert_eq!(
        fs::read(&doc).unwrap(),
        fs::read(ws.join("deploy/README.md")).unwrap()
    );
    let models_dir = root.join("usr/local/share/packetguard/models");
    for model in shipped_models() {
        let installed = models_dir.join(model.file_name().unwrap());
        assert_eq!(mode(&installed), 0o644);
        assert_eq!(fs::read(&installed).unwrap(), fs::read(&model).unwrap());
    }
    // Nothing else: no state directory (StateDirectory= makes it), no leftovers.
    assert!(!root.join("var").exists());
    let leftovers: Vec<_> = walk(&root)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The check ran, against the binary under the root, and passed.
    assert!(
        stderr.contains(&format!(
            "systemd-analyze verify {} (a copy with ExecStart={})",
            unit.display(),
            bin.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("systemd-analyze verify: ok"), "{stderr}");
    assert!(
        stderr.contains("nothing was enabled or started"),
        "{stderr}"
    );

    // Second run: an edited config is kept, everything else is refreshed.
    let edited = "iface = \"lab0\"\n";
    fs::write(&config, edited).unwrap();
    fs::write(&bin, "stale").unwrap();
    let out = xtask(&[Path::new("--root"), &root, Path::new("--binary"), &binary]);
    assert!(out.status.success(), "second install failed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(fs::read_to_string(&config).unwrap(), edited);
    assert!(
        stderr.contains(&format!("keeping the existing {}", config.display())),
        "{stderr}"
    );
    assert_eq!(fs::read(&bin).unwrap(), fs::read(&binary).unwrap());
    assert_eq!(mode(&bin), 0o755);
    assert!(stderr.contains("systemd-analyze verify: ok"), "{stderr}");
}

#[test]
fn bad_requests_install_nothing() {
    let scratch = Scratch::new("bad");
    let root = scratch.0.join("root");

    let missing = scratch.0.join("no-such-agent");
    let out = xtask(&[Path::new("--root"), &root, Path::new("--binary"), &missing]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--binary"), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");

    let not_executable = scratch.0.join("agent");
    fs::write(&not_executable, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&not_executable, fs::Permissions::from_mode(0o644)).unwrap();
    let out = xtask(&[
        Path::new("--root"),
        &root,
        Path::new("--binary"),
        &not_executable,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not executable"));

    let out = xtask(&[
        Path::new("--root"),
        &root,
        Path::new("--binary"),
        &stand_in(&scratch.0),
        Path::new("--enable"),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--enable only applies"));

    assert!(!root.exists(), "a refused install must not create the root");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}
