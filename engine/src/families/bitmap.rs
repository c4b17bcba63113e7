//! Bitmap commands over string values: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD
//! BITFIELD_RO, with Redis 7.0's argument order, reply types, error texts and range rules.
//!
//! Bit `n` of a string is bit `7 - n % 8` of byte `n / 8` (most significant bit first), and a
//! string reads as if zero-padded on the right. Writes grow the string with zero bytes up to
//! the highest bit touched (bounded: offsets are limited by `proto-max-bulk-len`) and edit it
//! in place, so the key's TTL survives; like Redis's `dbUnshareStringValue`, a write always
//! leaves the value stored as bytes, never with the `int` encoding. BITOP replaces its
//! destination (TTL dropped) or deletes it when the result is empty.
//!
//! Redis 7.0 quirks kept on purpose: BITCOUNT looks the key up before parsing its range, so a
//! missing key answers 0 even to malformed arguments; BITPOS does the same after parsing the
//! bit; BITFIELD's FAIL overflow still creates the key.

use bytes::Bytes;

use crate::command::{cmd, flags::*, CommandSpec, Handler, MultiShard, ONE_KEY};
use crate::db::Entry;
use crate::error::{OpError, OpResult};
use crate::notify::class;
use crate::reply::Reply;
use crate::shard::Ctx;
use crate::value::{parse_i64_strict, StrValue, Value};

pub static COMMANDS: &[CommandSpec] = &[
    cmd(
        "setbit",
        4,
        WRITE | DENYOOM,
        ONE_KEY,
        "bitmap",
        "2.2.0",
        "Sets or clears the bit at offset in the string value stored at key",
        Handler::Shard(setbit),
    ),
    cmd(
        "getbit",
        3,
        READONLY | FAST,
        ONE_KEY,
        "bitmap",
        "2.2.0",
        "Returns the bit value at offset in the string value stored at key",
        Handler::Shard(getbit),
    ),
    cmd(
        "bitcount",
        -2,
        READONLY,
        ONE_KEY,
        "bitmap",
        "2.6.0",
        "Count set bits in a string",
        Handler::Shard(bitcount),
    ),
    cmd(
        "bitpos",
        -3,
        READONLY,
        ONE_KEY,
        "bitmap",
        "2.8.7",
        "Find first bit set or clear in a string",
        Handler::Shard(bitpos),
    ),
    cmd(
        "bitop",
        -4,
        WRITE | DENYOOM,
        (2, -1, 1),
        "bitmap",
        "2.6.0",
        "Perform bitwise operations between strings",
        Handler::Shard(bitop),
    )
    .multi(MultiShard::Gather),
    cmd(
        "bitfield",
        -2,
        WRITE | DENYOOM,
        ONE_KEY,
        "bitmap",
        "3.2.0",
        "Perform arbitrary bitfield integer operations on strings",
        Handler::Shard(bitfield),
    ),
    cmd(
        "bitfield_ro",
        -2,
        READONLY | FAST,
        ONE_KEY,
        "bitmap",
        "6.0.0",
        "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
        Handler::Shard(bitfield_ro),
    ),
];

const OFFSET_ERR: &str = "ERR bit offset is not an integer or out of range";
const BIT_VALUE_ERR: &str = "ERR bit is not an integer or out of range";
const TYPE_ERR: &str = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is \
                        not supported but i64 is.";

fn int_arg(arg: &[u8]) -> OpResult<i64> {
    parse_i64_strict(arg).ok_or(OpError::NotInteger)
}

/// Redis's `getBitOffsetFromArgument`: a bit offset, or `#n` (n × `bits`) for BITFIELD; the
/// byte it lands in must be below `proto-max-bulk-len`.
fn bit_offset(arg: &[u8], bits: Option<u32>, limit_bytes: u64) -> OpResult<u64> {
    let err = || OpError::other(OFFSET_ERR);
    let (digits, multiplier) = match (arg.first(), bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], Some(bits)),
        _ => (arg, None),
    };
    let mut offset = parse_i64_strict(digits).ok_or_else(err)?;
    if let Some(bits) = multiplier {
        // Redis multiplies in a signed 64-bit integer; keep its wrap-around.
        offset = offset.wrapping_mul(bits as i64);
    }
    if offset < 0 || (offset as u64 >> 3) >= limit_bytes {
        return Err(err());
    }
    Ok(offset as u64)
}

