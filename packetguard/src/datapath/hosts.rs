//! Reading the kernel's per-address totals (the destination map `HOSTS` and the source map
//! `SOURCES`, same types) into the windows.

use aya::maps::{IterableMap, MapData, PerCpuHashMap};
use packetguard_common::{config, HostKey, HostStats};

use super::DataPathError;

/// The host map as the agent takes it from the object.
pub type HostMap = PerCpuHashMap<MapData, HostKey, HostStats>;

// A per-CPU batch lookup pads each CPU's value to 8 bytes; `HostStats` needs none.
const _: () = assert!(std::mem::size_of::<HostStats>().is_multiple_of(8));

/// A per-address map with the buffers its once-a-second reading reuses.
pub struct HostTable {
    map: HostMap,
    /// `HOSTS` or `SOURCES`, for error messages.
    name: &'static str,
    cpus: usize,
    keys: Vec<HostKey>,
    values: Vec<HostStats>,
}

impl HostTable {
    /// The destination map.
    pub fn new(map: HostMap) -> Result<Self, DataPathError> {
        Self::named(map, config::MAP_HOSTS)
    }

    /// The source map.
    pub fn sources(map: HostMap) -> Result<Self, DataPathError> {
        Self::named(map, config::MAP_SOURCES)
    }

    fn named(map: HostMap, name: &'static str) -> Result<Self, DataPathError> {
        let cpus = aya::util::nr_cpus().map_err(|(path, e)| DataPathError::Map {
            map: name,
            cause: format!("reading the possible CPUs from {path}: {e}"),
        })?;
        Ok(Self {
            map,
            name,
            cpus,
            keys: Vec::new(),
            values: Vec::new(),
        })
    }

    /// Calls `f` with every host's totals summed over CPUs; returns the hosts read.
    ///
    /// The map is walked a few thousand hosts per syscall (`BPF_MAP_LOOKUP_BATCH`); it holds
    /// at most `host_entries` keys, so a reading is bounded. A host the LRU evicts during
    /// the walk may be missed, and counts whole when it comes back.
    pub fn for_each_total(
        &mut self,
        mut f: impl FnMut(HostKey, HostStats),
    ) -> Result<usize, DataPathError> {
        let cpus = self.cpus;
        let mut n = 0;
        super::batch::for_each_chunk(
            super::batch::map_fd(self.map.map()),
            cpus,
            &mut self.keys,
            &mut self.values,
            |keys, values| -> Result<(), std::io::Error> {
                for (key, per_cpu) in keys.iter().zip(values.chunks_exact(cpus)) {
                    let total = per_cpu
                        .iter()
                        .fold(HostStats::default(), |acc, s| acc.plus(s));
                    f(*key, total);
                    n += 1;
                }
                Ok(())
            },
        )
        .map_err(|e| DataPathError::Map {
            map: self.name,
            cause: format!("batch lookup: {e}"),
        })?;
        Ok(n)
    }
}
