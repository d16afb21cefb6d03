//! Receiving a `POST` body: charged to the memory budget before it is read, parsed as it
//! arrives, and bounded in time.
//!
//! - **Charged before it is held.** Every byte is charged before it is read: a body parsed as
//!   it streams in is charged from its first byte the most it could need
//!   ([`MemoryBudget::bound_for_body`]); a smaller body, gathered first, is charged its length
//!   while it arrives and its matrices' bound once it has ended, before its parser starts (so a
//!   client trickling a small body holds its bytes' worth, not seven times that). A chunked
//!   body's charge grows as it does. Once parsed, the charge is the exact need. A request that
//!   cannot get a charge within `--queue-timeout` is answered 503.
//! - **Never held whole.** Past [`STREAM_FROM_BYTES`] the body's chunks go to a parser on a
//!   thread of lower priority ([`crate::background`]) as they arrive (a few chunks in flight at most), which builds the two
//!   matrices directly: no copy of the body, no JSON tree. A smaller body is gathered first and
//!   then parsed, so a client trickling a small body holds no thread.
//! - **Bounded in time.** The body's last byte must arrive within `--body-timeout` of the request
//!   head, or the request is answered 408 and its charge freed.
//! - **Refused at once, heard by the client.** A refused body (400, 408, 413, 503) is answered
//!   as soon as the refusal is known, and the connection then lingers: actix reads and discards
//!   the rest of the body, for up to `--body-timeout` (the server sets its client disconnect
//!   timeout to it), before it closes. Closing a socket with unread input makes the kernel send
//!   a reset, which can destroy the answer before the client reads it; lingering lets a client
//!   that reads only once it has sent everything still receive its answer, and a client that
//!   reads as it sends (curl does) stop sending at once, instead of pushing, say, 55 MB more
//!   through a drain before it hears that the server will not take it.

use std::io::{BufReader, Read};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::{self, Bytes};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};

use crate::background::{Background, spawn_background};
use crate::body::{BodyError, WorkBody, parse_body_from};
use crate::buffers::BufferPool;
use crate::error::ApiError;
use crate::memory_budget::{Charge, MemoryBudget};
use crate::params::Limits;

/// Bodies larger than this are parsed as they arrive, on a background thread; smaller ones are
/// gathered first. At 1 MiB a streamed body is charged at least 7 MiB, so a 512 MiB budget lets
/// at most about 73 parsers wait on their clients at once; smaller bodies still on their way
/// hold only their own length.
pub const STREAM_FROM_BYTES: usize = 1 << 20;

/// Chunks on their way to the parser at most: the reader does not run ahead of the parser.
const CHUNKS_IN_FLIGHT: usize = 4;

/// The parser's read buffer. serde_json reads a byte at a time, fast only from a `BufReader`.
const PARSER_BUFFER_BYTES: usize = 64 << 10;

/// What a server allows a body.
#[derive(Debug, Clone, Copy)]
pub struct BodyRules {
    /// `--max-body-bytes`.
    pub max_bytes: usize,
    /// `--body-timeout`: end of the request head to the body's last byte.
    pub timeout: Duration,
    /// `--queue-timeout`: the longest a request waits for its charge.
    pub queue_timeout: Duration,
}

/// A received, parsed body and what it holds of the budget.
#[derive(Debug)]
pub struct Received {
    pub body: WorkBody,
    pub charge: Charge,
    /// Time spent reading and decoding the body once its first bytes were in.
    pub decoding: Duration,
}

/// One request's body on its way in.
pub struct Upload<'s> {
    pub rules: BodyRules,
    pub budget: &'s MemoryBudget,
    /// Where the matrices are parsed into ([`Engine::body_buffers`]).
    ///
    /// [`Engine::body_buffers`]: crate::engine::Engine::body_buffers
    pub pool: Option<&'s Arc<BufferPool>>,
    pub limits: Limits,
    /// `--body-timeout` after the request head was read.
    pub deadline: Instant,
}

