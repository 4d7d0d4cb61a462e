//! `packetguard status`: which BPF programs are attached to an interface's TCX hooks and
//! its XDP hook, so an operator (and the tests) can check what the agent left behind.

use std::process::Command;

use anyhow::{Context, Result};
use aya::programs::{SchedClassifier, TcAttachType};

use crate::datapath::{interface_index, interface_or_default};

/// Arguments of `packetguard status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Interface to look at. Default: the interface of the default route.
    #[arg(long, short)]
    pub iface: Option<String>,
}

pub fn run(args: StatusArgs) -> Result<()> {
    let iface = interface_or_default(args.iface)?;
    interface_index(&iface)?;
    println!("{iface} xdp: {}", xdp_program(&iface)?);
    for (hook, attach) in [
        ("tcx ingress", TcAttachType::Ingress),
        ("tcx egress", TcAttachType::Egress),
    ] {
        let (_, programs) = SchedClassifier::query_tcx(&iface, attach)
            .with_context(|| format!("querying the {hook} programs of {iface}"))?;
        let listed: Vec<String> = programs
            .iter()
            .map(|p| format!("{} {}", p.id(), p.name_as_str().unwrap_or("?")))
            .collect();
        println!("{iface} {hook}: {}", or_none(listed.join(", ")));
    }
    println!(
        "{iface} tc egress filters: {}",
        or_none(tc_filters(&iface)?)
    );
    Ok(())
}

fn or_none(s: String) -> String {
    if s.is_empty() {
        "none".into()
    } else {
        s
    }
}

/// The XDP program as `ip link` reports it (`prog/xdp id N` or none).
fn xdp_program(iface: &str) -> Result<String> {
    let out = Command::new("ip")
        .args(["-d", "link", "show", "dev", iface])
        .output()
        .context("running `ip link`")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let found = text
        .lines()
        .find(|l| l.trim_start().starts_with("prog/xdp"))
        .map(|l| l.trim().to_string());
    Ok(found.unwrap_or_else(|| "none".into()))
}

/// Netlink (cls_bpf) filters on the clsact egress hook, as `tc filter show` lists them.
fn tc_filters(iface: &str) -> Result<String> {
    let out = Command::new("tc")
        .args(["filter", "show", "dev", iface, "egress"])
        .output()
        .context("running `tc filter show`")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(" bpf "))
        .collect::<Vec<_>>()
        .join("; "))
}