/// Takes the bytes out of a string for editing, without copying heap values.
fn take_bytes(s: &mut StrValue) -> Vec<u8> {
    std::mem::replace(s, StrValue::Int(0)).into_vec()
}

/// Redis's `lookupStringForBitCommand` plus the edit: the string at `argv[1]` (created empty when
/// absent) grown with zero bytes to hold bit `max_bit`, handed to `edit` with whether it was
/// created or grown; `edit` returns how many changes to count (Redis's `server.dirty`
/// increments, which INFO reports). The entry keeps its TTL.
fn edit_bits<R>(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    max_bit: u64,
    edit: impl FnOnce(&mut [u8], bool) -> (R, u64),
) -> OpResult<R> {
    // max_bit is below proto-max-bulk-len × 8 plus one field: it was allocatable by Redis's
    // rules, and the allocation below is what bounds memory.
    let needed = usize::try_from(max_bit >> 3).map_err(|_| OpError::other(OFFSET_ERR))? + 1;
    let key = &argv[1];
    match ctx.lookup_write(key) {
        None => {
            let mut bytes = vec![0u8; needed];
            let (result, changes) = edit(&mut bytes, true);
            // Storing the new key notes one write even when Redis counts none (a BITFIELD
            // whose only write FAIL refused): the key exists either way.
            ctx.set_value(key, Value::Str(StrValue::from_vec(bytes)), 0);
            ctx.shard.dirty += changes.saturating_sub(1);
            if changes > 0 {
                ctx.notify(class::STRING, "setbit", key);
            }
            Ok(result)
        }
        Some(Entry { value: Value::Str(s), .. }) => {
            let was_int = matches!(s, StrValue::Int(_));
            let mut bytes = take_bytes(s);
            let grown = bytes.len() < needed;
            if grown {
                bytes.reserve_exact(needed - bytes.len());
                bytes.resize(needed, 0);
            }
            let (result, changes) = edit(&mut bytes, grown);
            *s = StrValue::from_vec(bytes);
            if changes > 0 {
                ctx.note_write(key);
                ctx.shard.dirty += changes - 1;
                ctx.notify(class::STRING, "setbit", key);
            } else if was_int {
                // No bit changed and Redis counts no write, but the value left the `int`
                // encoding: journal the command anyway, so a copy's encoding follows.
                ctx.also_propagate(|| argv.to_vec());
            }
            Ok(result)
        }
        Some(_) => Err(OpError::WrongType),
    }
}

fn bit_at(bytes: &[u8], offset: u64) -> bool {
    let byte = (offset >> 3) as usize;
    byte < bytes.len() && bytes[byte] & (0x80 >> (offset & 7)) != 0
}

// ---------------------------------------------------------------------------------------------
// SETBIT / GETBIT

fn setbit(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    setbit_inner(ctx, argv).into()
}

fn setbit_inner(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let offset = bit_offset(&argv[2], None, ctx.config().proto_max_bulk_len)?;
    let on = match parse_i64_strict(&argv[3]) {
        Some(v @ (0 | 1)) => v == 1,
        _ => return Err(OpError::other(BIT_VALUE_ERR)),
    };
    let old = edit_bits(ctx, argv, offset, |bytes, dirty| {
        let byte = &mut bytes[(offset >> 3) as usize];
        let mask = 0x80u8 >> (offset & 7);
        let old = *byte & mask != 0;
        if on {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
        (old, (dirty || old != on) as u64)
    })?;
    Ok(Reply::Int(old as i64))
}

fn getbit(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    getbit_inner(ctx, argv).into()
}

fn getbit_inner(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let offset = bit_offset(&argv[2], None, ctx.config().proto_max_bulk_len)?;
    let Some(s) = ctx.get_str(&argv[1])? else { return Ok(Reply::Int(0)) };
    Ok(Reply::Int(s.with_bytes(|b| bit_at(b, offset)) as i64))
}

// ---------------------------------------------------------------------------------------------
// BITCOUNT / BITPOS

/// Parses `BYTE|BIT`; true for BIT.
fn unit_is_bit(arg: &[u8]) -> OpResult<bool> {
    if arg.eq_ignore_ascii_case(b"bit") {
        Ok(true)
    } else if arg.eq_ignore_ascii_case(b"byte") {
        Ok(false)
    } else {
        Err(OpError::Syntax)
    }
}

/// A byte range `start..=end` of the string, with the bits outside a BIT range masked off at
/// its edge bytes (`first_mask`/`last_mask` mark the excluded bits, as Redis's negative masks).
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    first_mask: u8,
    last_mask: u8,
}