impl Upload<'_> {
    /// Charges, reads and parses a body whose length is `declared` (`None` for a chunked body).
    pub async fn receive(&self, declared: Option<u64>, mut payload: web::Payload) -> Result<Received, ApiError> {
        // Every early return drops the payload unread: actix then lingers (see the module docs).
        let max_bytes = self.rules.max_bytes;
        if declared.is_some_and(|len| len > max_bytes as u64) {
            return Err(ApiError::BodyTooLarge { limit: max_bytes });
        }
        let queue_deadline = Instant::now() + self.rules.queue_timeout;
        let wanted = self.charge_while_reading(declared.unwrap_or(0));
        let mut charge = self.budget.charge(wanted, queue_deadline).await?;
        let streamed = timeout_at(self.deadline, self.stream(&mut payload, declared, &mut charge)).await;
        // A timed-out stream was dropped, closing the parser's channel: the parser ends at once.
        let (parser, received) = streamed.map_err(|_| ApiError::BodyTimeout(self.rules.timeout))??;
        let (body, decoding) = parser.finish().await.map_err(ApiError::Internal)??;
        // Exact now: less for most bodies; more for a product larger than its inputs, waited
        // for within the same deadline (see `memory_budget`).
        let need = MemoryBudget::exact_need(received, body.shapes.elements() as u64);
        self.budget.grow(&mut charge, need, queue_deadline).await?;
        charge.trim_to(need);
        Ok(Received { body, charge, decoding })
    }

    /// Reads the whole body into the parser, started once the body is known to be large or has
    /// ended. Returns the parser and the body's length. A parser that gives up early (a bad
    /// body) is sent nothing more; the rest of the body is read and discarded.
    async fn stream(
        &self,
        payload: &mut web::Payload,
        declared: Option<u64>,
        charge: &mut Charge,
    ) -> Result<(Parser, u64), ApiError> {
        let mut received: u64 = 0;
        let mut held: Vec<Bytes> = Vec::new();
        let mut parser: Option<(Parser, mpsc::Sender<Bytes>)> = None;
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| ApiError::BodyRead(e.to_string()))?;
            received += chunk.len() as u64;
            if received > self.rules.max_bytes as u64 {
                return Err(ApiError::BodyTooLarge {
                    limit: self.rules.max_bytes,
                });
            }
            if declared.is_none() {
                self.grow(charge, self.charge_while_reading(received)).await?;
            }
            match &parser {
                Some((_, chunks)) => {
                    // An error means the parser has stopped: keep reading, send nothing.
                    let _ = chunks.send(chunk).await;
                }
                None => {
                    held.push(chunk);
                    if received >= STREAM_FROM_BYTES as u64 {
                        parser = Some(self.start_parser(&mut held, received, charge).await?);
                    }
                }
            }
        }
        let (parser, _chunks) = match parser {
            Some(started) => started,
            None => self.start_parser(&mut held, received, charge).await?,
        };
        Ok((parser, received))
    }

    /// What a body of `length` bytes is charged while it is read: a body streamed to its parser
    /// the most it could need from the start, a smaller one, gathered first, its bytes alone.
    fn charge_while_reading(&self, length: u64) -> u64 {
        if length >= STREAM_FROM_BYTES as u64 {
            self.budget.bound_for_body(length)
        } else {
            length
        }
    }

    /// Raises `charge` to `bytes`, waiting for it up to `--queue-timeout` from now.
    async fn grow(&self, charge: &mut Charge, bytes: u64) -> Result<(), ApiError> {
        let grow_by = Instant::now() + self.rules.queue_timeout;
        Ok(self.budget.grow(charge, bytes, grow_by).await?)
    }

    /// Charges the most the `received` bytes could need as matrices (a gathered body has held
    /// only its own length so far), then starts the parser on a background thread and sends it
    /// the chunks held so far.
    async fn start_parser(
        &self,
        held: &mut Vec<Bytes>,
        received: u64,
        charge: &mut Charge,
    ) -> Result<(Parser, mpsc::Sender<Bytes>), ApiError> {
        self.grow(charge, self.budget.bound_for_body(received)).await?;
        let (chunks, incoming) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let (limits, pool) = (self.limits, self.pool.map(Arc::clone));
        let parser = spawn_background("body-parser", move || {
            let started = std::time::Instant::now();
            let reader = BufReader::with_capacity(PARSER_BUFFER_BYTES, ChunkReader::new(incoming));
            parse_body_from(reader, &limits, pool.as_deref()).map(|body| (body, started.elapsed()))
        });
        for chunk in held.drain(..) {
            let _ = chunks.send(chunk).await;
        }
        Ok((parser, chunks))
    }
}

/// The parser, on its way to the body and how long it took ([`spawn_background`]).
type Parser = Background<Result<(WorkBody, Duration), BodyError>>;

/// The body's chunks, as the parser's blocking reader. Ends when the sender is gone: the body
/// ended, or the request gave up on it.
struct ChunkReader {
    incoming: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl ChunkReader {
    fn new(incoming: mpsc::Receiver<Bytes>) -> Self {
        Self {
            incoming,
            current: Bytes::new(),
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.incoming.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_yields_every_chunk_in_order_then_ends() {
        let (chunks, incoming) = mpsc::channel(8);
        for part in ["{\"a\": [[1", ", 2]], ", "", "\"b\": [[3, 4]]}"] {
            chunks.try_send(Bytes::from_static(part.as_bytes())).unwrap();
        }
        drop(chunks);
        let mut text = String::new();
        BufReader::with_capacity(3, ChunkReader::new(incoming))
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, r#"{"a": [[1, 2]], "b": [[3, 4]]}"#);
    }
}
