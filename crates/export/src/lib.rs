//! Finding exports: the formats Saker's findings are written in, and the
//! destinations that carry them off the server.
//!
//! Formats are pure functions of a finding ([`ExportItem`]) and the server's
//! [`ExportContext`]:
//! - [`eventbridge`] — GuardDuty's EventBridge envelope (`source "saker"`);
//! - [`asff`] — AWS Security Finding Format 2018-10-08, with GuardDuty's ASFF
//!   types ([`asff_types`]);
//! - [`ocsf`] — OCSF 1.1.0 Detection Finding (class 2004);
//! - [`falco`] — Falco's JSON alert, for falcosidekick;
//! - [`syslog`] — RFC 5424 messages and RFC 6587 framing.
//!
//! Destinations implement [`Sink`]: [`webhook`] (signed POSTs with retries),
//! [`s3files`] (gzip JSON Lines in an S3-style layout, written atomically),
//! [`syslog_sink`] (UDP/TCP). [`dispatch::Exporter`] applies GuardDuty's
//! export policy (new at once, updates at most once per interval, archived
//! never) in front of them; [`config::ExportsConfig`] is the server's
//! `[exports]` table.
//!
//! Every string in a finding may come from an attacker: formats escape what
//! their syntax needs (syslog structured data, header fields), bound lengths,
//! and never pass a value to a shell or use it as a path segment unchecked.

pub mod asff;
pub mod asff_types;
pub mod clock;
pub mod config;
pub mod context;
pub mod dispatch;
pub mod error;
pub mod eventbridge;
pub mod facts;
pub mod falco;
pub mod ocsf;
pub mod s3files;
pub mod sink;
pub mod syslog;
pub mod syslog_sink;
pub mod webhook;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Destination, ExportsConfig, JsonFormat, UpdateInterval};
pub use context::{ExportContext, ExportItem, FindingState};
pub use dispatch::{Decision, ExportHandle, Exporter, UpdatePolicy};
pub use error::ExportError;
pub use sink::{DeliveryReport, Sink};
