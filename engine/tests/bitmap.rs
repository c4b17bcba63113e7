//! Bitmap family tests (SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO).
//!
//! - A golden transcript recorded from redis-server 7.0.15 (`data/bitmap_redis7.txt`, lines
//!   `command => reply` in the notation of `support/redis_oracle.rs`) is replayed on a fresh
//!   shard and compared reply for reply. To re-record it against a live server:
//!   `BITMAP_SCRIPT=<file of commands> cargo test --test bitmap record_transcript -- --ignored
//!   --nocapture` and keep the output lines containing ` => `.
//! - A proptest drives SETBIT/GETBIT/BITCOUNT/BITPOS against a plain `Vec<bool>` model.
//! - When `redis-server` is installed, a seeded random command stream runs on a private server
//!   and on Mayfly side by side and every reply must match.

#[path = "support/commands.rs"]
mod commands;
#[path = "support/redis_oracle.rs"]
mod redis_oracle;
#[path = "support/xorshift.rs"]
mod xorshift;

use bytes::Bytes;
use commands::assert_changes;
use mayfly_engine::command::{flags, MultiShard};
use mayfly_engine::reply::Reply;
use mayfly_engine::testing::{bulk, TestShard};
use mayfly_engine::value::Value;
use proptest::prelude::*;
use redis_oracle::{escape, notation, replay_notation, RedisOracle};
use xorshift::XorShift;

const TRANSCRIPT: &str = include_str!("data/bitmap_redis7.txt");

/// Runs a command; RPUSH (list family, not needed here) only makes a key of another type.
fn execute(t: &mut TestShard, argv: &[Bytes]) -> Reply {
    if argv[0].eq_ignore_ascii_case(b"RPUSH") {
        let mut ctx = t.shard.ctx(t.db, false);
        if ctx.exists(&argv[1]) {
            return Reply::error(
                "WRONGTYPE Operation against a key holding the wrong kind of value",
            );
        }
        ctx.set_value(&argv[1], Value::List(Box::default()), 0);
        return Reply::Int(1);
    }
    t.run_bytes(argv)
}

#[test]
fn transcript_matches_redis() {
    let mut t = TestShard::new();
    replay_notation(TRANSCRIPT, 250, |argv| execute(&mut t, argv));
}

/// Records the transcript of the commands in `$BITMAP_SCRIPT` from a live redis-server.
#[test]
#[ignore = "recording tool: needs redis-server and BITMAP_SCRIPT"]
fn record_transcript() {
    redis_oracle::record_transcript("BITMAP_SCRIPT", RedisOracle::run_bytes);
}

#[test]
fn table_entries() {
    let spec = |name: &str| mayfly_engine::lookup(name.as_bytes()).expect(name);
    assert_eq!(spec("setbit").arity, 4);
    assert!(spec("setbit").has(flags::WRITE) && spec("setbit").has(flags::DENYOOM));
    assert!(spec("getbit").has(flags::READONLY) && spec("getbit").has(flags::FAST));
    assert_eq!(spec("bitcount").arity, -2);
    assert_eq!(spec("bitpos").arity, -3);
    let bitop = spec("bitop");
    assert_eq!((bitop.arity, bitop.first_key, bitop.last_key), (-4, 2, -1));
    assert_eq!(bitop.multi, MultiShard::Gather);
    assert_eq!(bitop.key_indexes(5), vec![2, 3, 4]);
    assert!(spec("bitfield").has(flags::WRITE));
    assert!(spec("bitfield_ro").has(flags::READONLY));
    assert_eq!(spec("bitfield_ro").key_indexes(5), vec![1]);
}

#[test]
fn offset_limit_follows_proto_max_bulk_len() {
    let mut t = TestShard::new();
    t.shard.config.proto_max_bulk_len = 1024 * 1024;
    let err = Reply::error("ERR bit offset is not an integer or out of range");
    assert_eq!(t.run(&["SETBIT", "k", "8388608", "1"]), err);
    assert_eq!(t.run(&["GETBIT", "k", "8388608"]), err);
    assert_eq!(t.run(&["BITFIELD", "k", "GET", "u8", "8388608"]), err);
    assert_eq!(t.run(&["SETBIT", "k", "8388607", "1"]), Reply::Int(0));
    assert_eq!(t.run(&["STRLEN", "k"]), Reply::Int(1024 * 1024));
    assert_eq!(t.run(&["BITCOUNT", "k"]), Reply::Int(1));
    assert_eq!(t.run(&["BITPOS", "k", "1"]), Reply::Int(8388607));
}

