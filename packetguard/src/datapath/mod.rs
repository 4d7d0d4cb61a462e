//! The kernel side as the agent sees it: load the XDP object, attach it, and get at its maps.
//!
//! # Layout
//!
//! - this file: [`DataPath`], loading, taking maps, and its errors.
//! - [`attach`]: attaching the ingress (XDP) and egress (TC) programs and detaching them.
//! - [`attached`]: what the kernel reports attached to an interface.
//! - [`drain`]: the ring buffer reader (tokio `AsyncFd`, batched, zero-copy decode).
//! - [`batch`]: reading a hash map a few thousand entries per syscall.
//! - [`flow_table`]: idle expiry and final export of the kernel flow map.
//! - [`ledger`]: where every flow and packet went, and so what the LRU evicted.
//! - [`hosts`]: reading the per-destination totals of the host detector.
//! - [`counters`]: reading the per-CPU counters.

pub mod attach;
pub mod attached;
pub mod batch;
pub mod counters;
pub mod drain;
pub mod flow_table;
pub mod hosts;
pub mod ledger;

use std::{ffi::CString, time::Duration};

use aya::{
    maps::{HashMap, MapData, PerCpuArray, PerCpuHashMap, RingBuf},
    programs::{Program, Xdp},
    Ebpf, EbpfLoader,
};
use packetguard_common::{config, FlowEntry, FlowKey, HostKey, HostStats};

pub use attach::{AttachMode, AttachOptions, Attachment, Direction, TcMode};

/// The XDP object, built by `cargo xtask build-ebpf` (or this crate's build script).
static XDP_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/packetguard-ebpf.o"));

/// Load-time settings of the kernel programs.
#[derive(Clone, Debug)]
pub struct DataPathConfig {
    /// Flow map size (LRU: the least recently used flow is evicted when full).
    pub flow_entries: u32,
    /// Destination map size: destination addresses tracked at once (LRU).
    pub host_entries: u32,
    /// Source map size: source addresses tracked at once (LRU).
    pub source_entries: u32,
    /// Ring buffer size in bytes (rounded up to a power of two).
    pub ringbuf_bytes: u32,
    /// A flow that has been reporting this long emits a record.
    pub active_timeout: Duration,
    /// Emit one packet sample per this many packets per CPU; 0 disables.
    pub sample_every: u32,
    /// Emit a record for every new flow (the host detector needs them).
    pub emit_flow_starts: bool,
}

impl Default for DataPathConfig {
    fn default() -> Self {
        Self {
            flow_entries: config::DEFAULT_FLOW_ENTRIES,
            host_entries: config::DEFAULT_HOST_ENTRIES,
            source_entries: config::DEFAULT_SOURCE_ENTRIES,
            ringbuf_bytes: config::DEFAULT_RINGBUF_BYTES,
            active_timeout: Duration::from_nanos(config::DEFAULT_ACTIVE_TIMEOUT_NS),
            sample_every: 0,
            emit_flow_starts: false,
        }
    }
}

/// Errors from loading or attaching the XDP program, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum DataPathError {
    #[error("no network interface named {iface:?}; list them with `ip link`")]
    UnknownInterface { iface: String },
    #[error(
        "permission denied loading the XDP program: run as root, or grant CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON"
    )]
    Permission,
    #[error("loading the XDP program failed: {cause}")]
    Load { cause: String },
    #[error(
        "interface {iface} refused XDP in {mode} mode: {cause}; try --xdp-mode skb (generic XDP)"
    )]
    Attach {
        iface: String,
        mode: &'static str,
        cause: String,
    },
    #[error("interface {iface} refused XDP in both native and generic mode: {cause}")]
    AttachAuto { iface: String, cause: String },
    #[error(
        "interface {iface} refused the egress (TC) program through {how}: {cause}; use --direction ingress to watch arriving packets only"
    )]
    AttachTc {
        iface: String,
        how: &'static str,
        cause: String,
    },
    #[error(
        "interface {iface} already runs the XDP program {program}, which is not PacketGuard's; it is left in place: detach it (ip link set dev {iface} xdp off) or watch with --direction egress"
    )]
    ForeignXdp {
        iface: String,
        program: attached::AttachedProgram,
    },
    #[error("cannot tell what is attached to {iface}: {cause}")]
    Query { iface: String, cause: String },
    #[error("the XDP object has no {what} named {name}; rebuild with `cargo xtask build-ebpf`")]
    Missing {
        what: &'static str,
        name: &'static str,
    },
    #[error("reading map {map}: {cause}")]
    Map { map: &'static str, cause: String },
}

