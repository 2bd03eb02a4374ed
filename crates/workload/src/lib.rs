//! Workload attribution: which container, ECS task or Kubernetes pod a
//! process belongs to, and which host.
//!
//! Input is a cgroup id (from every sensor event); output is an
//! `Arc<Workload>` the enrich stage attaches to events. Sources, cheapest
//! first: the cgroup path itself ([`runtime`]), the runtime's own state on
//! disk ([`runc`]), the Docker Engine API ([`docker`]), the ECS task metadata
//! endpoint ([`ecs_metadata`]). A missing source degrades to what is known;
//! it never fails an event.

pub mod cgroup;
pub mod docker;
pub mod ecs_metadata;
pub mod host;
pub mod http;
pub mod identity;
mod resolver;
pub mod runc;
pub mod runtime;
#[cfg(test)]
mod test_support;

pub use resolver::{Resolver, ResolverConfig, ResolverError, Workload};