/// Redis's index arithmetic shared by BITCOUNT and BITPOS: negative indexes count from the end,
/// then clamp. `None` for an empty range.
fn resolve_span(mut start: i64, mut end: i64, len: usize, is_bit: bool) -> Option<Span> {
    let mut total = len as i64;
    if is_bit {
        total <<= 3;
    }
    if start < 0 {
        start = start.saturating_add(total);
    }
    if end < 0 {
        end = end.saturating_add(total);
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    if start > end {
        return None;
    }
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    if is_bit {
        first_mask = !(((1u16 << (8 - (start & 7))) - 1) as u8);
        last_mask = ((1u16 << (7 - (end & 7))) - 1) as u8;
        start >>= 3;
        end >>= 3;
    }
    Some(Span { start: start as usize, end: end as usize, first_mask, last_mask })
}

fn popcount(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut n: u64 = 0;
    for c in &mut chunks {
        n += u64::from_ne_bytes(c.try_into().expect("chunks_exact(8)")).count_ones() as u64;
    }
    n + chunks.remainder().iter().map(|b| b.count_ones() as u64).sum::<u64>()
}

fn bitcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    bitcount_inner(ctx, argv).into()
}

fn bitcount_inner(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let Some(s) = ctx.get_str(&argv[1])? else { return Ok(Reply::Int(0)) };
    s.with_bytes(|bytes| {
        let span = match argv.len() {
            2 => resolve_span(0, bytes.len() as i64 - 1, bytes.len(), false),
            4 | 5 => {
                let start = int_arg(&argv[2])?;
                let end = int_arg(&argv[3])?;
                if start < 0 && end < 0 && start > end {
                    return Ok(Reply::Int(0));
                }
                let is_bit = match argv.get(4) {
                    Some(unit) => unit_is_bit(unit)?,
                    None => false,
                };
                resolve_span(start, end, bytes.len(), is_bit)
            }
            _ => return Err(OpError::Syntax),
        };
        let Some(span) = span else { return Ok(Reply::Int(0)) };
        let mut count = popcount(&bytes[span.start..=span.end]);
        count -= (bytes[span.start] & span.first_mask).count_ones() as u64;
        count -= (bytes[span.end] & span.last_mask).count_ones() as u64;
        Ok(Reply::Int(count as i64))
    })
}

/// Redis's `redisBitpos`: the first bit equal to `bit`; when looking for a clear bit and
/// there is none, the position just past the bytes (the string reads as zero-padded).
fn first_bit(bytes: &[u8], bit: bool) -> i64 {
    let skip = if bit { 0x00 } else { 0xff };
    for (i, &b) in bytes.iter().enumerate() {
        if b != skip {
            let lead = if bit { b.leading_zeros() } else { b.leading_ones() };
            return (i as i64) * 8 + lead as i64;
        }
    }
    if bit {
        -1
    } else {
        bytes.len() as i64 * 8
    }
}

fn bitpos(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    bitpos_inner(ctx, argv).into()
}

fn bitpos_inner(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let bit = match int_arg(&argv[2])? {
        0 => false,
        1 => true,
        _ => return Err(OpError::other("ERR The bit argument must be 1 or 0.")),
    };
    // A missing key is an infinite run of zero bits.
    let Some(s) = ctx.get_str(&argv[1])? else {
        return Ok(Reply::Int(if bit { -1 } else { 0 }));
    };
    s.with_bytes(|bytes| {
        let len = bytes.len();
        let mut end_given = false;
        let span = match argv.len() {
            3 => resolve_span(0, len as i64 - 1, len, false),
            4..=6 => {
                let start = int_arg(&argv[3])?;
                let is_bit = match argv.get(5) {
                    Some(unit) => unit_is_bit(unit)?,
                    None => false,
                };
                let end = match argv.get(4) {
                    Some(end) => {
                        end_given = true;
                        int_arg(end)?
                    }
                    None if is_bit => ((len as i64) << 3) + 7,
                    None => len as i64 - 1,
                };
                resolve_span(start, end, len, is_bit)
            }
            _ => return Err(OpError::Syntax),
        };
        // An empty range holds neither a 0 nor a 1.
        let Some(span) = span else { return Ok(Reply::Int(-1)) };
        Ok(Reply::Int(bitpos_in_span(bytes, span, bit, end_given)))
    })
}

