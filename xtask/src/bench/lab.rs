//! The bench's lab: a generator namespace and a victim namespace joined by one veth pair,
//! removed on drop (an error, a panic, or SIGINT/SIGTERM, which [`crate::bench::signals`]
//! turns into an error), and namespaces left by a bench that was killed outright are
//! removed by the next one.
//!
//! ```text
//!  <id>-g (generator)                     <id>-v (victim: the tools under test)
//!  g0 198.18.0.1  02:00:00:00:00:01  ---  v0 198.18.0.2  02:00:00:00:00:02
//! ```
//!
//! IPv6 is off on both ends and the victim has no route beyond 198.18.0.0/24, so the only
//! frames on the link are the generator's, and the victim's replies to spoofed sources
//! (198.19.0.0/16) are never sent: the counts the tools report can be compared with what
//! was sent, exactly.
//!
//! The victim drops every frame arriving on `v0` at the interface's netfilter ingress hook
//! (nftables, family netdev), which runs after every capture point the tools use (native
//! XDP in the driver, AF_PACKET and libpcap taps in the core's receive path) and before
//! IP. Without it every frame went through the victim's IP, TCP, UDP and ICMP code (an
//! RST or an unreachable built and routed nowhere), and on a veth pair that work runs in
//! the softirq on the sender's CPU: the generator spent most of its time there.

use std::{
    fs::File,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use anyhow::{bail, Context, Result};

use super::proc::{last_line, Proc};

pub const GEN_IF: &str = "g0";
pub const VICTIM_IF: &str = "v0";
pub const GEN_MAC: &str = "02:00:00:00:00:01";
pub const VICTIM_MAC: &str = "02:00:00:00:00:02";
pub const VICTIM_V4: &str = "198.18.0.2";

/// Namespace names start with this and the bench's process id.
const PREFIX: &str = "pgbench";

/// The victim's drop of every frame after the capture points, with a counter of them.
fn early_drop_rules() -> String {
    format!(
        "table netdev pgbench {{\n  chain early_drop {{\n    type filter hook ingress device \
         \"{VICTIM_IF}\" priority 0; policy accept;\n    counter drop\n  }}\n}}\n"
    )
}

pub struct Lab {
    pub gen: String,
    pub victim: String,
    /// Scratch files of this run (configs, logs, flow files); removed on drop.
    pub dir: PathBuf,
    /// Why the victim could not drop frames early (see the module's doc), if it could not:
    /// then every frame goes through its IP stack.
    pub no_early_drop: Option<String>,
}

fn checked(cmd: &mut Command) -> Result<Output> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

fn ip(args: &[&str]) -> Result<()> {
    checked(Command::new("ip").args(args)).map(|_| ())
}

/// Removes bench namespaces whose process no longer exists (a bench killed with SIGKILL).
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

impl Lab {
    pub fn new() -> Result<Lab> {
        remove_stale();
        let id = format!("{PREFIX}{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("packetguard-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut lab = Lab {
            gen: format!("{id}-g"),
            victim: format!("{id}-v"),
            dir,
            no_early_drop: None,
        };
        // From here on, Drop removes whatever was created.
        for ns in [&lab.gen, &lab.victim] {
            ip(&["netns", "add", ns])?;
            lab.exec(
                ns,
                &[
                    "sysctl",
                    "-qw",
                    "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1",
                ],
            )?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        ip(&[
            "link",
            "add",
            GEN_IF,
            "netns",
            &lab.gen,
            "address",
            GEN_MAC,
            "type",
            "veth",
            "peer",
            "name",
            VICTIM_IF,
            "netns",
            &lab.victim,
            "address",
            VICTIM_MAC,
        ])?;
        for (ns, dev, addr) in [
            (&lab.gen, GEN_IF, "198.18.0.1/24"),
            (&lab.victim, VICTIM_IF, "198.18.0.2/24"),
        ] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        lab.no_early_drop = lab
            .drop_early()
            .err()
            .map(|e| last_line(&format!("{e:#}")).into());
        Ok(lab)
    }

    fn drop_early(&self) -> Result<()> {
        if let Some(why) = super::install::missing_program(&["nft"]) {
            bail!("{why}");
        }
        let rules = self.dir.join("early-drop.nft");
        std::fs::write(&rules, early_drop_rules())?;
        self.exec(&self.victim, &["nft", "-f", &rules.to_string_lossy()])
            .map(|_| ())
    }

    /// Frames the victim has dropped at its ingress hook so far; `None` without the drop.
    pub fn early_dropped(&self) -> Result<Option<u64>> {
        if self.no_early_drop.is_some() {
            return Ok(None);
        }
        let out = self.exec(
            &self.victim,
            &["nft", "list", "chain", "netdev", "pgbench", "early_drop"],
        )?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split("counter packets ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .map(Some)
            .with_context(|| format!("no counter in the victim's early drop chain: {text}"))
    }

    /// Runs a command in a namespace; fails on a non-zero exit.
    pub fn exec(&self, ns: &str, args: &[&str]) -> Result<Output> {
        checked(Command::new("ip").args(["netns", "exec", ns]).args(args))
    }

    /// Starts a command in a namespace with its output in files of the lab's directory
    /// named after `name`, in a process group of its own (trafgen forks its senders; a
    /// signal meant for the tool reaches them too, and the terminal's Ctrl-C reaches only
    /// the bench, which then cleans up); the group is killed when the returned guard drops.
    pub fn spawn(&self, ns: &str, name: &str, args: &[&str]) -> Result<Proc> {
        let stdout = self.dir.join(format!("{name}.stdout"));
        let stderr = self.dir.join(format!("{name}.stderr"));
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout)?)
            .stderr(File::create(&stderr)?)
            .spawn()
            .with_context(|| format!("cannot start {args:?}"))?;
        Ok(Proc::new(name, child, stdout, stderr))
    }

    /// A counter of `dev` in namespace `ns` (`/sys/class/net/DEV/statistics/NAME`).
    pub fn link_counter(&self, ns: &str, dev: &str, name: &str) -> Result<u64> {
        let path = format!("/sys/class/net/{dev}/statistics/{name}");
        let out = self.exec(ns, &["cat", &path])?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .with_context(|| format!("reading {path} in {ns}"))
    }

    /// The id of the XDP program attached to the victim's interface, if any.
    pub fn victim_xdp_prog(&self) -> Result<Option<u32>> {
        let out = checked(Command::new("ip").args([
            "-n",
            &self.victim,
            "-d",
            "link",
            "show",
            VICTIM_IF,
        ]))?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text
            .split("prog/xdp id ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|id| id.parse().ok()))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.gen, &self.victim] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
