//! Generic key commands, driven in-process with a manual clock. Expected replies (values, reply
//! types and error texts) were checked against redis-server 7.0.15.

use std::collections::HashSet;

use bytes::Bytes;
use mayfly_engine::config::EvictionPolicy;
use mayfly_engine::db::Entry;
use mayfly_engine::families::keys::{parse_scan_args, parse_scan_cursor, scan_shard, ScanArgs};
use mayfly_engine::reply::Reply;
use mayfly_engine::testing::{bulk, TestShard, START_MS};
use mayfly_engine::value::Value;
use rand::rngs::SmallRng;
use rand::SeedableRng;

fn int(n: i64) -> Reply {
    Reply::Int(n)
}

fn err(text: &str) -> Reply {
    Reply::error(text.to_string())
}

fn status(text: &str) -> Reply {
    Reply::status(text.to_string())
}

fn put(t: &mut TestShard, db: usize, key: &str, value: Value) {
    t.shard.dbs[db].insert(key.as_bytes().into(), Entry::new(value));
}

/// Sorted bulk strings of an array reply.
fn sorted_strings(reply: &Reply) -> Vec<String> {
    let Reply::Array(items) = reply else { panic!("not an array: {reply:?}") };
    let mut out: Vec<String> = items
        .iter()
        .map(|r| match r {
            Reply::Bulk(b) => String::from_utf8(b.to_vec()).expect("utf8"),
            other => panic!("not a bulk: {other:?}"),
        })
        .collect();
    out.sort();
    out
}

/// One SCAN reply split into (next cursor, keys).
fn scan_reply(reply: &Reply) -> (u64, Vec<String>) {
    let Reply::Array(parts) = reply else { panic!("not an array: {reply:?}") };
    assert_eq!(parts.len(), 2, "{reply:?}");
    let Reply::Bulk(cursor) = &parts[0] else { panic!("cursor not a bulk: {reply:?}") };
    let cursor: u64 = std::str::from_utf8(cursor).expect("utf8").parse().expect("number");
    (cursor, sorted_strings(&parts[1]))
}

/// A full SCAN iteration with extra options; returns every key seen and the number of calls.
fn scan_all(t: &mut TestShard, options: &[&str]) -> (Vec<String>, usize) {
    let mut cursor = 0u64;
    let mut keys = Vec::new();
    let mut calls = 0;
    loop {
        let c = cursor.to_string();
        let mut argv = vec!["SCAN", c.as_str()];
        argv.extend_from_slice(options);
        let (next, mut found) = scan_reply(&t.run(&argv));
        keys.append(&mut found);
        calls += 1;
        assert!(calls < 100_000, "scan does not terminate");
        if next == 0 {
            break;
        }
        cursor = next;
    }
    (keys, calls)
}

fn populate(t: &mut TestShard, n: usize) {
    for i in 0..n {
        assert_eq!(t.run(&["SET", &format!("key:{i}"), &i.to_string()]), Reply::ok());
    }
}

#[test]
fn del_and_unlink_count_deleted_keys() {
    let mut t = TestShard::new();
    for k in ["foo1", "foo2", "foo3"] {
        t.run(&["SET", k, "v"]);
    }
    assert_eq!(t.run(&["DEL", "foo1", "foo2", "foo3", "foo4"]), int(3));
    assert_eq!(t.run(&["GET", "foo1"]), Reply::Nil);
    t.run(&["SET", "a", "1"]);
    assert_eq!(t.run(&["UNLINK", "a", "a", "b"]), int(1));
    assert_eq!(t.run(&["DEL"]), err("ERR wrong number of arguments for 'del' command"));
    assert_eq!(t.run(&["UNLINK"]), err("ERR wrong number of arguments for 'unlink' command"));
    assert_eq!(t.shard.dbs[0].len(), 0);
}

#[test]
fn del_against_expired_key_returns_zero() {
    let mut t = TestShard::new();
    t.run(&["SET", "keyExpire", "valExpire"]);
    t.run(&["PEXPIRE", "keyExpire", "1000"]);
    t.advance_ms(1000);
    assert_eq!(t.run(&["DEL", "keyExpire"]), int(0));
    assert_eq!(t.shard.stats.expired_keys, 1);
    assert_eq!(t.shard.dbs[0].expires, 0);
}

#[test]
fn exists_counts_duplicates_and_keyspace_stats_without_touching() {
    let mut t = TestShard::new();
    t.run(&["SET", "a", "1"]);
    t.run(&["SET", "b", "hello"]);
    assert_eq!(t.run(&["EXISTS", "a", "a", "b", "nokey"]), int(3));
    assert_eq!(t.shard.stats.keyspace_hits, 3);
    assert_eq!(t.shard.stats.keyspace_misses, 1);
    t.run(&["SET", "emptykey", ""]);
    assert_eq!(t.run(&["EXISTS", "emptykey"]), int(1));
    t.run(&["DEL", "emptykey"]);
    assert_eq!(t.run(&["EXISTS", "emptykey"]), int(0));
    // EXISTS leaves the access time alone.
    t.advance_ms(5000);
    t.run(&["EXISTS", "a"]);
    assert_eq!(t.run(&["OBJECT", "IDLETIME", "a"]), int(5));
}

#[test]
fn expired_keys_are_not_counted_by_exists_or_touch() {
    let mut t = TestShard::new();
    t.run(&["SET", "k", "v"]);
    t.run(&["PEXPIRE", "k", "10"]);
    t.advance_ms(9);
    assert_eq!(t.run(&["EXISTS", "k"]), int(1));
    t.advance_ms(1);
    assert_eq!(t.run(&["EXISTS", "k"]), int(0));
    assert_eq!(t.run(&["TOUCH", "k"]), int(0));
    assert_eq!(t.run(&["TYPE", "k"]), status("none"));
}

#[test]
fn type_names_every_kind() {
    let mut t = TestShard::new();
    t.run(&["SET", "s", "x"]);
    put(&mut t, 0, "l", Value::List(Box::default()));
    put(&mut t, 0, "h", Value::Hash(Box::default()));
    put(&mut t, 0, "st", Value::Set(Box::default()));
    put(&mut t, 0, "z", Value::ZSet(Box::default()));
    assert_eq!(t.run(&["TYPE", "s"]), status("string"));
    assert_eq!(t.run(&["TYPE", "l"]), status("list"));
    assert_eq!(t.run(&["TYPE", "h"]), status("hash"));
    assert_eq!(t.run(&["TYPE", "st"]), status("set"));
    assert_eq!(t.run(&["TYPE", "z"]), status("zset"));
    assert_eq!(t.run(&["TYPE", "nokey"]), status("none"));
    assert_eq!(t.run(&["TYPE"]), err("ERR wrong number of arguments for 'type' command"));
    assert_eq!(t.shard.stats.keyspace_hits, 5);
    assert_eq!(t.shard.stats.keyspace_misses, 1);
}

