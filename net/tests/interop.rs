//! One script of string, key, expiry, connection and server commands (GitHub issue 2's list,
//! with their error cases) run against a fresh real redis-server 7.0 and a fresh Mayfly,
//! comparing reply bytes command by command. Replies that depend on time or on hash order are
//! compared through a check that makes them deterministic (a tolerance for TTLs, sorting for
//! KEYS, a full SCAN walk compared as a set, ids compared by type). Every mismatch is printed
//! and the test fails listing all of them.
//!
//! Script lines: `[check] ARGS…`, where ARGS are split on spaces, `"…"` quotes an argument
//! (with `\xHH`, `\n`, `\r`, `\t`, `\"`, `\\` escapes), and check is one of
//! - nothing: exact bytes;
//! - `~N`: both integers within N of each other (TTL, PTTL, IDLETIME, EXPIRETIME of relative
//!   expiries);
//! - `@sort`: an array compared with its elements sorted (KEYS);
//! - `@int`: both integers, values not compared (CLIENT ID);
//! - `@time`: TIME, seconds within 2;
//! - `@hello`: HELLO's map with the client id masked;
//! - `@scan`: the SCAN arguments after the cursor; the walk runs from cursor 0 to 0 on both
//!   servers and the sets of keys returned are compared.
//! - `@needs:CMD` (before the others): run only when Mayfly implements CMD (other types'
//!   WRONGTYPE cases); otherwise skipped on both servers with a note.
//!   on both servers with a note.

mod common;

use common::{show, RawClient, RedisServer, Resp, Server};

const SCRIPT: &str = r#"
# --- connection
PING
PING hello
PING a b
ECHO "hello world"
ECHO ""
ECHO
CLIENT GETNAME
CLIENT SETNAME interop
CLIENT GETNAME
CLIENT SETNAME "bad name"
CLIENT SETNAME ""
CLIENT GETNAME
@int CLIENT ID
CLIENT NOSUCHSUB
SELECT 1
SET indb1 x
SELECT 0
EXISTS indb1
SELECT 16
SELECT -1
SELECT abc
FLUSHALL
DBSIZE
RANDOMKEY

# --- SET and its options
SET k v
GET k
SET k v2 GET
SET newk v GET
GET newk
SET k v3 NX
SET k v3 XX
GET k
SET nope v XX
GET nope
SET nxk 1 NX
SET nxk 2 NX GET
SET nxk 3 XX GET
~1 TTL nxk
SET ek v EX 100
~1 TTL ek
~1000 PTTL ek
SET ek v PX 100000
~1 TTL ek
SET ek v EXAT 4102444800
TTL ek
EXPIRETIME ek
SET ek v PXAT 4102444800123
PEXPIRETIME ek
EXPIRETIME ek
SET ek v2 KEEPTTL
PEXPIRETIME ek
GET ek
SET ek v3
TTL ek
SET k v EX 0
SET k v EX -5
SET k v PX 0
SET k v EX abc
SET k v EX 9223372036854775807
SET k v EXAT 0
SET k v NX XX
SET k v EX 10 PX 100
SET k v KEEPTTL EX 10
SET k v EX
SET k v FOO
SET k
SET

# --- SETNX SETEX PSETEX GETSET GETDEL GETEX
SETNX snx 1
SETNX snx 2
GET snx
SETEX sex 100 v
~1 TTL sex
SETEX sex 0 v
SETEX sex -1 v
SETEX sex abc v
SETEX sex 10
PSETEX psx 100000 v
~1 TTL psx
PSETEX psx 0 v
GETSET gs a
GETSET gs b
GET gs
GETDEL gs
GETDEL gs
EXISTS gs
SET gx v
GETEX gx
TTL gx
GETEX gx EX 100
~1 TTL gx
GETEX gx PX 200000
~1 TTL gx
GETEX gx EXAT 4102444800
EXPIRETIME gx
GETEX gx PXAT 4102444800555
PEXPIRETIME gx
GETEX gx PERSIST
TTL gx
GETEX gx EX 0
GETEX gx EX 10 PX 10
GETEX gx FOO
GETEX gx PERSIST EX 10
GETEX missing
GETEX missing EX 10

