//! Expiry commands and the active expiry cycle, driven in-process with a manual clock so every
//! TTL edge is exact to the millisecond. Expected replies (values, reply types, error texts)
//! were checked against redis-server 7.0.15.

use mayfly_engine::reply::Reply;
use mayfly_engine::testing::{bulk, TestShard, START_MS};

fn int(n: i64) -> Reply {
    Reply::Int(n)
}

fn err(text: &str) -> Reply {
    Reply::error(text.to_string())
}

const START: i64 = START_MS as i64;

fn with_key(key: &str) -> TestShard {
    let mut t = TestShard::new();
    assert_eq!(t.run(&["SET", key, "bar"]), Reply::ok());
    t
}

#[test]
fn expire_sets_and_resets_timeouts() {
    let mut t = with_key("x");
    assert_eq!(t.run(&["EXPIRE", "x", "5"]), int(1));
    assert_eq!(t.run(&["TTL", "x"]), int(5));
    assert_eq!(t.run(&["EXPIRE", "x", "10"]), int(1));
    assert_eq!(t.run(&["TTL", "x"]), int(10));
    assert_eq!(t.run(&["PTTL", "x"]), int(10_000));
    assert_eq!(t.run(&["EXPIRE", "x", "2"]), int(1));
    assert_eq!(t.run(&["GET", "x"]), bulk("bar"));
    t.advance_ms(1999);
    assert_eq!(t.run(&["GET", "x"]), bulk("bar"));
    assert_eq!(t.run(&["PTTL", "x"]), int(1));
    t.advance_ms(1);
    assert_eq!(t.run(&["GET", "x"]), Reply::Nil);
    assert_eq!(t.run(&["EXISTS", "x"]), int(0));
    assert_eq!(t.shard.dbs[0].expires, 0);
    assert_eq!(t.shard.stats.expired_keys, 1);
}

#[test]
fn ttl_rounds_to_the_nearest_second() {
    let mut t = with_key("k");
    t.run(&["PEXPIRE", "k", "5000"]);
    t.advance_ms(4499);
    assert_eq!(t.run(&["PTTL", "k"]), int(501));
    assert_eq!(t.run(&["TTL", "k"]), int(1));
    t.advance_ms(2);
    assert_eq!(t.run(&["PTTL", "k"]), int(499));
    assert_eq!(t.run(&["TTL", "k"]), int(0));
    t.advance_ms(498);
    assert_eq!(t.run(&["PTTL", "k"]), int(1));
    assert_eq!(t.run(&["TTL", "k"]), int(0));
    t.advance_ms(1);
    assert_eq!(t.run(&["PTTL", "k"]), int(-2));
    assert_eq!(t.run(&["TTL", "k"]), int(-2));

    let mut t = with_key("k");
    t.run(&["PEXPIRE", "k", "1500"]);
    assert_eq!(t.run(&["TTL", "k"]), int(2));
    t.run(&["PEXPIRE", "k", "1499"]);
    assert_eq!(t.run(&["TTL", "k"]), int(1));
}

#[test]
fn pexpire_is_exact_to_the_millisecond() {
    let mut t = with_key("x");
    assert_eq!(t.run(&["PEXPIRE", "x", "100"]), int(1));
    t.advance_ms(99);
    assert_eq!(t.run(&["GET", "x"]), bulk("bar"));
    t.advance_ms(1);
    assert_eq!(t.run(&["GET", "x"]), Reply::Nil);
}

#[test]
fn expireat_and_pexpireat_are_absolute() {
    let mut t = with_key("x");
    let at_s = (START_MS / 1000 + 15) as i64;
    assert_eq!(t.run(&["EXPIREAT", "x", &at_s.to_string()]), int(1));
    assert_eq!(t.run(&["TTL", "x"]), int(15));
    assert_eq!(t.run(&["EXPIRETIME", "x"]), int(at_s));
    assert_eq!(t.run(&["PEXPIRETIME", "x"]), int(at_s * 1000));

    let at_ms = START + 200;
    assert_eq!(t.run(&["PEXPIREAT", "x", &at_ms.to_string()]), int(1));
    assert_eq!(t.run(&["PEXPIRETIME", "x"]), int(at_ms));
    t.advance_ms(199);
    assert_eq!(t.run(&["GET", "x"]), bulk("bar"));
    t.advance_ms(1);
    assert_eq!(t.run(&["GET", "x"]), Reply::Nil);
}