#[test]
fn rename_and_renamenx() {
    let mut t = TestShard::new();
    t.run(&["SET", "mykey", "hello"]);
    assert_eq!(t.run(&["RENAME", "mykey", "mykey1"]), Reply::ok());
    assert_eq!(t.run(&["RENAME", "mykey1", "mykey2"]), Reply::ok());
    assert_eq!(t.run(&["GET", "mykey2"]), bulk("hello"));
    assert_eq!(t.run(&["EXISTS", "mykey", "mykey1"]), int(0));

    // Against an existing key: the target is replaced.
    t.run(&["SET", "mykey", "a"]);
    t.run(&["SET", "mykey2", "b"]);
    assert_eq!(t.run(&["RENAME", "mykey2", "mykey"]), Reply::ok());
    assert_eq!(t.run(&["GET", "mykey"]), bulk("b"));
    assert_eq!(t.run(&["EXISTS", "mykey2"]), int(0));

    t.run(&["DEL", "mykey", "mykey2"]);
    t.run(&["SET", "mykey", "foobar"]);
    assert_eq!(t.run(&["RENAMENX", "mykey", "mykey2"]), int(1));
    assert_eq!(t.run(&["GET", "mykey2"]), bulk("foobar"));
    assert_eq!(t.run(&["EXISTS", "mykey"]), int(0));
    t.run(&["SET", "mykey", "foo"]);
    t.run(&["SET", "mykey2", "bar"]);
    assert_eq!(t.run(&["RENAMENX", "mykey", "mykey2"]), int(0));
    assert_eq!(t.run(&["GET", "mykey"]), bulk("foo"));
    assert_eq!(t.run(&["GET", "mykey2"]), bulk("bar"));

    assert_eq!(t.run(&["RENAME", "nokey", "foobar"]), err("ERR no such key"));
    assert_eq!(t.run(&["RENAMENX", "nokey", "foobar"]), err("ERR no such key"));
    assert_eq!(t.run(&["RENAME", "mykey", "mykey"]), Reply::ok());
    assert_eq!(t.run(&["RENAMENX", "mykey", "mykey"]), int(0));
    assert_eq!(t.run(&["RENAME", "nokey", "nokey"]), err("ERR no such key"));
    assert_eq!(t.run(&["RENAME", "a"]), err("ERR wrong number of arguments for 'rename' command"));
}

#[test]
fn rename_moves_the_ttl_and_drops_the_targets_ttl() {
    let mut t = TestShard::new();
    t.run(&["SET", "mykey", "foo"]);
    t.run(&["PEXPIRE", "mykey", "100000"]);
    t.advance_ms(1234);
    assert_eq!(t.run(&["RENAME", "mykey", "mykey2"]), Reply::ok());
    assert_eq!(t.run(&["PTTL", "mykey2"]), int(98766));
    assert_eq!(t.run(&["PEXPIRETIME", "mykey2"]), int((START_MS + 100_000) as i64));
    assert_eq!(t.shard.dbs[0].expires, 1);

    t.run(&["SET", "plain", "bar"]);
    t.run(&["SET", "volatile", "baz"]);
    t.run(&["EXPIRE", "volatile", "100"]);
    assert_eq!(t.shard.dbs[0].expires, 2);
    assert_eq!(t.run(&["RENAME", "plain", "volatile"]), Reply::ok());
    assert_eq!(t.run(&["TTL", "volatile"]), int(-1));
    assert_eq!(t.shard.dbs[0].expires, 1);
    assert_eq!(t.shard.dbs[0].len(), 2);

    // An expired source is gone, an expired target is simply replaced.
    t.run(&["PEXPIRE", "mykey2", "1"]);
    t.advance_ms(1);
    assert_eq!(t.run(&["RENAME", "mykey2", "x"]), err("ERR no such key"));
    assert_eq!(t.shard.dbs[0].expires, 0);
}