# --- MGET MSET MSETNX
MSET a 1 b 2 c 3
MGET a b c nosuch
MSET a 1 b
MSET
MSETNX a 9 d 4
MGET a d
MSETNX d 4 e 5
MGET d e
MSETNX d 1 d 2
MSETNX f
MGET

# --- APPEND STRLEN GETRANGE SUBSTR SETRANGE
APPEND ap hello
APPEND ap " world"
GET ap
STRLEN ap
STRLEN nosuch
GETRANGE ap 0 4
GETRANGE ap -5 -1
GETRANGE ap 6 100
GETRANGE ap 5 2
GETRANGE ap -100 -50
GETRANGE ap 0 -1
GETRANGE nosuch 0 10
GETRANGE ap a 1
SUBSTR ap 0 4
SUBSTR ap -3 -1
SETRANGE ap 6 WORLD
GET ap
SETRANGE ap 15 x
GET ap
STRLEN ap
SETRANGE sr 3 abc
GET sr
SETRANGE sr2 0 ""
EXISTS sr2
SETRANGE sr -1 x
SETRANGE sr 536870912 x
SETRANGE sr abc x

# --- INCR DECR INCRBY DECRBY INCRBYFLOAT
INCR n
INCR n
DECR n
INCRBY n 10
DECRBY n 20
INCRBY n -5
GET n
INCRBY n abc
INCRBY n 1.5
SET n 9223372036854775807
INCR n
SET n -9223372036854775808
DECR n
DECRBY n 9223372036854775807
SET n 5
DECRBY n -9223372036854775808
SET n " 5"
INCR n
SET n abc
INCR n
SET n 00
INCR n
SET n 123456789012345678901234567890
INCR n
INCRBYFLOAT f 10.5
INCRBYFLOAT f 0.1
INCRBYFLOAT f -5
INCRBYFLOAT f 5.0e3
INCRBYFLOAT f 1e-3
GET f
SET f 3
INCRBYFLOAT f 1.5
SET f 5.0e3
INCRBYFLOAT f 200
INCRBYFLOAT f abc
INCRBYFLOAT f inf
SET f 1.7976931348623157e308
INCRBYFLOAT f 1.7976931348623157e308
SET f abc
INCRBYFLOAT f 1
INCRBYFLOAT nf 0

# --- LCS
MSET l1 ohmytext l2 mynewtext
LCS l1 l2
LCS l1 l2 LEN
LCS l1 l2 IDX
LCS l1 l2 IDX MINMATCHLEN 4
LCS l1 l2 IDX MINMATCHLEN 2 WITHMATCHLEN
LCS l1 nosuch
LCS l1 l2 LEN IDX
LCS l1 l2 FOO
LCS l1

# --- objects
SET small abc
SET int 1234
SET bigint 12345678901234567890
SET longstr "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
OBJECT ENCODING small
OBJECT ENCODING int
OBJECT ENCODING bigint
OBJECT ENCODING longstr
OBJECT ENCODING nosuch
APPEND small d
OBJECT ENCODING small
SET sr abc
SETRANGE sr 1 x
OBJECT ENCODING sr
SET nenc 5
INCR nenc
OBJECT ENCODING nenc
INCRBYFLOAT nenc 1.5
OBJECT ENCODING nenc
SET lead0 0123
OBJECT ENCODING lead0
SET neg -42
OBJECT ENCODING neg
SET spaced " 42"
OBJECT ENCODING spaced
SET exact44 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
OBJECT ENCODING exact44
SET exact45 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
OBJECT ENCODING exact45
GETSET neg 7
OBJECT ENCODING neg
SET int10k 10000
OBJECT REFCOUNT int
OBJECT REFCOUNT int10k
OBJECT REFCOUNT small
OBJECT REFCOUNT nosuch
~2 OBJECT IDLETIME small
OBJECT FREQ small
OBJECT NOSUCH x
OBJECT
OBJECT HELP
CONFIG SET maxmemory-policy allkeys-lfu
SET lfu v
OBJECT FREQ lfu
GET lfu
OBJECT FREQ lfu
OBJECT IDLETIME lfu
CONFIG SET maxmemory-policy noeviction
CONFIG GET maxmemory-policy