/// Redis 7.0's BITPOS search over a resolved span, edge masks and all.
fn bitpos_in_span(bytes: &[u8], span: Span, bit: bool, end_given: bool) -> i64 {
    let Span { mut start, end, first_mask, last_mask } = span;
    let mut remaining = end - start + 1;
    let masked = |b: u8, mask: u8| if bit { b & !mask } else { b | mask };
    let pos = 'search: {
        if first_mask != 0 {
            let mut b = masked(bytes[start], first_mask);
            if last_mask != 0 && remaining == 1 {
                b = masked(b, last_mask);
            }
            let pos = first_bit(&[b], bit);
            if remaining == 1 || (pos != -1 && pos != 8) {
                break 'search pos;
            }
            start += 1;
            remaining -= 1;
        }
        // The last byte is searched separately when it has bits outside the range.
        let whole = remaining - usize::from(last_mask != 0);
        if whole > 0 {
            let pos = first_bit(&bytes[start..start + whole], bit);
            if remaining == whole || (pos != -1 && pos != (whole as i64) << 3) {
                break 'search pos;
            }
            start += whole;
            remaining -= whole;
        }
        first_bit(&[masked(bytes[end], last_mask)], bit)
    };
    // With an explicit end the range is not zero-padded: a clear bit found just past it is none.
    if end_given && !bit && pos == (remaining as i64) << 3 {
        return -1;
    }
    if pos == -1 {
        -1
    } else {
        pos + ((start as i64) << 3)
    }
}

// ---------------------------------------------------------------------------------------------
// BITOP

#[derive(Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

fn bitop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    bitop_inner(ctx, argv).into()
}

fn bitop_inner(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> OpResult<Reply> {
    let op = match argv[1].to_ascii_lowercase().as_slice() {
        b"and" => BitOp::And,
        b"or" => BitOp::Or,
        b"xor" => BitOp::Xor,
        b"not" => BitOp::Not,
        _ => return Err(OpError::Syntax),
    };
    if op == BitOp::Not && argv.len() != 4 {
        return Err(OpError::other("ERR BITOP NOT must be called with a single source key."));
    }
    // Folding source by source gives Redis's byte-wise result: a shorter source reads as zero
    // padding, and so does the accumulator past the sources seen so far.
    let mut result: Vec<u8> = Vec::new();
    for (i, key) in argv[3..].iter().enumerate() {
        let Some(s) = ctx.get_str(key)? else {
            if op == BitOp::And {
                result.fill(0);
            }
            continue;
        };
        s.with_bytes(|src| {
            if result.len() < src.len() {
                result.resize(src.len(), 0);
            }
            if i == 0 {
                result[..src.len()].copy_from_slice(src);
                if op == BitOp::Not {
                    result.iter_mut().for_each(|b| *b = !*b);
                }
                return;
            }
            match op {
                BitOp::And => {
                    let n = src.len();
                    result[..n].iter_mut().zip(src).for_each(|(r, s)| *r &= s);
                    result[n..].fill(0);
                }
                BitOp::Or => result.iter_mut().zip(src).for_each(|(r, s)| *r |= s),
                BitOp::Xor => result.iter_mut().zip(src).for_each(|(r, s)| *r ^= s),
                BitOp::Not => {}
            }
        });
    }
    let dest = &argv[2];
    let len = result.len();
    if len == 0 {
        if ctx.remove(dest).is_some() {
            ctx.notify(class::GENERIC, "del", dest);
        }
    } else {
        ctx.set_value(dest, Value::Str(StrValue::from_vec(result)), 0);
        ctx.notify(class::STRING, "set", dest);
    }
    Ok(Reply::Int(len as i64))
}

// ---------------------------------------------------------------------------------------------
// BITFIELD

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

#[derive(Clone, Copy, Debug)]
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

/// Redis's `getBitfieldTypeFromArgument`: `i1`..`i64` or `u1`..`u63`, lowercase only. The width
/// is read up to a NUL byte, as C's `strlen` does.
fn field_type(arg: &[u8]) -> OpResult<(bool, u32)> {
    let err = || OpError::other(TYPE_ERR);
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err()),
    };
    let rest = &arg[1..];
    let rest = &rest[..memchr::memchr(0, rest).unwrap_or(rest.len())];
    match parse_i64_strict(rest) {
        Some(bits) if bits >= 1 && bits <= if signed { 64 } else { 63 } => {
            Ok((signed, bits as u32))
        }
        _ => Err(err()),
    }
}