#[test]
fn expiretime_rounds_like_redis() {
    let mut t = with_key("k");
    assert_eq!(t.run(&["PEXPIREAT", "k", "4102444800499"]), int(1));
    assert_eq!(t.run(&["EXPIRETIME", "k"]), int(4102444800));
    assert_eq!(t.run(&["PEXPIREAT", "k", "4102444800500"]), int(1));
    assert_eq!(t.run(&["EXPIRETIME", "k"]), int(4102444801));
    assert_eq!(t.run(&["PEXPIRETIME", "k"]), int(4102444800500));
    // The largest expiry Redis accepts.
    assert_eq!(t.run(&["PEXPIREAT", "k", "9223372036854775807"]), int(1));
    assert_eq!(t.run(&["PEXPIRETIME", "k"]), int(i64::MAX));
    assert_eq!(t.run(&["EXPIRETIME", "k"]), int(9223372036854776));
    assert_eq!(t.run(&["PTTL", "k"]), int(i64::MAX - START));
}

#[test]
fn ttl_family_answers_minus_one_and_minus_two() {
    let mut t = with_key("x");
    for cmd in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
        assert_eq!(t.run(&[cmd, "x"]), int(-1), "{cmd}");
        assert_eq!(t.run(&[cmd, "nokey"]), int(-2), "{cmd}");
    }
    assert_eq!(t.run(&["TTL"]), err("ERR wrong number of arguments for 'ttl' command"));
    assert_eq!(
        t.run(&["PEXPIRETIME", "a", "b"]),
        err("ERR wrong number of arguments for 'pexpiretime' command")
    );
    // TTL-family lookups count keyspace hits and misses but do not touch the access time.
    assert_eq!(t.shard.stats.keyspace_hits, 4);
    assert_eq!(t.shard.stats.keyspace_misses, 4);
    t.advance_ms(3000);
    t.run(&["TTL", "x"]);
    assert_eq!(t.run(&["OBJECT", "IDLETIME", "x"]), int(3));
}

#[test]
fn past_or_zero_times_delete_the_key_and_answer_one() {
    for (cmd, time) in [
        ("EXPIRE", "0".to_string()),
        ("EXPIRE", "-10".to_string()),
        ("PEXPIRE", "0".to_string()),
        ("PEXPIRE", "-1".to_string()),
        ("EXPIREAT", (START / 1000).to_string()),
        ("EXPIREAT", "1".to_string()),
        ("PEXPIREAT", START.to_string()),
        ("PEXPIREAT", "-9223372036854770000".to_string()),
    ] {
        let mut t = with_key("foo");
        t.run(&["PEXPIRE", "foo", "100000"]);
        assert_eq!(t.run(&[cmd, "foo", &time]), int(1), "{cmd} {time}");
        assert_eq!(t.run(&["TTL", "foo"]), int(-2), "{cmd} {time}");
        assert_eq!(t.shard.dbs[0].len(), 0);
        assert_eq!(t.shard.dbs[0].expires, 0);
        // Deleted by the command, not expired.
        assert_eq!(t.shard.stats.expired_keys, 0);
    }
    // One millisecond in the future is still a real expiry.
    let mut t = with_key("foo");
    assert_eq!(t.run(&["PEXPIREAT", "foo", &(START + 1).to_string()]), int(1));
    assert_eq!(t.run(&["PTTL", "foo"]), int(1));
}

#[test]
fn missing_key_answers_zero() {
    let mut t = TestShard::new();
    for opt in [None, Some("NX"), Some("XX"), Some("GT"), Some("LT")] {
        let mut argv = vec!["EXPIRE", "none", "100"];
        argv.extend(opt);
        assert_eq!(t.run(&argv), int(0));
    }
    assert_eq!(t.run(&["PEXPIREAT", "none", "1"]), int(0));
    assert_eq!(t.run(&["EXPIRE", "none", "-1"]), int(0));
    assert_eq!(t.shard.dbs[0].len(), 0);
}