# --- generic key commands
FLUSHDB
MSET k1 a k2 b k3 c other d
DEL k1 nosuch k1
EXISTS k1 k2 k2 nosuch
UNLINK k2 nosuch
EXISTS k2
TYPE k3
TYPE nosuch
@sort KEYS *
@sort KEYS k*
@sort KEYS ?3
@sort KEYS [ko]*
KEYS nomatch*
TOUCH k3 other nosuch
RENAME k3 k4
GET k4
EXISTS k3
RENAME nosuch x
RENAME k4 k4
RENAMENX k4 other
RENAMENX k4 k5
RENAMENX nosuch y
GET k5
SET ttlk v EX 1000
RENAME ttlk ttlk2
~1 TTL ttlk2
COPY k5 k6
GET k6
COPY k5 k6
COPY k5 k6 REPLACE
COPY k5 k5
COPY nosuch k7
COPY k5 k7 DB 1
COPY k5 k7 DB 99
COPY k5 k7 FOO
COPY ttlk2 ttlk3
~1 TTL ttlk3
SELECT 1
GET k7
SELECT 0
MOVE k6 1
MOVE k6 1
MOVE k5 0
MOVE k5 99
MOVE k5 abc
MOVE nosuch 1
EXISTS k6
SELECT 1
@sort KEYS *
SELECT 0
@scan MATCH * COUNT 10
@scan MATCH k* COUNT 2
@scan COUNT 100 TYPE string
@scan TYPE list
@scan MATCH nomatch*
SCAN abc
SCAN 0 COUNT 0
SCAN 0 FOO bar
DBSIZE
SWAPDB 0 1
DBSIZE
@sort KEYS *
SWAPDB 0 1
DBSIZE
SWAPDB 0 16
SWAPDB a 1
SWAPDB 0 b
SWAPDB 0 0
SELECT 2
RANDOMKEY
SET only one
RANDOMKEY
FLUSHDB
RANDOMKEY
SELECT 0
FLUSHDB FOO
FLUSHDB SYNC
DBSIZE
SET after flush
FLUSHALL ASYNC
DBSIZE
SELECT 1
DBSIZE
SELECT 0

# --- expiry
SET e v
EXPIRE e 100
~1 TTL e
EXPIRE e 100 NX
EXPIRE e 200 XX
~1 TTL e
EXPIRE e 50 GT
EXPIRE e 300 GT
~1 TTL e
EXPIRE e 400 LT
EXPIRE e 50 LT
~1 TTL e
PERSIST e
PERSIST e
TTL e
EXPIRE e 100 XX
EXPIRE e 100 GT
EXPIRE e 100 LT
~1 TTL e
PERSIST e
EXPIRE e 10 NX XX
EXPIRE e 10 GT LT
EXPIRE e 10 NX GT
EXPIRE e 10 FOO
EXPIRE e abc
EXPIRE e 9223372036854775807
EXPIRE e 9223372036854775
PEXPIRE e 9223372036854775807
EXPIRE nosuch 10
TTL nosuch
PTTL nosuch
EXPIRETIME nosuch
PEXPIRETIME nosuch
EXPIRETIME e
PEXPIRE e 100000
~1000 PTTL e
PEXPIRE e 100000 NX
PEXPIRE e 200000 GT
~1 TTL e
EXPIREAT e 4102444800
EXPIRETIME e
PEXPIRETIME e
EXPIREAT e 4102444900 LT
EXPIREAT e 4102444900 GT
EXPIRETIME e
PEXPIREAT e 4102444800999
PEXPIRETIME e
EXPIRETIME e
PEXPIREAT e 4102444800000 XX
PEXPIRETIME e
EXPIREAT e abc
EXPIREAT e 10 FOO
SET gone v
EXPIRE gone -1
EXISTS gone
SET gone v
EXPIREAT gone 1
GET gone
SET gone v
PEXPIRE gone 0
GET gone
SET gone v
PEXPIREAT gone 1000
TTL gone
EXPIRE
TTL
PERSIST
EXPIRETIME

# --- errors of every kind
GET
GET a b
DEL
EXISTS
FOOBAR
FOOBAR a b "c d"
"" x
SETEX k
INCR
APPEND k
TYPE
KEYS
KEYS a b
RENAME a
OBJECT ENCODING
TOUCH
STRLEN
DBSIZE x
FLUSHALL x
SELECT
ECHO a b
MOVE k
SWAPDB 1

