//! Encoding: RDB version 10 as redis-server 7.0.15 writes it, to any [`Sink`].
//!
//! ```text
//!  engine value        RDB type   body
//!  string int          0          INT8/16/32, or decimal text beyond 32 bits
//!  string bytes        0          int-encoded if a canonical integer of ≤ 11 chars that fits
//!                                 32 bits; LZF if rdbcompression, > 20 bytes and it saves ≥ 4
//!  list (quicklist)    18         node count · (container · node bytes)*   (listpack nodes)
//!  set intset          11         intset blob (narrowest width)
//!  set hashtable       2          count · member*
//!  zset listpack       17         listpack of member, score (integers when integral)
//!  zset skiplist       5          count · (member · f64 LE)* from the highest score down
//!  hash listpack       16         listpack of field, value
//!  hash hashtable      4          count · (field · value)*
//!  stream              19         see crate::stream
//! ```
//! Every blob above goes through the same string writer as keys and values, so it may be
//! LZF-compressed too, as Redis's `rdbSaveRawString` does.
//!
//! The encoder buffers small writes (flushing about every 64 KiB, and passing large strings
//! straight through) and keeps the CRC-64 of everything it hands to the sink.

use std::io;

use mayfly_engine::families::zset::format_score;
use mayfly_engine::types::hash::HashValue;
use mayfly_engine::types::list::ListValue;
use mayfly_engine::types::set::SetValue;
use mayfly_engine::types::zset::ZSetValue;
use mayfly_engine::value::{parse_i64_strict, StrValue, Value};

use crate::crc64::Crc64;
use crate::format::*;
use crate::lzf;
use crate::packed::{intset, listpack};
use crate::stream::{self, StreamData, StreamNodeLimits};

/// Where encoded bytes go: a file, a socket, a buffer. The encoder calls it with chunks of
/// up to ~64 KiB (or one large string at a time).
pub trait Sink {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
}

impl Sink for Vec<u8> {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

/// A [`Sink`] over any [`std::io::Write`] (a `File`, a `BufWriter`, a `TcpStream`).
pub struct WriteSink<W: io::Write>(pub W);

impl<W: io::Write> Sink for WriteSink<W> {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }
}

/// Settings that change the bytes written (Redis's `rdbcompression`, `rdbchecksum`,
/// `stream-node-max-*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    pub compression: bool,
    pub checksum: bool,
    pub stream_nodes: StreamNodeLimits,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            compression: true,
            checksum: true,
            stream_nodes: StreamNodeLimits::default(),
        }
    }
}

/// A value to write: an engine value or a stream.
#[derive(Clone, Copy, Debug)]
pub enum ValueRef<'a> {
    Value(&'a Value),
    Stream(&'a StreamData),
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    fn from(v: &'a Value) -> Self {
        ValueRef::Value(v)
    }
}

impl<'a> From<&'a StreamData> for ValueRef<'a> {
    fn from(s: &'a StreamData) -> Self {
        ValueRef::Stream(s)
    }
}

impl<'a> From<&'a crate::decode::RdbValue> for ValueRef<'a> {
    fn from(v: &'a crate::decode::RdbValue) -> Self {
        match v {
            crate::decode::RdbValue::Value(v) => ValueRef::Value(v),
            crate::decode::RdbValue::Stream(s) => ValueRef::Stream(s),
        }
    }
}

/// Appends RDB fields to a byte buffer. Shared by the file encoder and DUMP.
pub(crate) struct Body<'o> {
    pub out: Vec<u8>,
    pub opts: &'o EncodeOptions,
}

/// `rdbEncodeInteger`: the INT8/16/32 form of `n`, if it fits.
fn int_encoding(n: i64, out: &mut Vec<u8>) -> bool {
    if let Ok(v) = i8::try_from(n) {
        out.extend_from_slice(&[0xC0 | ENC_INT8, v as u8]);
    } else if let Ok(v) = i16::try_from(n) {
        out.push(0xC0 | ENC_INT16);
        out.extend_from_slice(&v.to_le_bytes());
    } else if let Ok(v) = i32::try_from(n) {
        out.push(0xC0 | ENC_INT32);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        return false;
    }
    true
}

