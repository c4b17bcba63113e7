//! A cursor over RDB bytes: the primitive fields (type bytes, length prefixes, strings in their
//! raw, integer and LZF forms, doubles, times), each failing with the offset where it starts.
//!
//! Allocation is bounded by the input: a raw string is borrowed from the input, never copied
//! before its bytes are known to be there; an LZF blob must be present in full and may claim
//! at most [`crate::lzf::MAX_EXPANSION`] output bytes per input byte; callers size collections
//! by the bytes left, not by claimed counts.

use std::borrow::Cow;

use crate::error::{ErrorKind, RdbError};
use crate::format::*;
use crate::lzf;

/// A string as the RDB stored it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RdbString<'a> {
    /// Stored verbatim: borrowed from the input.
    Raw(&'a [u8]),
    /// INT8/16/32 encoded.
    Int(i64),
    /// LZF-compressed, already expanded.
    Lzf(Vec<u8>),
}

impl<'a> RdbString<'a> {
    pub fn bytes(&self) -> Cow<'_, [u8]> {
        match self {
            RdbString::Raw(b) => Cow::Borrowed(b),
            RdbString::Int(n) => Cow::Owned(itoa::Buffer::new().format(*n).as_bytes().to_vec()),
            RdbString::Lzf(v) => Cow::Borrowed(v),
        }
    }

    pub fn into_vec(self) -> Vec<u8> {
        match self {
            RdbString::Raw(b) => b.to_vec(),
            RdbString::Int(n) => itoa::Buffer::new().format(n).as_bytes().to_vec(),
            RdbString::Lzf(v) => v,
        }
    }
}

/// A length prefix, or the special-encoding tag that took its place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Len {
    Len(u64),
    Encoded(u8),
}

pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The bytes consumed so far.
    pub fn consumed(&self) -> &'a [u8] {
        &self.data[..self.pos]
    }

    pub fn err(&self, kind: ErrorKind) -> RdbError {
        RdbError::new(self.pos, kind)
    }

    pub fn err_at(&self, at: usize, kind: ErrorKind) -> RdbError {
        RdbError::new(at, kind)
    }

    pub fn corrupt(&self, at: usize, what: &'static str) -> RdbError {
        RdbError::new(at, ErrorKind::Corrupt(what))
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], RdbError> {
        if n > self.remaining() {
            return Err(RdbError::new(self.data.len(), ErrorKind::UnexpectedEof));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], RdbError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub fn u8(&mut self) -> Result<u8, RdbError> {
        Ok(self.take(1)?[0])
    }

    pub fn i32_le(&mut self) -> Result<i32, RdbError> {
        Ok(i32::from_le_bytes(self.take_array()?))
    }

    pub fn i64_le(&mut self) -> Result<i64, RdbError> {
        Ok(i64::from_le_bytes(self.take_array()?))
    }

    pub fn u64_le(&mut self) -> Result<u64, RdbError> {
        Ok(u64::from_le_bytes(self.take_array()?))
    }

    pub fn f64_le(&mut self) -> Result<f64, RdbError> {
        Ok(f64::from_le_bytes(self.take_array()?))
    }

    /// A length prefix (Redis's `rdbLoadLenByRef`).
    pub fn len_or_encoding(&mut self) -> Result<Len, RdbError> {
        let at = self.pos;
        let first = self.u8()?;
        match (first & 0xC0) >> 6 {
            LEN_ENCVAL => Ok(Len::Encoded(first & 0x3F)),
            LEN_6BIT => Ok(Len::Len((first & 0x3F) as u64)),
            LEN_14BIT => Ok(Len::Len((((first & 0x3F) as u64) << 8) | self.u8()? as u64)),
            _ if first == LEN_32BIT => Ok(Len::Len(u32::from_be_bytes(self.take_array()?) as u64)),
            _ if first == LEN_64BIT => Ok(Len::Len(u64::from_be_bytes(self.take_array()?))),
            kind => Err(self.err_at(at, ErrorKind::UnknownLengthEncoding(kind))),
        }
    }

    /// A plain length (Redis's `rdbLoadLen(rdb, NULL)`): a special-encoding tag in its place is
    /// read as its six bits, as Redis does.
    pub fn read_len(&mut self) -> Result<u64, RdbError> {
        Ok(match self.len_or_encoding()? {
            Len::Len(n) => n,
            Len::Encoded(e) => e as u64,
        })
    }

    /// A string (Redis's `rdbGenericLoadStringObject`).
    pub fn string(&mut self) -> Result<RdbString<'a>, RdbError> {
        let at = self.pos;
        match self.len_or_encoding()? {
            Len::Len(n) => {
                let n = usize::try_from(n)
                    .map_err(|_| RdbError::new(self.data.len(), ErrorKind::UnexpectedEof))?;
                Ok(RdbString::Raw(self.take(n)?))
            }
            Len::Encoded(ENC_INT8) => Ok(RdbString::Int(self.u8()? as i8 as i64)),
            Len::Encoded(ENC_INT16) => {
                Ok(RdbString::Int(i16::from_le_bytes(self.take_array()?) as i64))
            }
            Len::Encoded(ENC_INT32) => Ok(RdbString::Int(self.i32_le()? as i64)),
            Len::Encoded(ENC_LZF) => {
                let compressed_len = self.read_len()?;
                let len = self.read_len()?;
                let compressed_len = usize::try_from(compressed_len)
                    .map_err(|_| RdbError::new(self.data.len(), ErrorKind::UnexpectedEof))?;
                let blob = self.take(compressed_len)?;
                if len == 0 {
                    // liblzf returns 0 on any error and Redis compares with the expected 0.
                    return Ok(RdbString::Lzf(Vec::new()));
                }
                if len > (compressed_len as u64).saturating_mul(lzf::MAX_EXPANSION) {
                    return Err(self.err_at(at, ErrorKind::InvalidLzf));
                }
                lzf::decompress(blob, len as usize)
                    .map(RdbString::Lzf)
                    .ok_or_else(|| self.err_at(at, ErrorKind::InvalidLzf))
            }
            Len::Encoded(other) => {
                Err(self.err_at(at, ErrorKind::UnknownStringEncoding(other as u64)))
            }
        }
    }

    /// A string as owned bytes.
    pub fn string_vec(&mut self) -> Result<Vec<u8>, RdbError> {
        Ok(self.string()?.into_vec())
    }

    /// The old text form of a double (`rdbLoadDoubleValue`): a length byte (253 NaN, 254 +inf,
    /// 255 -inf), then that many characters parsed as `%lg`.
    pub fn text_double(&mut self) -> Result<f64, RdbError> {
        let at = self.pos;
        let len = self.u8()?;
        match len {
            255 => Ok(f64::NEG_INFINITY),
            254 => Ok(f64::INFINITY),
            253 => Ok(f64::NAN),
            n => {
                let text = self.take(n as usize)?;
                parse_double_prefix(text).ok_or_else(|| self.err_at(at, ErrorKind::UnexpectedEof))
            }
        }
    }
}

