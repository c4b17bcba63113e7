//! mayfly-resp: the RESP2/RESP3 codec, requests in, replies out. Shared by the server, the
//! AOF loader and the replication client.
//!
//! ```text
//!   socket bytes ──► parse::RequestParser ──► ArgSpans (offsets into the read buffer)
//!                                               │ to_args: zero-copy Bytes slices
//!                                               ▼
//!                                        engine dispatch ──► Reply
//!                                                              │ encode::encode (RESP2 | RESP3)
//!   socket bytes ◄─────────────────────────────────────────────┘
//! ```
//!
//! The request side mirrors Redis 7.0's `processMultibulkBuffer` / `processInlineBuffer`
//! (`networking.c`) decision for decision, including the exact `Protocol error: …` texts, the
//! 64 KiB line limits and the stricter limits for unauthenticated clients, so a client sees the
//! same errors from Mayfly as from Redis. Parsing is a pure function over a byte slice: it
//! never allocates in proportion to a length the peer merely *declared*, and it never panics.
//!
//! The reply side turns an engine [`Reply`](mayfly_engine::reply::Reply) into RESP2 or RESP3
//! exactly as Redis 7.0's `addReply*` family does (doubles as `%.17g`, maps flattened in RESP2).
//!
//! Non-goals: a client-side reply parser (tests use the `redis` crate) and socket I/O.

mod encode;
mod parse;

#[cfg(test)]
mod tests;

use bytes::Bytes;

pub use encode::{encode, encode_into, format_double, write_double};
pub use parse::{parse_request, RequestParser};

/// Redis's `PROTO_INLINE_MAX_SIZE`: the longest a line may grow while its end is missing.
pub const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;
/// Redis's default `proto-max-bulk-len` (512 MiB).
pub const DEFAULT_PROTO_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;
/// Redis 7.0 accepts any multibulk count up to `INT_MAX`.
pub const DEFAULT_MAX_MULTIBULK_LEN: usize = i32::MAX as usize;
/// Before AUTH, Redis 7.0 refuses multibulk counts above this (CVE-2021-32675).
pub const UNAUTHENTICATED_MAX_MULTIBULK_LEN: u64 = 10;
/// Before AUTH, Redis 7.0 refuses bulk lengths above this (CVE-2021-32675).
pub const UNAUTHENTICATED_MAX_BULK_LEN: u64 = 16384;

/// Per-connection limits the parser enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `proto-max-bulk-len`: the largest bulk argument accepted.
    pub proto_max_bulk_len: u64,
    /// The largest multibulk argument count accepted (Redis 7.0: `INT_MAX`).
    pub max_multibulk_len: usize,
    /// How long an unterminated inline request or count line may grow (Redis: 64 KiB).
    pub inline_max: usize,
    /// False while the connection still owes an AUTH; then counts above 10 and bulks above
    /// 16384 bytes are refused, so an unauthenticated peer cannot make the server buffer much.
    pub authenticated: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            proto_max_bulk_len: DEFAULT_PROTO_MAX_BULK_LEN,
            max_multibulk_len: DEFAULT_MAX_MULTIBULK_LEN,
            inline_max: PROTO_INLINE_MAX_SIZE,
            authenticated: true,
        }
    }
}

/// A request the stream cannot recover from. Redis replies with the error and closes the
/// connection after the reply is written; the caller must do the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Full text without the error code, e.g. `Protocol error: invalid multibulk length`.
    Protocol(String),
}

impl ParseError {
    pub fn message(&self) -> &str {
        match self {
            ParseError::Protocol(text) => text,
        }
    }

    /// The reply Redis sends before closing: `-ERR Protocol error: …`.
    pub fn to_reply(&self) -> mayfly_engine::reply::Reply {
        mayfly_engine::reply::Reply::Error(format!("ERR {}", self.message()).into())
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ParseError {}

/// Outcome of one parse attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed. `need` is the total buffer length (from the request start) that
    /// must be reached before parsing can make progress, when the parser knows it (while a
    /// bulk payload is arriving); the caller may skip re-parsing until then.
    Incomplete { need: Option<usize> },
    /// One complete command; `consumed` bytes of the buffer belong to it.
    Request { args: ArgSpans, consumed: usize },
    /// A blank inline line, `*0` or a negative count: nothing to run, just drop the bytes.
    Empty { consumed: usize },
}

/// Where one argument lies: `start..start + len` of the request buffer (or of
/// [`ArgSpans::decoded`] when that is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub len: usize,
}