/// The loaded kernel programs and their maps.
pub struct DataPath {
    ebpf: Ebpf,
    attachments: Vec<Attachment>,
    /// The egress program is loaded (verified) on its first attach only.
    tc_loaded: bool,
}

fn is_permission(err: &dyn std::error::Error) -> bool {
    let text = format!("{err:?}");
    text.contains("PermissionDenied")
        || text.contains("Operation not permitted")
        || text.contains("EPERM")
}

/// A load failure: missing privileges get their own message, anything else says why.
pub(crate) fn load_error<E: std::error::Error>(e: &E) -> DataPathError {
    if is_permission(e) {
        DataPathError::Permission
    } else {
        DataPathError::Load {
            cause: format!("{e:#}"),
        }
    }
}

/// The interface of the IPv4 default route, if there is one. Read from
/// `/proc/self/net/route`, the same table as `/proc/net/route` (this process's network
/// namespace), because the unit's `ProcSubset=pid` hides `/proc/net` but not `/proc/self`.
pub fn default_route_interface() -> Option<String> {
    let table = std::fs::read_to_string("/proc/self/net/route").ok()?;
    table.lines().skip(1).find_map(|line| {
        let mut cols = line.split_whitespace();
        let iface = cols.next()?;
        let dest = cols.next()?;
        (dest == "00000000").then(|| iface.to_string())
    })
}

/// `iface`, or the default route's interface (saying so) when none was named.
pub fn interface_or_default(iface: Option<String>) -> anyhow::Result<String> {
    if let Some(i) = iface {
        return Ok(i);
    }
    let i = default_route_interface().ok_or_else(|| {
        anyhow::anyhow!(
            "no --iface given and no default route to pick one from; name an interface with --iface"
        )
    })?;
    eprintln!("no --iface given: using {i}, the interface of the default route");
    Ok(i)
}

/// The interface index, or a clear error for a name that does not exist.
pub fn interface_index(iface: &str) -> Result<u32, DataPathError> {
    let unknown = || DataPathError::UnknownInterface {
        iface: iface.to_string(),
    };
    let name = CString::new(iface).map_err(|_| unknown())?;
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => Err(unknown()),
        idx => Ok(idx),
    }
}

impl DataPath {
    /// Loads the XDP object with `cfg` applied. Nothing is attached yet.
    pub fn load(cfg: &DataPathConfig) -> Result<Self, DataPathError> {
        Self::load_sized(cfg, &[])
    }

