//! The file-level decoder: header, opcodes and keys of a whole RDB, as a stream of [`Item`]s,
//! in file order, ending with the checksum check (Redis's `rdbLoadRioWithLoadingCtx`).
//!
//! ```text
//!  "REDIS" vvvv  ( AUX k v | FUNCTION2 src | MODULE_AUX… | SELECTDB n | RESIZEDB a b
//!                | [EXPIRETIME s | EXPIRETIME_MS ms] [IDLE n | FREQ b] type key value )*
//!  EOF  crc64 (8 bytes LE, version ≥ 5; 0 = saved without checksum)
//! ```
//! The input is a byte slice: the caller reads the file or maps it (memmap2), and strings are
//! borrowed from it until they become values. A slice rather than a `Read`-like source keeps
//! every length check a comparison with the bytes left (no allocation on a claimed length),
//! lets the checksum run over the input in one pass at EOF, and costs nothing extra for the
//! mapped file the server loads from; a replica's streamed transfer is spooled to a file
//! first, as Redis's disk-based load does.
//!
//! Keys whose expiry has passed are returned like any other: dropping them (as a master does)
//! or keeping them (as a replica does) is the caller's decision.

use crate::crc64::crc64;
use crate::decode::{decode_value, EncodingLimits, RdbValue};
use crate::error::{ErrorKind, RdbError};
use crate::format::*;
use crate::reader::Reader;

/// How to decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    /// The encoding thresholds that decide in-memory encodings.
    pub limits: EncodingLimits,
    /// Redis's `sanitize-dump-payload yes`. Everything the engine's structures depend on is
    /// validated regardless; this adds the checks that are only about consistency (today: a
    /// consumer-group PEL entry that no consumer owns).
    pub deep_sanitize: bool,
    /// Redis's `rdbchecksum`: verify the CRC-64 at EOF (a stored 0 is never checked).
    pub verify_checksum: bool,
    /// Redis's `databases`: SELECTDB must name one below it.
    pub databases: u32,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            limits: EncodingLimits::default(),
            deep_sanitize: false,
            verify_checksum: true,
            databases: 16,
        }
    }
}

/// One key and what the file says about it.
#[derive(Clone, Debug)]
pub struct KeyEntry {
    /// The database selected when the key was read.
    pub db: u32,
    pub key: Vec<u8>,
    pub value: RdbValue,
    /// Absolute expiry in unix milliseconds (EXPIRETIME seconds are converted).
    pub expire_ms: Option<i64>,
    /// Seconds idle at save (IDLE opcode, LRU policies).
    pub idle_s: Option<u64>,
    /// LFU counter at save (FREQ opcode, LFU policies).
    pub freq: Option<u8>,
    /// Offset of the key's type byte in the input.
    pub offset: u64,
}

/// One element of the file, in file order.
#[derive(Clone, Debug)]
pub enum Item {
    Aux {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// A function library's source code (FUNCTION2, or the pre-GA FUNCTION opcode turned into
    /// the same form, as Redis 7.0 does).
    Function {
        source: Vec<u8>,
    },
    SelectDb {
        db: u32,
    },
    ResizeDb {
        db_size: u64,
        expires_size: u64,
    },
    Key(Box<KeyEntry>),
}

/// Decodes an RDB file held in memory.
pub struct Decoder<'a> {
    r: Reader<'a>,
    version: u32,
    opts: DecodeOptions,
    db: u32,
    done: bool,
    empty_keys_skipped: u64,
    /// Set by EXPIRETIME(_MS), IDLE and FREQ; they apply to the next key even across other
    /// opcodes, as in Redis, and are cleared once a key is read.
    expire_ms: Option<i64>,
    idle_s: Option<u64>,
    freq: Option<u8>,
}

/// `atoi` over the four version characters: leading digits only.
fn atoi(b: &[u8]) -> i64 {
    let mut v: i64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            break;
        }
        v = v * 10 + (c - b'0') as i64;
    }
    v
}

