//! Where events and findings go: NDJSON to a writer, or a closure (tests;
//! later the server uplink).

use crate::AgentError;
use saker_detect::Finding;
use saker_model::Event;
use std::io::Write;

/// A destination for events, findings, or both. Each method defaults to
/// ignoring what the sink does not take.
pub trait Sink: Send {
    fn write(&mut self, event: &Event) -> Result<(), AgentError> {
        let _ = event;
        Ok(())
    }
    fn write_finding(&mut self, finding: &Finding) -> Result<(), AgentError> {
        let _ = finding;
        Ok(())
    }
    /// Called after each batch: a good moment to flush buffers.
    fn flush(&mut self) -> Result<(), AgentError> {
        Ok(())
    }
}

/// What an NDJSON sink writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Events,
    Findings,
}

/// One JSON object per line: events (`--events-out`) or findings
/// (`--findings-out`).
pub struct NdjsonSink<W: Write + Send> {
    name: String,
    stream: Stream,
    out: std::io::BufWriter<W>,
}

impl<W: Write + Send> NdjsonSink<W> {
    /// A sink for events.
    pub fn new(name: impl Into<String>, out: W) -> Self {
        NdjsonSink { name: name.into(), stream: Stream::Events, out: std::io::BufWriter::with_capacity(64 * 1024, out) }
    }

    /// A sink for findings.
    pub fn findings(name: impl Into<String>, out: W) -> Self {
        NdjsonSink { stream: Stream::Findings, ..NdjsonSink::new(name, out) }
    }

    fn io(&self, source: std::io::Error) -> AgentError {
        AgentError::Sink { sink: self.name.clone(), source }
    }

    fn line<T: serde::Serialize>(&mut self, value: &T) -> Result<(), AgentError> {
        serde_json::to_writer(&mut self.out, value).map_err(|e| self.io(e.into()))?;
        self.out.write_all(b"\n").map_err(|e| self.io(e))
    }
}

impl<W: Write + Send> Sink for NdjsonSink<W> {
    fn write(&mut self, event: &Event) -> Result<(), AgentError> {
        if self.stream == Stream::Events { self.line(event) } else { Ok(()) }
    }

    fn write_finding(&mut self, finding: &Finding) -> Result<(), AgentError> {
        if self.stream == Stream::Findings { self.line(finding) } else { Ok(()) }
    }

    fn flush(&mut self) -> Result<(), AgentError> {
        self.out.flush().map_err(|e| self.io(e))
    }
}

/// A closure as an event sink.
pub struct FnSink<F: FnMut(&Event) + Send>(pub F);

impl<F: FnMut(&Event) + Send> Sink for FnSink<F> {
    fn write(&mut self, event: &Event) -> Result<(), AgentError> {
        (self.0)(event);
        Ok(())
    }
}

/// A closure as a finding sink.
pub struct FindingFnSink<F: FnMut(&Finding) + Send>(pub F);

impl<F: FnMut(&Finding) + Send> Sink for FindingFnSink<F> {
    fn write_finding(&mut self, finding: &Finding) -> Result<(), AgentError> {
        (self.0)(finding);
        Ok(())
    }
}
