//! The floor: bpf/bench_floor.bpf.c loaded and attached in the bench's own
//! process. Its cost lands on the workload (it runs in the workload's
//! syscalls); it has no user space, hence no CPU or memory of its own.

use super::Observed;
use crate::BenchError;
use libbpf_rs::{Link, MapCore, MapFlags, Object, ObjectBuilder};

const OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bench_floor.bpf.o"));

pub struct Floor {
    object: Object,
    links: Vec<Link>,
}

impl Floor {
    pub fn start() -> Result<Self, BenchError> {
        let err = |what: &str, e: libbpf_rs::Error| BenchError::Floor(format!("{what}: {e}"));
        let open = ObjectBuilder::default().open_memory(OBJECT).map_err(|e| err("opening", e))?;
        let object = open.load().map_err(|e| err("loading", e))?;
        let mut links = Vec::new();
        for prog in object.progs_mut() {
            let name = prog.name().to_string_lossy().into_owned();
            match prog.attach() {
                Ok(link) => links.push(link),
                // A tracepoint this architecture lacks (no open(2) on arm64):
                // the sensor does without it too.
                Err(e) => tracing::warn!(program = %name, error = %e, "floor probe not attached"),
            }
        }
        if links.is_empty() {
            return Err(BenchError::Floor("no program could be attached".into()));
        }
        Ok(Floor { object, links })
    }

    /// Hits since start, summed over CPUs.
    fn hits(&self) -> Result<u64, BenchError> {
        let map = self
            .object
            .maps()
            .find(|m| m.name() == "floor_hits")
            .ok_or_else(|| BenchError::Floor("no floor_hits map".into()))?;
        let per_cpu = map
            .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| BenchError::Floor(format!("reading floor_hits: {e}")))?
            .unwrap_or_default();
        Ok(per_cpu
            .iter()
            .map(|v| v.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_ne_bytes).unwrap_or(0))
            .sum())
    }

    pub fn finish(self) -> Result<Observed, BenchError> {
        let hits = self.hits()?;
        drop(self.links);
        Ok(Observed { events: Some(hits), lost: Some(0), ..Observed::default() })
    }
}
