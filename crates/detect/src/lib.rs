//! Detection: enriched events in, GuardDuty-shaped runtime findings out.
//!
//! [`Detector::process`] looks at one [`saker_model::Event`] at a time. Rules
//! (`rules/`) are plain functions from an event plus bounded state (`state.rs`)
//! to [`rules::Hit`]s; the engine (`engine.rs`) turns hits into [`Finding`]s
//! and aggregates repeats (`aggregate.rs`). Threat intelligence (`intel/`) is an
//! immutable snapshot behind a wait-free handle.
//!
//! Detection does no I/O: everything it knows arrives in events, hash results
//! and intel snapshots. That keeps every rule testable as data.

pub mod aggregate;
pub mod catalog;
pub mod engine;
pub mod finding;
pub mod intel;
pub mod rules;
pub mod state;

pub use catalog::{Family, FindingType, SeverityLabel, TypeInfo, UnknownFindingType};
pub use engine::{DetectConfig, Detector, ScanRequest};
pub use finding::Finding;
pub use intel::{Intel, IntelHandle, ThreatCategory, ThreatList};