impl<'a> Decoder<'a> {
    /// Reads and checks the header.
    pub fn new(data: &'a [u8], opts: DecodeOptions) -> Result<Decoder<'a>, RdbError> {
        let mut r = Reader::new(data);
        let header = r.take(9)?;
        if &header[..5] != b"REDIS" {
            return Err(r.err(ErrorKind::WrongSignature));
        }
        let version = atoi(&header[5..]);
        if !(1..=RDB_VERSION as i64).contains(&version) {
            return Err(r.err(ErrorKind::UnsupportedVersion(version)));
        }
        Ok(Decoder {
            r,
            version: version as u32,
            opts,
            db: 0,
            done: false,
            empty_keys_skipped: 0,
            expire_ms: None,
            idle_s: None,
            freq: None,
        })
    }

    /// The file's RDB version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Offset of the next byte to read.
    pub fn offset(&self) -> u64 {
        self.r.pos() as u64
    }

    /// Empty collections skipped so far (Redis logs "empty keys skipped").
    pub fn empty_keys_skipped(&self) -> u64 {
        self.empty_keys_skipped
    }

    /// The next item, or `None` after EOF once the checksum has been checked.
    pub fn next_item(&mut self) -> Result<Option<Item>, RdbError> {
        if self.done {
            return Ok(None);
        }
        // Each pass consumes at least one byte: the loop ends with the input.
        loop {
            let at = self.r.pos();
            let op = self.r.u8()?;
            match op {
                OPCODE_EXPIRETIME => {
                    self.expire_ms = Some(self.r.i32_le()? as i64 * 1000);
                }
                OPCODE_EXPIRETIME_MS => self.expire_ms = Some(self.r.i64_le()?),
                OPCODE_FREQ => self.freq = Some(self.r.u8()?),
                OPCODE_IDLE => self.idle_s = Some(self.r.read_len()?),
                OPCODE_EOF => {
                    self.finish()?;
                    return Ok(None);
                }
                OPCODE_SELECTDB => {
                    let db = self.r.read_len()?;
                    if db >= self.opts.databases as u64 {
                        return Err(self.r.err_at(
                            at,
                            ErrorKind::DbOutOfRange { databases: self.opts.databases },
                        ));
                    }
                    self.db = db as u32;
                    return Ok(Some(Item::SelectDb { db: self.db }));
                }
                OPCODE_RESIZEDB => {
                    let db_size = self.r.read_len()?;
                    let expires_size = self.r.read_len()?;
                    return Ok(Some(Item::ResizeDb { db_size, expires_size }));
                }
                OPCODE_AUX => {
                    let key = self.r.string_vec()?;
                    let value = self.r.string_vec()?;
                    return Ok(Some(Item::Aux { key, value }));
                }
                OPCODE_MODULE_AUX => {
                    let module_id = self.r.read_len()?;
                    let when_opcode = self.r.read_len()?;
                    let _when = self.r.read_len()?;
                    if when_opcode != MODULE_OPCODE_UINT {
                        return Err(self.r.corrupt(at, "bad when_opcode"));
                    }
                    return Err(self
                        .r
                        .err_at(at, ErrorKind::ModuleAux { module: module_type_name(module_id) }));
                }
                OPCODE_FUNCTION2 => {
                    let source = self.r.string_vec()?;
                    return Ok(Some(Item::Function { source }));
                }
                OPCODE_FUNCTION => {
                    // 7.0-rc1/rc2: name, engine, optional description, code; Redis 7.0 turns
                    // them into a FUNCTION2 payload.
                    let name = self.r.string_vec()?;
                    let engine = self.r.string_vec()?;
                    if self.r.read_len()? != 0 {
                        let _description = self.r.string()?;
                    }
                    let code = self.r.string_vec()?;
                    let mut source = Vec::with_capacity(code.len() + name.len() + 16);
                    source.extend_from_slice(b"#!");
                    source.extend_from_slice(&engine);
                    source.extend_from_slice(b" name=");
                    source.extend_from_slice(&name);
                    source.push(b'\n');
                    source.extend_from_slice(&code);
                    return Ok(Some(Item::Function { source }));
                }
                rdb_type => {
                    let key = self.r.string_vec()?;
                    let value = decode_value(
                        &mut self.r,
                        rdb_type,
                        &self.opts.limits,
                        self.opts.deep_sanitize,
                    )?;
                    let expire_ms = self.expire_ms.take();
                    let idle_s = self.idle_s.take();
                    let freq = self.freq.take();
                    let Some(value) = value else {
                        self.empty_keys_skipped += 1;
                        continue;
                    };
                    return Ok(Some(Item::Key(Box::new(KeyEntry {
                        db: self.db,
                        key,
                        value,
                        expire_ms,
                        idle_s,
                        freq,
                        offset: at as u64,
                    }))));
                }
            }
        }
    }

    /// After EOF: the checksum (version ≥ 5). Bytes after it are ignored, as Redis does.
    fn finish(&mut self) -> Result<(), RdbError> {
        self.done = true;
        if self.version < 5 {
            return Ok(());
        }
        let computed = crc64(self.r.consumed());
        let at = self.r.pos();
        let stored = self.r.u64_le()?;
        if self.opts.verify_checksum && stored != 0 && stored != computed {
            return Err(self.r.err_at(at, ErrorKind::ChecksumMismatch { computed, stored }));
        }
        Ok(())
    }
}

impl Iterator for Decoder<'_> {
    type Item = Result<Item, RdbError>;

    /// Items until EOF; an error ends the iteration.
    fn next(&mut self) -> Option<Self::Item> {
        match self.next_item() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Decodes again the key whose type byte is at `offset` (a [`KeyEntry::offset`] of the same
/// data): its name and value, None for an empty collection. For loading in parallel: one
/// thread validates the file with the [`Decoder`] and routes offsets, and the thread that
/// will own each value decodes it there (so its memory is that thread's).
pub fn decode_key_at(
    data: &[u8],
    offset: u64,
    opts: &DecodeOptions,
) -> Result<(Vec<u8>, Option<RdbValue>), RdbError> {
    let start = usize::try_from(offset)
        .ok()
        .filter(|&o| o < data.len())
        .ok_or(RdbError::new(data.len(), ErrorKind::UnexpectedEof))?;
    let mut r = Reader::new(&data[start..]);
    let rdb_type = r.u8()?;
    let key = r.string_vec()?;
    let value = decode_value(&mut r, rdb_type, &opts.limits, opts.deep_sanitize)?;
    Ok((key, value))
}

/// Everything in a file, collected (for tools and tests; the server streams items instead).
#[derive(Clone, Debug, Default)]
pub struct RdbFile {
    pub version: u32,
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    pub functions: Vec<Vec<u8>>,
    pub keys: Vec<KeyEntry>,
    pub empty_keys_skipped: u64,
}

/// Decodes a whole file into memory.
pub fn decode_file(data: &[u8], opts: DecodeOptions) -> Result<RdbFile, RdbError> {
    let mut d = Decoder::new(data, opts)?;
    let mut out = RdbFile { version: d.version(), ..RdbFile::default() };
    while let Some(item) = d.next_item()? {
        match item {
            Item::Aux { key, value } => out.aux.push((key, value)),
            Item::Function { source } => out.functions.push(source),
            Item::Key(k) => out.keys.push(*k),
            Item::SelectDb { .. } | Item::ResizeDb { .. } => {}
        }
    }
    out.empty_keys_skipped = d.empty_keys_skipped();
    Ok(out)
}
