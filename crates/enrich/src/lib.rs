//! Enrichment: decoded sensor records in, [`saker_model::Event`]s out.
//!
//! Owns the user-space process model (table, lineage, executable hashes) and
//! DNS message parsing. Does no kernel work; all its input is data, so all of
//! it is testable without privileges.

pub mod dns;
mod enricher;
mod payload;
pub mod process;

pub use enricher::{EnrichConfig, EnrichError, EnrichStats, Enricher};