impl Span {
    #[inline]
    pub fn range(self) -> std::ops::Range<usize> {
        self.start..self.start + self.len
    }
}

/// Arguments this many or fewer live inline, without a heap allocation (covers
/// `SET key value EX 10 NX` and most hot commands).
const INLINE_SPANS: usize = 8;

/// The arguments of one request as spans, so the caller slices them zero-copy out of its
/// read buffer. Inline requests that used quotes or escapes carry their decoded bytes in
/// [`ArgSpans::decoded`], and then every span indexes into that instead.
#[derive(Debug, Clone, Default)]
pub struct ArgSpans {
    len: usize,
    inline: [Span; INLINE_SPANS],
    /// Used instead of `inline` once there are more than `INLINE_SPANS` arguments.
    heap: Vec<Span>,
    decoded: Option<Bytes>,
}

impl PartialEq for ArgSpans {
    fn eq(&self, other: &ArgSpans) -> bool {
        self.as_slice() == other.as_slice() && self.decoded == other.decoded
    }
}

impl Eq for ArgSpans {}

impl ArgSpans {
    pub fn new() -> ArgSpans {
        ArgSpans::default()
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn as_slice(&self) -> &[Span] {
        if self.len <= INLINE_SPANS {
            &self.inline[..self.len]
        } else {
            &self.heap
        }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Span> {
        self.as_slice().iter()
    }

    /// Decoded bytes of an inline request with quotes; spans index into these when set.
    pub fn decoded(&self) -> Option<&Bytes> {
        self.decoded.as_ref()
    }

    /// Argument `i` as a slice of `buf` (the buffer that was parsed) or of the decoded bytes.
    /// `None` when `i` is out of range or `buf` is not the buffer these spans came from.
    pub fn arg<'a>(&'a self, buf: &'a [u8], i: usize) -> Option<&'a [u8]> {
        let span = *self.as_slice().get(i)?;
        match &self.decoded {
            Some(decoded) => decoded.get(span.range()),
            None => buf.get(span.range()),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, span: Span) {
        if self.len < INLINE_SPANS {
            self.inline[self.len] = span;
        } else {
            if self.len == INLINE_SPANS {
                self.heap.reserve(INLINE_SPANS * 2);
                self.heap.extend_from_slice(&self.inline);
            }
            self.heap.push(span);
        }
        self.len += 1;
    }

    /// Reserve room for `additional` more spans, capped so a declared-but-unsent count cannot
    /// make us allocate (Redis caps its initial argv the same way, at 1024).
    pub(crate) fn reserve_capped(&mut self, additional: usize) {
        let total = self.len.saturating_add(additional);
        if total > INLINE_SPANS {
            let target = total.min(1024);
            if self.len <= INLINE_SPANS {
                self.heap.reserve(target);
            } else {
                self.heap.reserve(target.saturating_sub(self.heap.len()));
            }
        }
    }

    pub(crate) fn set_decoded(&mut self, decoded: Bytes) {
        self.decoded = Some(decoded);
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.heap.clear();
        self.decoded = None;
    }
}

/// The arguments as `Bytes` sharing `buf`'s storage (no copy), or the decoded inline bytes.
/// `buf` must be the buffer that was parsed; out-of-range spans (a caller mix-up) yield
/// empty arguments rather than a panic.
pub fn to_args(buf: &Bytes, spans: &ArgSpans) -> Vec<Bytes> {
    let base = spans.decoded.as_ref().unwrap_or(buf);
    spans
        .iter()
        .map(|span| {
            if span.start.checked_add(span.len).is_some_and(|end| end <= base.len()) {
                base.slice(span.range())
            } else {
                Bytes::new()
            }
        })
        .collect()
}