#[test]
fn copy_basic_replace_and_db() {
    let mut t = TestShard::new();
    t.run(&["SET", "mykey", "foobar"]);
    assert_eq!(t.run(&["COPY", "mykey", "mynewkey"]), int(1));
    assert_eq!(t.run(&["GET", "mynewkey"]), bulk("foobar"));
    assert_eq!(t.run(&["DBSIZE"]), int(2));
    assert_eq!(t.run(&["COPY", "mykey", "mynewkey", "DB", "10"]), int(1));
    t.db = 10;
    assert_eq!(t.run(&["GET", "mynewkey"]), bulk("foobar"));
    assert_eq!(t.run(&["DBSIZE"]), int(1));
    t.db = 0;

    t.run(&["SET", "mykey2", "hello"]);
    assert_eq!(t.run(&["COPY", "mykey2", "mynewkey", "DB", "10"]), int(0));
    assert_eq!(t.run(&["COPY", "mykey2", "mynewkey", "DB", "10", "REPLACE"]), int(1));
    t.db = 10;
    assert_eq!(t.run(&["GET", "mynewkey"]), bulk("hello"));
    // The copy is independent of the original.
    t.run(&["SET", "mynewkey", "hoge"]);
    t.db = 0;
    assert_eq!(t.run(&["GET", "mykey2"]), bulk("hello"));

    assert_eq!(t.run(&["COPY", "nokey", "x"]), int(0));
    assert_eq!(
        t.run(&["COPY", "mykey", "mykey"]),
        err("ERR source and destination objects are the same")
    );
    assert_eq!(
        t.run(&["COPY", "mykey", "mykey", "DB", "0"]),
        err("ERR source and destination objects are the same")
    );
    assert_eq!(t.run(&["COPY", "mykey", "mykey", "db", "1"]), int(1));
    assert_eq!(t.run(&["COPY", "mykey", "c", "DB", "20"]), err("ERR DB index is out of range"));
    assert_eq!(t.run(&["COPY", "mykey", "c", "DB", "-1"]), err("ERR DB index is out of range"));
    assert_eq!(
        t.run(&["COPY", "mykey", "c", "DB", "notanumber"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        t.run(&["COPY", "mykey", "c", "DB", "99999999999"]),
        err("ERR value is out of range, value must between -2147483648 and 2147483647")
    );
    assert_eq!(
        t.run(&["COPY", "mykey", "c", "DB", "99999999999999999999"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(t.run(&["COPY", "mykey", "c", "foo"]), err("ERR syntax error"));
    assert_eq!(t.run(&["COPY", "mykey", "c", "DB"]), err("ERR syntax error"));
    assert_eq!(t.run(&["COPY", "mykey", "c", "REPLACE", "REPLACE"]), int(1));
    assert_eq!(t.run(&["COPY", "mykey"]), err("ERR wrong number of arguments for 'copy' command"));
}

#[test]
fn copy_keeps_expiry_and_does_not_invent_one() {
    let mut t = TestShard::new();
    t.run(&["SET", "mykey", "foobar"]);
    t.run(&["PEXPIRE", "mykey", "100000"]);
    t.advance_ms(10);
    assert_eq!(t.run(&["COPY", "mykey", "mynewkey", "REPLACE"]), int(1));
    assert_eq!(t.run(&["PTTL", "mynewkey"]), int(99990));
    assert_eq!(t.run(&["GET", "mynewkey"]), bulk("foobar"));
    assert_eq!(t.shard.dbs[0].expires, 2);

    t.run(&["SET", "mykey", "foobar"]);
    assert_eq!(t.run(&["COPY", "mykey", "mynewkey", "REPLACE"]), int(1));
    assert_eq!(t.run(&["TTL", "mynewkey"]), int(-1));
    assert_eq!(t.shard.dbs[0].expires, 0);

    // The copy of a non-string value keeps its type.
    put(&mut t, 0, "list", Value::List(Box::default()));
    assert_eq!(t.run(&["COPY", "list", "list2", "DB", "3"]), int(1));
    t.db = 3;
    assert_eq!(t.run(&["TYPE", "list2"]), status("list"));
}

#[test]
fn move_between_databases() {
    let mut t = TestShard::new();
    t.db = 9;
    t.run(&["SET", "mykey", "foobar"]);
    assert_eq!(t.run(&["MOVE", "mykey", "10"]), int(1));
    assert_eq!(t.run(&["EXISTS", "mykey"]), int(0));
    assert_eq!(t.run(&["DBSIZE"]), int(0));
    t.db = 10;
    assert_eq!(t.run(&["GET", "mykey"]), bulk("foobar"));
    assert_eq!(t.run(&["DBSIZE"]), int(1));
    t.db = 9;

    t.run(&["SET", "mykey", "hello"]);
    assert_eq!(t.run(&["MOVE", "mykey", "10"]), int(0));
    assert_eq!(t.run(&["GET", "mykey"]), bulk("hello"));
    assert_eq!(
        t.run(&["MOVE", "mykey", "notanumber"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        t.run(&["MOVE", "mykey", "9"]),
        err("ERR source and destination objects are the same")
    );
    assert_eq!(t.run(&["MOVE", "mykey", "16"]), err("ERR DB index is out of range"));
    assert_eq!(t.run(&["MOVE", "mykey", "-1"]), err("ERR DB index is out of range"));
    assert_eq!(t.run(&["MOVE", "mykey", "2147483647"]), err("ERR DB index is out of range"));
    let i32_range = err("ERR value is out of range, value must between -2147483648 and 2147483647");
    assert_eq!(t.run(&["MOVE", "mykey", "99999999999"]), i32_range);
    assert_eq!(t.run(&["MOVE", "mykey", "-2147483649"]), i32_range);
    assert_eq!(
        t.run(&["MOVE", "mykey", "99999999999999999999"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(t.run(&["MOVE", "nokey", "1"]), int(0));
    // The same-database check comes before the key lookup.
    assert_eq!(
        t.run(&["MOVE", "nokey", "9"]),
        err("ERR source and destination objects are the same")
    );
    assert_eq!(t.run(&["MOVE", "a"]), err("ERR wrong number of arguments for 'move' command"));
}

#[test]
fn move_carries_expiry_metadata() {
    let mut t = TestShard::new();
    t.run(&["SET", "mykey", "foo"]);
    t.run(&["PEXPIRE", "mykey", "100000"]);
    assert_eq!(t.run(&["MOVE", "mykey", "10"]), int(1));
    assert_eq!(t.run(&["TTL", "mykey"]), int(-2));
    assert_eq!(t.shard.dbs[0].expires, 0);
    assert_eq!(t.shard.dbs[10].expires, 1);
    t.db = 10;
    assert_eq!(t.run(&["PTTL", "mykey"]), int(100000));
    t.db = 0;
    t.run(&["SET", "plain", "foo"]);
    assert_eq!(t.run(&["MOVE", "plain", "10"]), int(1));
    t.db = 10;
    assert_eq!(t.run(&["TTL", "plain"]), int(-1));
    assert_eq!(t.run(&["GET", "plain"]), bulk("foo"));
    // An expired key in the target database does not block the move.
    t.run(&["PEXPIRE", "plain", "5"]);
    t.db = 0;
    t.run(&["SET", "plain", "new"]);
    t.advance_ms(5);
    assert_eq!(t.run(&["MOVE", "plain", "10"]), int(1));
    t.db = 10;
    assert_eq!(t.run(&["GET", "plain"]), bulk("new"));
    assert_eq!(t.shard.dbs[10].expires, 1);
}

#[test]
fn keys_matches_patterns_and_skips_expired_without_deleting() {
    let mut t = TestShard::new();
    for k in ["key_x", "key_y", "key_z", "foo_a", "foo_b", "foo_c"] {
        t.run(&["SET", k, "hello"]);
    }
    assert_eq!(sorted_strings(&t.run(&["KEYS", "foo*"])), ["foo_a", "foo_b", "foo_c"]);
    assert_eq!(
        sorted_strings(&t.run(&["KEYS", "*"])),
        ["foo_a", "foo_b", "foo_c", "key_x", "key_y", "key_z"]
    );
    assert_eq!(sorted_strings(&t.run(&["KEYS", "key_[xy]"])), ["key_x", "key_y"]);
    assert_eq!(t.run(&["KEYS", "nomatch*"]), Reply::Array(vec![]));
    assert_eq!(t.run(&["DBSIZE"]), int(6));

    t.run(&["PEXPIRE", "foo_a", "1"]);
    t.advance_ms(1);
    assert_eq!(sorted_strings(&t.run(&["KEYS", "foo*"])), ["foo_b", "foo_c"]);
    assert_eq!(t.run(&["DBSIZE"]), int(6));
    assert_eq!(t.run(&["KEYS"]), err("ERR wrong number of arguments for 'keys' command"));

    t.run(&["FLUSHDB"]);
    t.run(&["SET", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "1"]);
    assert_eq!(t.run(&["KEYS", "a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"]), Reply::Array(vec![]));
}

#[test]
fn scan_visits_every_key_with_any_count() {
    let mut t = TestShard::new();
    populate(&mut t, 1000);
    for options in [&[][..], &["COUNT", "5"][..], &["COUNT", "1000000"][..]] {
        let (keys, calls) = scan_all(&mut t, options);
        let unique: HashSet<&String> = keys.iter().collect();
        assert_eq!(unique.len(), 1000, "options {options:?}");
        if options.is_empty() {
            assert!(calls > 50, "COUNT 10 should take many calls, took {calls}");
        }
    }
    // COUNT is a hint on how much work one call does.
    let (_, calls) = scan_all(&mut t, &["COUNT", "1000000"]);
    assert_eq!(calls, 1);
}

#[test]
fn scan_match_type_and_all_options_together() {
    let mut t = TestShard::new();
    populate(&mut t, 1000);
    let (keys, _) = scan_all(&mut t, &["MATCH", "key:1??"]);
    let unique: HashSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), 100);
    assert!(unique.iter().all(|k| k.len() == 7 && k.starts_with("key:1")));

    let (keys, _) = scan_all(&mut t, &["TYPE", "list"]);
    assert!(keys.is_empty());
    let (keys, _) = scan_all(&mut t, &["TYPE", "string"]);
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 1000);
    let (keys, _) = scan_all(&mut t, &["type", "StRiNg", "match", "key:*", "count", "10"]);
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 1000);
    // Redis 7.0 does not validate the type name: an unknown one matches nothing.
    let (keys, _) = scan_all(&mut t, &["TYPE", "foo"]);
    assert!(keys.is_empty());

    put(&mut t, 0, "alist", Value::List(Box::default()));
    put(&mut t, 0, "ahash", Value::Hash(Box::default()));
    let (keys, _) = scan_all(&mut t, &["TYPE", "LIST"]);
    assert_eq!(keys, ["alist"]);
    let (keys, _) = scan_all(&mut t, &["TYPE", "hash", "MATCH", "a*"]);
    assert_eq!(keys, ["ahash"]);
}

#[test]
fn scan_type_filter_counts_keyspace_hits_like_redis() {
    let mut t = TestShard::new();
    for k in ["foo", "fab", "x"] {
        t.run(&["SET", k, "bar"]);
    }
    t.run(&["SCAN", "0", "TYPE", "string"]);
    assert_eq!(t.shard.stats.keyspace_hits, 3);
    // Only keys that pass MATCH are looked up for their type.
    t.run(&["SCAN", "0", "MATCH", "f*", "TYPE", "list"]);
    assert_eq!(t.shard.stats.keyspace_hits, 5);
    assert_eq!(t.shard.stats.keyspace_misses, 0);
    // Without TYPE, SCAN does not count lookups.
    t.run(&["SCAN", "0"]);
    assert_eq!(t.shard.stats.keyspace_hits, 5);
}

#[test]
fn scan_guarantees_under_write_load() {
    let mut t = TestShard::new();
    populate(&mut t, 100);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next_rand = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        seed >> 33
    };
    let mut cursor = 0u64;
    let mut seen: HashSet<String> = HashSet::new();
    let mut calls = 0;
    loop {
        let c = cursor.to_string();
        let (next, keys) = scan_reply(&t.run(&["SCAN", &c, "COUNT", "3"]));
        seen.extend(keys);
        calls += 1;
        assert!(calls < 10_000);
        if next == 0 {
            break;
        }
        cursor = next;
        // Ten writes and a few deletes of other keys between calls, enough to split segments.
        for _ in 0..10 {
            let k = format!("addedkey:{}", next_rand() % 1000);
            t.run(&["SET", &k, "foo"]);
        }
        for _ in 0..3 {
            let k = format!("addedkey:{}", next_rand() % 1000);
            t.run(&["DEL", &k]);
        }
    }
    let originals: HashSet<&String> = seen.iter().filter(|k| k.starts_with("key:")).collect();
    assert_eq!(originals.len(), 100);
}

#[test]
fn scan_skips_and_deletes_expired_keys() {
    let mut t = TestShard::new();
    populate(&mut t, 50);
    for i in 0..10 {
        t.run(&["PEXPIRE", &format!("key:{i}"), "100"]);
    }
    t.advance_ms(100);
    assert_eq!(t.run(&["DBSIZE"]), int(50));
    let (keys, _) = scan_all(&mut t, &[]);
    assert_eq!(keys.len(), 40);
    let expired: HashSet<String> = (0..10).map(|i| format!("key:{i}")).collect();
    assert!(keys.iter().all(|k| !expired.contains(k)));
    assert_eq!(t.run(&["DBSIZE"]), int(40));
    assert_eq!(t.shard.dbs[0].expires, 0);
    assert_eq!(t.shard.stats.expired_keys, 10);
}

#[test]
fn scan_expired_keys_that_fail_match_stay_until_touched() {
    let mut t = TestShard::new();
    t.run(&["SET", "a", "1"]);
    t.run(&["SET", "b", "1"]);
    t.run(&["PEXPIRE", "a", "1"]);
    t.run(&["PEXPIRE", "b", "1"]);
    t.advance_ms(1);
    let (keys, _) = scan_all(&mut t, &["MATCH", "a"]);
    assert!(keys.is_empty());
    // Redis checks expiry only for keys that passed MATCH.
    assert_eq!(t.run(&["DBSIZE"]), int(1));
}

#[test]
fn scan_type_none_never_returns_expired_keys() {
    let mut t = TestShard::new();
    t.run(&["SET", "foo", "bar"]);
    t.run(&["SET", "live", "x"]);
    t.run(&["PEXPIRE", "foo", "1"]);
    t.advance_ms(1);
    // Redis 7.0 answers ["0", ["foo"]] here (the expired key's type compares as "none"); the
    // brief for Mayfly is that expired keys are never returned.
    assert_eq!(scan_reply(&t.run(&["SCAN", "0", "TYPE", "none"])), (0, vec![]));
    assert_eq!(t.run(&["DBSIZE"]), int(1));
    assert_eq!(t.shard.stats.keyspace_misses, 1);
    assert_eq!(t.shard.stats.keyspace_hits, 1);
}

#[test]
fn scan_argument_errors() {
    let mut t = TestShard::new();
    t.run(&["SET", "a", "1"]);
    let invalid = err("ERR invalid cursor");
    for cursor in
        ["x", "18446744073709551616", "-18446744073709551616", "1 ", " 1", "0x1", "+", "-"]
    {
        assert_eq!(t.run(&["SCAN", cursor]), invalid, "cursor {cursor:?}");
    }
    // The cursor is parsed before the options.
    assert_eq!(t.run(&["SCAN", "x", "COUNT", "0"]), invalid);
    let syntax = err("ERR syntax error");
    assert_eq!(t.run(&["SCAN", "0", "COUNT", "0"]), syntax);
    assert_eq!(t.run(&["SCAN", "0", "COUNT", "-1"]), syntax);
    assert_eq!(
        t.run(&["SCAN", "0", "COUNT", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        t.run(&["SCAN", "0", "COUNT", "9223372036854775808"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(t.run(&["SCAN", "0", "MATCH"]), syntax);
    assert_eq!(t.run(&["SCAN", "0", "TYPE"]), syntax);
    assert_eq!(t.run(&["SCAN", "0", "foo", "bar"]), syntax);
    assert_eq!(t.run(&["SCAN", "0", "COUNT", "10", "COUNT"]), syntax);
    assert_eq!(t.run(&["SCAN"]), err("ERR wrong number of arguments for 'scan' command"));
    // Accepted cursor spellings (C strtoul), and a repeated option where the last one wins.
    for cursor in ["", "0", "+0", "-0", "00"] {
        let (next, keys) = scan_reply(&t.run(&["SCAN", cursor]));
        assert_eq!((next, keys), (0, vec!["a".to_string()]), "cursor {cursor:?}");
    }
    assert_eq!(
        scan_reply(
            &t.run(&["SCAN", "0", "COUNT", "10", "COUNT", "20", "MATCH", "b", "MATCH", "a"])
        ),
        (0, vec!["a".to_string()])
    );
    // A cursor that is no position of this shard ends the iteration, as in Redis.
    assert_eq!(scan_reply(&t.run(&["SCAN", "-1"])), (0, vec![]));
    assert_eq!(scan_reply(&t.run(&["SCAN", "18446744073709551615"])), (0, vec![]));
}

#[test]
fn scan_helpers_for_the_net_layer() {
    assert_eq!(parse_scan_cursor(b"42"), Some(42));
    assert_eq!(parse_scan_cursor(b"-1"), Some(u64::MAX));
    assert_eq!(parse_scan_cursor(b"-18446744073709551615"), Some(1));
    assert_eq!(parse_scan_cursor(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_scan_cursor(b"1.5"), None);
    let argv: Vec<Bytes> = ["SCAN", "7", "match", "*", "type", "hash", "count", "3"]
        .iter()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect();
    assert_eq!(
        parse_scan_args(&argv),
        Ok(ScanArgs {
            cursor: 7,
            pattern: None,
            count: 3,
            type_name: Some(Bytes::from_static(b"hash"))
        })
    );

    let mut t = TestShard::new();
    populate(&mut t, 30);
    let mut ctx = t.shard.ctx(0, false);
    let mut cursor = 0;
    let mut seen = HashSet::new();
    loop {
        let (next, keys) = scan_shard(&mut ctx, cursor, Some(b"key:2*"), 4, Some(b"string"));
        seen.extend(keys);
        if next == 0 {
            break;
        }
        assert!(next < 1 << mayfly_engine::table::CURSOR_BITS);
        cursor = next;
    }
    assert_eq!(seen.len(), 11);
}

#[test]
fn randomkey_returns_live_keys_only() {
    let mut t = TestShard::new();
    t.shard.rng = SmallRng::seed_from_u64(7);
    assert_eq!(t.run(&["RANDOMKEY"]), Reply::Nil);
    t.run(&["SET", "foo", "x"]);
    t.run(&["SET", "bar", "y"]);
    let mut seen = HashSet::new();
    for _ in 0..100 {
        match t.run(&["RANDOMKEY"]) {
            Reply::Bulk(b) => {
                seen.insert(b);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen.len(), 2);
    t.run(&["FLUSHDB"]);
    t.run(&["SET", "x", "10"]);
    t.run(&["DEL", "x"]);
    assert_eq!(t.run(&["RANDOMKEY"]), Reply::Nil);
    assert_eq!(
        t.run(&["RANDOMKEY", "x"]),
        err("ERR wrong number of arguments for 'randomkey' command")
    );
}

#[test]
fn randomkey_deletes_expired_picks() {
    let mut t = TestShard::new();
    t.shard.rng = SmallRng::seed_from_u64(11);
    t.run(&["SET", "foo1", "bar"]);
    t.run(&["SET", "foo2", "bar"]);
    t.run(&["PEXPIRE", "foo1", "1"]);
    t.run(&["PEXPIRE", "foo2", "1"]);
    t.advance_ms(2);
    assert_eq!(t.run(&["RANDOMKEY"]), Reply::Nil);
    assert_eq!(t.run(&["DBSIZE"]), int(0));
    assert_eq!(t.shard.stats.expired_keys, 2);

    // Many expired keys and one live key: the bounded tries plus the fallback still find it
    // or clean up; repeated calls always converge on the live key.
    for i in 0..300 {
        let k = format!("dead:{i}");
        t.run(&["SET", &k, "v"]);
        t.run(&["PEXPIRE", &k, "1"]);
    }
    t.run(&["SET", "alive", "v"]);
    t.advance_ms(1);
    let mut found = None;
    for _ in 0..10 {
        if let Reply::Bulk(b) = t.run(&["RANDOMKEY"]) {
            found = Some(b);
            break;
        }
    }
    assert_eq!(found, Some(Bytes::from_static(b"alive")));
}

#[test]
fn touch_counts_and_updates_access_time() {
    let mut t = TestShard::new();
    t.run(&["SET", "a", "1"]);
    t.advance_ms(7000);
    assert_eq!(t.run(&["OBJECT", "IDLETIME", "a"]), int(7));
    assert_eq!(t.run(&["TOUCH", "a", "b", "a"]), int(2));
    assert_eq!(t.run(&["OBJECT", "IDLETIME", "a"]), int(0));
    assert_eq!(t.shard.stats.keyspace_hits, 4);
    assert_eq!(t.shard.stats.keyspace_misses, 1);
}

#[test]
fn object_encoding_and_refcount() {
    let mut t = TestShard::new();
    t.run(&["SET", "i", "100"]);
    t.run(&["SET", "j", "10000"]);
    t.run(&["SET", "k", "9999"]);
    t.run(&["SET", "neg", "-1"]);
    t.run(&["SET", "s", "hello"]);
    t.run(&["SET", "e", ""]);
    t.run(&["SET", "lead", "007"]);
    t.run(&["SET", "long", &"x".repeat(45)]);
    assert_eq!(t.run(&["OBJECT", "ENCODING", "i"]), bulk("int"));
    assert_eq!(t.run(&["object", "encoding", "s"]), bulk("embstr"));
    assert_eq!(t.run(&["OBJECT", "ENCODING", "e"]), bulk("embstr"));
    assert_eq!(t.run(&["OBJECT", "ENCODING", "lead"]), bulk("embstr"));
    assert_eq!(t.run(&["OBJECT", "ENCODING", "long"]), bulk("raw"));
    assert_eq!(t.run(&["OBJECT", "ENCODING", "nokey"]), Reply::Nil);
    assert_eq!(t.run(&["OBJECT", "REFCOUNT", "i"]), int(2147483647));
    assert_eq!(t.run(&["OBJECT", "REFCOUNT", "k"]), int(2147483647));
    assert_eq!(t.run(&["OBJECT", "REFCOUNT", "j"]), int(1));
    assert_eq!(t.run(&["OBJECT", "REFCOUNT", "neg"]), int(1));
    assert_eq!(t.run(&["OBJECT", "REFCOUNT", "s"]), int(1));
    assert_eq!(t.run(&["OBJECT", "REFCOUNT", "lead"]), int(1));
    assert_eq!(t.run(&["OBJECT", "REFCOUNT", "nokey"]), Reply::Nil);
    put(&mut t, 0, "h", Value::Hash(Box::default()));
    assert_eq!(t.run(&["OBJECT", "REFCOUNT", "h"]), int(1));

    // With maxmemory and an LRU/LFU policy Redis stops sharing integers.
    t.shard.config.maxmemory = 100 << 20;
    t.shard.config.maxmemory_policy = EvictionPolicy::AllKeysLru;
    assert_eq!(t.run(&["OBJECT", "REFCOUNT", "i"]), int(1));
    t.shard.config.maxmemory_policy = EvictionPolicy::VolatileTtl;
    assert_eq!(t.run(&["OBJECT", "REFCOUNT", "i"]), int(2147483647));
    t.shard.config.maxmemory = 0;
    t.shard.config.maxmemory_policy = EvictionPolicy::AllKeysLfu;
    assert_eq!(t.run(&["OBJECT", "REFCOUNT", "i"]), int(2147483647));
}

#[test]
fn object_idletime_does_not_touch() {
    let mut t = TestShard::new();
    t.run(&["SET", "k", "v"]);
    assert_eq!(t.run(&["OBJECT", "IDLETIME", "k"]), int(0));
    t.advance_ms(2999);
    assert_eq!(t.run(&["OBJECT", "IDLETIME", "k"]), int(2));
    t.advance_ms(1);
    assert_eq!(t.run(&["OBJECT", "IDLETIME", "k"]), int(3));
    t.run(&["TYPE", "k"]);
    t.run(&["TTL", "k"]);
    t.run(&["OBJECT", "ENCODING", "k"]);
    assert_eq!(t.run(&["OBJECT", "IDLETIME", "k"]), int(3));
    t.run(&["GET", "k"]);
    assert_eq!(t.run(&["OBJECT", "IDLETIME", "k"]), int(0));
    assert_eq!(t.run(&["OBJECT", "IDLETIME", "nokey"]), Reply::Nil);

    // The 24-bit seconds clock wraps; the idle time stays right across the wrap.
    let wrap_s = 1u64 << 24;
    let now_s = t.now_ms() / 1000;
    let to_wrap_ms = (wrap_s - now_s % wrap_s - 1) * 1000;
    t.advance_ms(to_wrap_ms);
    t.run(&["GET", "k"]);
    t.advance_ms(5000);
    // Redis's estimateObjectIdleTime undercounts by one second across the wrap; so do we.
    assert_eq!(t.run(&["OBJECT", "IDLETIME", "k"]), int(4));
}

#[test]
fn object_freq_and_idletime_depend_on_the_policy() {
    let mut t = TestShard::new();
    t.run(&["SET", "a", "v"]);
    let freq_err = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. \
                    Please note that when switching between policies at runtime LRU and LFU data \
                    will take some time to adjust.";
    assert_eq!(t.run(&["OBJECT", "FREQ", "a"]), err(freq_err));
    assert_eq!(t.run(&["OBJECT", "FREQ", "nokey"]), Reply::Nil);

    t.shard.config.maxmemory_policy = EvictionPolicy::AllKeysLfu;
    let idle_err = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note \
                    that when switching between policies at runtime LRU and LFU data will take \
                    some time to adjust.";
    assert_eq!(t.run(&["OBJECT", "IDLETIME", "a"]), err(idle_err));
    assert_eq!(t.run(&["OBJECT", "IDLETIME", "nokey"]), Reply::Nil);

    // LFU packs the access time in minutes (16 bits) above an 8-bit counter that decays by one
    // per `lfu-decay-time` minutes.
    let minutes = ((t.now_ms() / 60_000) & 0xffff) as u32;
    t.shard.dbs[0].table.get_mut(b"a".as_slice()).expect("a").lru = (minutes << 8) | 5;
    assert_eq!(t.run(&["OBJECT", "FREQ", "a"]), int(5));
    t.advance_ms(3 * 60_000);
    assert_eq!(t.run(&["OBJECT", "FREQ", "a"]), int(2));
    t.shard.config.lfu_decay_time = 2;
    assert_eq!(t.run(&["OBJECT", "FREQ", "a"]), int(4));
    t.shard.config.lfu_decay_time = 0;
    assert_eq!(t.run(&["OBJECT", "FREQ", "a"]), int(5));
    t.shard.config.lfu_decay_time = 1;
    t.advance_ms(60 * 60_000);
    assert_eq!(t.run(&["OBJECT", "FREQ", "a"]), int(0));
}

#[test]
fn object_help_and_errors() {
    let mut t = TestShard::new();
    let Reply::Array(lines) = t.run(&["OBJECT", "HELP"]) else { panic!("help is an array") };
    assert_eq!(lines.len(), 15);
    assert_eq!(lines[0], status("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"));
    assert_eq!(lines[14], status("    Prints this help."));
    assert_eq!(t.run(&["object", "help"]), Reply::Array(lines));
    assert_eq!(
        t.run(&["OBJECT", "foo", "a"]),
        err("ERR unknown subcommand 'foo'. Try OBJECT HELP.")
    );
    assert_eq!(t.run(&["OBJECT", "foo"]), err("ERR unknown subcommand 'foo'. Try OBJECT HELP."));
    assert_eq!(
        t.run(&["OBJECT", "a\r\nb", "x"]),
        err("ERR unknown subcommand 'a  b'. Try OBJECT HELP.")
    );
    assert_eq!(
        t.run(&["OBJECT", "ENCODING"]),
        err("ERR wrong number of arguments for 'object|encoding' command")
    );
    assert_eq!(
        t.run(&["OBJECT", "encoding", "a", "b"]),
        err("ERR wrong number of arguments for 'object|encoding' command")
    );
    assert_eq!(
        t.run(&["OBJECT", "help", "x"]),
        err("ERR wrong number of arguments for 'object|help' command")
    );
    assert_eq!(t.run(&["OBJECT"]), err("ERR wrong number of arguments for 'object' command"));
}

#[test]
fn dbsize_counts_expired_keys_until_removed() {
    let mut t = TestShard::new();
    assert_eq!(t.run(&["DBSIZE"]), int(0));
    for k in ["key1", "key2", "key3"] {
        t.run(&["SET", k, "a"]);
        t.run(&["PEXPIRE", k, "500"]);
    }
    t.advance_ms(1000);
    assert_eq!(t.run(&["DBSIZE"]), int(3));
    t.run(&["GET", "key1"]);
    t.run(&["GET", "key2"]);
    t.run(&["GET", "key3"]);
    assert_eq!(t.run(&["DBSIZE"]), int(0));
    assert_eq!(t.run(&["DBSIZE", "x"]), err("ERR wrong number of arguments for 'dbsize' command"));
}

#[test]
fn flushdb_and_flushall() {
    let mut t = TestShard::new();
    for db in [0, 1, 5] {
        t.db = db;
        t.run(&["SET", "a", "1"]);
        t.run(&["SET", "b", "1"]);
        t.run(&["EXPIRE", "b", "100"]);
    }
    t.db = 1;
    assert_eq!(t.run(&["FLUSHDB", "foo"]), err("ERR syntax error"));
    assert_eq!(t.run(&["FLUSHDB", "sync", "x"]), err("ERR syntax error"));
    assert_eq!(t.run(&["DBSIZE"]), int(2));
    assert_eq!(t.run(&["FLUSHDB"]), Reply::ok());
    assert_eq!(t.run(&["DBSIZE"]), int(0));
    assert_eq!(t.shard.dbs[1].expires, 0);
    assert_eq!(t.shard.dbs[0].len(), 2);
    t.run(&["SET", "c", "1"]);
    assert_eq!(t.run(&["FLUSHDB", "ASYNC"]), Reply::ok());
    t.run(&["SET", "c", "1"]);
    assert_eq!(t.run(&["flushdb", "Sync"]), Reply::ok());
    assert_eq!(t.run(&["DBSIZE"]), int(0));

    assert_eq!(t.run(&["FLUSHALL", "foo"]), err("ERR syntax error"));
    assert_eq!(t.run(&["FLUSHALL", "sync", "a"]), err("ERR syntax error"));
    assert_eq!(t.shard.key_count(), 4);
    assert_eq!(t.run(&["FLUSHALL", "ASYNC"]), Reply::ok());
    assert_eq!(t.shard.key_count(), 0);
    assert!(t.shard.dbs.iter().all(|d| d.expires == 0));
    t.run(&["SET", "c", "1"]);
    assert_eq!(t.run(&["FLUSHALL"]), Reply::ok());
    assert_eq!(t.shard.key_count(), 0);
}

#[test]
fn swapdb_swaps_whole_databases() {
    let mut t = TestShard::new();
    t.run(&["SET", "a", "db0"]);
    t.run(&["EXPIRE", "a", "100"]);
    t.db = 1;
    t.run(&["SET", "b", "db1"]);
    assert_eq!(t.run(&["SWAPDB", "0", "1"]), Reply::ok());
    assert_eq!(t.run(&["GET", "a"]), bulk("db0"));
    assert_eq!(t.run(&["TTL", "a"]), int(100));
    assert_eq!(t.run(&["EXISTS", "b"]), int(0));
    t.db = 0;
    assert_eq!(t.run(&["GET", "b"]), bulk("db1"));
    assert_eq!(t.shard.dbs[1].expires, 1);
    assert_eq!(t.shard.dbs[0].expires, 0);

    assert_eq!(t.run(&["SWAPDB", "0", "0"]), Reply::ok());
    assert_eq!(t.run(&["GET", "b"]), bulk("db1"));
    assert_eq!(t.run(&["SWAPDB", "x", "1"]), err("ERR invalid first DB index"));
    assert_eq!(t.run(&["SWAPDB", "1", "x"]), err("ERR invalid second DB index"));
    assert_eq!(t.run(&["SWAPDB", "99999999999", "0"]), err("ERR invalid first DB index"));
    assert_eq!(t.run(&["SWAPDB", "0", "99999999999"]), err("ERR invalid second DB index"));
    assert_eq!(t.run(&["SWAPDB", "0", "16"]), err("ERR DB index is out of range"));
    assert_eq!(t.run(&["SWAPDB", "-1", "0"]), err("ERR DB index is out of range"));
    assert_eq!(t.run(&["SWAPDB", "0"]), err("ERR wrong number of arguments for 'swapdb' command"));
}

#[test]
fn writes_feed_the_write_log() {
    let mut t = TestShard::new();
    t.run(&["SET", "a", "1"]);
    t.run(&["SET", "c", "1"]);
    t.shard.write_log = Some(Vec::new());
    t.run(&["RENAME", "a", "b"]);
    t.run(&["MOVE", "b", "3"]);
    t.run(&["COPY", "c", "d", "DB", "2"]);
    t.run(&["EXISTS", "c"]);
    let log: Vec<(usize, String)> = t
        .shard
        .write_log
        .take()
        .expect("log")
        .into_iter()
        .map(|(db, k)| (db, String::from_utf8(k.to_vec()).expect("utf8")))
        .collect();
    let expected: Vec<(usize, String)> =
        [(0, "a"), (0, "b"), (0, "b"), (3, "b"), (2, "d")].map(|(d, k)| (d, k.into())).into();
    assert_eq!(log, expected);

    t.shard.write_log = Some(Vec::new());
    t.run(&["SWAPDB", "2", "3"]);
    let log = t.shard.write_log.take().expect("log");
    assert_eq!(log.len(), 4);
}

#[test]
fn command_table_entries() {
    use mayfly_engine::command::{flags, Merge, MultiShard};
    let spec = |name: &str| mayfly_engine::lookup(name.as_bytes()).expect(name);
    assert_eq!(spec("del").multi, MultiShard::Split(Merge::SumInts));
    assert_eq!(spec("exists").multi, MultiShard::Split(Merge::SumInts));
    assert_eq!(spec("touch").multi, MultiShard::Split(Merge::SumInts));
    assert_eq!(spec("unlink").multi, MultiShard::Split(Merge::SumInts));
    assert_eq!(spec("rename").multi, MultiShard::Gather);
    assert_eq!(spec("copy").multi, MultiShard::Gather);
    assert_eq!(spec("keys").multi, MultiShard::Broadcast(Merge::ConcatArrays));
    assert_eq!(spec("dbsize").multi, MultiShard::Broadcast(Merge::SumInts));
    assert_eq!(spec("flushall").multi, MultiShard::Broadcast(Merge::AllOk));
    assert_eq!(spec("swapdb").multi, MultiShard::Broadcast(Merge::AllOk));
    assert_eq!(spec("scan").multi, MultiShard::Net);
    assert_eq!(spec("randomkey").multi, MultiShard::Net);
    assert_eq!(spec("rename").key_indexes(3), vec![1, 2]);
    assert_eq!(spec("copy").key_indexes(6), vec![1, 2]);
    assert_eq!(spec("del").key_indexes(4), vec![1, 2, 3]);
    assert_eq!(spec("object").key_indexes(3), vec![2]);
    assert_eq!(spec("object").key_indexes(2), Vec::<usize>::new());
    assert!(spec("unlink").has(flags::FAST) && !spec("del").has(flags::FAST));
    assert!(spec("copy").has(flags::DENYOOM));
    assert!(spec("exists").has(flags::READONLY));
    assert_eq!(spec("object").subcommands.len(), 5);
}

/// Model check: random key, expiry and database operations applied to the engine and to a plain
/// map with absolute expiry times; every reply must agree, and the per-database `expires`
/// counters must always equal the number of entries with a TTL.
mod model {
    use std::collections::{BTreeSet, HashMap};

    use mayfly_engine::reply::Reply;
    use mayfly_engine::testing::TestShard;
    use proptest::prelude::*;

    const DBS: usize = 3;
    const KEYS: [&str; 5] = ["a", "b", "c", "{x}d", "e"];

    #[derive(Debug, Clone)]
    enum Op {
        Set(usize, usize, u8),
        Get(usize, usize),
        Del(usize, usize, usize),
        Exists(usize, usize, usize),
        Pexpire(usize, usize, i64),
        Pttl(usize, usize),
        Persist(usize, usize),
        Rename(usize, usize, usize, bool),
        Copy(usize, usize, usize, usize, bool),
        Move(usize, usize, usize),
        Swapdb(usize, usize),
        Flushdb(usize),
        Advance(u64),
        ActiveExpire(usize),
        ScanAll(usize, usize),
        Keys(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        let db = 0..DBS;
        let key = 0..KEYS.len();
        prop_oneof![
            4 => (db.clone(), key.clone(), any::<u8>()).prop_map(|(d, k, v)| Op::Set(d, k, v)),
            2 => (db.clone(), key.clone()).prop_map(|(d, k)| Op::Get(d, k)),
            2 => (db.clone(), key.clone(), key.clone()).prop_map(|(d, a, b)| Op::Del(d, a, b)),
            2 => (db.clone(), key.clone(), key.clone()).prop_map(|(d, a, b)| Op::Exists(d, a, b)),
            4 => (db.clone(), key.clone(), -5i64..60).prop_map(|(d, k, ms)| Op::Pexpire(d, k, ms)),
            2 => (db.clone(), key.clone()).prop_map(|(d, k)| Op::Pttl(d, k)),
            1 => (db.clone(), key.clone()).prop_map(|(d, k)| Op::Persist(d, k)),
            2 => (db.clone(), key.clone(), key.clone(), any::<bool>())
                .prop_map(|(d, a, b, nx)| Op::Rename(d, a, b, nx)),
            2 => (db.clone(), key.clone(), key.clone(), db.clone(), any::<bool>())
                .prop_map(|(d, a, b, to, r)| Op::Copy(d, a, b, to, r)),
            2 => (db.clone(), key.clone(), db.clone()).prop_map(|(d, k, to)| Op::Move(d, k, to)),
            1 => (db.clone(), db.clone()).prop_map(|(a, b)| Op::Swapdb(a, b)),
            1 => db.clone().prop_map(Op::Flushdb),
            3 => (0u64..40).prop_map(Op::Advance),
            2 => (1usize..20).prop_map(Op::ActiveExpire),
            1 => (db.clone(), 1usize..4).prop_map(|(d, c)| Op::ScanAll(d, c)),
            1 => db.prop_map(Op::Keys),
        ]
    }

    #[derive(Default)]
    struct Model {
        now_ms: u64,
        /// (db, key) → (value, absolute expiry ms or 0).
        map: HashMap<(usize, String), (String, u64)>,
    }

    impl Model {
        fn live(&mut self, db: usize, key: &str) -> Option<(String, u64)> {
            let id = (db, key.to_string());
            match self.map.get(&id) {
                Some((_, at)) if *at != 0 && *at <= self.now_ms => {
                    self.map.remove(&id);
                    None
                }
                other => other.cloned(),
            }
        }

        fn live_keys(&self, db: usize) -> BTreeSet<String> {
            self.map
                .iter()
                .filter(|((d, _), (_, at))| *d == db && (*at == 0 || *at > self.now_ms))
                .map(|((_, k), _)| k.clone())
                .collect()
        }

        fn apply(&mut self, op: &Op) -> Reply {
            match *op {
                Op::Set(db, k, v) => {
                    self.map.insert((db, KEYS[k].into()), (v.to_string(), 0));
                    Reply::ok()
                }
                Op::Get(db, k) => match self.live(db, KEYS[k]) {
                    Some((v, _)) => Reply::bulk_str(&v),
                    None => Reply::Nil,
                },
                Op::Del(db, a, b) => {
                    let mut n = 0;
                    for k in [a, b] {
                        if self.live(db, KEYS[k]).is_some() {
                            self.map.remove(&(db, KEYS[k].to_string()));
                            n += 1;
                        }
                    }
                    Reply::Int(n)
                }
                Op::Exists(db, a, b) => Reply::Int(
                    [a, b].iter().filter(|k| self.live(db, KEYS[**k]).is_some()).count() as i64,
                ),
                Op::Pexpire(db, k, ms) => {
                    let Some((v, _)) = self.live(db, KEYS[k]) else { return Reply::Int(0) };
                    let at = self.now_ms as i64 + ms;
                    if at <= self.now_ms as i64 {
                        self.map.remove(&(db, KEYS[k].to_string()));
                    } else {
                        self.map.insert((db, KEYS[k].into()), (v, at as u64));
                    }
                    Reply::Int(1)
                }
                Op::Pttl(db, k) => match self.live(db, KEYS[k]) {
                    None => Reply::Int(-2),
                    Some((_, 0)) => Reply::Int(-1),
                    Some((_, at)) => Reply::Int((at - self.now_ms) as i64),
                },
                Op::Persist(db, k) => match self.live(db, KEYS[k]) {
                    Some((v, at)) if at != 0 => {
                        self.map.insert((db, KEYS[k].into()), (v, 0));
                        Reply::Int(1)
                    }
                    _ => Reply::Int(0),
                },
                Op::Rename(db, a, b, nx) => {
                    let Some(src) = self.live(db, KEYS[a]) else {
                        return Reply::error("ERR no such key");
                    };
                    if a == b {
                        return if nx { Reply::Int(0) } else { Reply::ok() };
                    }
                    if self.live(db, KEYS[b]).is_some() && nx {
                        return Reply::Int(0);
                    }
                    self.map.remove(&(db, KEYS[a].to_string()));
                    self.map.insert((db, KEYS[b].into()), src);
                    if nx {
                        Reply::Int(1)
                    } else {
                        Reply::ok()
                    }
                }
                Op::Copy(db, a, b, to, replace) => {
                    if db == to && a == b {
                        return Reply::error("ERR source and destination objects are the same");
                    }
                    let Some(src) = self.live(db, KEYS[a]) else { return Reply::Int(0) };
                    if self.live(to, KEYS[b]).is_some() && !replace {
                        return Reply::Int(0);
                    }
                    self.map.insert((to, KEYS[b].into()), src);
                    Reply::Int(1)
                }
                Op::Move(db, k, to) => {
                    if db == to {
                        return Reply::error("ERR source and destination objects are the same");
                    }
                    let Some(src) = self.live(db, KEYS[k]) else { return Reply::Int(0) };
                    if self.live(to, KEYS[k]).is_some() {
                        return Reply::Int(0);
                    }
                    self.map.remove(&(db, KEYS[k].to_string()));
                    self.map.insert((to, KEYS[k].into()), src);
                    Reply::Int(1)
                }
                Op::Swapdb(a, b) => {
                    let swap = |d: usize| {
                        if d == a {
                            b
                        } else if d == b {
                            a
                        } else {
                            d
                        }
                    };
                    self.map = self.map.drain().map(|((d, k), v)| ((swap(d), k), v)).collect();
                    Reply::ok()
                }
                Op::Flushdb(db) => {
                    self.map.retain(|(d, _), _| *d != db);
                    Reply::ok()
                }
                Op::Advance(ms) => {
                    self.now_ms += ms;
                    Reply::Nil
                }
                Op::ActiveExpire(_) | Op::ScanAll(..) | Op::Keys(_) => Reply::Nil,
            }
        }
    }

    fn strings(reply: &Reply) -> BTreeSet<String> {
        super::sorted_strings(reply).into_iter().collect()
    }

    fn run(t: &mut TestShard, model: &mut Model, op: &Op) {
        let expected = model.apply(op);
        let k = |i: usize| KEYS[i];
        let (db, got) = match *op {
            Op::Set(db, key, v) => (db, vec!["SET".into(), k(key).into(), v.to_string()]),
            Op::Get(db, key) => (db, vec!["GET".into(), k(key).into()]),
            Op::Del(db, a, b) => (db, vec!["DEL".into(), k(a).into(), k(b).into()]),
            Op::Exists(db, a, b) => (db, vec!["EXISTS".into(), k(a).into(), k(b).into()]),
            Op::Pexpire(db, key, ms) => (db, vec!["PEXPIRE".into(), k(key).into(), ms.to_string()]),
            Op::Pttl(db, key) => (db, vec!["PTTL".into(), k(key).into()]),
            Op::Persist(db, key) => (db, vec!["PERSIST".into(), k(key).into()]),
            Op::Rename(db, a, b, nx) => {
                let name = if nx { "RENAMENX" } else { "RENAME" };
                (db, vec![name.into(), k(a).into(), k(b).into()])
            }
            Op::Copy(db, a, b, to, replace) => {
                let mut argv: Vec<String> =
                    vec!["COPY".into(), k(a).into(), k(b).into(), "DB".into(), to.to_string()];
                if replace {
                    argv.push("REPLACE".into());
                }
                (db, argv)
            }
            Op::Move(db, key, to) => (db, vec!["MOVE".into(), k(key).into(), to.to_string()]),
            Op::Swapdb(a, b) => (0, vec!["SWAPDB".into(), a.to_string(), b.to_string()]),
            Op::Flushdb(db) => (db, vec!["FLUSHDB".into()]),
            Op::Advance(ms) => {
                t.advance_ms(ms);
                return;
            }
            Op::ActiveExpire(budget) => {
                t.shard.active_expire(budget);
                return;
            }
            Op::ScanAll(db, count) => {
                t.db = db;
                let (keys, _) = super::scan_all(t, &["COUNT", &count.to_string()]);
                let keys: BTreeSet<String> = keys.into_iter().collect();
                assert_eq!(keys, model.live_keys(db), "SCAN db {db}");
                return;
            }
            Op::Keys(db) => {
                t.db = db;
                assert_eq!(strings(&t.run(&["KEYS", "*"])), model.live_keys(db), "KEYS db {db}");
                return;
            }
        };
        t.db = db;
        let argv: Vec<&str> = got.iter().map(String::as_str).collect();
        assert_eq!(t.run(&argv), expected, "{argv:?} in db {db}");
    }

    fn check_counters(t: &TestShard) {
        for (i, db) in t.shard.dbs.iter().enumerate() {
            let with_ttl = db.table.iter().filter(|(_, e)| e.expire_at_ms != 0).count();
            assert_eq!(db.expires, with_ttl, "expires counter of db {i}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn engine_matches_model(ops in proptest::collection::vec(op(), 1..120)) {
            let mut t = TestShard::new();
            let mut model = Model { now_ms: t.now_ms(), ..Model::default() };
            for op in &ops {
                run(&mut t, &mut model, op);
                check_counters(&t);
            }
            for db in 0..DBS {
                t.db = db;
                let (keys, _) = super::scan_all(&mut t, &[]);
                let keys: BTreeSet<String> = keys.into_iter().collect();
                prop_assert_eq!(keys, model.live_keys(db));
            }
        }
    }
}