impl Body<'_> {
    pub fn byte(&mut self, b: u8) {
        self.out.push(b);
    }

    /// `rdbSaveLen`.
    pub fn len(&mut self, n: u64) {
        if n < 1 << 6 {
            self.out.push(n as u8);
        } else if n < 1 << 14 {
            self.out.push(0x40 | (n >> 8) as u8);
            self.out.push(n as u8);
        } else if n <= u32::MAX as u64 {
            self.out.push(LEN_32BIT);
            self.out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            self.out.push(LEN_64BIT);
            self.out.extend_from_slice(&n.to_be_bytes());
        }
    }

    /// `rdbSaveRawString`: integer form, LZF, or verbatim.
    pub fn string(&mut self, s: &[u8]) {
        if s.len() <= 11 {
            if let Some(n) = parse_i64_strict(s) {
                if int_encoding(n, &mut self.out) {
                    return;
                }
            }
        }
        if self.opts.compression && s.len() > 20 {
            if let Some(blob) = lzf::compress(s, s.len() - 4) {
                self.out.push(0xC0 | ENC_LZF);
                self.len(blob.len() as u64);
                self.len(s.len() as u64);
                self.out.extend_from_slice(&blob);
                return;
            }
        }
        self.len(s.len() as u64);
        self.out.extend_from_slice(s);
    }

    /// `rdbSaveLongLongAsStringObject`.
    pub fn int_string(&mut self, n: i64) {
        if !int_encoding(n, &mut self.out) {
            let mut buf = itoa::Buffer::new();
            let text = buf.format(n).as_bytes();
            self.len(text.len() as u64);
            self.out.extend_from_slice(text);
        }
    }

    fn str_value(&mut self, s: &StrValue) {
        match s {
            StrValue::Int(n) => self.int_string(*n),
            other => other.with_bytes(|b| self.string(b)),
        }
    }

    fn list(&mut self, l: &ListValue) {
        // An empty list is never stored; the engine deletes the key with its last element.
        let nodes: Vec<_> = l.nodes().filter(|n| !n.is_empty()).collect();
        self.len(nodes.len() as u64);
        for node in nodes {
            let (plain, bytes) = node.raw();
            self.len(if plain { CONTAINER_PLAIN } else { CONTAINER_PACKED });
            self.string(bytes);
        }
    }

    fn set(&mut self, s: &SetValue) {
        match s.as_intset() {
            Some(ints) => self.string(&intset::encode(ints)),
            None => {
                self.len(s.len() as u64);
                s.for_each(|m| self.string(m));
            }
        }
    }

    fn zset(&mut self, z: &ZSetValue) {
        if z.encoding() == "listpack" {
            let mut w = listpack::Writer::new();
            for (member, score) in z.iter() {
                w.push(member);
                push_score(&mut w, score);
            }
            self.string(&w.finish());
        } else {
            self.len(z.len() as u64);
            for (member, score) in z.iter().rev() {
                self.string(member);
                self.out.extend_from_slice(&score.to_le_bytes());
            }
        }
    }

    fn hash(&mut self, h: &HashValue) {
        if h.encoding() == "listpack" {
            let mut w = listpack::Writer::new();
            h.for_each(|f, v| {
                w.push(f);
                w.push(v);
            });
            self.string(&w.finish());
        } else {
            self.len(h.len() as u64);
            h.for_each(|f, v| {
                self.string(f);
                self.string(v);
            });
        }
    }

    fn stream(&mut self, s: &StreamData) {
        let nodes = stream::build_nodes(s, self.opts.stream_nodes);
        self.len(nodes.len() as u64);
        for (master, lp) in &nodes {
            self.string(&master.to_be_bytes());
            self.string(lp);
        }
        self.len(s.length);
        for id in [s.last_id, s.first_id, s.max_deleted_entry_id] {
            self.len(id.ms);
            self.len(id.seq);
        }
        self.len(s.entries_added);
        let mut groups: Vec<_> = s.groups.iter().collect();
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        self.len(groups.len() as u64);
        for g in groups {
            self.string(&g.name);
            self.len(g.last_id.ms);
            self.len(g.last_id.seq);
            self.len(g.entries_read as u64);
            let mut pel: Vec<_> = g.pel.iter().collect();
            pel.sort_by_key(|p| p.id);
            self.len(pel.len() as u64);
            for p in pel {
                self.out.extend_from_slice(&p.id.to_be_bytes());
                self.out.extend_from_slice(&p.delivery_time_ms.to_le_bytes());
                self.len(p.delivery_count);
            }
            let mut consumers: Vec<_> = g.consumers.iter().collect();
            consumers.sort_by(|a, b| a.name.cmp(&b.name));
            self.len(consumers.len() as u64);
            for c in consumers {
                self.string(&c.name);
                self.out.extend_from_slice(&c.seen_time_ms.to_le_bytes());
                let mut pending = c.pending.clone();
                pending.sort_unstable();
                self.len(pending.len() as u64);
                for id in pending {
                    self.out.extend_from_slice(&id.to_be_bytes());
                }
            }
        }
    }

    /// The value's type byte (`rdbSaveObjectType`).
    pub fn type_byte(v: ValueRef<'_>) -> u8 {
        match v {
            ValueRef::Value(Value::Str(_)) => TYPE_STRING,
            ValueRef::Value(Value::List(_)) => TYPE_LIST_QUICKLIST_2,
            ValueRef::Value(Value::Set(s)) => {
                if s.as_intset().is_some() {
                    TYPE_SET_INTSET
                } else {
                    TYPE_SET
                }
            }
            ValueRef::Value(Value::ZSet(z)) => {
                if z.encoding() == "listpack" {
                    TYPE_ZSET_LISTPACK
                } else {
                    TYPE_ZSET_2
                }
            }
            ValueRef::Value(Value::Hash(h)) => {
                if h.encoding() == "listpack" {
                    TYPE_HASH_LISTPACK
                } else {
                    TYPE_HASH
                }
            }
            ValueRef::Value(Value::Stream(_)) | ValueRef::Stream(_) => TYPE_STREAM_LISTPACKS_2,
        }
    }

    /// The value's body (`rdbSaveObject`).
    pub fn value(&mut self, v: ValueRef<'_>) {
        match v {
            ValueRef::Value(Value::Str(s)) => self.str_value(s),
            ValueRef::Value(Value::List(l)) => self.list(l),
            ValueRef::Value(Value::Set(s)) => self.set(s),
            ValueRef::Value(Value::ZSet(z)) => self.zset(z),
            ValueRef::Value(Value::Hash(h)) => self.hash(h),
            ValueRef::Value(Value::Stream(s)) => {
                self.stream(&crate::stream::StreamData::from_engine(s))
            }
            ValueRef::Stream(s) => self.stream(s),
        }
    }
}