#[test]
fn overflowing_times_are_rejected() {
    let mut t = with_key("foo");
    for secs in ["9223370399119966", "9223372036854776", "10000000000000000", "18446744073709561"] {
        assert_eq!(
            t.run(&["EXPIRE", "foo", secs]),
            err("ERR invalid expire time in 'expire' command"),
            "{secs}"
        );
    }
    for secs in ["-9223372036854776", "-9999999999999999"] {
        assert_eq!(
            t.run(&["EXPIRE", "foo", secs]),
            err("ERR invalid expire time in 'expire' command")
        );
    }
    assert_eq!(t.run(&["TTL", "foo"]), int(-1));
    assert_eq!(
        t.run(&["PEXPIRE", "foo", "9223372036854770000"]),
        err("ERR invalid expire time in 'pexpire' command")
    );
    assert_eq!(
        t.run(&["PEXPIRE", "foo", "9223372036854775807"]),
        err("ERR invalid expire time in 'pexpire' command")
    );
    assert_eq!(
        t.run(&["EXPIREAT", "foo", "9223372036854776"]),
        err("ERR invalid expire time in 'expireat' command")
    );
    assert_eq!(t.run(&["EXPIREAT", "foo", "9223372036854775"]), int(1));
    assert_eq!(t.run(&["PEXPIREAT", "foo", "9223372036854770000"]), int(1));
    // Overflow is checked before the key lookup.
    assert_eq!(
        t.run(&["EXPIRE", "nokey", "9223372036854776"]),
        err("ERR invalid expire time in 'expire' command")
    );
}

#[test]
fn time_argument_must_be_a_strict_integer() {
    let mut t = with_key("foo");
    for bad in ["", "abc", "10.5", " 10", "10 ", "+5", "05", "-0", "99999999999999999999"] {
        assert_eq!(
            t.run(&["EXPIRE", "foo", bad]),
            err("ERR value is not an integer or out of range"),
            "{bad:?}"
        );
    }
    assert_eq!(t.run(&["TTL", "foo"]), int(-1));
    assert_eq!(
        t.run(&["EXPIRE", "foo"]),
        err("ERR wrong number of arguments for 'expire' command")
    );
}

#[test]
fn nx_xx_gt_lt_conditions() {
    // (initial TTL in seconds or none, command options, expected reply, expected TTL after)
    let cases: &[(Option<u64>, &[&str], i64, i64)] = &[
        (Some(100), &["200", "NX"], 0, 100),
        (None, &["200", "NX"], 1, 200),
        (Some(100), &["200", "XX"], 1, 200),
        (None, &["200", "XX"], 0, -1),
        (Some(100), &["200", "GT"], 1, 200),
        (Some(200), &["100", "GT"], 0, 200),
        (Some(200), &["200", "GT"], 0, 200),
        (None, &["200", "GT"], 0, -1),
        (Some(100), &["200", "LT"], 0, 100),
        (Some(200), &["100", "LT"], 1, 100),
        (Some(200), &["200", "LT"], 0, 200),
        (None, &["100", "LT"], 1, 100),
        (Some(200), &["100", "LT", "XX"], 1, 100),
        (None, &["200", "LT", "XX"], 0, -1),
        (Some(100), &["200", "gt", "xx"], 1, 200),
        (None, &["200", "nx", "NX"], 1, 200),
        (Some(100), &["-10", "LT"], 1, -2),
        (None, &["-10", "LT"], 1, -2),
        (None, &["-5", "GT"], 0, -1),
        (None, &["-1", "NX"], 1, -2),
    ];
    for (initial, args, reply, ttl_after) in cases {
        let mut t = with_key("foo");
        if let Some(secs) = initial {
            t.run(&["EXPIRE", "foo", &secs.to_string()]);
        }
        let mut argv = vec!["EXPIRE", "foo"];
        argv.extend_from_slice(args);
        assert_eq!(t.run(&argv), int(*reply), "{initial:?} {args:?}");
        assert_eq!(t.run(&["TTL", "foo"]), int(*ttl_after), "{initial:?} {args:?}");
        let expected_expires = usize::from(*ttl_after >= 0);
        assert_eq!(t.shard.dbs[0].expires, expected_expires, "{initial:?} {args:?}");
    }
}

#[test]
fn gt_and_lt_compare_absolute_milliseconds() {
    let mut t = with_key("foo");
    t.run(&["PEXPIRE", "foo", "1000"]);
    t.advance_ms(10);
    // 991 ms from now is START + 1001: later than the current START + 1000.
    assert_eq!(t.run(&["PEXPIRE", "foo", "991", "GT"]), int(1));
    assert_eq!(t.run(&["PEXPIRETIME", "foo"]), int(START + 1001));
    assert_eq!(t.run(&["PEXPIREAT", "foo", &(START + 1001).to_string(), "GT"]), int(0));
    assert_eq!(t.run(&["PEXPIREAT", "foo", &(START + 1001).to_string(), "LT"]), int(0));
    assert_eq!(t.run(&["PEXPIREAT", "foo", &(START + 1000).to_string(), "LT"]), int(1));
    assert_eq!(t.run(&["PEXPIRETIME", "foo"]), int(START + 1000));
}

