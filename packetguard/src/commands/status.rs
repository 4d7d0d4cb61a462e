//! `packetguard status`: which BPF programs are attached to an interface's XDP hook, its
//! TCX hooks and its clsact egress hook, so an operator (and the tests) can check what the
//! agent left behind.

use anyhow::Result;

use crate::datapath::{
    attached::{tc_egress_filters, tcx_programs, xdp_program},
    interface_index, interface_or_default,
};

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
    let xdp = xdp_program(&iface)?
        .map(|p| p.to_string())
        .unwrap_or_default();
    println!("{iface} xdp: {}", or_none(xdp));
    for (hook, egress) in [("tcx ingress", false), ("tcx egress", true)] {
        let listed: Vec<String> = tcx_programs(&iface, egress)?
            .iter()
            .map(|p| p.to_string())
            .collect();
        println!("{iface} {hook}: {}", or_none(listed.join(", ")));
    }
    let filters = tc_egress_filters(&iface)?.join("; ");
    println!("{iface} tc egress filters: {}", or_none(filters));
    Ok(())
}

fn or_none(s: String) -> String {
    if s.is_empty() {
        "none".into()
    } else {
        s
    }
}
