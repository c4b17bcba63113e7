//! CRC-64/Jones, the checksum Redis puts after an RDB file's EOF opcode and at the end of a
//! DUMP payload (Redis's `crc64.c`: polynomial 0xad93d23594c935a9, reflected input and output,
//! initial value 0, no final xor; the check value of "123456789" is 0xe9c6d914c4b8d9ca).
//!
//! Buffers of 128 bytes or more go to the `crc-fast` crate (carry-less multiplication folding,
//! ~28 GiB/s here, against ~0.9 GiB/s for a table): at EOF the loader checksums the whole
//! file in one pass, so this is most of the CRC's cost on a large load. Shorter buffers (DUMP
//! payloads of small values) use an own slicing-by-8 table, which is faster there and is also
//! the reference the crate is tested against. docs/decisions/0004-rdb-codec.md has the figures.

/// The bit-reflected form of Jones's polynomial 0xad93d23594c935a9.
const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

const fn build_tables() -> [[u64; 256]; 8] {
    let mut tables = [[0u64; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ POLY_REFLECTED } else { crc >> 1 };
            bit += 1;
        }
        tables[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[k - 1][i];
            tables[k][i] = (prev >> 8) ^ tables[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    tables
}

static TABLES: [[u64; 256]; 8] = build_tables();

/// Below this many bytes the table is faster than the SIMD crate's setup.
const SIMD_FROM_BYTES: usize = 128;

/// The CRC-64/Jones of `data` (Redis's `crc64(0, p, len)`).
pub fn crc64(data: &[u8]) -> u64 {
    if data.len() >= SIMD_FROM_BYTES {
        crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Redis, data)
    } else {
        crc64_table(0, data)
    }
}

/// Continues a CRC-64/Jones over `data` from `crc` with the table alone.
pub fn crc64_table(crc: u64, data: &[u8]) -> u64 {
    let t = &TABLES;
    let mut crc = crc;
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = crc ^ u64::from_le_bytes(word);
        crc = t[7][(v & 0xff) as usize]
            ^ t[6][((v >> 8) & 0xff) as usize]
            ^ t[5][((v >> 16) & 0xff) as usize]
            ^ t[4][((v >> 24) & 0xff) as usize]
            ^ t[3][((v >> 32) & 0xff) as usize]
            ^ t[2][((v >> 40) & 0xff) as usize]
            ^ t[1][((v >> 48) & 0xff) as usize]
            ^ t[0][(v >> 56) as usize];
    }
    for &b in chunks.remainder() {
        crc = t[0][((crc ^ b as u64) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// A running CRC-64/Jones over data that arrives in pieces (the encoder's flushes).
#[derive(Clone)]
pub struct Crc64 {
    digest: crc_fast::Digest,
}

impl Default for Crc64 {
    fn default() -> Self {
        Crc64::new()
    }
}

impl std::fmt::Debug for Crc64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crc64({:016x})", self.value())
    }
}

impl Crc64 {
    pub fn new() -> Crc64 {
        Crc64 { digest: crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Redis) }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.digest.update(data);
    }

    pub fn value(&self) -> u64 {
        self.digest.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-at-a-time reference, straight from the definition.
    fn reference(data: &[u8]) -> u64 {
        let mut crc = 0u64;
        for &b in data {
            crc ^= b as u64;
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ POLY_REFLECTED } else { crc >> 1 };
            }
        }
        crc
    }

    #[test]
    fn check_value_matches_redis() {
        // Redis's crc64.c self-test: crc64(0, "123456789") == e9c6d914c4b8d9ca.
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        assert_eq!(crc64_table(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        assert_eq!(crc64(b""), 0);
    }

    #[test]
    fn sliced_equals_bitwise_for_every_alignment() {
        let data: Vec<u8> = (0..600u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        for start in 0..9 {
            for end in (start..data.len()).step_by(7) {
                assert_eq!(crc64_table(0, &data[start..end]), reference(&data[start..end]));
                assert_eq!(crc64(&data[start..end]), reference(&data[start..end]));
            }
        }
    }

    #[test]
    fn incremental_equals_one_shot() {
        let data = b"Redis is an in-memory data structure store, used as a database.";
        let mut running = Crc64::new();
        for part in data.chunks(5) {
            running.update(part);
        }
        assert_eq!(running.value(), crc64(data));
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut running = Crc64::new();
        for part in big.chunks(4093) {
            running.update(part);
        }
        assert_eq!(running.value(), crc64(&big));
        assert_eq!(crc64(&big), crc64_table(0, &big));
    }
}
