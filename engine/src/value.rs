//! Values stored under keys. Each type has a compact small encoding and a large one; the
//! encoding names are Redis's (`OBJECT ENCODING`).

use bytes::Bytes;

use crate::types::{
    hash::HashValue, list::ListValue, set::SetValue, stream::Stream, zset::ZSetValue,
};

/// Longest string kept inline in the entry without a heap allocation.
pub const INLINE_MAX: usize = 22;

/// A command argument at least this long is kept as the value itself ([`StrValue::Shared`])
/// instead of being copied: Redis's "big arg" optimisation, so a 512 MB SET peaks near 512 MB,
/// not twice that. Contract with whoever builds argv: an argument this long must not share
/// its allocation with much unrelated data (the net layer reads such a request into a buffer
/// of its own, or copies the argument out; see `net/src/conn/bigarg.rs`).
pub const ADOPT_MIN_BYTES: usize = 256 * 1024;

/// A string value. Integers in i64 range that round-trip exactly are stored as numbers
/// (Redis's `int` encoding); short strings live inline (`embstr`), long ones on the heap (`raw`);
/// very long ones adopted from the command's argument (`raw` too).
#[derive(Clone, PartialEq, Eq)]
pub enum StrValue {
    Int(i64),
    Inline {
        len: u8,
        data: [u8; INLINE_MAX],
    },
    Heap(Box<[u8]>),
    /// An argument of at least [`ADOPT_MIN_BYTES`] kept without a copy; never mutated in place
    /// (edits take it out with [`StrValue::into_vec`]).
    Shared(Bytes),
}

impl std::fmt::Debug for StrValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.to_vec()))
    }
}

/// Parses a string the way Redis's `string2ll` does: optional `-`, no leading zeros, no `+`,
/// no spaces, fits in i64.
pub fn parse_i64_strict(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let (neg, digits) = if b[0] == b'-' { (true, &b[1..]) } else { (false, b) };
    if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || neg)) {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = (c - b'0') as i64;
        v = if neg {
            v.checked_mul(10)?.checked_sub(d)?
        } else {
            v.checked_mul(10)?.checked_add(d)?
        };
    }
    Some(v)
}

impl StrValue {
    /// Stores `b`, choosing the `int` encoding when it round-trips exactly.
    pub fn from_bytes(b: &[u8]) -> StrValue {
        if let Some(n) = parse_i64_strict(b) {
            return StrValue::Int(n);
        }
        StrValue::raw(b)
    }

    /// Stores `b` as bytes, never as an integer (APPEND/SETRANGE results, as in Redis).
    pub fn raw(b: &[u8]) -> StrValue {
        if b.len() <= INLINE_MAX {
            let mut data = [0u8; INLINE_MAX];
            data[..b.len()].copy_from_slice(b);
            StrValue::Inline { len: b.len() as u8, data }
        } else {
            StrValue::Heap(b.into())
        }
    }

    /// [`StrValue::from_bytes`] for a command argument: a long one is adopted, not copied.
    pub fn from_arg(b: &Bytes) -> StrValue {
        if b.len() >= ADOPT_MIN_BYTES {
            StrValue::Shared(b.clone())
        } else {
            StrValue::from_bytes(b)
        }
    }

    /// The bytes as an owned vector, without a copy for heap values (and for an adopted
    /// argument nobody else holds any more).
    pub fn into_vec(self) -> Vec<u8> {
        match self {
            StrValue::Heap(b) => b.into_vec(),
            StrValue::Shared(b) => Vec::from(b),
            other => other.to_vec(),
        }
    }

    pub fn from_vec(v: Vec<u8>) -> StrValue {
        if v.len() <= INLINE_MAX {
            StrValue::raw(&v)
        } else {
            StrValue::Heap(v.into_boxed_slice())
        }
    }

    pub fn len(&self) -> usize {
        match self {
            StrValue::Int(n) => itoa_len(*n),
            StrValue::Inline { len, .. } => *len as usize,
            StrValue::Heap(b) => b.len(),
            StrValue::Shared(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, borrowed when stored as bytes.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            StrValue::Int(n) => {
                let mut buf = itoa::Buffer::new();
                f(buf.format(*n).as_bytes())
            }
            StrValue::Inline { len, data } => f(&data[..*len as usize]),
            StrValue::Heap(b) => f(b),
            StrValue::Shared(b) => f(b),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }

    pub fn to_bytes(&self) -> Bytes {
        self.with_bytes(Bytes::copy_from_slice)
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            StrValue::Int(n) => Some(*n),
            other => other.with_bytes(parse_i64_strict),
        }
    }

    /// Redis's name for the encoding.
    pub fn encoding(&self) -> &'static str {
        match self {
            StrValue::Int(_) => "int",
            // Redis uses embstr up to 44 bytes; report by Redis's threshold, not ours.
            StrValue::Inline { .. } => "embstr",
            StrValue::Heap(b) if b.len() <= 44 => "embstr",
            StrValue::Heap(_) | StrValue::Shared(_) => "raw",
        }
    }

    /// Heap bytes owned beyond the entry itself.
    pub fn heap_bytes(&self) -> usize {
        match self {
            StrValue::Heap(b) => b.len(),
            StrValue::Shared(b) => b.len(),
            _ => 0,
        }
    }
}

fn itoa_len(n: i64) -> usize {
    let mut buf = itoa::Buffer::new();
    buf.format(n).len()
}

/// A value of any Redis type.
#[derive(Debug, Clone)]
pub enum Value {
    Str(StrValue),
    List(Box<ListValue>),
    Hash(Box<HashValue>),
    Set(Box<SetValue>),
    ZSet(Box<ZSetValue>),
    Stream(Box<Stream>),
}

/// The Redis type of a value, as `TYPE` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    String,
    List,
    Hash,
    Set,
    ZSet,
    Stream,
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::List => "list",
            ValueType::Hash => "hash",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
            ValueType::Stream => "stream",
        }
    }

    /// Parses a `TYPE` name as accepted by `SCAN … TYPE`.
    pub fn parse(name: &[u8]) -> Option<ValueType> {
        match name.to_ascii_lowercase().as_slice() {
            b"string" => Some(ValueType::String),
            b"list" => Some(ValueType::List),
            b"hash" => Some(ValueType::Hash),
            b"set" => Some(ValueType::Set),
            b"zset" => Some(ValueType::ZSet),
            b"stream" => Some(ValueType::Stream),
            _ => None,
        }
    }
}

impl Value {
    pub fn str(b: &[u8]) -> Value {
        Value::Str(StrValue::from_bytes(b))
    }

    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Str(_) => ValueType::String,
            Value::List(_) => ValueType::List,
            Value::Hash(_) => ValueType::Hash,
            Value::Set(_) => ValueType::Set,
            Value::ZSet(_) => ValueType::ZSet,
            Value::Stream(_) => ValueType::Stream,
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::List(l) => l.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(s) => s.encoding(),
        }
    }
}
