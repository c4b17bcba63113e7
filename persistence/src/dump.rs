//! DUMP payloads: one value in RDB form with its type byte, then the RDB version (2 bytes LE)
//! and a CRC-64 of everything before it (8 bytes LE) — what DUMP returns and RESTORE and
//! MIGRATE accept (Redis's `createDumpPayload` / `verifyDumpPayload`).
//!
//! ```text
//!  type · value body · 0x0A 0x00 · crc64 LE
//! ```

use crate::crc64::crc64;
use crate::decode::{decode_value, EncodingLimits, RdbValue};
use crate::encode::{object_bytes, EncodeOptions, ValueRef};
use crate::error::{ErrorKind, RdbError, RestoreError};
use crate::format::{is_object_type, RDB_VERSION};
use crate::reader::Reader;

/// The DUMP payload of `value`. `opts.compression` is Redis's `rdbcompression` (DUMP
/// honours it); the checksum is always computed.
pub fn dump<'v>(value: impl Into<ValueRef<'v>>, opts: &EncodeOptions) -> Vec<u8> {
    let mut out = object_bytes(value.into(), opts);
    out.extend_from_slice(&(RDB_VERSION as u16).to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks the footer: at least 10 bytes, a version no newer than 10, a matching CRC-64.
/// Returns the payload's RDB version.
pub fn verify_payload(payload: &[u8]) -> Result<u16, RestoreError> {
    if payload.len() < 10 {
        return Err(RestoreError::VersionOrChecksum);
    }
    let footer = &payload[payload.len() - 10..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version as u32 > RDB_VERSION {
        return Err(RestoreError::VersionOrChecksum);
    }
    let mut stored = [0u8; 8];
    stored.copy_from_slice(&footer[2..]);
    if crc64(&payload[..payload.len() - 8]) != u64::from_le_bytes(stored) {
        return Err(RestoreError::VersionOrChecksum);
    }
    Ok(version)
}

/// Decodes a RESTORE payload. `deep_sanitize` is `sanitize-dump-payload yes` (see
/// [`crate::DecodeOptions::deep_sanitize`]); `limits` decide the in-memory encoding.
///
/// As in Redis, the value is read from the payload as a whole (footer included) and bytes
/// left after the value are not an error.
pub fn restore(
    payload: &[u8],
    deep_sanitize: bool,
    limits: &EncodingLimits,
) -> Result<RdbValue, RestoreError> {
    verify_payload(payload)?;
    let mut r = Reader::new(payload);
    let rdb_type = r.u8().map_err(RestoreError::BadDataFormat)?;
    if !is_object_type(rdb_type) {
        return Err(RestoreError::BadDataFormat(r.err_at(0, ErrorKind::UnknownType(rdb_type))));
    }
    match decode_value(&mut r, rdb_type, limits, deep_sanitize) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(RestoreError::BadDataFormat(r.corrupt(0, "Empty keys are not allowed"))),
        Err(e) => Err(RestoreError::BadDataFormat(e)),
    }
}

/// FUNCTION DUMP's payload: each library as opcode FUNCTION2 and its source (an RDB
/// string), then the RDB version and the CRC-64, as Redis 7.0 writes it.
pub fn dump_functions<'s>(
    sources: impl IntoIterator<Item = &'s [u8]>,
    opts: &EncodeOptions,
) -> Vec<u8> {
    let mut body = crate::encode::Body { out: Vec::new(), opts };
    for s in sources {
        body.byte(crate::format::OPCODE_FUNCTION2);
        body.string(s);
    }
    let mut out = body.out;
    out.extend_from_slice(&(RDB_VERSION as u16).to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Why a FUNCTION RESTORE payload was refused (Redis's texts, without the `ERR `).
#[derive(Debug, PartialEq, Eq)]
pub enum FunctionPayloadError {
    VersionOrChecksum,
    /// A record's type byte is missing.
    CannotReadType,
    /// A record is not a function library.
    NotAFunction,
    /// A library's source could not be read.
    Failed,
}

impl FunctionPayloadError {
    pub fn message(&self) -> &'static str {
        match self {
            FunctionPayloadError::VersionOrChecksum => "DUMP payload version or checksum are wrong",
            FunctionPayloadError::CannotReadType => "can not read data type",
            FunctionPayloadError::NotAFunction => "given type is not a function",
            FunctionPayloadError::Failed => "failed loading the given functions payload",
        }
    }
}

/// The library sources of a FUNCTION DUMP payload (FUNCTION2 records, and the pre-GA
/// FUNCTION records turned into FUNCTION2 sources as Redis does).
pub fn read_functions(payload: &[u8]) -> Result<Vec<Vec<u8>>, FunctionPayloadError> {
    verify_payload(payload).map_err(|_| FunctionPayloadError::VersionOrChecksum)?;
    let body = &payload[..payload.len() - 10];
    let mut r = Reader::new(body);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        let t = r.u8().map_err(|_| FunctionPayloadError::CannotReadType)?;
        match t {
            crate::format::OPCODE_FUNCTION2 => {
                out.push(r.string_vec().map_err(|_| FunctionPayloadError::Failed)?);
            }
            crate::format::OPCODE_FUNCTION => {
                let mut read = || -> Result<Vec<u8>, RdbError> {
                    let name = r.string_vec()?;
                    let engine = r.string_vec()?;
                    if r.read_len()? != 0 {
                        let _description = r.string()?;
                    }
                    let code = r.string_vec()?;
                    let mut source = b"#!".to_vec();
                    source.extend_from_slice(&engine);
                    source.extend_from_slice(b" name=");
                    source.extend_from_slice(&name);
                    source.push(b'\n');
                    source.extend_from_slice(&code);
                    Ok(source)
                };
                out.push(read().map_err(|_| FunctionPayloadError::Failed)?);
            }
            _ => return Err(FunctionPayloadError::NotAFunction),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod function_payload_tests {
    use super::*;

    #[test]
    fn function_payload_round_trips_and_matches_redis() {
        // FUNCTION DUMP of redis-server 7.0.15 after loading
        // "#!lua name=l\nredis.register_function('f', function() return 1 end)".
        let src: &[u8] = b"#!lua name=l\nredis.register_function('f', function() return 1 end)";
        let opts = EncodeOptions { compression: false, ..EncodeOptions::default() };
        let p = dump_functions([src], &opts);
        assert_eq!(p[0], crate::format::OPCODE_FUNCTION2);
        assert_eq!(read_functions(&p).unwrap(), vec![src.to_vec()]);
        let z = dump_functions([src, src], &EncodeOptions::default());
        assert_eq!(read_functions(&z).unwrap(), vec![src.to_vec(), src.to_vec()]);
        let mut bad = p.clone();
        bad[3] ^= 1;
        assert_eq!(read_functions(&bad), Err(FunctionPayloadError::VersionOrChecksum));
        assert_eq!(read_functions(b"abc"), Err(FunctionPayloadError::VersionOrChecksum));
        let other = dump_functions(std::iter::empty(), &opts);
        let mut not_fn = vec![0u8, 1, b'x'];
        not_fn.extend_from_slice(&other[..2]);
        let crc = crc64(&not_fn);
        not_fn.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(read_functions(&not_fn), Err(FunctionPayloadError::NotAFunction));
    }
}