#[test]
fn bit_writes_keep_the_ttl_and_store_bytes() {
    let mut t = TestShard::new();
    assert_eq!(t.run(&["SET", "k", "12", "PX", "5000"]), Reply::ok());
    assert_eq!(t.run(&["OBJECT", "ENCODING", "k"]), bulk("int"));
    assert_eq!(t.run(&["SETBIT", "k", "7", "1"]), Reply::Int(1));
    assert_ne!(t.run(&["OBJECT", "ENCODING", "k"]), bulk("int"));
    assert_eq!(t.run(&["PTTL", "k"]), Reply::Int(5000));
    assert_eq!(
        t.run(&["BITFIELD", "k", "SET", "u8", "0", "65"]),
        Reply::Array(vec![Reply::Int(49)])
    );
    assert_eq!(t.run(&["GET", "k"]), bulk("A2"));
    t.advance_ms(5000);
    assert_eq!(t.run(&["GETBIT", "k", "1"]), Reply::Int(0));
    assert_eq!(t.run(&["EXISTS", "k"]), Reply::Int(0));
}

// ---------------------------------------------------------------------------------------------
// Model test.

/// BITPOS's optional `start [end [BYTE|BIT]]`; the unit is `Some(true)` for BIT.
type PosRange = Option<(i64, Option<(i64, Option<bool>)>)>;

#[derive(Debug, Clone)]
enum Op {
    SetBit(u64, bool),
    GetBit(u64),
    Count(Option<(i64, i64, Option<bool>)>),
    Pos(bool, PosRange),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let unit = prop::option::of(any::<bool>());
    prop_oneof![
        3 => (0u64..160, any::<bool>()).prop_map(|(o, b)| Op::SetBit(o, b)),
        1 => (0u64..200).prop_map(Op::GetBit),
        2 => prop::option::of((-30i64..30, -30i64..30, unit.clone())).prop_map(Op::Count),
        3 => (
            any::<bool>(),
            prop::option::of((-30i64..30, prop::option::of((-30i64..30, unit))))
        )
            .prop_map(|(b, r)| Op::Pos(b, r)),
    ]
}

/// Redis's range normalisation in the given unit; `None` for an empty range.
fn model_range(start: i64, end: i64, total: i64) -> Option<(i64, i64)> {
    let fix = |i: i64| if i < 0 { (i + total).max(0) } else { i };
    let (s, e) = (fix(start), fix(end).min(total - 1));
    (s <= e).then_some((s, e))
}

/// Converts a range to bit positions: BYTE ranges cover whole bytes.
fn bit_span(range: (i64, i64), is_bit: bool) -> (i64, i64) {
    if is_bit {
        range
    } else {
        (range.0 * 8, range.1 * 8 + 7)
    }
}

fn model_count(bits: &[bool], arg: Option<(i64, i64, Option<bool>)>) -> i64 {
    let bytes = bits.len() as i64 / 8;
    let (lo, hi) = match arg {
        None => match model_range(0, bytes - 1, bytes) {
            Some(r) => bit_span(r, false),
            None => return 0,
        },
        Some((s, e, unit)) => {
            if s < 0 && e < 0 && s > e {
                return 0;
            }
            let is_bit = unit == Some(true);
            let total = if is_bit { bytes * 8 } else { bytes };
            match model_range(s, e, total) {
                Some(r) => bit_span(r, is_bit),
                None => return 0,
            }
        }
    };
    bits[lo as usize..=hi as usize].iter().filter(|b| **b).count() as i64
}

fn model_pos(bits: &[bool], bit: bool, arg: PosRange) -> i64 {
    let bytes = bits.len() as i64 / 8;
    let (range, end_given) = match arg {
        None => (model_range(0, bytes - 1, bytes).map(|r| bit_span(r, false)), false),
        Some((s, None)) => (model_range(s, bytes - 1, bytes).map(|r| bit_span(r, false)), false),
        Some((s, Some((e, unit)))) => {
            let is_bit = unit == Some(true);
            let total = if is_bit { bytes * 8 } else { bytes };
            (model_range(s, e, total).map(|r| bit_span(r, is_bit)), true)
        }
    };
    let Some((lo, hi)) = range else { return -1 };
    match (lo..=hi).find(|&i| bits[i as usize] == bit) {
        Some(i) => i,
        // Past the string's end it reads as zeros, unless the caller bounded the range.
        None if !bit && !end_given => hi + 1,
        None => -1,
    }
}

