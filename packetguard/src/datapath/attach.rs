//! Attaching the kernel programs to an interface and detaching them again.
//!
//! Ingress is the XDP program (native driver mode, or generic skb mode); egress is the TC
//! classifier, through a TCX link on Linux 6.6 and later, or a `clsact` qdisc and a
//! netlink filter before that. Every attachment is remembered and undone by
//! [`DataPath::detach_all`] (also on drop): an exit, an error or a signal leaves nothing
//! attached, and a `clsact` qdisc the agent created is removed while one that was there
//! before is left alone.

use std::process::Command;

use aya::{
    programs::{
        tc::{self, SchedClassifierLinkId, TcAttachOptions},
        xdp::XdpLinkId,
        LinkOrder, SchedClassifier, TcAttachType, Xdp, XdpMode,
    },
    util::KernelVersion,
};
use packetguard_common::config;
use tracing::{info, warn};

use super::{
    attached::{self, OUR_TC_FILTER, OUR_XDP_NAME},
    interface_index, load_error, program, DataPath, DataPathError,
};

/// How to attach XDP: `auto` tries native (driver) XDP and falls back to generic (skb)
/// mode with a message; `native` fails if the driver cannot; `skb` works on every device,
/// slower.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AttachMode {
    #[default]
    Auto,
    Native,
    Skb,
}

/// Which packets of an interface the agent sees.
///
/// `both` (the default) is right for an end host: what it receives (XDP) and what it sends
/// (TC egress) fold into two-sided flows. `ingress` is right for a router or bridge
/// attached on every interface: each forwarded packet arrives on one of them, so it is
/// seen exactly once (with `both` it would be seen arriving and leaving).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    #[default]
    Both,
    Ingress,
    Egress,
}

impl Direction {
    fn ingress(self) -> bool {
        matches!(self, Direction::Both | Direction::Ingress)
    }

    fn egress(self) -> bool {
        matches!(self, Direction::Both | Direction::Egress)
    }
}

/// How to attach the egress program: `auto` uses a TCX link where the kernel has it
/// (6.6+) and a `clsact` qdisc with a netlink filter before; either can be forced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TcMode {
    #[default]
    Auto,
    Tcx,
    Netlink,
}

/// Everything that decides how the programs go onto an interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttachOptions {
    pub direction: Direction,
    pub xdp_mode: AttachMode,
    pub tc_mode: TcMode,
}

/// One program attached to one interface.
#[derive(Debug)]
pub struct Attachment {
    pub iface: String,
    /// "ingress" or "egress".
    pub hook: &'static str,
    /// How: "XDP native", "XDP generic (skb)", "TC (tcx)", "TC (clsact qdisc)".
    pub mode: &'static str,
    link: Link,
}

#[derive(Debug)]
enum Link {
    Xdp(XdpLinkId),
    Tc {
        link: SchedClassifierLinkId,
        /// The agent added the interface's `clsact` qdisc and removes it on detach.
        created_qdisc: bool,
    },
}

impl Attachment {
    /// One line naming each attachment, for the startup output.
    pub fn describe(attached: &[Attachment]) -> String {
        attached
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({})", self.iface, self.hook, self.mode)
    }
}

impl DataPath {
    /// Attaches the programs `opts.direction` asks for to `iface`. On an error nothing of
    /// this call stays attached (earlier attachments stay until [`Self::detach_all`]).
    pub fn attach(
        &mut self,
        iface: &str,
        opts: AttachOptions,
    ) -> Result<&[Attachment], DataPathError> {
        interface_index(iface)?;
        let first = self.attachments.len();
        let res = (|| {
            if opts.direction.ingress() {
                let a = self.attach_xdp(iface, opts.xdp_mode)?;
                self.attachments.push(a);
            }
            if opts.direction.egress() {
                let a = self.attach_tc(iface, opts.tc_mode)?;
                self.attachments.push(a);
            }
            Ok(())
        })();
        if let Err(e) = res {
            let done: Vec<Attachment> = self.attachments.drain(first..).collect();
            for a in done {
                self.detach(a);
            }
            return Err(e);
        }
        Ok(&self.attachments[first..])
    }