/// A listpack zset score as `zzlInsertAt` stores it: an integer when the double is one
/// (`double2ll`, which also turns -0 into 0), else `%.17g` / `inf` / `-inf` text.
fn push_score(w: &mut listpack::Writer, score: f64) {
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    if (-LIMIT..=LIMIT).contains(&score) && score.fract() == 0.0 {
        w.push_int(score as i64);
    } else {
        w.push(format_score(score).as_bytes());
    }
}

/// Per-key eviction information, written as Redis writes it for the server's policy: `Idle`
/// under an LRU policy, `Freq` under an LFU policy, nothing otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyUsage {
    #[default]
    None,
    /// Seconds since last access (opcode IDLE, 0xF8).
    IdleSeconds(u64),
    /// The logarithmic LFU counter after decay (opcode FREQ, 0xF9).
    Freq(u8),
}

/// What precedes a key's type byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyMeta {
    /// Absolute expiry, unix milliseconds.
    pub expire_ms: Option<i64>,
    pub usage: KeyUsage,
}

/// Values of the AUX fields Redis 7.0.15 writes at the top of every RDB, in its order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuxFields {
    /// `redis-ver`: the version claimed ("7.0.15").
    pub redis_ver: String,
    /// `redis-bits`: 64.
    pub redis_bits: u32,
    /// `ctime`: unix seconds at save.
    pub ctime_s: i64,
    /// `used-mem`: bytes in use at save.
    pub used_mem: u64,
    /// `repl-stream-db`, `repl-id`, `repl-offset`, written only with replication state.
    pub replication: Option<ReplicationAux>,
    /// `aof-base`: 1 when the RDB is the base of an AOF.
    pub aof_base: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationAux {
    pub stream_db: i64,
    pub repl_id: String,
    pub offset: i64,
}

