//! `cargo xtask install`: installs the agent, its unit, config, default models and
//! documentation, then checks the installed unit with `systemd-analyze verify`.
//!
//! Everything goes under `--root` (default `/`), like `DESTDIR`, so an install can be tried
//! in a scratch directory without touching the system:
//!
//! | installed path | from | mode |
//! | --- | --- | --- |
//! | `usr/local/bin/packetguard` | release build, or `--binary` | 0755 |
//! | `etc/systemd/system/packetguard.service` | `deploy/packetguard.service` | 0644 |
//! | `etc/packetguard/packetguard.toml` | `deploy/packetguard.toml`, only if absent | 0640 |
//! | `usr/local/share/packetguard/models/*.pgm` | `models/*.pgm` | 0644 |
//! | `usr/local/share/doc/packetguard/README.md` | `deploy/README.md` | 0644 |
//!
//! `/var/lib/packetguard` and `/var/log/packetguard` are not created here: the unit's
//! `StateDirectory=` and `LogsDirectory=` make them when the service starts.

use std::{
    fs,
    io::Write,
    os::unix::fs::{DirBuilderExt, PermissionsExt},
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};

/// Where the unit's `ExecStart=` expects the agent.
pub const BIN_PATH: &str = "usr/local/bin/packetguard";
pub const UNIT_PATH: &str = "etc/systemd/system/packetguard.service";
pub const CONFIG_PATH: &str = "etc/packetguard/packetguard.toml";
pub const MODELS_DIR: &str = "usr/local/share/packetguard/models";
pub const DOC_PATH: &str = "usr/local/share/doc/packetguard/README.md";

/// Options of `cargo xtask install`.
#[derive(clap::Args)]
pub struct Args {
    /// Install under this directory instead of the system (like DESTDIR); nothing is
    /// enabled, and the check of the unit runs against the binary installed there.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Install this already-built agent instead of building the XDP object and the
    /// release agent.
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// Then run `systemctl daemon-reload` and `systemctl enable --now packetguard`
    /// (install to / only; needs a running systemd).
    #[arg(long)]
    pub enable: bool,
}

/// The files an install copies from the source tree.
struct Sources {
    unit: PathBuf,
    config: PathBuf,
    doc: PathBuf,
    models: Vec<PathBuf>,
}

fn step(msg: impl std::fmt::Display) {
    eprintln!("install: {msg}");
}

/// Runs the whole install; `workspace` is the source tree.
pub fn run(workspace: &Path, opts: Args) -> Result<()> {
    let real = is_system_root(&opts.root)?;

    // Everything that can be checked up front is, so a failed precondition leaves nothing
    // half installed.
    if real && effective_uid()? != 0 {
        bail!(
            "installing to / needs root: run `cargo xtask install` as root \
             (or try it without root with `--root DIR`)"
        );
    }
    if opts.enable {
        if !real {
            bail!("--enable only applies to an install to / (drop --root or --enable)");
        }
        if !systemd_running(Path::new("/run/systemd/system")) {
            bail!(
                "--enable needs a running systemd (no /run/systemd/system here, so systemd is \
                 not PID 1); install without --enable and start the agent another way"
            );
        }
    }
    let analyze = find_systemd_analyze().context(
        "systemd-analyze not found; it checks the installed unit: \
         install the Debian package `systemd` (apt-get install systemd)",
    )?;
    let sources = sources(workspace)?;

    let binary = match &opts.binary {
        Some(b) => {
            check_executable(b).context("--binary")?;
            b.clone()
        }
        None => {
            let built = crate::build_release(workspace, |m| step(m))?;
            check_executable(&built).context("the release build")?;
            built
        }
    };

    let root = &opts.root;
    let bin_dst = root.join(BIN_PATH);
    let unit_dst = root.join(UNIT_PATH);
    let config_dst = root.join(CONFIG_PATH);

    install_file(&binary, &bin_dst, 0o755)?;
    install_file(&sources.unit, &unit_dst, 0o644)?;
    let config_installed = if config_dst.symlink_metadata().is_ok() {
        step(format_args!(
            "keeping the existing {} (the example is deploy/packetguard.toml)",
            config_dst.display()
        ));
        false
    } else {
        install_file(&sources.config, &config_dst, 0o640)?;
        true
    };
    let models_dst = root.join(MODELS_DIR);
    if sources.models.is_empty() {
        step(format_args!(
            "no shipped models in {} yet: the agent needs `model` in its config, \
             --model, or a learned baseline",
            workspace.join("models").display()
        ));
    }
    for model in &sources.models {
        let name = model.file_name().expect("listed files have names");
        install_file(model, &models_dst.join(name), 0o644)?;
    }
    install_file(&sources.doc, &root.join(DOC_PATH), 0o644)?;

    // Installed to /, the unit is verified as installed. Otherwise: the unit's ExecStart=
    // names /usr/local/bin/packetguard, which `verify` requires to exist and be executable.
    // Under --root that is a path on the host, which may be missing or an unrelated older
    // agent, so verifying the installed file as it is would check the wrong binary (or fail
    // for a reason the install has nothing to do with). Verify a temporary copy whose
    // ExecStart= points at the binary just installed under the root instead: every other
    // line is checked exactly as installed. deploy/check.sh does the same with a stand-in
    // executable.
    verify_unit(&analyze, &unit_dst, (!real).then_some(bin_dst.as_path()))?;

    if !real {
        step(format_args!(
            "done: installed under {}; nothing was enabled or started",
            root.display()
        ));
        return Ok(());
    }
    if opts.enable {
        step("systemctl daemon-reload");
        crate::toolchain::run(Command::new("systemctl").arg("daemon-reload"))
            .context("systemctl daemon-reload")?;
        step("systemctl enable --now packetguard");
        crate::toolchain::run(Command::new("systemctl").args(["enable", "--now", "packetguard"]))
            .context("systemctl enable --now packetguard")?;
        step("done: packetguard is enabled and started");
        if config_installed {
            println!(
                "The configuration was just installed from the example: if its `iface` is not\n\
                 the interface to watch, edit /{CONFIG_PATH} and run\n  \
                 systemctl restart packetguard"
            );
        }
        println!("Follow the agent with: journalctl -u packetguard -f");
    } else {
        step("done");
        println!(
            "Next steps:\n  \
             sudoedit /{CONFIG_PATH}        # at least: iface\n  \
             sudo systemctl daemon-reload\n  \
             sudo systemctl enable --now packetguard\n  \
             journalctl -u packetguard -f\n\
             (`cargo xtask install --enable` runs the two systemctl commands.)"
        );
    }
    Ok(())
}

