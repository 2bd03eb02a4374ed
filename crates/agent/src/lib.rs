//! The agent: wires sensor → enrich → detect → sinks on threads joined by bounded
//! channels, and turns every loss into an `agent.loss` event.
//!
//! Backpressure: the enrich stage blocks the sensor thread when it falls
//! behind (a retry, not a drop); the kernel ring buffer absorbs the burst and
//! counts what it cannot hold. Nothing is dropped without being counted.
//!
//! With a `[server]` section configured, findings also go to a Saker server
//! through `uplink/`: spooled on disk first, then streamed over gRPC.

pub mod budget;
pub mod config;
mod detection;
mod error;
mod kinds;
mod loss;
mod pipeline;
pub mod procfs;
pub mod record;
pub mod replay;
pub mod scope;
mod sink;
pub mod uplink;
pub mod yara;

pub use detection::DetectionConfig;
pub use error::AgentError;
pub use kinds::{KindFilter, abi_kind_mask};
pub use pipeline::{AgentConfig, PipelineCounters, RunningAgent, start};
pub use sink::{FindingFnSink, FnSink, NdjsonSink, Sink};