/// Parses the subcommands; also returns whether any writes and the highest bit written.
fn parse_fields(argv: &[Bytes], limit_bytes: u64) -> OpResult<(Vec<Field>, Option<u64>)> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut highest_write: Option<u64> = None;
    let mut j = 2;
    while j < argv.len() {
        let remaining = argv.len() - j - 1;
        let sub = argv[j].to_ascii_lowercase();
        let op_args = match sub.as_slice() {
            b"get" if remaining >= 2 => 2,
            b"set" | b"incrby" if remaining >= 3 => 3,
            b"overflow" if remaining >= 1 => {
                let kind = argv[j + 1].to_ascii_lowercase();
                overflow = match kind.as_slice() {
                    b"wrap" => Overflow::Wrap,
                    b"sat" => Overflow::Sat,
                    b"fail" => Overflow::Fail,
                    _ => return Err(OpError::other("ERR Invalid OVERFLOW type specified")),
                };
                j += 2;
                continue;
            }
            _ => return Err(OpError::Syntax),
        };
        let (signed, bits) = field_type(&argv[j + 1])?;
        let offset = bit_offset(&argv[j + 2], Some(bits), limit_bytes)?;
        let op = match sub.as_slice() {
            b"get" => FieldOp::Get,
            write => {
                let top = offset + bits as u64 - 1;
                highest_write = Some(highest_write.map_or(top, |h| h.max(top)));
                let value = int_arg(&argv[j + 3])?;
                if write == b"set" {
                    FieldOp::Set(value)
                } else {
                    FieldOp::IncrBy(value)
                }
            }
        };
        fields.push(Field { op, signed, bits, offset, overflow });
        j += 1 + op_args;
    }
    Ok((fields, highest_write))
}

/// Bits `offset..offset+bits` as an unsigned number, MSB first; bytes past the end read as 0.
fn get_unsigned(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    (0..bits as u64).fold(0u64, |v, i| (v << 1) | bit_at(bytes, offset + i) as u64)
}

fn get_signed(bytes: &[u8], offset: u64, bits: u32) -> i64 {
    let mut v = get_unsigned(bytes, offset, bits);
    if bits < 64 && v & (1u64 << (bits - 1)) != 0 {
        v |= u64::MAX << bits;
    }
    v as i64
}

/// Writes the low `bits` of `value`; the caller has grown `bytes` to hold them.
fn set_unsigned(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..bits as u64 {
        let on = value & (1u64 << (bits as u64 - 1 - i)) != 0;
        let at = offset + i;
        let mask = 0x80u8 >> (at & 7);
        let byte = &mut bytes[(at >> 3) as usize];
        if on {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

/// Redis's `checkUnsignedBitfieldOverflow`: `Some(value to store)` on overflow (the wrapped or
/// saturated value; ignored under FAIL), `None` when `value + incr` fits.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, overflow: Overflow) -> Option<u64> {
    let max: u64 = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = (value as i64).wrapping_neg();
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX.checked_shl(bits).unwrap_or(0));
    if value > max || (bits != 64 && incr > max_incr) || (incr > 0 && incr > max_incr) {
        Some(if overflow == Overflow::Wrap { wrap() } else { max })
    } else if incr < 0 && incr < min_incr {
        Some(if overflow == Overflow::Wrap { wrap() } else { 0 })
    } else {
        None
    }
}

/// Redis's `checkSignedBitfieldOverflow`, its wrap-around arithmetic included.
fn signed_overflow(value: i64, incr: i64, bits: u32, overflow: Overflow) -> Option<i64> {
    let max: i64 = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr)
    {
        Some(if overflow == Overflow::Wrap { wrap() } else { max })
    } else if value < min
        || (bits != 64 && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        Some(if overflow == Overflow::Wrap { wrap() } else { min })
    } else {
        None
    }
}