/// Whether `root` is the running system's `/`.
fn is_system_root(root: &Path) -> Result<bool> {
    if !root.exists() {
        return Ok(false);
    }
    let canonical = root
        .canonicalize()
        .with_context(|| format!("resolving --root {}", root.display()))?;
    Ok(canonical == Path::new("/"))
}

/// The effective user id, from `/proc/self/status` (`Uid: real effective saved fs`).
fn effective_uid() -> Result<u32> {
    let status = fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    parse_effective_uid(&status).context("no Uid line in /proc/self/status")
}

fn parse_effective_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|id| id.parse().ok())
}

/// systemd creates this directory at boot when it runs as PID 1 (what `sd_booted()` checks).
fn systemd_running(marker: &Path) -> bool {
    marker.is_dir()
}

fn find_systemd_analyze() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join("systemd-analyze"))
        .find(|p| p.is_file())
}

fn sources(workspace: &Path) -> Result<Sources> {
    let deploy = workspace.join("deploy");
    let unit = deploy.join("packetguard.service");
    let config = deploy.join("packetguard.toml");
    let doc = deploy.join("README.md");
    for f in [&unit, &config, &doc] {
        if !f.is_file() {
            bail!(
                "{} is missing: run from a complete PacketGuard source tree",
                f.display()
            );
        }
    }
    Ok(Sources {
        unit,
        config,
        doc,
        models: shipped_models(&workspace.join("models"))?,
    })
}

/// Every `*.pgm` file in `dir`, sorted by name; none if the directory does not exist.
fn shipped_models(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    let mut models = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "pgm") && path.is_file() {
            models.push(path);
        }
    }
    models.sort();
    Ok(models)
}