impl AuxFields {
    /// The fields of a plain snapshot of a master: "7.0.15", 64 bits, no replication state.
    pub fn snapshot(ctime_s: i64, used_mem: u64) -> AuxFields {
        AuxFields {
            redis_ver: "7.0.15".into(),
            redis_bits: 64,
            ctime_s,
            used_mem,
            replication: None,
            aof_base: false,
        }
    }
}

/// Flush the buffer to the sink past this many bytes.
const FLUSH_BYTES: usize = 64 * 1024;

/// Writes one RDB file: header, AUX fields, functions, databases, EOF and checksum.
///
/// ```text
///  new(sink) ─ write_aux_fields ─ write_function* ─ (select_db ─ write_key*)* ─ finish
/// ```
pub struct Encoder<S: Sink> {
    sink: S,
    opts: EncodeOptions,
    buf: Vec<u8>,
    crc: Crc64,
    written: u64,
}

impl<S: Sink> Encoder<S> {
    /// Starts a file: writes `REDIS0010`.
    pub fn new(sink: S, opts: EncodeOptions) -> Encoder<S> {
        let mut buf = Vec::with_capacity(FLUSH_BYTES + 1024);
        buf.extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
        Encoder { sink, opts, buf, crc: Crc64::new(), written: 0 }
    }