/// Runs one SET (`is_incr` false) or INCRBY on the grown bytes; the reply is the new value
/// (INCRBY), the old value (SET), or nil when FAIL refused the write. Also says whether the
/// stored bits changed.
fn apply_write(bytes: &mut [u8], f: &Field, value: i64, is_incr: bool) -> (Reply, bool) {
    let (store, old, reply, failed) = if f.signed {
        let old = get_signed(bytes, f.offset, f.bits);
        let (new, over) = if is_incr {
            match signed_overflow(old, value, f.bits, f.overflow) {
                Some(limit) => (limit, true),
                None => (old.wrapping_add(value), false),
            }
        } else {
            match signed_overflow(value, 0, f.bits, f.overflow) {
                Some(limit) => (limit, true),
                None => (value, false),
            }
        };
        (new as u64, old as u64, if is_incr { new } else { old }, over)
    } else {
        let old = get_unsigned(bytes, f.offset, f.bits);
        let (new, over) = if is_incr {
            match unsigned_overflow(old, value, f.bits, f.overflow) {
                Some(limit) => (limit, true),
                None => (old.wrapping_add(value as u64), false),
            }
        } else {
            match unsigned_overflow(value as u64, 0, f.bits, f.overflow) {
                Some(limit) => (limit, true),
                None => (value as u64, false),
            }
        };
        (new, old, if is_incr { new as i64 } else { old as i64 }, over)
    };
    if failed && f.overflow == Overflow::Fail {
        return (Reply::Nil, false);
    }
    set_unsigned(bytes, f.offset, f.bits, store);
    (Reply::Int(reply), store != old)
}

fn read_field(bytes: &[u8], f: &Field) -> Reply {
    if f.signed {
        Reply::Int(get_signed(bytes, f.offset, f.bits))
    } else {
        Reply::Int(get_unsigned(bytes, f.offset, f.bits) as i64)
    }
}

fn bitfield(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    bitfield_generic(ctx, argv, false).into()
}

fn bitfield_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    bitfield_generic(ctx, argv, true).into()
}

fn bitfield_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], read_only: bool) -> OpResult<Reply> {
    let (fields, highest_write) = parse_fields(argv, ctx.config().proto_max_bulk_len)?;
    let Some(highest_write) = highest_write else {
        let replies = match ctx.get_str(&argv[1])? {
            None => fields.iter().map(|f| read_field(&[], f)).collect(),
            Some(s) => s.with_bytes(|b| fields.iter().map(|f| read_field(b, f)).collect()),
        };
        return Ok(Reply::Array(replies));
    };
    if read_only {
        return Err(OpError::other("ERR BITFIELD_RO only supports the GET subcommand"));
    }
    // As in Redis 7.0, each write counts as a change when it alters the bits or the string
    // was created or grown; a write FAIL refused never counts.
    edit_bits(ctx, argv, highest_write, |bytes, dirty| {
        let mut changes = 0u64;
        let replies = fields
            .iter()
            .map(|f| {
                let (reply, changed) = match f.op {
                    FieldOp::Get => (read_field(bytes, f), false),
                    FieldOp::Set(value) => apply_write(bytes, f, value, false),
                    FieldOp::IncrBy(incr) => apply_write(bytes, f, incr, true),
                };
                let refused = reply == Reply::Nil;
                changes += (changed || (dirty && f.op != FieldOp::Get && !refused)) as u64;
                reply
            })
            .collect();
        (Reply::Array(replies), changes)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bit_pads_with_zeros_for_clear_bits() {
        assert_eq!(first_bit(&[0xff, 0xff], false), 16);
        assert_eq!(first_bit(&[0x00, 0x00], true), -1);
        assert_eq!(first_bit(&[0x00, 0x10], true), 11);
        assert_eq!(first_bit(&[0xff, 0xfe], false), 15);
    }

    #[test]
    fn signed_fields_sign_extend() {
        let bytes = [0b1000_0000u8];
        assert_eq!(get_signed(&bytes, 0, 1), -1);
        assert_eq!(get_signed(&bytes, 0, 8), -128);
        assert_eq!(get_unsigned(&bytes, 0, 8), 128);
    }

    #[test]
    fn overflow_rules_wrap_and_saturate() {
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Wrap), Some(4));
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Sat), Some(255));
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Sat), Some(0));
        assert_eq!(unsigned_overflow(5, 10, 8, Overflow::Sat), None);
        assert_eq!(signed_overflow(120, 10, 8, Overflow::Wrap), Some(-126));
        assert_eq!(signed_overflow(-120, -10, 8, Overflow::Sat), Some(-128));
        assert_eq!(signed_overflow(i64::MAX, 1, 64, Overflow::Wrap), Some(i64::MIN));
    }
}
