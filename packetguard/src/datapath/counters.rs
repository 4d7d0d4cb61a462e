//! Reading the XDP program's per-CPU counters.

use aya::maps::{MapData, PerCpuArray};
use packetguard_common::counters::{COUNTERS, COUNTER_SLOTS};
use packetguard_common::Counter;

use super::DataPathError;

/// Every counter summed over CPUs, indexed by [`Counter`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelCounters(pub [u64; COUNTER_SLOTS as usize]);

impl KernelCounters {
    pub fn get(&self, c: Counter) -> u64 {
        self.0[c as usize]
    }

    /// Name and value of each counter, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        COUNTERS.iter().map(|(c, name)| (*name, self.get(*c)))
    }
}

/// Sums each counter over every CPU.
pub fn read(map: &PerCpuArray<MapData, u64>) -> Result<KernelCounters, DataPathError> {
    let mut out = KernelCounters::default();
    for (slot, value) in out.0.iter_mut().enumerate() {
        let per_cpu = map.get(&(slot as u32), 0).map_err(|e| DataPathError::Map {
            map: "COUNTERS",
            cause: e.to_string(),
        })?;
        *value = per_cpu.iter().sum();
    }
    Ok(out)
}