#[test]
fn option_errors() {
    let mut t = with_key("foo");
    let nx_err = err("ERR NX and XX, GT or LT options at the same time are not compatible");
    let gt_lt_err = err("ERR GT and LT options at the same time are not compatible");
    assert_eq!(t.run(&["EXPIRE", "foo", "200", "LT", "GT"]), gt_lt_err);
    assert_eq!(t.run(&["EXPIRE", "foo", "200", "NX", "GT"]), nx_err);
    assert_eq!(t.run(&["EXPIRE", "foo", "200", "NX", "LT"]), nx_err);
    assert_eq!(t.run(&["EXPIRE", "foo", "200", "NX", "XX"]), nx_err);
    assert_eq!(t.run(&["EXPIRE", "foo", "10", "nx", "xx", "gt"]), nx_err);
    // NX with others wins over GT with LT.
    assert_eq!(t.run(&["PEXPIRE", "foo", "10", "gt", "lt", "nx"]), nx_err);
    assert_eq!(t.run(&["EXPIRE", "foo", "200", "AB"]), err("ERR Unsupported option AB"));
    assert_eq!(t.run(&["EXPIRE", "foo", "200", "XX", "AB"]), err("ERR Unsupported option AB"));
    // Options are parsed before the time argument.
    assert_eq!(t.run(&["EXPIRE", "foo", "abc", "AB"]), err("ERR Unsupported option AB"));
    assert_eq!(t.run(&["EXPIREAT", "foo", "abc", "NX", "XX"]), nx_err);
    assert_eq!(t.run(&["TTL", "foo"]), int(-1));
}

#[test]
fn persist_removes_the_expiry() {
    let mut t = with_key("x");
    t.run(&["EXPIRE", "x", "50"]);
    assert_eq!(t.shard.dbs[0].expires, 1);
    assert_eq!(t.run(&["TTL", "x"]), int(50));
    assert_eq!(t.run(&["PERSIST", "x"]), int(1));
    assert_eq!(t.run(&["TTL", "x"]), int(-1));
    assert_eq!(t.run(&["GET", "x"]), bulk("bar"));
    assert_eq!(t.shard.dbs[0].expires, 0);
    assert_eq!(t.run(&["PERSIST", "x"]), int(0));
    assert_eq!(t.run(&["PERSIST", "nokeyatall"]), int(0));
    // Too late: the key is already gone.
    t.run(&["PEXPIRE", "x", "5"]);
    t.advance_ms(5);
    assert_eq!(t.run(&["PERSIST", "x"]), int(0));
    assert_eq!(t.run(&["EXISTS", "x"]), int(0));
    assert_eq!(t.run(&["PERSIST"]), err("ERR wrong number of arguments for 'persist' command"));
}

#[test]
fn expire_does_not_resurrect_keys() {
    let mut t = with_key("foo");
    t.run(&["PEXPIRE", "foo", "500"]);
    t.advance_ms(1000);
    assert_eq!(t.run(&["EXPIRE", "foo", "10"]), int(0));
    assert_eq!(t.run(&["EXISTS", "foo"]), int(0));
    assert_eq!(t.shard.stats.expired_keys, 1);
}

#[test]
fn set_clears_the_expiry_and_counts_stay_right() {
    let mut t = with_key("foo");
    t.run(&["EXPIRE", "foo", "100"]);
    assert_eq!(t.shard.dbs[0].expires, 1);
    t.run(&["SET", "foo", "bar"]);
    assert_eq!(t.run(&["TTL", "foo"]), int(-1));
    assert_eq!(t.shard.dbs[0].expires, 0);
    t.run(&["EXPIRE", "foo", "100"]);
    t.run(&["EXPIRE", "foo", "200"]);
    assert_eq!(t.shard.dbs[0].expires, 1);
    t.run(&["DEL", "foo"]);
    assert_eq!(t.shard.dbs[0].expires, 0);
}

#[test]
fn five_keys_in_five_keys_out() {
    let mut t = TestShard::new();
    t.run(&["SET", "a", "c"]);
    t.run(&["EXPIRE", "a", "5"]);
    for k in ["t", "e", "s", "foo"] {
        t.run(&["SET", k, "c"]);
    }
    let Reply::Array(keys) = t.run(&["KEYS", "*"]) else { panic!("array") };
    assert_eq!(keys.len(), 5);
}

