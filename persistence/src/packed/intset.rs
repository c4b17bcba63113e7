//! Intsets (RDB type 11): `[encoding u32 LE: 2|4|8][length u32 LE] value*`, values little
//! endian in the encoding's width, strictly ascending.

const HEADER_SIZE: usize = 8;

/// Validates `buf` as an intset (deeply: sorted, no duplicates, not empty) and returns its
/// members; `None` when malformed (Redis's `intsetValidateIntegrity`).
pub fn parse(buf: &[u8]) -> Option<Vec<i64>> {
    if buf.len() < HEADER_SIZE {
        return None;
    }
    let width = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return None;
    }
    let count = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    if HEADER_SIZE as u64 + count as u64 * width as u64 != buf.len() as u64 || count == 0 {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    for chunk in buf[HEADER_SIZE..].chunks_exact(width) {
        let v = match width {
            2 => i16::from_le_bytes([chunk[0], chunk[1]]) as i64,
            4 => i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as i64,
            _ => {
                let mut raw = [0u8; 8];
                raw.copy_from_slice(chunk);
                i64::from_le_bytes(raw)
            }
        };
        if out.last().is_some_and(|&prev| v <= prev) {
            return None;
        }
        out.push(v);
    }
    Some(out)
}

/// Encodes ascending, distinct `values` in the narrowest width that holds them all (what an
/// intset that only ever grew to these values holds).
pub fn encode(values: &[i64]) -> Vec<u8> {
    let width: usize = if values.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if values.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(HEADER_SIZE + width * values.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for &v in values {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_each_width() {
        for values in [vec![1i64, 2, 3], vec![-40000, 0, 70000], vec![i64::MIN, 0, i64::MAX]] {
            let blob = encode(&values);
            assert_eq!(parse(&blob), Some(values.clone()));
        }
        assert_eq!(encode(&[1, 2])[0], 2);
        assert_eq!(encode(&[1, 1 << 20])[0], 4);
        assert_eq!(encode(&[1, 1 << 40])[0], 8);
    }

    #[test]
    fn rejects_unsorted_duplicate_empty_and_bad_sizes() {
        assert!(parse(&encode(&[3, 2])).is_none());
        assert!(parse(&encode(&[2, 2])).is_none());
        assert!(parse(&encode(&[])).is_none());
        let mut bad = encode(&[1, 2]);
        bad[0] = 3;
        assert!(parse(&bad).is_none());
        let good = encode(&[1, 2, 3]);
        assert!(parse(&good[..good.len() - 1]).is_none());
        let mut long = good.clone();
        long[4] = 0xFF;
        assert!(parse(&long).is_none());
    }
}