    /// Before attaching XDP: a PacketGuard program left on the interface by a killed agent
    /// is removed (and said so); any other XDP program is refused and left in place.
    fn clear_xdp(iface: &str) -> Result<(), DataPathError> {
        match attached::xdp_program(iface)? {
            None => Ok(()),
            Some(p) if p.name == OUR_XDP_NAME => {
                attached::remove_xdp(iface)?;
                warn!(iface, program = %p, "replacing a PacketGuard XDP program left attached by an earlier run");
                eprintln!("{iface}: replacing the PacketGuard XDP program {p} an earlier run left attached");
                Ok(())
            }
            Some(program) => Err(DataPathError::ForeignXdp {
                iface: iface.into(),
                program,
            }),
        }
    }

    fn attach_xdp(&mut self, iface: &str, mode: AttachMode) -> Result<Attachment, DataPathError> {
        Self::clear_xdp(iface)?;
        let prog: &mut Xdp = program(&mut self.ebpf, config::PROGRAM_XDP)?;
        let try_attach =
            |prog: &mut Xdp, m: XdpMode| prog.attach(iface, m).map_err(|e| format!("{e}"));
        let refused = |mode: &'static str| {
            move |cause| DataPathError::Attach {
                iface: iface.into(),
                mode,
                cause,
            }
        };
        let (link, mode) = match mode {
            AttachMode::Native => try_attach(prog, XdpMode::Driver)
                .map(|l| (l, "XDP native"))
                .map_err(refused("native"))?,
            AttachMode::Skb => try_attach(prog, XdpMode::Skb)
                .map(|l| (l, "XDP generic (skb)"))
                .map_err(refused("generic (skb)"))?,
            AttachMode::Auto => match try_attach(prog, XdpMode::Driver) {
                Ok(l) => (l, "XDP native"),
                Err(native_err) => {
                    let l = try_attach(prog, XdpMode::Skb).map_err(|cause| {
                        DataPathError::AttachAuto {
                            iface: iface.into(),
                            cause: format!("native: {native_err}; generic: {cause}"),
                        }
                    })?;
                    warn!(iface, cause = %native_err, "native XDP refused; attached in generic (skb) mode, which costs more per packet");
                    (l, "XDP generic (skb)")
                }
            },
        };
        info!(iface, mode, "ingress program attached");
        Ok(Attachment {
            iface: iface.to_string(),
            hook: "ingress",
            mode,
            link: Link::Xdp(link),
        })
    }

    fn attach_tc(&mut self, iface: &str, mode: TcMode) -> Result<Attachment, DataPathError> {
        let tcx = match mode {
            TcMode::Auto => KernelVersion::current()
                .map(|v| v >= KernelVersion::new(6, 6, 0))
                .unwrap_or(false),
            TcMode::Tcx => true,
            TcMode::Netlink => false,
        };
        let prog = self.load_egress()?;
        let refused = |cause: String| DataPathError::AttachTc {
            iface: iface.into(),
            how: if tcx { "a TCX link" } else { "a clsact qdisc" },
            cause,
        };
        let (link, created_qdisc, mode) = if tcx {
            let link = prog
                .attach_with_options(
                    iface,
                    TcAttachType::Egress,
                    TcAttachOptions::TcxOrder(LinkOrder::default()),
                )
                .map_err(|e| refused(format!("{e}")))?;
            (link, false, "TC (tcx)")
        } else {
            // A filter of ours an earlier, killed run left on the hook: netlink attachments
            // outlive their process. Replace it rather than count every packet twice.
            let mut leftover = false;
            if attached::tc_egress_filters(iface)?
                .iter()
                .any(|f| f.contains(OUR_TC_FILTER))
            {
                tc::qdisc_detach_program(iface, TcAttachType::Egress, OUR_TC_FILTER).map_err(
                    |e| refused(format!("removing the filter an earlier run left: {e}")),
                )?;
                eprintln!(
                    "{iface}: replacing the PacketGuard egress filter an earlier run left attached"
                );
                leftover = true;
            }
            let created = match tc::qdisc_add_clsact(iface) {
                Ok(()) => true,
                // A qdisc that holds nothing once the earlier run's filter is gone was that
                // run's: this run removes it when it stops, as that run would have.
                Err(tc::TcError::NetlinkError(e)) if e.raw_os_error() == Some(libc::EEXIST) => {
                    leftover && attached::clsact_is_empty(iface)?
                }
                Err(e) => return Err(refused(format!("adding the clsact qdisc: {e}"))),
            };
            match prog.attach_with_options(
                iface,
                TcAttachType::Egress,
                TcAttachOptions::Netlink(tc::NlOptions::default()),
            ) {
                Ok(link) => (link, created, "TC (clsact qdisc)"),
                Err(e) => {
                    if created {
                        remove_clsact(iface);
                    }
                    return Err(refused(format!("{e}")));
                }
            }
        };
        info!(iface, mode, "egress program attached");
        Ok(Attachment {
            iface: iface.to_string(),
            hook: "egress",
            mode,
            link: Link::Tc {
                link,
                created_qdisc,
            },
        })
    }

    /// The egress program, loaded (verified) on first use: an ingress-only agent never
    /// loads it.
    pub fn load_egress(&mut self) -> Result<&mut SchedClassifier, DataPathError> {
        let prog: &mut SchedClassifier = program(&mut self.ebpf, config::PROGRAM_TC_EGRESS)?;
        if !self.tc_loaded {
            prog.load().map_err(|e| load_error(&e))?;
            self.tc_loaded = true;
        }
        Ok(prog)
    }

    /// Where the programs are attached.
    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }

    /// Detaches from every interface. Also happens on drop; calling it first lets the
    /// agent drain what the last packets produced before exporting the flow map.
    pub fn detach_all(&mut self) {
        let all: Vec<Attachment> = self.attachments.drain(..).collect();
        // Egress first, in reverse order of attachment.
        for a in all.into_iter().rev() {
            self.detach(a);
        }
    }

    fn detach(&mut self, a: Attachment) {
        let res = match a.link {
            Link::Xdp(link) => program::<Xdp>(&mut self.ebpf, config::PROGRAM_XDP)
                .map_err(|e| e.to_string())
                .and_then(|p| p.detach(link).map_err(|e| e.to_string())),
            Link::Tc {
                link,
                created_qdisc,
            } => {
                let res = program::<SchedClassifier>(&mut self.ebpf, config::PROGRAM_TC_EGRESS)
                    .map_err(|e| e.to_string())
                    .and_then(|p| p.detach(link).map_err(|e| e.to_string()));
                if created_qdisc {
                    remove_clsact(&a.iface);
                }
                res
            }
        };
        match res {
            Ok(()) => info!(iface = %a.iface, hook = a.hook, "program detached"),
            Err(cause) => warn!(iface = %a.iface, hook = a.hook, cause, "detaching failed"),
        }
    }
}

/// Removes the `clsact` qdisc the agent added to `iface` (aya has no call for it; the
/// `tc` tool of iproute2 does it). A failure is logged: the qdisc alone filters nothing.
fn remove_clsact(iface: &str) {
    match Command::new("tc")
        .args(["qdisc", "del", "dev", iface, "clsact"])
        .output()
    {
        Ok(out) if out.status.success() => info!(iface, "clsact qdisc removed"),
        Ok(out) => warn!(
            iface,
            cause = %String::from_utf8_lossy(&out.stderr).trim(),
            "removing the clsact qdisc the agent added failed"
        ),
        Err(e) => {
            warn!(iface, cause = %e, "cannot run `tc` to remove the clsact qdisc the agent added")
        }
    }
}