/// Loads `n` keys with `ttl_ms` (0 = none) into `db` under `prefix`.
fn load(t: &mut TestShard, db: usize, prefix: &str, n: usize, ttl_ms: u64) {
    t.db = db;
    for i in 0..n {
        let k = format!("{prefix}:{i}");
        t.run(&["SET", &k, "v"]);
        if ttl_ms > 0 {
            assert_eq!(t.run(&["PEXPIRE", &k, &ttl_ms.to_string()]), int(1));
        }
    }
    t.db = 0;
}

#[test]
fn active_expire_removes_expired_keys_within_bounded_calls() {
    let mut t = TestShard::new();
    load(&mut t, 0, "volatile", 1000, 100);
    load(&mut t, 0, "persistent", 1000, 0);
    load(&mut t, 0, "later", 200, 60_000);
    assert_eq!(t.shard.dbs[0].expires, 1200);

    // Nothing has expired yet: a full sweep removes nothing.
    for _ in 0..200 {
        assert_eq!(t.shard.active_expire(64), 0);
    }
    assert_eq!(t.shard.dbs[0].len(), 2200);

    t.advance_ms(100);
    let budget = 64;
    let mut calls = 0;
    let mut removed_total = 0;
    while t.shard.dbs[0].expires > 200 {
        let removed = t.shard.active_expire(budget);
        // One call visits at most its budget plus one table scan step (64 keys); it cannot
        // remove more than it visits.
        assert!(removed <= budget + 64, "removed {removed} in one call");
        removed_total += removed;
        calls += 1;
        // 2200 keys at >= 64 visited per call is a sweep in about 35 calls; allow two sweeps.
        assert!(calls <= 2 * 2200 / budget + 2, "active expiry did not finish in {calls} calls");
    }
    assert_eq!(removed_total, 1000);
    assert_eq!(t.shard.stats.expired_keys, 1000);
    assert_eq!(t.shard.dbs[0].len(), 1200);
    assert_eq!(t.shard.dbs[0].expires, 200);
    assert_eq!(t.run(&["EXISTS", "persistent:0", "persistent:999", "later:0"]), int(3));
    assert_eq!(t.run(&["EXISTS", "volatile:0", "volatile:999"]), int(0));
    assert_eq!(t.run(&["TTL", "later:5"]), int(60));
    assert!(t.shard.dbs[0].avg_ttl_ms > 0);
}

#[test]
fn active_expire_covers_every_database_and_keeps_counts() {
    let mut t = TestShard::new();
    load(&mut t, 0, "a", 300, 50);
    load(&mut t, 3, "b", 300, 50);
    load(&mut t, 15, "c", 300, 0);
    load(&mut t, 15, "d", 10, 50);
    t.advance_ms(50);
    let mut calls = 0;
    while t.shard.dbs.iter().map(|d| d.expires).sum::<usize>() > 0 {
        t.shard.active_expire(100);
        calls += 1;
        assert!(calls <= 100, "active expiry did not finish");
    }
    assert_eq!(t.shard.dbs[0].len(), 0);
    assert_eq!(t.shard.dbs[3].len(), 0);
    assert_eq!(t.shard.dbs[15].len(), 300);
    assert_eq!(t.shard.stats.expired_keys, 610);
    // Further calls are no-ops.
    assert_eq!(t.shard.active_expire(100), 0);
}

#[test]
fn active_expire_leaves_keys_without_ttl_alone() {
    let mut t = TestShard::new();
    load(&mut t, 0, "p", 500, 0);
    t.advance_ms(1_000_000);
    for _ in 0..50 {
        assert_eq!(t.shard.active_expire(1000), 0);
    }
    assert_eq!(t.shard.dbs[0].len(), 500);
    assert_eq!(t.shard.stats.expired_keys, 0);
}

#[test]
fn active_expire_feeds_the_write_log() {
    let mut t = TestShard::new();
    load(&mut t, 2, "v", 5, 10);
    t.advance_ms(10);
    t.shard.write_log = Some(Vec::new());
    while t.shard.dbs[2].expires > 0 {
        t.shard.active_expire(100);
    }
    let log = t.shard.write_log.take().expect("log");
    assert_eq!(log.len(), 5);
    assert!(log.iter().all(|(db, _)| *db == 2));
}
