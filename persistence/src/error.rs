//! Typed decoding errors. Each carries the byte offset where decoding stopped and prints the
//! wording redis-server 7.0.15 logs for the same fault, so the server can log it as Redis does
//! (and `redis-check-rdb`-style tools can name the place).

use std::fmt;

/// What went wrong, with Redis's words in [`ErrorKind::message`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file does not start with `REDIS`.
    WrongSignature,
    /// The header's version is outside 1..=10.
    UnsupportedVersion(i64),
    /// The input ended inside a field (Redis: "Short read or OOM loading DB").
    UnexpectedEof,
    /// A length prefix with the 0b10 tag that is neither 32- nor 64-bit.
    UnknownLengthEncoding(u8),
    /// A string with the 0b11 tag and an unknown special encoding.
    UnknownStringEncoding(u64),
    /// An LZF blob that does not expand to its stated length.
    InvalidLzf,
    /// A value type byte that Redis 7.0 cannot load (also 20 and 21, which came with 7.2).
    UnknownType(u8),
    /// A structure failed its integrity check; the text is the one Redis reports.
    Corrupt(&'static str),
    /// The stored CRC-64 differs from the computed one.
    ChecksumMismatch { computed: u64, stored: u64 },
    /// SELECTDB named a database at or above the configured count.
    DbOutOfRange { databases: u32 },
    /// MODULE_AUX for a module that is not loaded (Mayfly loads none).
    ModuleAux { module: String },
    /// A module value (type 6 or 7) for a module that is not loaded.
    ModuleValue { module: String },
}

impl ErrorKind {
    /// The message redis-server 7.0.15 logs (or redis-check-rdb prints) for this fault.
    pub fn message(&self) -> String {
        match self {
            ErrorKind::WrongSignature => "Wrong signature trying to load DB from file".into(),
            ErrorKind::UnsupportedVersion(v) => format!("Can't handle RDB format version {v}"),
            ErrorKind::UnexpectedEof => "Short read or OOM loading DB. Unrecoverable error, \
                                         aborting now. Unexpected EOF reading RDB file"
                .into(),
            ErrorKind::UnknownLengthEncoding(t) => {
                format!("Unknown length encoding {t} in rdbLoadLen()")
            }
            ErrorKind::UnknownStringEncoding(e) => {
                format!("Unknown RDB string encoding type {e}")
            }
            ErrorKind::InvalidLzf => "Invalid LZF compressed string".into(),
            ErrorKind::UnknownType(t) => format!("Unknown RDB encoding type {t}"),
            ErrorKind::Corrupt(what) => (*what).into(),
            ErrorKind::ChecksumMismatch { computed, stored } => format!(
                "Wrong RDB checksum expected: ({computed:x}) but got ({stored:x}). Aborting now. \
                 RDB CRC error"
            ),
            ErrorKind::DbOutOfRange { databases } => format!(
                "FATAL: Data file was created with a Redis server configured to handle more \
                 than {databases} databases. Exiting"
            ),
            ErrorKind::ModuleAux { module } => format!(
                "The RDB file contains AUX module data I can't load: no matching module \
                 '{module}'"
            ),
            ErrorKind::ModuleValue { module } => format!(
                "The RDB file contains module data I can't load: no matching module type \
                 '{module}'"
            ),
        }
    }
}

/// A decoding failure at a byte offset of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RdbError {
    /// Offset in the input (file or payload) where the faulty field starts or the input ended.
    pub offset: u64,
    pub kind: ErrorKind,
}

impl RdbError {
    pub fn new(offset: usize, kind: ErrorKind) -> RdbError {
        RdbError { offset: offset as u64, kind }
    }
}

impl fmt::Display for RdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at offset {})", self.kind.message(), self.offset)
    }
}

impl std::error::Error for RdbError {}

/// Why a RESTORE payload was refused: exactly the two replies redis-server gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestoreError {
    /// Shorter than its footer, a newer RDB version, or a wrong CRC-64.
    VersionOrChecksum,
    /// The footer is fine but the value does not decode; the cause is kept for the log.
    BadDataFormat(RdbError),
}

impl RestoreError {
    /// The error reply, as redis-server sends it after the `-`.
    pub fn reply(&self) -> &'static str {
        match self {
            RestoreError::VersionOrChecksum => "ERR DUMP payload version or checksum are wrong",
            RestoreError::BadDataFormat(_) => "ERR Bad data format",
        }
    }
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reply())
    }
}

impl std::error::Error for RestoreError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_redis_wording() {
        assert_eq!(
            ErrorKind::UnsupportedVersion(11).message(),
            "Can't handle RDB format version 11"
        );
        assert_eq!(ErrorKind::UnknownType(100).message(), "Unknown RDB encoding type 100");
        let crc = ErrorKind::ChecksumMismatch { computed: 0x9069b2f05338ea1b, stored: 0x1a };
        assert!(crc
            .message()
            .starts_with("Wrong RDB checksum expected: (9069b2f05338ea1b) but got (1a)"));
        assert_eq!(
            RestoreError::VersionOrChecksum.to_string(),
            "ERR DUMP payload version or checksum are wrong"
        );
        let bad = RestoreError::BadDataFormat(RdbError::new(3, ErrorKind::UnexpectedEof));
        assert_eq!(bad.reply(), "ERR Bad data format");
        assert!(RdbError::new(7, ErrorKind::WrongSignature).to_string().contains("offset 7"));
    }
}
