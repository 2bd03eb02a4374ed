//! The BPF event ABI, seen from Rust.
//!
//! [`raw`] mirrors bpf/saker_abi.h struct for struct (with compile-time size
//! checks); [`decode`] turns one ring-buffer record into a typed [`Record`].
//! This crate does no I/O and knows nothing about BPF loading: it is the
//! contract between the kernel side and everything above it.

pub mod decode;
pub mod raw;
pub mod recording;

pub use decode::{Body, DecodeError, Record, c_str, decode, lossy_text};
