//! SORT / SORT_RO tests.
//!
//! - A golden transcript recorded from redis-server 7.0.15 (`data/sort_redis7.txt`, lines
//!   `command => reply` in the notation of `support/redis_oracle.rs`): the cases of Redis's
//!   `unit/sort.tcl` and more (hash fields, several GETs, ties in ALPHA BY sorts with LIMIT,
//!   which follow `pqsort`, weights that do not parse, NUL bytes in patterns, stores, the
//!   sorted-set encoding change). To re-record: `SORT_SCRIPT=<file of commands> cargo test
//!   --test sort record_transcript -- --ignored --nocapture`, keep the lines with ` => `.
//! - When `redis-server` is installed: random lists, weights and options run on a private
//!   server and on Mayfly side by side, every reply compared.
//! - Keyspace events, change counting, key positions, and a KeyReader that serves keys the
//!   shard does not hold (the path a cross-shard SORT takes).

#[path = "support/redis_oracle.rs"]
mod redis_oracle;
#[path = "support/xorshift.rs"]
mod xorshift;

use bytes::Bytes;
use mayfly_engine::reply::Reply;
use mayfly_engine::testing::TestShard;
use redis_oracle::{escape, notation, replay_notation, RedisOracle};
use xorshift::XorShift;

const TRANSCRIPT: &str = include_str!("data/sort_redis7.txt");

#[test]
fn transcript_matches_redis() {
    let mut t = TestShard::new();
    replay_notation(TRANSCRIPT, 150, |argv| t.run_bytes(argv));
}

/// Records the transcript of the commands in `$SORT_SCRIPT` from a live redis-server.
#[test]
#[ignore = "recording tool: needs redis-server and SORT_SCRIPT"]
fn record_transcript() {
    redis_oracle::record_transcript("SORT_SCRIPT", RedisOracle::run_bytes);
}

// ---------------------------------------------------------------------------------------------
// Random streams against a live redis-server.

/// An element: small integers (often repeated), decimals, words.
fn element(r: &mut XorShift) -> String {
    match r.below(40) {
        0 => r.pick(&["a", "b", "ab", "B", "z", "10", "-3", "+4", " 7", ""]).to_string(),
        1 => format!("e{}", r.below(30)),
        2..=15 => format!("{}.{}", r.signed(50), r.below(100)),
        _ => r.below(20).to_string(),
    }
}

/// A weight: numbers (equal ones common), and now and then text that does not parse.
fn weight(r: &mut XorShift) -> String {
    match r.below(80) {
        0 => r.pick(&["x", "1.5.2", "nan", " 3 ", "inf", "-inf", "0x1f"]).to_string(),
        1..=30 => r.below(5).to_string(),
        31 => String::new(),
        _ => format!("{:.3}", r.signed(10_000) as f64 / 7.0),
    }
}

/// Options for a SORT of `key`; `ties_ok` when ties in ALPHA BY sorts have a defined order
/// (lists: Redis's order for sets and sorted sets depends on their hash tables).
fn sort_options(r: &mut XorShift, ties_ok: bool, readonly: bool) -> Vec<String> {
    let mut v = Vec::new();
    let by = match r.below(6) {
        0 => Some("w_*"),
        1 => Some("h_*->f"),
        2 => Some("nosort"),
        3 if ties_ok => Some("nokey_*"),
        _ => None,
    };
    if let Some(by) = by {
        v.extend(["BY".to_string(), by.to_string()]);
    }
    let alpha = r.below(3) == 0 && (ties_ok || by.is_none() || by == Some("nosort"));
    if alpha {
        v.push("ALPHA".into());
    }
    match r.below(3) {
        0 => v.push("DESC".into()),
        1 => v.push("ASC".into()),
        _ => {}
    }
    if r.below(2) == 0 {
        v.extend(["LIMIT".to_string(), r.signed(6).to_string(), r.signed(8).to_string()]);
    }
    for _ in 0..r.below(3) {
        v.push("GET".into());
        v.push(r.pick(&["#", "w_*", "h_*->f", "h_*->g", "missing_*", "const"]).into());
    }
    if !readonly && r.below(4) == 0 {
        v.extend(["STORE".to_string(), "dst".to_string()]);
    }
    v
}