/// Parses a double the way `sscanf("%lg")` accepts it: leading spaces, then the longest prefix
/// that is a number. Redis only ever writes `%.17g` text here.
pub fn parse_double_prefix(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(text).ok()?;
    let s = s.trim_start();
    // Try the longest prefix that parses; texts are at most 255 bytes.
    (1..=s.len()).rev().filter(|&end| s.is_char_boundary(end)).find_map(|end| {
        let candidate = &s[..end];
        // Rust accepts "inf"/"infinity"/"nan" like strtod; reject a bare sign or exponent.
        candidate.parse::<f64>().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_in_every_width() {
        let mut r =
            Reader::new(&[0x3F, 0x40 | 0x01, 0x02, 0x80, 0, 0, 1, 0, 0x81, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(r.read_len().unwrap(), 63);
        assert_eq!(r.read_len().unwrap(), 0x102);
        assert_eq!(r.read_len().unwrap(), 0x100);
        assert_eq!(r.read_len().unwrap(), 1 << 32);
        assert_eq!(r.read_len().unwrap_err().kind, ErrorKind::UnexpectedEof);
        let mut r = Reader::new(&[0x82]);
        assert_eq!(r.read_len().unwrap_err().kind, ErrorKind::UnknownLengthEncoding(2));
    }

    #[test]
    fn strings_raw_int_and_lzf() {
        let mut r = Reader::new(&[
            0x03, b'a', b'b', b'c', 0xC0, 0x80, 0xC1, 0x00, 0x80, 0xC2, 1, 0, 0, 0x80,
        ]);
        assert_eq!(r.string().unwrap(), RdbString::Raw(b"abc"));
        assert_eq!(r.string().unwrap(), RdbString::Int(-128));
        assert_eq!(r.string().unwrap(), RdbString::Int(-32768));
        assert_eq!(r.string().unwrap(), RdbString::Int(-2147483647));
        let blob = lzf::compress(&[b'x'; 40], 36).unwrap();
        let mut bytes = vec![0xC3, blob.len() as u8, 40];
        bytes.extend_from_slice(&blob);
        assert_eq!(Reader::new(&bytes).string().unwrap(), RdbString::Lzf(vec![b'x'; 40]));
        // Claims far more output than the blob can expand to: refused before allocating.
        let mut huge = vec![0xC3, 0x01, 0x81, 0, 0, 0, 1, 0, 0, 0, 0, 0x00];
        huge.push(b'x');
        assert_eq!(Reader::new(&huge).string().unwrap_err().kind, ErrorKind::InvalidLzf);
        // A raw string longer than the input.
        assert_eq!(
            Reader::new(&[0x80, 0xFF, 0xFF, 0xFF, 0xFF, 1]).string().unwrap_err().kind,
            ErrorKind::UnexpectedEof
        );
        assert_eq!(
            Reader::new(&[0xC5]).string().unwrap_err().kind,
            ErrorKind::UnknownStringEncoding(5)
        );
    }

    #[test]
    fn text_doubles() {
        let mut r =
            Reader::new(&[253, 254, 255, 3, b'1', b'.', b'5', 5, b'-', b'1', b'e', b'+', b'2']);
        assert!(r.text_double().unwrap().is_nan());
        assert_eq!(r.text_double().unwrap(), f64::INFINITY);
        assert_eq!(r.text_double().unwrap(), f64::NEG_INFINITY);
        assert_eq!(r.text_double().unwrap(), 1.5);
        assert_eq!(r.text_double().unwrap(), -100.0);
    }
}
