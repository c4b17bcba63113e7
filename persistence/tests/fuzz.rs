//! Bounded fuzzing that runs with `cargo test`: mutated fixtures, mutated DUMP payloads (with
//! their checksum fixed up, so the value parsers see the damage) and random bytes go to the
//! file decoder and to `restore`. Nothing may panic, and no case may allocate more than a
//! fixed multiple of its input (a per-thread counting allocator measures the peak).
//! The unbounded versions are the cargo-fuzz targets in persistence/fuzz.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use mayfly_persistence::{
    crc64::crc64, decode_file, dump, restore, DecodeOptions, EncodeOptions, EncodingLimits,
};
use proptest::prelude::*;

mod support;

struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn note_alloc(n: usize) {
    let _ = LIVE.try_with(|l| {
        let now = l.get() + n;
        l.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

fn note_free(n: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(n)));
}

// SAFETY: forwards to the system allocator; the counters are plain thread-local cells.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_free(layout.size());
        // SAFETY: ptr came from System.alloc with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_free(layout.size());
        note_alloc(new_size);
        // SAFETY: ptr came from this allocator with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns the peak bytes it had allocated at once on this thread.
fn peak_of(f: impl FnOnce()) -> usize {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    f();
    PEAK.with(Cell::get).saturating_sub(base)
}

/// What a decode of `input_len` bytes may allocate: LZF can expand 88×, and values are
/// rebuilt from their encoded form (a few times their size) — never a claimed length.
fn budget(input_len: usize) -> usize {
    200 * input_len + (4 << 20)
}

fn fixtures() -> Vec<Vec<u8>> {
    let base = support::fixtures_dir();
    let mut out = Vec::new();
    for sub in ["rdb", "corrupt"] {
        let mut paths: Vec<_> = std::fs::read_dir(base.join(sub))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "rdb"))
            .collect();
        paths.sort();
        for p in paths {
            let bytes = std::fs::read(&p).unwrap();
            // The two big string fixtures make each case slow; their small siblings cover the
            // same code.
            if bytes.len() < 40_000 {
                out.push(bytes);
            }
        }
    }
    out
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip { at: usize, mask: u8 },
    Set { at: usize, byte: u8 },
    Truncate { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Remove { at: usize, len: usize },
    Duplicate { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        4 => (at, 1u8..=255).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        3 => (at, prop_oneof![Just(0u8), Just(0xFF), Just(0x80), Just(0xC3), Just(0xFE), any::<u8>()])
            .prop_map(|(at, byte)| Mutation::Set { at, byte }),
        1 => at.prop_map(|at| Mutation::Truncate { at }),
        1 => (at, proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (at, 1usize..32).prop_map(|(at, len)| Mutation::Remove { at, len }),
        1 => (at, 1usize..64).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
    ]
}

fn apply(data: &mut Vec<u8>, m: &Mutation) {
    if data.is_empty() {
        return;
    }
    let n = data.len();
    match m {
        Mutation::Flip { at, mask } => data[at % n] ^= mask,
        Mutation::Set { at, byte } => data[at % n] = *byte,
        Mutation::Truncate { at } => data.truncate(at % n),
        Mutation::Insert { at, bytes } => {
            let at = at % n;
            data.splice(at..at, bytes.iter().copied());
        }
        Mutation::Remove { at, len } => {
            let at = at % n;
            data.drain(at..(at + len).min(n));
        }
        Mutation::Duplicate { at, len } => {
            let at = at % n;
            let part: Vec<u8> = data[at..(at + len).min(n)].to_vec();
            data.splice(at..at, part);
        }
    }
}

fn decode_everything(bytes: &[u8]) {
    for verify_checksum in [false, true] {
        for deep_sanitize in [false, true] {
            let opts = DecodeOptions { verify_checksum, deep_sanitize, ..DecodeOptions::default() };
            let _ = decode_file(bytes, opts);
        }
    }
}

/// Wraps a value body in a valid DUMP footer.
fn with_footer(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&[10, 0]);
    let crc = crc64(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_fixtures_never_panic_or_overallocate(
        pick in any::<usize>(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let all = fixtures();
        let mut data = all[pick % all.len()].clone();
        for m in &mutations {
            apply(&mut data, m);
        }
        let peak = peak_of(|| decode_everything(&data));
        prop_assert!(peak <= budget(data.len()), "peak {peak} for {} bytes", data.len());
    }

    #[test]
    fn random_bytes_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        header in prop_oneof![Just(b"REDIS0010".to_vec()), Just(b"REDIS0009".to_vec()), Just(Vec::new())],
    ) {
        let mut file = header;
        file.extend_from_slice(&body);
        let peak = peak_of(|| decode_everything(&file));
        prop_assert!(peak <= budget(file.len()));
        let payload = with_footer(body.clone());
        let peak = peak_of(|| {
            let _ = restore(&payload, true, &EncodingLimits::default());
            let _ = restore(&payload, false, &EncodingLimits::default());
            let _ = restore(&body, false, &EncodingLimits::default());
        });
        prop_assert!(peak <= budget(payload.len()));
    }

    #[test]
    fn mutated_dump_payloads_never_panic(
        pick in any::<usize>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        // Payloads of assorted values: every key of the small fixtures, dumped.
        let all = fixtures();
        let file = decode_file(&all[pick % all.len()], DecodeOptions::default());
        let Ok(file) = file else { return Ok(()) };
        for k in file.keys.iter().take(8) {
            let payload = dump(&k.value, &EncodeOptions::default());
            let mut body = payload[..payload.len() - 10].to_vec();
            for m in &mutations {
                apply(&mut body, m);
            }
            let damaged = with_footer(body);
            let peak = peak_of(|| {
                let _ = restore(&damaged, true, &EncodingLimits::default());
                let _ = restore(&damaged, false, &EncodingLimits::default());
            });
            prop_assert!(peak <= budget(damaged.len()), "peak {peak}");
        }
    }
}

/// Claimed lengths far beyond the input are refused before any allocation of that size.
#[test]
fn huge_claimed_lengths_do_not_allocate() {
    let cases: Vec<Vec<u8>> = vec![
        // A 4 GiB raw string.
        [&b"REDIS0010\x00\x01k\x80\xff\xff\xff\xff"[..], b"abc"].concat(),
        // A 2^64-element list, set, zset, hash and quicklist.
        [&b"REDIS0010\x01\x01k\x81"[..], &[0xFF; 8], b"\x01a"].concat(),
        [&b"REDIS0010\x02\x01k\x81"[..], &[0xFF; 8], b"\x01a"].concat(),
        [&b"REDIS0010\x05\x01k\x81"[..], &[0xFF; 8], b"\x01a"].concat(),
        [&b"REDIS0010\x04\x01k\x81"[..], &[0xFF; 8], b"\x01a\x01b"].concat(),
        [&b"REDIS0010\x12\x01k\x81"[..], &[0xFF; 8], b"\x02\x01a"].concat(),
        // An LZF string claiming 4 GiB from 3 bytes.
        b"REDIS0010\x00\x01k\xc3\x03\x80\xff\xff\xff\xff\x00ab".to_vec(),
        // A stream with 2^32 nodes and groups.
        [&b"REDIS0010\x13\x01k\x80"[..], &[0xFF; 4]].concat(),
    ];
    for case in cases {
        let peak = peak_of(|| {
            let err = decode_file(&case, DecodeOptions::default()).unwrap_err();
            assert!(err.offset as usize <= case.len());
        });
        assert!(peak < 1 << 20, "peak {peak} for {case:?}");
    }
}