#[test]
fn random_sorts_match_live_redis() {
    let Some(mut oracle) = RedisOracle::start() else { return };
    let mut t = TestShard::new();
    let mut r = XorShift(0x50f7_50f7_1234_5678);
    let mut same = |argv: Vec<String>, i: usize| {
        let argv: Vec<Bytes> = argv.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect();
        let want = oracle.run_bytes(&argv);
        let got = t.run_bytes(&argv);
        let shown: Vec<String> = argv.iter().map(|a| escape(a)).collect();
        assert_eq!(notation(&got), notation(&want), "command {i}: {}", shown.join(" "));
        want
    };
    let (mut errors, mut sorted, mut stored) = (0, 0, 0);
    for round in 0..60 {
        same(vec!["FLUSHALL".into()], round);
        let n = r.below(40) as usize;
        let elements: Vec<String> = (0..n).map(|_| element(&mut r)).collect();
        if n > 0 {
            let mut push = vec!["RPUSH".to_string(), "l".to_string()];
            push.extend(elements.iter().cloned());
            same(push, round);
            // An intset (distinct small integers) and a sorted set of the same elements.
            let mut sadd = vec!["SADD".to_string(), "s".to_string()];
            sadd.extend((0..n).map(|i| (i * 7 % 50).to_string()));
            same(sadd, round);
            let mut zadd = vec!["ZADD".to_string(), "z".to_string()];
            for (i, e) in elements.iter().enumerate() {
                zadd.extend([(i % 5).to_string(), e.clone()]);
            }
            same(zadd, round);
        }
        for e in elements.iter().chain(["1", "7", "14"].map(String::from).iter()) {
            if r.below(5) != 0 {
                same(vec!["SET".into(), format!("w_{e}"), weight(&mut r)], round);
            }
            if r.below(3) != 0 {
                same(vec!["HSET".into(), format!("h_{e}"), "f".into(), weight(&mut r)], round);
            }
        }
        for i in 0..40 {
            let (key, ties_ok) = match r.below(4) {
                0 => ("s", false),
                1 => ("z", false),
                _ => ("l", true),
            };
            let readonly = r.below(4) == 0;
            let mut argv = vec![if readonly { "SORT_RO" } else { "SORT" }.to_string(), key.into()];
            let opts = sort_options(&mut r, ties_ok, readonly);
            // A set sorted by nothing and not stored comes out in hash-table order.
            let unordered_set = key == "s"
                && opts.iter().any(|o| o == "nosort")
                && !opts.iter().any(|o| o == "STORE");
            let stores = opts.iter().any(|o| o == "STORE");
            argv.extend(opts);
            if unordered_set {
                continue;
            }
            let want = same(argv, round * 100 + i);
            errors += want.is_error() as usize;
            sorted += matches!(&want, Reply::Array(a) if a.len() > 2) as usize;
            if stores {
                stored += 1;
                same(vec!["LRANGE".into(), "dst".into(), "0".into(), "-1".into()], i);
            }
        }
    }
    assert!(errors < 500, "{errors} errors: the stream is mostly invalid");
    assert!(sorted > 500, "sorts with several results: {sorted}");
    assert!(stored > 200, "stores: {stored}");
}

// ---------------------------------------------------------------------------------------------
// Events, changes, keys, and pattern keys read from elsewhere.

fn events(t: &mut TestShard) -> Vec<String> {
    t.shard
        .take_events()
        .iter()
        .filter(|e| e.keyevent)
        .map(|e| format!("{} {}", e.event, String::from_utf8_lossy(&e.key)))
        .collect()
}