# --- other types, for WRONGTYPE and the type-generic key commands (each line runs only
# --- when Mayfly has the command named after `@needs:`)
@needs:rpush RPUSH lst a b c
@needs:rpush TYPE lst
@needs:rpush GET lst
@needs:rpush SET lst v GET
@needs:rpush APPEND lst x
@needs:rpush INCR lst
@needs:rpush OBJECT ENCODING lst
@needs:rpush @scan TYPE list
@needs:rpush SET lst v
@needs:rpush TYPE lst
@needs:sadd SADD st 1 2 3
@needs:sadd SADD st2 a b
@needs:sadd TYPE st
@needs:sadd GET st
@needs:sadd SET st v GET
@needs:sadd GETSET st v
@needs:sadd GETDEL st
@needs:sadd GETEX st EX 10
@needs:sadd APPEND st x
@needs:sadd STRLEN st
@needs:sadd SETRANGE st 0 x
@needs:sadd GETRANGE st 0 1
@needs:sadd INCR st
@needs:sadd DECRBY st 2
@needs:sadd INCRBYFLOAT st 1
@needs:sadd LCS st l1
@needs:sadd MGET st a
@needs:sadd OBJECT ENCODING st
@needs:sadd OBJECT ENCODING st2
@needs:sadd @scan TYPE set
@needs:sadd @scan TYPE SET MATCH st*
@needs:sadd COPY st stcopy
@needs:sadd TYPE stcopy
@needs:sadd RENAME st2 st3
@needs:sadd TYPE st3
@needs:sadd EXPIRE st3 100
@needs:sadd ~1 TTL st3
@needs:sadd MOVE st3 3
@needs:sadd SETNX st v
@needs:sadd MSETNX st v zz v
@needs:sadd MSET st v
@needs:sadd TYPE st
@needs:sadd GET st
@needs:hset HSET hs f v
@needs:hset TYPE hs
@needs:hset GET hs
@needs:hset INCR hs
@needs:hset OBJECT ENCODING hs
@needs:hset @scan TYPE hash
@needs:hset SET hs v KEEPTTL
@needs:hset TYPE hs
@needs:sadd FLUSHDB

# --- RESP3
@hello HELLO 3
GET nosuch
GET a
SET r3 1.5
INCRBYFLOAT r3 1
CONFIG GET maxmemory
@sort KEYS r*
MGET r3 nosuch
EXISTS r3
TTL r3
OBJECT HELP
COMMAND GETKEYS MSET a 1 b 2
SET k v EX 0
FOOBAR
@hello HELLO 2
GET nosuch
HELLO 4
HELLO abc
@time TIME
"#;

/// Script lines whose replies are known to differ from Redis 7.0 (reported to the lead; each
/// with what Redis does). They are still run and printed, but only the ignored test
/// `known_differences_are_fixed` fails on them, so every other line keeps guarding.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "OBJECT ENCODING small",
        "after APPEND Redis reports `raw` (APPEND always unshares/converts to raw); Mayfly \
         still says `embstr`",
    ),
    ("OBJECT ENCODING sr", "after SETRANGE Redis reports `raw`; Mayfly still says `embstr`"),
];

fn is_known(args: &[Vec<u8>]) -> bool {
    let text = describe(args);
    KNOWN_DIFFERENCES.iter().any(|(line, _)| *line == text)
}

/// How two replies are compared.
#[derive(Clone, Copy, Debug)]
enum Check {
    Exact,
    Tol(i64),
    Sorted,
    AnyInt,
    Time,
    Hello,
    Scan,
}

struct Step {
    line: usize,
    check: Check,
    /// Command Mayfly must know for this step to run.
    needs: Option<String>,
    args: Vec<Vec<u8>>,
}

fn tokenize(s: &str) -> Vec<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let mut tok = Vec::new();
        if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                    match b[i] {
                        b'n' => tok.push(b'\n'),
                        b'r' => tok.push(b'\r'),
                        b't' => tok.push(b'\t'),
                        b'x' => {
                            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                            tok.push(u8::from_str_radix(hex, 16).unwrap());
                            i += 2;
                        }
                        other => tok.push(other),
                    }
                } else {
                    tok.push(b[i]);
                }
                i += 1;
            }
            i += 1;
        } else {
            while i < b.len() && b[i] != b' ' {
                tok.push(b[i]);
                i += 1;
            }
        }
        out.push(tok);
    }
    out
}

