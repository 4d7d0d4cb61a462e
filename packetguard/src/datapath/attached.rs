//! What is attached to an interface before (or after) the agent: its XDP program, its TCX
//! programs on either hook, its cls_bpf filters on the clsact egress hook.
//!
//! The agent asks before attaching so that a restart is safe: a PacketGuard program left
//! behind by a killed agent on an attach path that outlives its process (a netlink XDP or
//! tc attachment) is replaced, and a foreign XDP program is refused with its id and name
//! and left in place. TCX hooks hold several programs, so foreign TCX programs are no
//! conflict and run beside the agent's.

use std::process::Command;

use aya::programs::{loaded_programs, SchedClassifier, TcAttachType};

use super::DataPathError;

/// A BPF program the kernel reports on an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachedProgram {
    pub id: u32,
    /// The kernel's (16-byte, truncated) program name; `?` when it cannot be read.
    pub name: String,
}

impl std::fmt::Display for AttachedProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "id {} ({})", self.id, self.name)
    }
}

/// The kernel name of the agent's XDP program (its function name, at most 15 bytes).
pub const OUR_XDP_NAME: &str = "packetguard";
/// The kernel name of the agent's egress program, truncated to 15 bytes by the kernel.
pub const OUR_TC_NAME: &str = "packetguard_egr";
/// The name tc shows for the agent's cls_bpf filter (the program's section name).
pub const OUR_TC_FILTER: &str = "packetguard_egress";

fn name_of(id: u32) -> String {
    loaded_programs()
        .filter_map(Result::ok)
        .find(|p| p.id() == id)
        .and_then(|p| p.name_as_str().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// The XDP program attached to `iface`, if any (as `ip -d link` reports it).
pub fn xdp_program(iface: &str) -> Result<Option<AttachedProgram>, DataPathError> {
    let out = Command::new("ip")
        .args(["-d", "link", "show", "dev", iface])
        .output()
        .map_err(|e| DataPathError::Query {
            iface: iface.into(),
            cause: format!("running `ip -d link show`: {e}"),
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text
        .lines()
        .map(str::trim_start)
        .find(|l| l.starts_with("prog/xdp"))
        .and_then(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == "id")?;
            words.next()?.parse::<u32>().ok()
        });
    Ok(id.map(|id| AttachedProgram {
        id,
        name: name_of(id),
    }))
}

/// The TCX programs on one hook of `iface`.
pub fn tcx_programs(iface: &str, egress: bool) -> Result<Vec<AttachedProgram>, DataPathError> {
    let hook = if egress {
        TcAttachType::Egress
    } else {
        TcAttachType::Ingress
    };
    let (_, programs) =
        SchedClassifier::query_tcx(iface, hook).map_err(|e| DataPathError::Query {
            iface: iface.into(),
            cause: format!("querying its TCX programs: {e}"),
        })?;
    Ok(programs
        .iter()
        .map(|p| AttachedProgram {
            id: p.id(),
            name: p.name_as_str().unwrap_or("?").to_string(),
        })
        .collect())
}

/// The cls_bpf filters on the clsact egress hook of `iface`, as `tc filter show` lists
/// them (one line each); empty without a clsact qdisc.
pub fn tc_egress_filters(iface: &str) -> Result<Vec<String>, DataPathError> {
    Ok(tc_filters(iface, "egress")?
        .lines()
        .filter(|l| l.contains(" bpf "))
        .map(|l| l.trim().to_string())
        .collect())
}

/// True when the clsact qdisc of `iface` holds no filter on either hook.
pub fn clsact_is_empty(iface: &str) -> Result<bool, DataPathError> {
    for hook in ["ingress", "egress"] {
        if !tc_filters(iface, hook)?.trim().is_empty() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What `tc filter show dev IFACE HOOK` prints.
fn tc_filters(iface: &str, hook: &str) -> Result<String, DataPathError> {
    let out = Command::new("tc")
        .args(["filter", "show", "dev", iface, hook])
        .output()
        .map_err(|e| DataPathError::Query {
            iface: iface.into(),
            cause: format!("running `tc filter show`: {e}"),
        })?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Removes an XDP program attached through netlink (what a killed agent on an old kernel
/// leaves behind), in whichever mode it was attached.
pub fn remove_xdp(iface: &str) -> Result<(), DataPathError> {
    for mode in ["xdpgeneric", "xdpdrv", "xdpoffload"] {
        let _ = Command::new("ip")
            .args(["link", "set", "dev", iface, mode, "off"])
            .output();
    }
    match xdp_program(iface)? {
        None => Ok(()),
        Some(p) => Err(DataPathError::Query {
            iface: iface.into(),
            cause: format!("cannot remove the PacketGuard XDP program {p} left attached"),
        }),
    }
}