/// The events Redis 7.0.15 raised for the same commands (`notify-keyspace-events KEAm`):
/// `sortstore` for a stored result, `del` for an empty one, `keymiss` per missing key a
/// pattern or the sorted key names, in the order Redis looks them up.
#[test]
fn events_match_redis() {
    let mut config = mayfly_engine::config::Config::default();
    config.set("notify-keyspace-events", "KEAm").expect("flags");
    let mut t = TestShard::with_config(config);
    let steps: &[(&str, &[&str])] = &[
        ("RPUSH l 2 1", &["rpush l"]),
        ("SET w_1 5", &["set w_1"]),
        ("SORT l BY w_* GET nokey_* GET #", &["keymiss w_2", "keymiss nokey_2", "keymiss nokey_1"]),
        ("SORT nolist BY w_*", &["keymiss nolist"]),
        ("SORT l BY nosort LIMIT 0 1 GET w_*", &["keymiss w_2"]),
        ("SORT l STORE s", &["sortstore s"]),
        ("SORT l LIMIT 0 0 STORE s", &["del s"]),
        ("SORT l LIMIT 0 0 STORE s", &[]),
        ("SORT_RO l", &[]),
    ];
    for (cmd, want) in steps {
        let argv: Vec<&str> = cmd.split(' ').collect();
        t.run(&argv);
        assert_eq!(events(&mut t), *want, "{cmd}");
    }
}

/// A store counts one change per stored element, as Redis's `server.dirty += outputlen`.
#[test]
fn stores_count_changes_per_element() {
    let mut t = TestShard::new();
    t.run(&["RPUSH", "l", "3", "1", "2"]);
    let before = t.shard.dirty;
    assert_eq!(t.run(&["SORT", "l", "GET", "#", "GET", "w_*", "STORE", "d"]), Reply::Int(6));
    assert_eq!(t.shard.dirty - before, 6);
    assert_eq!(t.run(&["SORT_RO", "l"]), Reply::bulks(["1", "2", "3"]));
    assert_eq!(t.shard.dirty - before, 6);
}

fn args(s: &str) -> Vec<Bytes> {
    s.split(' ').map(|a| Bytes::copy_from_slice(a.as_bytes())).collect()
}

#[test]
fn table_declares_store_as_a_key() {
    let sort = mayfly_engine::lookup(b"sort").expect("sort");
    assert_eq!(sort.keys_of(&args("SORT k STORE a LIMIT 0 1 STORE b")), vec![1, 8]);
    assert_eq!(sort.keys_of(&args("SORT k BY store GET store")), vec![1]);
    assert_eq!(sort.keys_of(&args("SORT k")), vec![1]);
    let ro = mayfly_engine::lookup(b"sort_ro").expect("sort_ro");
    assert_eq!(ro.keys_of(&args("SORT_RO k STORE a")), vec![1]);
    assert_eq!(
        sort.acl_categories(),
        vec!["@write", "@set", "@sortedset", "@list", "@slow", "@dangerous"]
    );
    assert_eq!(
        ro.acl_categories(),
        vec!["@read", "@set", "@sortedset", "@list", "@slow", "@dangerous"]
    );
}

#[test]
fn command_info_matches_live_redis() {
    let Some(mut oracle) = RedisOracle::start() else { return };
    let mut t = TestShard::new();
    for name in ["sort", "sort_ro"] {
        let head = |r: Reply| match r {
            Reply::Array(mut outer) => match outer.remove(0) {
                Reply::Array(items) => notation(&Reply::Array(items[..7].to_vec())),
                other => panic!("{name}: {other:?}"),
            },
            other => panic!("{name}: {other:?}"),
        };
        let want = head(oracle.run(&["COMMAND", "INFO", name]));
        assert_eq!(head(t.run(&["COMMAND", "INFO", name])), want, "COMMAND INFO {name}");
    }
}

#[test]
fn sorts_that_read_other_keys_are_told_apart() {
    use mayfly_engine::families::sort::reads_other_keys;
    assert!(!reads_other_keys(&args("SORT k"), false));
    assert!(!reads_other_keys(&args("SORT k BY nosort GET #"), false));
    assert!(!reads_other_keys(&args("SORT k GET const ALPHA"), false));
    assert!(reads_other_keys(&args("SORT k BY w_*"), false));
    assert!(reads_other_keys(&args("SORT k GET h_*->f"), false));
    // BY without `*` turns sorting off for good, so a later BY pattern reads nothing.
    assert!(!reads_other_keys(&args("SORT k BY nosort BY w_*"), false));
    assert!(!reads_other_keys(&args("SORT k BY w_* STORE"), false));
}

