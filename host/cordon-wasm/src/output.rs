//! Captured stdout and stderr with a byte cap.

use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// The guest wrote more than its output cap allows.
#[derive(Debug, thiserror::Error)]
#[error("{stream} exceeded the output limit of {limit} bytes")]
pub struct OutputLimitExceeded {
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    /// The cap.
    pub limit: u64,
}

/// An in-memory pipe for a guest's stdout or stderr that keeps at most `limit` bytes.
/// A write that would pass the cap ends the call (`output_limit`) rather than silently
/// truncating: a tool that floods its output is misbehaving, and its caller should know.
#[derive(Clone)]
pub(crate) struct CappedOutput {
    stream: &'static str,
    limit: u64,
    buf: Arc<Mutex<Vec<u8>>>,
}

impl CappedOutput {
    pub(crate) fn new(stream: &'static str, limit: u64) -> Self {
        CappedOutput {
            stream,
            limit,
            buf: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// What was written so far.
    pub(crate) fn contents(&self) -> Vec<u8> {
        self.buf.lock().map(|b| b.clone()).unwrap_or_default()
    }

    fn room(&self) -> u64 {
        let len = self.buf.lock().map(|b| b.len() as u64).unwrap_or(u64::MAX);
        self.limit.saturating_sub(len)
    }

    fn append(&self, bytes: &[u8]) -> Result<(), OutputLimitExceeded> {
        let mut buf = self.buf.lock().map_err(|_| self.exceeded())?;
        if buf.len() as u64 + bytes.len() as u64 > self.limit {
            // Keep what fits, so the caller sees the start of the flood.
            let fit = self.limit.saturating_sub(buf.len() as u64) as usize;
            buf.extend_from_slice(&bytes[..fit.min(bytes.len())]);
            return Err(self.exceeded());
        }
        buf.extend_from_slice(bytes);
        Ok(())
    }

    fn exceeded(&self) -> OutputLimitExceeded {
        OutputLimitExceeded {
            stream: self.stream,
            limit: self.limit,
        }
    }
}

impl OutputStream for CappedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes)
            .map_err(|e| StreamError::Trap(wasmtime::Error::new(e)))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Offer one byte more than the room left: a write that would pass the cap then
        // reaches `write` and ends the call, instead of being cut to what fits (some
        // guests, CPython among them, drop the rest of a short write silently).
        Ok(usize::try_from(self.room().saturating_add(1)).unwrap_or(usize::MAX))
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CappedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(
            self.append(buf)
                .map(|()| buf.len())
                .map_err(|e| std::io::Error::other(e.to_string())),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}
