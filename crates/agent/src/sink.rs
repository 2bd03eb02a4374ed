//! Where events go: NDJSON to a writer, or a closure (tests, later the
//! detection stage and the server uplink).

use crate::AgentError;
use saker_model::Event;
use std::io::Write;

pub trait Sink: Send {
    fn write(&mut self, event: &Event) -> Result<(), AgentError>;
    /// Called after each batch: a good moment to flush buffers.
    fn flush(&mut self) -> Result<(), AgentError> {
        Ok(())
    }
}

/// One JSON object per line.
pub struct NdjsonSink<W: Write + Send> {
    name: String,
    out: std::io::BufWriter<W>,
}

impl<W: Write + Send> NdjsonSink<W> {
    pub fn new(name: impl Into<String>, out: W) -> Self {
        NdjsonSink { name: name.into(), out: std::io::BufWriter::with_capacity(64 * 1024, out) }
    }

    fn io(&self, source: std::io::Error) -> AgentError {
        AgentError::Sink { sink: self.name.clone(), source }
    }
}

impl<W: Write + Send> Sink for NdjsonSink<W> {
    fn write(&mut self, event: &Event) -> Result<(), AgentError> {
        serde_json::to_writer(&mut self.out, event).map_err(|e| self.io(e.into()))?;
        self.out.write_all(b"\n").map_err(|e| self.io(e))
    }

    fn flush(&mut self) -> Result<(), AgentError> {
        self.out.flush().map_err(|e| self.io(e))
    }
}

/// A closure as a sink.
pub struct FnSink<F: FnMut(&Event) + Send>(pub F);

impl<F: FnMut(&Event) + Send> Sink for FnSink<F> {
    fn write(&mut self, event: &Event) -> Result<(), AgentError> {
        (self.0)(event);
        Ok(())
    }
}