fn pos_args(bit: bool, arg: &PosRange) -> Vec<String> {
    let mut v = vec!["BITPOS".to_string(), "k".into(), (bit as u8).to_string()];
    if let Some((s, end)) = arg {
        v.push(s.to_string());
        if let Some((e, unit)) = end {
            v.push(e.to_string());
            if let Some(u) = unit {
                v.push(if *u { "BIT" } else { "BYTE" }.into());
            }
        }
    }
    v
}

fn run_strings(t: &mut TestShard, args: &[String]) -> Reply {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    t.run(&refs)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn bits_match_a_vec_bool_model(ops in prop::collection::vec(op_strategy(), 1..60)) {
        let mut t = TestShard::new();
        let mut model: Option<Vec<bool>> = None;
        for op in ops {
            match op {
                Op::SetBit(offset, on) => {
                    let m = model.get_or_insert_with(Vec::new);
                    let need = ((offset / 8 + 1) * 8) as usize;
                    if m.len() < need {
                        m.resize(need, false);
                    }
                    let old = std::mem::replace(&mut m[offset as usize], on);
                    let got = t.run(&["SETBIT", "k", &offset.to_string(), if on { "1" } else { "0" }]);
                    prop_assert_eq!(got, Reply::Int(old as i64));
                }
                Op::GetBit(offset) => {
                    let want = model.as_ref().and_then(|m| m.get(offset as usize).copied()).unwrap_or(false);
                    prop_assert_eq!(t.run(&["GETBIT", "k", &offset.to_string()]), Reply::Int(want as i64));
                }
                Op::Count(arg) => {
                    let want = model.as_ref().map_or(0, |m| model_count(m, arg));
                    let mut args = vec!["BITCOUNT".to_string(), "k".into()];
                    if let Some((s, e, unit)) = arg {
                        args.push(s.to_string());
                        args.push(e.to_string());
                        if let Some(u) = unit {
                            args.push(if u { "BIT" } else { "BYTE" }.into());
                        }
                    }
                    prop_assert_eq!(run_strings(&mut t, &args), Reply::Int(want), "{:?}", args);
                }
                Op::Pos(bit, arg) => {
                    let want = match &model {
                        None => if bit { -1 } else { 0 },
                        Some(m) => model_pos(m, bit, arg),
                    };
                    let args = pos_args(bit, &arg);
                    prop_assert_eq!(run_strings(&mut t, &args), Reply::Int(want), "{:?}", args);
                }
            }
        }
        if let Some(m) = &model {
            let mut bytes = vec![0u8; m.len() / 8];
            for (i, _) in m.iter().enumerate().filter(|(_, b)| **b) {
                bytes[i / 8] |= 0x80 >> (i % 8);
            }
            prop_assert_eq!(t.run(&["GET", "k"]), Reply::Bulk(Bytes::from(bytes)));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Live differential test against redis-server.

fn random_command(r: &mut XorShift) -> Vec<Bytes> {
    let keys = ["a", "b", "c", "i"];
    let key = r.pick(&keys).to_string();
    let s = |v: &str| Bytes::copy_from_slice(v.as_bytes());
    let unit = |r: &mut XorShift| r.pick(&["BIT", "BYTE", "bit"]).to_string();
    let mut v: Vec<String> = match r.below(11) {
        0 | 1 => vec!["SETBIT".into(), key, r.below(90).to_string(), r.below(2).to_string()],
        2 => vec!["GETBIT".into(), key, r.below(100).to_string()],
        3 => {
            let mut v = vec!["BITCOUNT".into(), key];
            if r.below(4) > 0 {
                v.push(r.signed(20).to_string());
                v.push(r.signed(20).to_string());
                if r.below(2) == 0 {
                    v.push(unit(r));
                }
            }
            v
        }
        4 | 5 => {
            let mut v = vec!["BITPOS".into(), key, r.below(2).to_string()];
            let n = r.below(4);
            if n >= 1 {
                v.push(r.signed(20).to_string());
            }
            if n >= 2 {
                v.push(r.signed(20).to_string());
            }
            if n >= 3 {
                v.push(unit(r));
            }
            v
        }
        6 => {
            let op = r.pick(&["AND", "OR", "XOR", "NOT"]).to_string();
            let n = if op == "NOT" { 1 } else { 1 + r.below(3) };
            let mut v = vec!["BITOP".into(), op, key];
            for _ in 0..n {
                v.push(r.pick(&keys).to_string());
            }
            v
        }
        7 | 8 => {
            let mut v = vec!["BITFIELD".into(), key];
            for _ in 0..1 + r.below(3) {
                if r.below(4) == 0 {
                    v.push("OVERFLOW".into());
                    v.push(r.pick(&["WRAP", "SAT", "FAIL"]).into());
                }
                let signed = r.below(2) == 0;
                let bits = if signed { 1 + r.below(64) } else { 1 + r.below(63) };
                let ty = format!("{}{bits}", if signed { 'i' } else { 'u' });
                let offset = if r.below(4) == 0 {
                    format!("#{}", r.below(3))
                } else {
                    r.below(40).to_string()
                };
                match r.below(3) {
                    0 => v.extend(["GET".into(), ty, offset]),
                    1 => v.extend(["SET".into(), ty, offset, r.signed(1 << 20).to_string()]),
                    _ => {
                        let incr = match r.below(3) {
                            0 => r.signed(300),
                            1 => r.next() as i64,
                            _ => r.signed(1 << 40),
                        };
                        v.extend(["INCRBY".into(), ty, offset, incr.to_string()])
                    }
                }
            }
            v
        }
        9 => {
            let n = r.below(6);
            let bytes: Vec<u8> =
                (0..n).map(|_| r.pick(&["\x00", "\u{7f}", "1", "7"]).as_bytes()[0]).collect();
            let mut v: Vec<Bytes> = vec![s("SET"), s(&key), Bytes::from(bytes)];
            if key == "i" {
                v[2] = s(&r.signed(1000).to_string());
            }
            return v;
        }
        _ => vec!["GET".into(), key],
    };
    v.shrink_to_fit();
    v.iter().map(|a| s(a)).collect()
}

#[test]
fn random_commands_match_live_redis() {
    let Some(mut oracle) = RedisOracle::start() else { return };
    let mut t = TestShard::new();
    let mut r = XorShift(0x9e37_79b9_7f4a_7c15);
    // What the stream reached, so a degenerate generator cannot pass silently.
    let (mut errors, mut nils, mut positions) = (0, 0, 0);
    for i in 0..4000 {
        let argv = random_command(&mut r);
        let want = oracle.run_bytes(&argv);
        let got = t.run_bytes(&argv);
        let shown: Vec<String> = argv.iter().map(|a| escape(a)).collect();
        assert_eq!(notation(&got), notation(&want), "command {i}: {}", shown.join(" "));
        errors += want.is_error() as usize;
        nils += notation(&want).contains("NIL") as usize;
        positions += (argv[0] == "BITPOS" && matches!(want, Reply::Int(n) if n > 0)) as usize;
    }
    assert!(errors < 400, "{errors} errors: the stream is mostly invalid");
    assert!(nils > 20, "BITFIELD FAIL overflows seen: {nils}");
    assert!(positions > 100, "BITPOS hits: {positions}");
}

/// Change counting (`dirty`, INFO's `rdb_changes_since_last_save`) as redis-server 7.0.15
/// counted the same sequence: a write counts when it alters bits or creates/grows the string.
#[test]
fn writes_count_changes_like_redis() {
    let mut t = TestShard::new();
    assert_changes(&mut t, &["BITFIELD", "f2", "SET", "i5", "0", "0", "SET", "i5", "0", "0"], 2);
    assert_changes(&mut t, &["BITFIELD", "f2", "SET", "i5", "0", "0"], 0);
    assert_changes(
        &mut t,
        &["BITFIELD", "f2", "SET", "i5", "0", "1", "SET", "i5", "0", "1", "SET", "i5", "0", "2"],
        2,
    );
    assert_changes(
        &mut t,
        &["BITFIELD", "f2", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "300", "GET", "u8", "0"],
        0,
    );
    assert_changes(
        &mut t,
        &["BITFIELD", "f2", "SET", "u8", "100", "0", "SET", "u8", "100", "0"],
        2,
    );
    assert_changes(&mut t, &["BITFIELD", "f2", "INCRBY", "u8", "0", "0"], 0);
    assert_changes(&mut t, &["BITFIELD", "f2", "INCRBY", "u8", "0", "1", "GET", "u8", "0"], 1);
    assert_changes(&mut t, &["SETBIT", "f3", "0", "0"], 1);
    assert_changes(&mut t, &["SETBIT", "f3", "0", "0"], 0);
    assert_changes(&mut t, &["SETBIT", "f3", "0", "1"], 1);
    assert_changes(&mut t, &["SETBIT", "f3", "90", "0"], 1);
    assert_changes(&mut t, &["BITFIELD_RO", "f3", "GET", "u8", "0"], 0);
}