fn parse_script() -> Vec<Step> {
    let mut steps = Vec::new();
    for (n, raw) in SCRIPT.lines().enumerate() {
        let mut line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut needs = None;
        if let Some(rest) = line.strip_prefix("@needs:") {
            let (cmd, rest) = rest.split_once(' ').expect("@needs:CMD then a command");
            needs = Some(cmd.to_string());
            line = rest;
        }
        let (check, rest) = match line.split_once(' ') {
            Some(("@sort", r)) => (Check::Sorted, r),
            Some(("@int", r)) => (Check::AnyInt, r),
            Some(("@time", r)) => (Check::Time, r),
            Some(("@hello", r)) => (Check::Hello, r),
            Some(("@scan", r)) => (Check::Scan, r),
            Some((t, r)) if t.starts_with('~') => (Check::Tol(t[1..].parse().unwrap()), r),
            _ => (Check::Exact, line),
        };
        let args = tokenize(rest);
        assert!(!args.is_empty(), "script line {}: empty", n + 1);
        steps.push(Step { line: n + 1, check, needs, args });
    }
    steps
}

fn int_of(r: &[u8]) -> Option<i64> {
    match common::parse_one(r) {
        Ok(Some((Resp::Int(n), _))) => Some(n),
        _ => None,
    }
}