    /// Bytes handed to the sink or buffered so far.
    pub fn bytes_written(&self) -> u64 {
        self.written + self.buf.len() as u64
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if self.opts.checksum {
            self.crc.update(&self.buf);
        }
        self.sink.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    fn with_body(&mut self, f: impl FnOnce(&mut Body<'_>)) -> io::Result<()> {
        let opts = self.opts;
        let mut body = Body { out: std::mem::take(&mut self.buf), opts: &opts };
        f(&mut body);
        self.buf = body.out;
        if self.buf.len() >= FLUSH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// One AUX field (`rdbSaveAuxField`).
    pub fn write_aux(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.with_body(|b| {
            b.byte(OPCODE_AUX);
            b.string(key);
            b.string(value);
        })
    }

    /// The AUX fields Redis 7.0.15 writes, in its order (`rdbSaveInfoAuxFields`).
    pub fn write_aux_fields(&mut self, aux: &AuxFields) -> io::Result<()> {
        let int = |n: i64| itoa::Buffer::new().format(n).as_bytes().to_vec();
        self.write_aux(b"redis-ver", aux.redis_ver.as_bytes())?;
        self.write_aux(b"redis-bits", &int(aux.redis_bits as i64))?;
        self.write_aux(b"ctime", &int(aux.ctime_s))?;
        self.write_aux(b"used-mem", &int(aux.used_mem.min(i64::MAX as u64) as i64))?;
        if let Some(repl) = &aux.replication {
            self.write_aux(b"repl-stream-db", &int(repl.stream_db))?;
            self.write_aux(b"repl-id", repl.repl_id.as_bytes())?;
            self.write_aux(b"repl-offset", &int(repl.offset))?;
        }
        self.write_aux(b"aof-base", &int(aux.aof_base as i64))
    }

    /// One function library (opcode FUNCTION2 and its source), before the databases.
    pub fn write_function(&mut self, source: &[u8]) -> io::Result<()> {
        self.with_body(|b| {
            b.byte(OPCODE_FUNCTION2);
            b.string(source);
        })
    }

    /// SELECTDB and RESIZEDB for a database that has keys (Redis skips empty ones).
    pub fn select_db(&mut self, db: u32, db_size: u64, expires_size: u64) -> io::Result<()> {
        self.with_body(|b| {
            b.byte(OPCODE_SELECTDB);
            b.len(db as u64);
            b.byte(OPCODE_RESIZEDB);
            b.len(db_size);
            b.len(expires_size);
        })
    }

    /// One key (`rdbSaveKeyValuePair`): EXPIRETIME_MS, IDLE or FREQ, type, key, value.
    pub fn write_key<'v>(
        &mut self,
        key: &[u8],
        value: impl Into<ValueRef<'v>>,
        meta: &KeyMeta,
    ) -> io::Result<()> {
        let value = value.into();
        // A big plain string goes to the sink directly rather than through the buffer.
        let big: Option<&[u8]> = match value {
            ValueRef::Value(Value::Str(StrValue::Heap(b))) => Some(b),
            ValueRef::Value(Value::Str(StrValue::Shared(b))) => Some(b),
            _ => None,
        };
        if let Some(bytes) = big {
            if bytes.len() >= FLUSH_BYTES && !self.opts.compression {
                self.with_body(|b| {
                    write_key_header(b, key, value, meta);
                    b.len(bytes.len() as u64);
                })?;
                self.flush()?;
                if self.opts.checksum {
                    self.crc.update(bytes);
                }
                self.sink.write_all(bytes)?;
                self.written += bytes.len() as u64;
                return Ok(());
            }
        }
        self.with_body(|b| {
            write_key_header(b, key, value, meta);
            b.value(value);
        })
    }

    /// EOF and the CRC-64 (0 when `checksum` is off); returns the sink.
    pub fn finish(mut self) -> io::Result<S> {
        self.buf.push(OPCODE_EOF);
        self.flush()?;
        let crc = if self.opts.checksum { self.crc.value() } else { 0 };
        self.sink.write_all(&crc.to_le_bytes())?;
        self.written += 8;
        Ok(self.sink)
    }
}

fn write_key_header(b: &mut Body<'_>, key: &[u8], value: ValueRef<'_>, meta: &KeyMeta) {
    if let Some(at) = meta.expire_ms {
        b.byte(OPCODE_EXPIRETIME_MS);
        b.out.extend_from_slice(&at.to_le_bytes());
    }
    match meta.usage {
        KeyUsage::None => {}
        KeyUsage::IdleSeconds(s) => {
            b.byte(OPCODE_IDLE);
            b.len(s);
        }
        KeyUsage::Freq(f) => {
            b.byte(OPCODE_FREQ);
            b.byte(f);
        }
    }
    b.byte(Body::type_byte(value));
    b.string(key);
}

/// The RDB type byte a value is written with (`rdbSaveObjectType`).
pub fn type_byte<'v>(value: impl Into<ValueRef<'v>>) -> u8 {
    Body::type_byte(value.into())
}

/// A value's RDB body without its type byte (`rdbSaveObject`), e.g. to compare with a file.
pub fn value_body<'v>(value: impl Into<ValueRef<'v>>, opts: &EncodeOptions) -> Vec<u8> {
    let mut b = Body { out: Vec::new(), opts };
    b.value(value.into());
    b.out
}

/// The body of one value with its type byte in front, as DUMP and MIGRATE send it.
pub(crate) fn object_bytes(value: ValueRef<'_>, opts: &EncodeOptions) -> Vec<u8> {
    let mut b = Body { out: Vec::new(), opts };
    b.byte(Body::type_byte(value));
    b.value(value);
    b.out
}

/// One key record (`rdbSaveKeyValuePair`: EXPIRETIME_MS, IDLE or FREQ, type, key, value)
/// appended to `out`, for writers that encode keys apart from the file (each shard its own
/// keys, on its own thread) and join them with [`Encoder::write_raw`].
pub fn key_record<'v>(
    out: &mut Vec<u8>,
    key: &[u8],
    value: impl Into<ValueRef<'v>>,
    meta: &KeyMeta,
    opts: &EncodeOptions,
) {
    let value = value.into();
    let mut b = Body { out: std::mem::take(out), opts };
    write_key_header(&mut b, key, value, meta);
    b.value(value);
    *out = b.out;
}

impl<S: Sink> Encoder<S> {
    /// Bytes already encoded elsewhere (key records from [`key_record`]), written as they
    /// are and covered by the checksum.
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.len() < FLUSH_BYTES {
            self.buf.extend_from_slice(bytes);
            if self.buf.len() >= FLUSH_BYTES {
                self.flush()?;
            }
            return Ok(());
        }
        self.flush()?;
        if self.opts.checksum {
            self.crc.update(bytes);
        }
        self.sink.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }
}
