//! Reply values. Command code returns a [`Reply`]; only the net crate's encoder turns it into
//! RESP2 or RESP3 bytes, so command code never sees a socket or a protocol version
//! (except where Redis itself answers differently per protocol, via `Ctx::resp3`).

use std::borrow::Cow;

use bytes::Bytes;

use crate::error::OpError;

/// A reply to one command, independent of the wire protocol version.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+text`
    Status(Cow<'static, str>),
    /// `-text`; the text carries its own prefix (`ERR …`, `WRONGTYPE …`).
    Error(Cow<'static, str>),
    /// `:n`
    Int(i64),
    /// `$len\r\nbytes`
    Bulk(Bytes),
    /// Null bulk: `$-1` in RESP2, `_` in RESP3.
    Nil,
    /// Null array: `*-1` in RESP2, `_` in RESP3.
    NilArray,
    Array(Vec<Reply>),
    /// RESP3 map; flattened into an array in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 set; an array in RESP2.
    Set(Vec<Reply>),
    /// RESP3 double; a bulk string in RESP2, formatted as Redis formats doubles.
    Double(f64),
    /// RESP3 boolean; integer 1/0 in RESP2.
    Bool(bool),
    /// RESP3 verbatim string (`=len\r\ntxt:…`); a bulk string in RESP2.
    Verbatim(&'static str, Bytes),
    /// RESP3 big number; a bulk string in RESP2.
    BigNumber(String),
    /// RESP3 push (pub/sub messages); an array in RESP2.
    Push(Vec<Reply>),
}

impl Reply {
    pub const fn ok() -> Reply {
        Reply::Status(Cow::Borrowed("OK"))
    }

    pub fn status(s: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Status(s.into())
    }

    /// An error reply; `text` must start with its Redis error code (`ERR`, `WRONGTYPE`, …).
    pub fn error(text: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Error(text.into())
    }

    pub fn bulk(b: impl Into<Bytes>) -> Reply {
        Reply::Bulk(b.into())
    }

    pub fn bulk_str(s: &str) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    pub fn bulk_slice(b: &[u8]) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(b))
    }

    /// A bulk string, or Nil for `None`.
    pub fn opt_bulk(b: Option<Bytes>) -> Reply {
        b.map_or(Reply::Nil, Reply::Bulk)
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Array of bulk strings.
    pub fn bulks<I, B>(items: I) -> Reply
    where
        I: IntoIterator<Item = B>,
        B: Into<Bytes>,
    {
        Reply::Array(items.into_iter().map(|b| Reply::Bulk(b.into())).collect())
    }
}

impl From<OpError> for Reply {
    fn from(e: OpError) -> Reply {
        Reply::Error(e.message())
    }
}

impl<T: Into<Reply>> From<Result<T, OpError>> for Reply {
    fn from(r: Result<T, OpError>) -> Reply {
        match r {
            Ok(v) => v.into(),
            Err(e) => e.into(),
        }
    }
}

impl From<i64> for Reply {
    fn from(n: i64) -> Reply {
        Reply::Int(n)
    }
}

impl From<Bytes> for Reply {
    fn from(b: Bytes) -> Reply {
        Reply::Bulk(b)
    }
}