/// Walks SCAN from 0 to 0 with `rest` after the cursor; the sorted keys it returned
/// (duplicates removed, as SCAN may repeat), or the first error reply.
fn scan_all(c: &mut RawClient, rest: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, Vec<u8>> {
    let mut cursor = b"0".to_vec();
    let mut keys = Vec::new();
    for _ in 0..10_000 {
        let mut args = vec![b"SCAN".to_vec(), cursor.clone()];
        args.extend(rest.iter().cloned());
        let r = c.cmd(&args);
        let parsed = Resp::parse(&r);
        let Resp::Array(parts) = parsed else { return Err(r) };
        assert_eq!(parts.len(), 2, "SCAN reply {}", show(&r));
        cursor = parts[0].as_bytes().to_vec();
        keys.extend(parts[1].items().iter().map(|k| k.as_bytes().to_vec()));
        if cursor == b"0" {
            keys.sort();
            keys.dedup();
            return Ok(keys);
        }
    }
    panic!("SCAN did not finish in 10000 calls");
}

/// A HELLO reply with the client id replaced by 0, so two servers' replies compare.
fn mask_hello(r: &[u8]) -> String {
    match common::parse_one(r) {
        Ok(Some((Resp::Map(pairs), _))) => {
            let pairs: Vec<_> = pairs
                .into_iter()
                .map(|(k, v)| {
                    let v = if k == Resp::Bulk(b"id".to_vec()) { Resp::Int(0) } else { v };
                    (k, v)
                })
                .collect();
            format!("map {pairs:?}")
        }
        Ok(Some((Resp::Array(items), _))) => {
            let items: Vec<_> = items
                .chunks(2)
                .map(|kv| {
                    if kv[0] == Resp::Bulk(b"id".to_vec()) {
                        vec![kv[0].clone(), Resp::Int(0)]
                    } else {
                        kv.to_vec()
                    }
                })
                .collect();
            format!("array {items:?}")
        }
        _ => show(r),
    }
}

fn time_secs(r: &[u8]) -> Option<i64> {
    match common::parse_one(r) {
        Ok(Some((Resp::Array(items), _))) if items.len() == 2 => {
            let us: i64 = std::str::from_utf8(items[1].as_bytes()).ok()?.parse().ok()?;
            (0..1_000_000).contains(&us).then_some(())?;
            std::str::from_utf8(items[0].as_bytes()).ok()?.parse().ok()
        }
        _ => None,
    }
}

fn sorted_items(r: &[u8]) -> Option<Vec<Resp>> {
    match common::parse_one(r) {
        Ok(Some((Resp::Array(mut items) | Resp::Set(mut items), _))) => {
            items.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            Some(items)
        }
        _ => None,
    }
}

fn describe(args: &[Vec<u8>]) -> String {
    args.iter().map(|a| show(a)).collect::<Vec<_>>().join(" ")
}

/// Runs the script on fresh servers; returns (commands compared, mismatches not known,
/// known mismatches).
fn run_script(shards: usize) -> Option<(usize, Vec<String>, Vec<String>)> {
    let redis = RedisServer::start(&[])?;
    let mayfly = Server::with_shards(shards);
    let mut r = redis.raw();
    let mut m = mayfly.raw();
    let steps = parse_script();
    let mut known_commands = std::collections::BTreeMap::new();
    for step in &steps {
        if let Some(cmd) = &step.needs {
            known_commands.entry(cmd.clone()).or_insert_with(|| {
                let info = Resp::parse(&m.cmd(&["COMMAND", "INFO", cmd.as_str()]));
                let has = info != Resp::Array(vec![Resp::Nil]);
                if !has {
                    println!("NOTE: Mayfly has no {cmd} yet: the @needs:{cmd} steps are skipped");
                }
                has
            });
        }
    }
    let mut mismatches = Vec::new();
    let mut known = Vec::new();
    let mut ran = 0;
    for step in &steps {
        if step.needs.as_ref().is_some_and(|cmd| !known_commands[cmd]) {
            continue;
        }
        ran += 1;
        let (ok, want, got) = match step.check {
            Check::Scan => {
                let want = scan_all(&mut r, &step.args);
                let got = scan_all(&mut m, &step.args);
                (want == got, format!("{want:?}"), format!("{got:?}"))
            }
            check => {
                let want = r.cmd(&step.args);
                let got = m.cmd(&step.args);
                let ok = match check {
                    Check::Exact => want == got,
                    Check::Tol(t) => matches!(
                        (int_of(&want), int_of(&got)),
                        (Some(a), Some(b)) if (a - b).abs() <= t
                    ),
                    Check::AnyInt => int_of(&want).is_some() && int_of(&got).is_some(),
                    Check::Time => matches!(
                        (time_secs(&want), time_secs(&got)),
                        (Some(a), Some(b)) if (a - b).abs() <= 2
                    ),
                    Check::Hello => mask_hello(&want) == mask_hello(&got),
                    Check::Sorted => {
                        sorted_items(&want).is_some() && sorted_items(&want) == sorted_items(&got)
                    }
                    Check::Scan => unreachable!("handled above"),
                };
                (ok, show(&want), show(&got))
            }
        };
        if !ok {
            let msg = format!(
                "line {} [{:?}] {}\n    redis:  {want}\n    mayfly: {got}",
                step.line,
                step.check,
                describe(&step.args)
            );
            if is_known(&step.args) {
                println!("KNOWN DIFFERENCE (shards={shards}) {msg}");
                known.push(msg);
            } else {
                println!("MISMATCH (shards={shards}) {msg}");
                mismatches.push(msg);
            }
        }
    }
    println!(
        "{ran} commands compared with --shards {shards}: {} unexpected and {} known differences",
        mismatches.len(),
        known.len()
    );
    Some((ran, mismatches, known))
}

fn assert_same_as_redis(shards: usize) {
    let Some((ran, mismatches, _known)) = run_script(shards) else { return };
    assert!(ran >= 200, "script too short: {ran}");
    assert!(
        mismatches.is_empty(),
        "{} of {ran} replies differ from Redis with --shards {shards}:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn script_parses() {
    let steps = parse_script();
    assert!(steps.len() >= 200, "{}", steps.len());
    assert_eq!(
        tokenize(r#"ECHO "a b" "" "\x41\n""#),
        vec![b"ECHO".to_vec(), b"a b".to_vec(), b"".to_vec(), b"A\n".to_vec()]
    );
}

#[test]
fn same_replies_as_redis_one_shard() {
    assert_same_as_redis(1);
}

#[test]
fn same_replies_as_redis_two_shards() {
    assert_same_as_redis(2);
}

#[test]
#[ignore = "BUG: OBJECT ENCODING after APPEND or SETRANGE says `embstr` where Redis 7.0 says `raw` (see KNOWN_DIFFERENCES)"]
fn known_differences_are_fixed() {
    let Some((_, mismatches, known)) = run_script(2) else { return };
    let all: Vec<String> = mismatches.into_iter().chain(known).collect();
    assert!(all.is_empty(), "{} differences:\n{}", all.len(), all.join("\n"));
}