fn check_executable(path: &Path) -> Result<()> {
    let meta = fs::metadata(path).with_context(|| format!("{} does not exist", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a file", path.display());
    }
    if meta.permissions().mode() & 0o111 == 0 {
        bail!("{} is not executable", path.display());
    }
    Ok(())
}

fn make_dirs(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Copies `src` to `dst` with `mode`, through a temporary file in the same directory and a
/// rename: a running agent keeps its old binary, and a reader never sees half a file.
fn install_file(src: &Path, dst: &Path, mode: u32) -> Result<()> {
    let dir = dst.parent().expect("install paths have a parent");
    make_dirs(dir)?;
    let name = dst.file_name().expect("install paths have a name");
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        fs::copy(src, &tmp)
            .with_context(|| format!("copying {} to {}", src.display(), tmp.display()))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", tmp.display()))?;
        fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("syncing {}", tmp.display()))?;
        fs::rename(&tmp, dst).with_context(|| format!("renaming to {}", dst.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    step(format_args!("{} ({mode:04o})", dst.display()));
    Ok(())
}

/// A unit text with every `ExecStart=` path `/usr/local/bin/packetguard` replaced by `exec`.
fn with_exec_path(unit: &str, exec: &Path) -> String {
    let from = format!("/{BIN_PATH}");
    unit.lines()
        .map(|line| {
            if line.trim_start().starts_with("ExecStart=") {
                line.replace(&from, &exec.to_string_lossy())
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Runs `systemd-analyze verify` on `unit`; with `exec`, on a temporary copy whose
/// `ExecStart=` runs `exec` instead of `/usr/local/bin/packetguard`.
fn verify_unit(analyze: &Path, unit: &Path, exec: Option<&Path>) -> Result<()> {
    let scratch;
    let target = match exec {
        None => {
            step(format_args!("systemd-analyze verify {}", unit.display()));
            unit.to_path_buf()
        }
        Some(exec) => {
            scratch = ScratchDir::new("packetguard-verify")?;
            let text =
                fs::read_to_string(unit).with_context(|| format!("reading {}", unit.display()))?;
            // `verify` takes the unit name from the file name, so keep it.
            let copy = scratch
                .0
                .join(unit.file_name().expect("unit path has a name"));
            fs::File::create(&copy)
                .and_then(|mut f| f.write_all(with_exec_path(&text, exec).as_bytes()))
                .with_context(|| format!("writing {}", copy.display()))?;
            step(format_args!(
                "systemd-analyze verify {} (a copy with ExecStart={})",
                unit.display(),
                exec.display()
            ));
            copy
        }
    };
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&target)
        .output()
        .with_context(|| format!("failed to start {}", analyze.display()))?;
    let messages = [&out.stderr, &out.stdout]
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .into_iter()
        .filter(|m| !m.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    if !out.status.success() {
        bail!(
            "systemd-analyze verify rejected {} ({}):\n{}",
            unit.display(),
            out.status,
            if messages.is_empty() {
                "(no message)"
            } else {
                &messages
            }
        );
    }
    if !messages.is_empty() {
        eprintln!("{messages}");
    }
    step("systemd-analyze verify: ok");
    Ok(())
}

/// A fresh directory under the system temporary directory, removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(prefix: &str) -> Result<Self> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("{prefix}.{}.{n}.{nanos}", std::process::id()));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_uid_is_the_second_field() {
        let status = "Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\n";
        assert_eq!(parse_effective_uid(status), Some(0));
        assert_eq!(parse_effective_uid("Name:\tx\n"), None);
    }

    #[test]
    fn exec_path_is_replaced_only_in_exec_start() {
        let unit = "[Unit]\nDocumentation=file:///usr/local/bin/packetguard\n[Service]\n\
                    ExecStart=/usr/local/bin/packetguard run --config /etc/x.toml\n";
        let out = with_exec_path(unit, Path::new("/tmp/r/usr/local/bin/packetguard"));
        assert!(out.contains("ExecStart=/tmp/r/usr/local/bin/packetguard run --config /etc/x.toml"));
        assert!(out.contains("Documentation=file:///usr/local/bin/packetguard\n"));
    }

    #[test]
    fn systemd_is_running_only_with_the_marker_directory() {
        let scratch = ScratchDir::new("packetguard-marker").unwrap();
        assert!(!systemd_running(&scratch.0.join("system")));
        fs::create_dir(scratch.0.join("system")).unwrap();
        assert!(systemd_running(&scratch.0.join("system")));
    }

    #[test]
    fn verify_rejects_a_broken_unit_with_its_message() {
        let analyze = find_systemd_analyze().expect("systemd-analyze (Debian package systemd)");
        let scratch = ScratchDir::new("packetguard-broken").unwrap();
        let unit = scratch.0.join("packetguard.service");
        // ExecStart names a program that does not exist: `verify` must fail.
        fs::write(
            &unit,
            "[Service]\nExecStart=/nonexistent/packetguard run\n[Install]\nWantedBy=multi-user.target\n",
        )
        .unwrap();
        let err = verify_unit(&analyze, &unit, None).unwrap_err().to_string();
        assert!(err.contains("systemd-analyze verify rejected"), "{err}");
        assert!(err.contains("/nonexistent/packetguard"), "{err}");
    }

    #[test]
    fn verify_checks_the_copy_against_the_given_binary() {
        let analyze = find_systemd_analyze().expect("systemd-analyze (Debian package systemd)");
        let scratch = ScratchDir::new("packetguard-copy").unwrap();
        let unit = scratch.0.join("packetguard.service");
        fs::write(
            &unit,
            "[Service]\nExecStart=/usr/local/bin/packetguard run\n[Install]\nWantedBy=multi-user.target\n",
        )
        .unwrap();
        // Not executable: rejected even through the copy.
        let exec = scratch.0.join("agent");
        fs::write(&exec, "#!/bin/sh\nexit 0\n").unwrap();
        fs::set_permissions(&exec, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(verify_unit(&analyze, &unit, Some(&exec)).is_err());
        fs::set_permissions(&exec, fs::Permissions::from_mode(0o755)).unwrap();
        verify_unit(&analyze, &unit, Some(&exec)).unwrap();
    }

    #[test]
    fn models_are_the_pgm_files_sorted() {
        let scratch = ScratchDir::new("packetguard-models").unwrap();
        assert!(shipped_models(&scratch.0.join("absent"))
            .unwrap()
            .is_empty());
        for name in ["host.pgm", "README.md", "flow.pgm"] {
            fs::write(scratch.0.join(name), b"x").unwrap();
        }
        let names: Vec<_> = shipped_models(&scratch.0)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["flow.pgm", "host.pgm"]);
    }
}
