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
use crate::error::{ErrorKind, RestoreError};
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