    /// [`Self::load`], with maps `sizes` names (the benchmark's candidate flow maps, one
    /// entry each otherwise) given those numbers of entries.
    pub fn load_sized(cfg: &DataPathConfig, sizes: &[(&str, u32)]) -> Result<Self, DataPathError> {
        let ringbuf = cfg.ringbuf_bytes.max(4096).next_power_of_two();
        let active_ns = cfg.active_timeout.as_nanos().min(u64::MAX as u128) as u64;
        let emit_starts: u32 = cfg.emit_flow_starts.into();
        let mut loader = EbpfLoader::new();
        loader
            .map_max_entries(config::MAP_FLOWS, cfg.flow_entries.max(1))
            .map_max_entries(config::MAP_HOSTS, cfg.host_entries.max(1))
            .map_max_entries(config::MAP_SOURCES, cfg.source_entries.max(1))
            .map_max_entries(config::MAP_EVENTS, ringbuf)
            .override_global(config::ACTIVE_TIMEOUT_NS, &active_ns, true)
            .override_global(config::SAMPLE_EVERY, &cfg.sample_every, true)
            .override_global(config::EMIT_FLOW_STARTS, &emit_starts, true);
        for &(name, entries) in sizes {
            loader.map_max_entries(name, entries.max(1));
        }
        let mut ebpf = loader.load(XDP_OBJECT).map_err(|e| load_error(&e))?;
        let prog: &mut Xdp = program(&mut ebpf, config::PROGRAM_XDP)?;
        prog.load().map_err(|e| load_error(&e))?;
        Ok(Self {
            ebpf,
            attachments: Vec::new(),
            tc_loaded: false,
        })
    }

    /// Takes map `name` out of the object (once each) as the typed map `T`.
    fn take_map<T>(&mut self, name: &'static str) -> Result<T, DataPathError>
    where
        T: TryFrom<aya::maps::Map, Error = aya::maps::MapError>,
    {
        let map = self
            .ebpf
            .take_map(name)
            .ok_or(DataPathError::Missing { what: "map", name })?;
        T::try_from(map).map_err(|e| DataPathError::Map {
            map: name,
            cause: e.to_string(),
        })
    }

    /// Takes the ring buffer out of the object (once).
    pub fn take_events(&mut self) -> Result<RingBuf<MapData>, DataPathError> {
        self.take_map(config::MAP_EVENTS)
    }

    /// Takes the flow map out of the object (once).
    pub fn take_flows(&mut self) -> Result<HashMap<MapData, FlowKey, FlowEntry>, DataPathError> {
        self.take_map(config::MAP_FLOWS)
    }

    /// Takes the per-destination host totals out of the object (once).
    pub fn take_hosts(
        &mut self,
    ) -> Result<PerCpuHashMap<MapData, HostKey, HostStats>, DataPathError> {
        self.take_map(config::MAP_HOSTS)
    }

    /// Takes the per-source totals out of the object (once).
    pub fn take_sources(
        &mut self,
    ) -> Result<PerCpuHashMap<MapData, HostKey, HostStats>, DataPathError> {
        self.take_map(config::MAP_SOURCES)
    }

    /// Takes the per-CPU counters out of the object (once).
    pub fn take_counters(&mut self) -> Result<PerCpuArray<MapData, u64>, DataPathError> {
        self.take_map(config::MAP_COUNTERS)
    }

    /// The loaded object, for tests and benchmarks that drive the program directly.
    pub fn ebpf_mut(&mut self) -> &mut Ebpf {
        &mut self.ebpf
    }
}

impl Drop for DataPath {
    fn drop(&mut self) {
        self.detach_all();
    }
}

/// The program named `name` in `ebpf`, as the program type `T`.
pub fn program<'a, T>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut T, DataPathError>
where
    &'a mut T: TryFrom<&'a mut Program>,
{
    ebpf.program_mut(name)
        .ok_or(DataPathError::Missing {
            what: "program",
            name,
        })?
        .try_into()
        .map_err(|_| DataPathError::Missing {
            what: "program of the expected type",
            name,
        })
}

/// The XDP program named `name` in `ebpf`.
pub fn xdp_program<'a>(
    ebpf: &'a mut Ebpf,
    name: &'static str,
) -> Result<&'a mut Xdp, DataPathError> {
    program(ebpf, name)
}

impl DataPath {
    /// Loads another program of the object (the count-only baseline for benchmarks).
    pub fn load_program(&mut self, name: &'static str) -> Result<&mut Xdp, DataPathError> {
        let prog = xdp_program(&mut self.ebpf, name)?;
        prog.load().map_err(|e| load_error(&e))?;
        Ok(prog)
    }
}