/// Pattern keys held elsewhere (here: a map standing for other shards) serve SORT exactly as
/// the same keys on the shard would: the path a cross-shard SORT takes once the net layer has
/// gathered what [`pattern_keys`] lists.
#[test]
fn key_reader_serves_keys_from_elsewhere() {
    use mayfly_engine::families::sort::{pattern_keys, sort_with, KeyReader};
    use mayfly_engine::shard::Ctx;
    use std::collections::HashMap;

    struct Gathered(HashMap<Vec<u8>, Bytes>, Vec<Vec<u8>>);
    impl KeyReader for Gathered {
        fn read(&mut self, _: &mut Ctx<'_>, key: &[u8], field: Option<&[u8]>) -> Option<Bytes> {
            self.1.push(key.to_vec());
            let mut k = key.to_vec();
            if let Some(f) = field {
                k.extend_from_slice(b"->");
                k.extend_from_slice(f);
            }
            self.0.get(&k).cloned()
        }
    }

    let mut all = TestShard::new();
    let mut only_list = TestShard::new();
    let mut remote = HashMap::new();
    for t in [&mut all, &mut only_list] {
        t.run(&["RPUSH", "l", "c", "a", "b", "d"]);
    }
    for (e, w) in [("a", "3"), ("b", "1"), ("c", "2")] {
        all.run(&["SET", &format!("w_{e}"), w]);
        all.run(&["HSET", &format!("h_{e}"), "f", &format!("F{e}")]);
        remote.insert(format!("w_{e}").into_bytes(), Bytes::from(w));
        remote.insert(format!("h_{e}->f").into_bytes(), Bytes::from(format!("F{e}")));
    }
    let cases = [
        "SORT l BY w_* GET # GET h_*->f",
        "SORT l BY w_* DESC LIMIT 1 2 GET h_*->f",
        "SORT l BY h_*->f ALPHA GET w_*",
        "SORT l BY w_* STORE dst",
    ];
    for case in cases {
        let argv = args(case);
        let want = all.run_bytes(&argv);
        let mut reader = Gathered(remote.clone(), Vec::new());
        let got = {
            let mut ctx = only_list.shard.ctx(0, false);
            sort_with(&mut ctx, &argv, false, &mut reader)
        };
        assert_eq!(got, want, "{case}");
        // Every key read was announced by pattern_keys.
        let announced = {
            let mut ctx = only_list.shard.ctx(0, false);
            pattern_keys(&mut ctx, &argv, false)
        };
        for k in &reader.1 {
            assert!(announced.iter().any(|a| a[..] == k[..]), "{case}: {k:?} not announced");
        }
    }
    assert_eq!(
        only_list.run(&["LRANGE", "dst", "0", "-1"]),
        all.run(&["LRANGE", "dst", "0", "-1"])
    );
}

/// Arbitrary argument lists never panic and always answer.
mod robustness {
    use mayfly_engine::testing::TestShard;
    use proptest::prelude::*;

    const WORDS: &[&str] = &[
        "l",
        "s",
        "z",
        "str",
        "h",
        "dst",
        "BY",
        "GET",
        "LIMIT",
        "STORE",
        "ASC",
        "DESC",
        "ALPHA",
        "#",
        "*",
        "w_*",
        "h_*->f",
        "->",
        "*->",
        "nosort",
        "0",
        "1",
        "-1",
        "3",
        "9223372036854775807",
        "-9223372036854775808",
        "",
        "\0",
        "#\0",
        "*\0->f",
    ];

    proptest! {
        #[test]
        fn arbitrary_arguments_never_panic(
            cmds in prop::collection::vec((any::<bool>(), prop::collection::vec(0usize..WORDS.len(), 0..12)), 1..20),
        ) {
            let mut t = TestShard::new();
            t.run(&["RPUSH", "l", "3", "1", "", "a", "2", "1"]);
            t.run(&["SADD", "s", "1", "5", "2"]);
            t.run(&["ZADD", "z", "1", "a", "1", "b", "0", "c"]);
            t.run(&["SET", "str", "x"]);
            t.run(&["MSET", "w_1", "5", "w_3", "x", "w_a", "1e400"]);
            t.run(&["HSET", "h", "f", "1", "h_1", "f", "2"]);
            for (readonly, args) in cmds {
                let mut argv = vec![if readonly { "SORT_RO" } else { "SORT" }];
                argv.extend(args.iter().map(|&i| WORDS[i]));
                let _reply = t.run(&argv);
            }
        }
    }
}
