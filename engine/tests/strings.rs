//! String family tests, driven in-process through [`TestShard`] with a manual clock.
//!
//! Most expectations are transcripts recorded from a real redis-server 7.0.15 (RESP2 unless
//! noted): each line is `command => reply` exactly as Redis answered, in a compact notation
//! (`S(status)`, `E(error)`, `I(n)`, `B(bytes)` with Python-style escapes, `NIL`, `A[..]`,
//! `M{k: v}`). The runner replays them on a fresh shard and compares reply for reply, flattening
//! maps to arrays for RESP2 as the encoder does. A few commands of other families appear in the
//! transcripts only to observe state (TTL, EXISTS, DBSIZE, OBJECT ENCODING, RPUSH to make a
//! key of another type, CONFIG SET proto-max-bulk-len); the runner answers those from the
//! shard's data directly, so these tests depend on the string family alone.
//!
//! Time-dependent behaviour (TTL edges to the millisecond) is tested separately with
//! `advance_ms`, since a recording from a live server cannot pin the clock.

use bytes::Bytes;
use mayfly_engine::command::{flags, Merge, MultiShard};
use mayfly_engine::db::Entry;
use mayfly_engine::reply::Reply;
use mayfly_engine::testing::{bulk, TestShard, START_MS};
use mayfly_engine::value::Value;

#[path = "support/transcript.rs"]
mod transcript;
use transcript::resp2;

// ---------------------------------------------------------------------------------------------
// Transcript runner.

/// Runs one command; observation-only commands of other families are answered from the data.
fn execute(t: &mut TestShard, argv: &[Vec<u8>]) -> Reply {
    let name = String::from_utf8_lossy(&argv[0]).to_ascii_uppercase();
    let db = t.db;
    match (name.as_str(), argv.len()) {
        ("FLUSHALL", 1) => {
            t.shard.dbs.iter_mut().for_each(|d| d.clear());
            Reply::ok()
        }
        ("DBSIZE", 1) => Reply::Int(t.shard.dbs[db].len() as i64),
        ("EXISTS", 2) => Reply::Int(t.shard.ctx(db, false).exists(&argv[1]) as i64),
        ("TTL", 2) => Reply::Int(ttl_s(t, &argv[1])),
        ("OBJECT", 3) if argv[1].eq_ignore_ascii_case(b"encoding") => {
            let mut ctx = t.shard.ctx(db, false);
            ctx.peek(&argv[2]).map_or(Reply::Nil, |e| bulk(e.value.encoding()))
        }
        ("RPUSH", _) => {
            let mut ctx = t.shard.ctx(db, false);
            match ctx.peek(&argv[1]) {
                None => {
                    ctx.set_value(&argv[1], Value::List(Box::default()), 0);
                    Reply::Int(1)
                }
                Some(_) => Reply::error(
                    "WRONGTYPE Operation against a key holding the wrong kind of value",
                ),
            }
        }
        ("CONFIG", 4) => {
            let limit = match &argv[3][..] {
                b"1mb" => 1024 * 1024,
                b"512mb" => 512 * 1024 * 1024,
                other => panic!("unexpected size {other:?}"),
            };
            t.shard.config.proto_max_bulk_len = limit;
            Reply::ok()
        }
        _ => {
            let argv: Vec<Bytes> = argv.iter().map(|a| Bytes::copy_from_slice(a)).collect();
            t.run_bytes(&argv)
        }
    }
}

/// Redis's TTL: -2 missing, -1 no expiry, else seconds rounded to nearest.
fn ttl_s(t: &mut TestShard, key: &[u8]) -> i64 {
    let db = t.db;
    let mut ctx = t.shard.ctx(db, false);
    let now = ctx.now_ms;
    match ctx.peek(key) {
        None => -2,
        Some(Entry { expire_at_ms: 0, .. }) => -1,
        Some(e) => ((e.expire_at_ms.saturating_sub(now) + 500) / 1000) as i64,
    }
}

fn replay(name: &str, text: &str, resp3: bool) {
    let wire = |r| if resp3 { r } else { resp2(r) };
    transcript::replay(name, text, resp3, execute, wire);
}

// ---------------------------------------------------------------------------------------------
// Transcripts recorded from redis-server 7.0.15.

/// SET: options, conflicts, expire parsing and overflow, NX/XX/GET/KEEPTTL, past EXAT/PXAT, encodings.
const SET_OPTIONS: &str = r#"
FLUSHALL => S(OK)
SET k v => S(OK)
GET k => B(v)
GET missing => NIL
SET k v2 GET => B(v)
SET k v3 get => B(v2)
SET k "" => S(OK)
GET k => B()
STRLEN k => I(0)
SET k v ex 0 => E(ERR invalid expire time in 'set' command)
SET k v ex -1 => E(ERR invalid expire time in 'set' command)
SET k v px 0 => E(ERR invalid expire time in 'set' command)
SET k v exat 0 => E(ERR invalid expire time in 'set' command)
SET k v pxat -5 => E(ERR invalid expire time in 'set' command)
SET k v ex abc => E(ERR value is not an integer or out of range)
SET k v ex 1.5 => E(ERR value is not an integer or out of range)
SET k v ex " 10" => E(ERR value is not an integer or out of range)
SET k v ex +10 => E(ERR value is not an integer or out of range)
SET k v ex 9223372036854775 => E(ERR invalid expire time in 'set' command)
SET k v ex 9223372036854776 => E(ERR invalid expire time in 'set' command)
SET k v px 9223372036854775807 => E(ERR invalid expire time in 'set' command)
SET k v px 9223372036854775000 => E(ERR invalid expire time in 'set' command)
SET k v exat 9223372036854775808 => E(ERR value is not an integer or out of range)
SET k v ex 9223372036854775 NX XX => E(ERR syntax error)
SET k v EX abc GETX => E(ERR syntax error)
SET k v pxat 9223372036854775807 => S(OK)
SET k v exat 9223372036854775 => S(OK)
SET k v EX => E(ERR syntax error)
SET k v PX => E(ERR syntax error)
SET k v EXAT => E(ERR syntax error)
SET k v PXAT => E(ERR syntax error)
SET k v EX 10 EX 20 => S(OK)
TTL k => I(20)
SET k v PX 5000 PX 9000 => S(OK)
TTL k => I(9)
SET k v EX 10 PX 20 => E(ERR syntax error)
SET k v PX 10 EXAT 20 => E(ERR syntax error)
SET k v EXAT 10 PXAT 20 => E(ERR syntax error)
SET k v PXAT 10 EX 20 => E(ERR syntax error)
SET k v NX NX => NIL
SET k v XX XX => S(OK)
GET k => B(v)
SET k v NX XX => E(ERR syntax error)
SET k v XX NX => E(ERR syntax error)
SET k v KEEPTTL EX 10 => E(ERR syntax error)
SET k v EX 10 KEEPTTL => E(ERR syntax error)
SET k v PXAT 10 KEEPTTL => E(ERR syntax error)
SET k v KEEPTTL KEEPTTL => S(OK)
SET k v PERSIST => E(ERR syntax error)
SET k v GET GET => B(v)
SET k v GETx => E(ERR syntax error)
SET k v "" => E(ERR syntax error)
SET k v "nx\x00junk" => NIL
SET k v foo => E(ERR syntax error)
SET k v EX 10 foo => E(ERR syntax error)
GETDEL k => B(v)
SET k v XX => NIL
GET k => NIL
SET k v NX => S(OK)
SET k v2 NX => NIL
GET k => B(v)
SET k v3 XX => S(OK)
GET k => B(v3)
SET k v EX 100 => S(OK)
TTL k => I(100)
SET k v2 => S(OK)
TTL k => I(-1)
SET k v EX 100 => S(OK)
SET k v2 KEEPTTL => S(OK)
TTL k => I(100)
GET k => B(v2)
SET k v3 KEEPTTL GET => B(v2)
TTL k => I(100)
SET k v4 KEEPTTL EX 5 => E(ERR syntax error)
SET nottl v KEEPTTL => S(OK)
TTL nottl => I(-1)
SET k v EX 100 XX => S(OK)
TTL k => I(100)
SET k v PX 100000 NX => NIL
TTL k => I(100)
SET newk v PX 100000 NX => S(OK)
TTL newk => I(100)
SET k v EXAT 1 => S(OK)
DBSIZE => I(3)
EXISTS k => I(0)
SET k v PXAT 1 GET => NIL
SET k old => S(OK)
SET k v PXAT 1 GET => B(old)
GET k => NIL
SET k v XX GET => NIL
SET k v NX GET => NIL
SET k v2 NX GET => B(v)
GET k => B(v)
SET k v3 XX GET => B(v)
GET k => B(v3)
SET k2 v XX GET => NIL
EXISTS k2 => I(0)
RPUSH l a => I(1)
SET l v GET => E(WRONGTYPE Operation against a key holding the wrong kind of value)
SET l v NX GET => E(WRONGTYPE Operation against a key holding the wrong kind of value)
SET l v XX GET => E(WRONGTYPE Operation against a key holding the wrong kind of value)
SET l v EX abc GET => E(ERR value is not an integer or out of range)
SET l v EX 0 GET => E(ERR invalid expire time in 'set' command)
SET l v EX 10 NX => NIL
SET l v XX EX 10 GET => E(WRONGTYPE Operation against a key holding the wrong kind of value)
GET l => E(WRONGTYPE Operation against a key holding the wrong kind of value)
SET n 123 => S(OK)
OBJECT ENCODING n => B(int)
SET n -123 => S(OK)
OBJECT ENCODING n => B(int)
SET n 0123 => S(OK)
OBJECT ENCODING n => B(embstr)
SET n "12 " => S(OK)
OBJECT ENCODING n => B(embstr)
SET n 9223372036854775807 => S(OK)
OBJECT ENCODING n => B(int)
SET n 9223372036854775808 => S(OK)
OBJECT ENCODING n => B(embstr)
SET n -0 => S(OK)
OBJECT ENCODING n => B(embstr)
SET n abc => S(OK)
OBJECT ENCODING n => B(embstr)
"#;

/// SETNX, SETEX, PSETEX, GETSET.
const SET_VARIANTS: &str = r#"
FLUSHALL => S(OK)
RPUSH l a => I(1)
SETNX n 1 => I(1)
SETNX n 2 => I(0)
GET n => B(1)
SETNX l 2 => I(0)
SETNX n => E(ERR wrong number of arguments for 'setnx' command)
SETEX se 0 v => E(ERR invalid expire time in 'setex' command)
SETEX se -10 v => E(ERR invalid expire time in 'setex' command)
SETEX se abc v => E(ERR value is not an integer or out of range)
SETEX se 10 v => S(OK)
TTL se => I(10)
GET se => B(v)
SETEX se 9223372036854775 v => E(ERR invalid expire time in 'setex' command)
SETEX se 9223372036854776 v => E(ERR invalid expire time in 'setex' command)
SETEX l 10 v => S(OK)
GET l => B(v)
RPUSH l a => E(WRONGTYPE Operation against a key holding the wrong kind of value)
PSETEX se 0 v => E(ERR invalid expire time in 'psetex' command)
PSETEX se abc v => E(ERR value is not an integer or out of range)
PSETEX se 100000 v => S(OK)
TTL se => I(100)
PSETEX se 9223372036854775807 v => E(ERR invalid expire time in 'psetex' command)
SETEX se 10 v extra => E(ERR wrong number of arguments for 'setex' command)
PSETEX se 10 => E(ERR wrong number of arguments for 'psetex' command)
SETEX se 100 v => S(OK)
SETNX se other => I(0)
TTL se => I(100)
GETSET l x => B(v)
GETSET gs x => NIL
GET gs => B(x)
SETEX gs 100 a => S(OK)
GETSET gs b => B(a)
TTL gs => I(-1)
GET gs => B(b)
GETSET gs 42 => B(b)
OBJECT ENCODING gs => B(int)
GETSET gs => E(ERR wrong number of arguments for 'getset' command)
"#;

/// GETEX (EX PX EXAT PXAT PERSIST) and GETDEL.
const GETEX_GETDEL: &str = r#"
FLUSHALL => S(OK)
RPUSH l a => I(1)
SET se v EX 100 => S(OK)
GETEX nokey EX abc => NIL
GETEX nokey EX 0 => NIL
GETEX nokey => NIL
GETEX nokey foo => E(ERR syntax error)
GETEX nokey PERSIST EX 10 => E(ERR syntax error)
GETEX se => B(v)
TTL se => I(100)
GETEX se EX 0 => E(ERR invalid expire time in 'getex' command)
GETEX se EX -1 => E(ERR invalid expire time in 'getex' command)
GETEX se PX 0 => E(ERR invalid expire time in 'getex' command)
GETEX se EX abc => E(ERR value is not an integer or out of range)
GETEX se EX 9223372036854776 => E(ERR invalid expire time in 'getex' command)
GETEX se EXAT 9223372036854775807 => E(ERR invalid expire time in 'getex' command)
GETEX se PX 9223372036854775807 => E(ERR invalid expire time in 'getex' command)
GETEX se EX => E(ERR syntax error)
GETEX se PXAT => E(ERR syntax error)
GETEX se PERSIST => B(v)
TTL se => I(-1)
GETEX se PERSIST => B(v)
TTL se => I(-1)
GETEX se EX 100 PERSIST => E(ERR syntax error)
GETEX se PERSIST EX 100 => E(ERR syntax error)
GETEX se PERSIST PERSIST => B(v)
GETEX se EX 100 EX 200 => B(v)
TTL se => I(200)
GETEX se PX 5000 => B(v)
TTL se => I(5)
GETEX se EX 10 PX 20 => E(ERR syntax error)
GETEX se EXAT 4102444800 => B(v)
GETEX se KEEPTTL => E(ERR syntax error)
GETEX se NX => E(ERR syntax error)
GETEX se XX => E(ERR syntax error)
GETEX se GET => E(ERR syntax error)
GETEX se PXAT 1 => B(v)
EXISTS se => I(0)
GETEX se => NIL
SET se v => S(OK)
GETEX se EXAT 1 => B(v)
EXISTS se => I(0)
GETEX l => E(WRONGTYPE Operation against a key holding the wrong kind of value)
GETEX l EX 0 => E(WRONGTYPE Operation against a key holding the wrong kind of value)
GETEX l EX abc => E(WRONGTYPE Operation against a key holding the wrong kind of value)
GETEX l PERSIST => E(WRONGTYPE Operation against a key holding the wrong kind of value)
GETEX l foo => E(ERR syntax error)
SET g 10 => S(OK)
GETEX g => B(10)
OBJECT ENCODING g => B(int)
GETEX => E(ERR wrong number of arguments for 'getex' command)
GETDEL g => B(10)
GETDEL g => NIL
EXISTS g => I(0)
GETDEL l => E(WRONGTYPE Operation against a key holding the wrong kind of value)
GETDEL => E(ERR wrong number of arguments for 'getdel' command)
GETDEL a b => E(ERR wrong number of arguments for 'getdel' command)
SET d v EX 100 => S(OK)
GETDEL d => B(v)
EXISTS d => I(0)
"#;

/// MGET, MSET, MSETNX on one shard.
const MULTI_KEY: &str = r#"
FLUSHALL => S(OK)
RPUSH l a => I(1)
MGET a l b => A[NIL, NIL, NIL]
SET a 1 => S(OK)
SET b hello => S(OK)
MGET a l b => A[B(1), NIL, B(hello)]
MGET a a a => A[B(1), B(1), B(1)]
MGET => E(ERR wrong number of arguments for 'mget' command)
MSET a => E(ERR wrong number of arguments for 'mset' command)
MSET a 1 b => E(ERR wrong number of arguments for 'mset' command)
MSET a 1 b 2 => S(OK)
MGET a b => A[B(1), B(2)]
MSET a 1 a 2 => S(OK)
GET a => B(2)
SETEX t 100 v => S(OK)
MSET t v2 u 3 => S(OK)
TTL t => I(-1)
MSET l x => S(OK)
GET l => B(x)
RPUSH l2 a => I(1)
MSETNX a 1 b => E(ERR wrong number of arguments for 'msetnx' command)
MSETNX a => E(ERR wrong number of arguments for 'msetnx' command)
MSETNX x 1 y 2 => I(1)
MGET x y => A[B(1), B(2)]
MSETNX x 1 z 2 => I(0)
EXISTS z => I(0)
MSETNX l2 1 w 2 => I(0)
EXISTS w => I(0)
MSETNX w 1 w 2 => I(1)
GET w => B(2)
MSETNX w2 xxx w2 zzz w => E(ERR wrong number of arguments for 'msetnx' command)
SETEX t2 100 v => S(OK)
MSETNX t2 v2 => I(0)
TTL t2 => I(100)
MSETNX m1 12 m2 abc => I(1)
OBJECT ENCODING m1 => B(int)
OBJECT ENCODING m2 => B(embstr)
"#;

/// APPEND and STRLEN.
const APPEND_STRLEN: &str = r#"
FLUSHALL => S(OK)
RPUSH l a => I(1)
APPEND l x => E(WRONGTYPE Operation against a key holding the wrong kind of value)
APPEND ap 123 => I(3)
OBJECT ENCODING ap => B(int)
APPEND ap 4 => I(4)
GET ap => B(1234)
STRLEN ap => I(4)
APPEND ap "" => I(4)
GET ap => B(1234)
APPEND e "" => I(0)
EXISTS e => I(1)
STRLEN e => I(0)
SET ai 12 => S(OK)
APPEND ai "" => I(2)
GET ai => B(12)
SETEX t 100 v => S(OK)
APPEND t x => I(2)
TTL t => I(100)
GET t => B(vx)
STRLEN t => I(2)
STRLEN nokey => I(0)
STRLEN l => E(WRONGTYPE Operation against a key holding the wrong kind of value)
SET neg -555 => S(OK)
STRLEN neg => I(4)
SET big 9223372036854775807 => S(OK)
STRLEN big => I(19)
APPEND big 0 => I(20)
GET big => B(92233720368547758070)
APPEND => E(ERR wrong number of arguments for 'append' command)
APPEND a => E(ERR wrong number of arguments for 'append' command)
STRLEN => E(ERR wrong number of arguments for 'strlen' command)
"#;

/// GETRANGE and SUBSTR index arithmetic.
const GETRANGE: &str = r#"
FLUSHALL => S(OK)
RPUSH l a => I(1)
SET neg -555 => S(OK)
GETRANGE l 0 1 => E(WRONGTYPE Operation against a key holding the wrong kind of value)
GETRANGE l a 1 => E(ERR value is not an integer or out of range)
GETRANGE nokey 0 1 => B()
GETRANGE nokey a 1 => E(ERR value is not an integer or out of range)
GETRANGE neg 0 a => E(ERR value is not an integer or out of range)
GETRANGE neg a 0 => E(ERR value is not an integer or out of range)
GETRANGE neg 0 1.5 => E(ERR value is not an integer or out of range)
GETRANGE neg 0 -1 => B(-555)
GETRANGE neg 2 1 => B()
GETRANGE neg -1 -2 => B()
GETRANGE neg -100 -100 => B(-)
GETRANGE neg -100 -5 => B(-)
GETRANGE neg 0 -100 => B(-)
GETRANGE neg 10 20 => B()
GETRANGE neg 3 3 => B(5)
GETRANGE neg -1 -1 => B(5)
GETRANGE neg 0 9223372036854775807 => B(-555)
GETRANGE neg -9223372036854775808 -1 => B(-555)
GETRANGE neg -9223372036854775808 -9223372036854775808 => B(-)
GETRANGE neg 0 9223372036854775808 => E(ERR value is not an integer or out of range)
GETRANGE neg 0 4294967297 => B(-555)
SET s "Hello World" => S(OK)
GETRANGE s 0 3 => B(Hell)
GETRANGE s -3 -1 => B(rld)
GETRANGE s 0 -1 => B(Hello World)
GETRANGE s 10 100 => B(d)
GETRANGE s 5 5000 => B( World)
GETRANGE s -5000 10000 => B(Hello World)
SET empty "" => S(OK)
GETRANGE empty 0 -1 => B()
GETRANGE empty 0 0 => B()
GETRANGE empty -1 -1 => B()
SUBSTR neg 1 2 => B(55)
SUBSTR s -5 -1 => B(World)
SUBSTR l 1 2 => E(WRONGTYPE Operation against a key holding the wrong kind of value)
SUBSTR s 1 => E(ERR wrong number of arguments for 'substr' command)
GETRANGE s 1 => E(ERR wrong number of arguments for 'getrange' command)
"#;

/// SETRANGE, and the proto-max-bulk-len limit of SETRANGE/APPEND.
const SETRANGE: &str = r#"
FLUSHALL => S(OK)
RPUSH l a => I(1)
SET neg -555 => S(OK)
SETRANGE l 0 x => E(WRONGTYPE Operation against a key holding the wrong kind of value)
SETRANGE l 0 "" => E(WRONGTYPE Operation against a key holding the wrong kind of value)
SETRANGE l -1 "" => E(ERR offset is out of range)
SETRANGE l a x => E(ERR value is not an integer or out of range)
SETRANGE nk -1 x => E(ERR offset is out of range)
SETRANGE nk a x => E(ERR value is not an integer or out of range)
SETRANGE nk 1.5 x => E(ERR value is not an integer or out of range)
SETRANGE nk 0 "" => I(0)
EXISTS nk => I(0)
SETRANGE nk 5 "" => I(0)
EXISTS nk => I(0)
SETRANGE nk 536870912 "" => I(0)
SETRANGE nk 536870912 x => E(ERR string exceeds maximum allowed size (proto-max-bulk-len))
SETRANGE nk 536870908 world => E(ERR string exceeds maximum allowed size (proto-max-bulk-len))
SETRANGE nk 9223372036854775807 x => E(ERR string exceeds maximum allowed size (proto-max-bulk-len))
SETRANGE nk 2147483647 x => E(ERR string exceeds maximum allowed size (proto-max-bulk-len))
EXISTS nk => I(0)
SETRANGE neg 0 "" => I(4)
SETRANGE neg -1 "" => E(ERR offset is out of range)
SETRANGE neg 100 "" => I(4)
SETRANGE neg 536870912 "" => I(4)
SETRANGE neg 536870912 x => E(ERR string exceeds maximum allowed size (proto-max-bulk-len))
SETRANGE neg 9223372036854775807 x => E(ERR string exceeds maximum allowed size (proto-max-bulk-len))
SETRANGE neg 536870908 world => E(ERR string exceeds maximum allowed size (proto-max-bulk-len))
GET neg => B(-555)
SET sr 1234 => S(OK)
SETRANGE sr 1 3 => I(4)
GET sr => B(1334)
SETRANGE sr 0 "" => I(4)
SET sr 1234 => S(OK)
SETRANGE sr 5 2 => I(6)
GET sr => B(1234\x002)
SET foo foo => S(OK)
SETRANGE foo 0 b => I(3)
GET foo => B(boo)
SETRANGE foo 4 bar => I(7)
GET foo => B(boo\x00bar)
SETRANGE nn 2 ab => I(4)
GET nn => B(\x00\x00ab)
SETRANGE nn 1 "" => I(4)
SETEX t 100 abcdef => S(OK)
SETRANGE t 2 ZZ => I(6)
TTL t => I(100)
GET t => B(abZZef)
SETRANGE t 10 Q => I(11)
GET t => B(abZZef\x00\x00\x00\x00Q)
STRLEN t => I(11)
SETRANGE t 0 => E(ERR wrong number of arguments for 'setrange' command)
CONFIG SET proto-max-bulk-len 1mb => S(OK)
SETRANGE t 1048575 x => I(1048576)
STRLEN t => I(1048576)
SETRANGE t 1048576 x => E(ERR string exceeds maximum allowed size (proto-max-bulk-len))
SETRANGE t 1048575 xy => E(ERR string exceeds maximum allowed size (proto-max-bulk-len))
SETRANGE t 0 x => I(1048576)
APPEND t y => E(ERR string exceeds maximum allowed size (proto-max-bulk-len))
STRLEN t => I(1048576)
SET ap 12345 => S(OK)
SETRANGE ap 1048576 "" => I(5)
SETRANGE ap 1048571 z => I(1048572)
SETRANGE ap 1048572 z => I(1048573)
SET ap2 abc => S(OK)
APPEND ap2 "" => I(3)
CONFIG SET proto-max-bulk-len 512mb => S(OK)
"#;

/// INCR, DECR, INCRBY, DECRBY: strict parsing and overflow.
const INCR: &str = r#"
FLUSHALL => S(OK)
RPUSH l a => I(1)
INCR n => I(1)
INCR n => I(2)
GET n => B(2)
DECR n => I(1)
DECR m => I(-1)
GET m => B(-1)
INCRBY n 10 => I(11)
INCRBY n -20 => I(-9)
INCRBY n abc => E(ERR value is not an integer or out of range)
INCRBY n 1.5 => E(ERR value is not an integer or out of range)
INCRBY n " 1" => E(ERR value is not an integer or out of range)
INCRBY n +1 => E(ERR value is not an integer or out of range)
INCRBY n 01 => E(ERR value is not an integer or out of range)
INCRBY n -0 => E(ERR value is not an integer or out of range)
INCRBY n "" => E(ERR value is not an integer or out of range)
INCRBY n 9223372036854775808 => E(ERR value is not an integer or out of range)
INCRBY n -9223372036854775809 => E(ERR value is not an integer or out of range)
DECRBY n 5 => I(-14)
DECRBY n -9223372036854775808 => E(ERR decrement would overflow)
DECRBY n abc => E(ERR value is not an integer or out of range)
DECRBY n 9223372036854775807 => E(ERR increment or decrement would overflow)
DECRBY n 9223372036854775807 => E(ERR increment or decrement would overflow)
GET n => B(-14)
INCRBY new -9223372036854775808 => I(-9223372036854775808)
DECRBY new2 9223372036854775807 => I(-9223372036854775807)
DECRBY new3 -9223372036854775807 => I(9223372036854775807)
SET n 9223372036854775807 => S(OK)
INCR n => E(ERR increment or decrement would overflow)
INCRBY n 0 => I(9223372036854775807)
INCRBY n -1 => I(9223372036854775806)
SET n -9223372036854775808 => S(OK)
DECR n => E(ERR increment or decrement would overflow)
INCRBY n -1 => E(ERR increment or decrement would overflow)
INCRBY n 9223372036854775807 => I(-1)
SET n 9223372036854775806 => S(OK)
INCR n => I(9223372036854775807)
INCR n => E(ERR increment or decrement would overflow)
SET n " 11" => S(OK)
INCR n => E(ERR value is not an integer or out of range)
SET n "11 " => S(OK)
INCR n => E(ERR value is not an integer or out of range)
SET n "    11    " => S(OK)
INCR n => E(ERR value is not an integer or out of range)
SET n "+1" => S(OK)
INCR n => E(ERR value is not an integer or out of range)
SET n "01" => S(OK)
INCR n => E(ERR value is not an integer or out of range)
SET n "-0" => S(OK)
INCR n => E(ERR value is not an integer or out of range)
SET n "1.0" => S(OK)
INCR n => E(ERR value is not an integer or out of range)
SET n "" => S(OK)
INCR n => E(ERR value is not an integer or out of range)
SET n 99999999999999999999 => S(OK)
INCR n => E(ERR value is not an integer or out of range)
SET n 1e3 => S(OK)
INCRBY n 1 => E(ERR value is not an integer or out of range)
INCR l => E(WRONGTYPE Operation against a key holding the wrong kind of value)
DECR l => E(WRONGTYPE Operation against a key holding the wrong kind of value)
INCRBY l 1 => E(WRONGTYPE Operation against a key holding the wrong kind of value)
INCRBY l abc => E(ERR value is not an integer or out of range)
DECRBY l abc => E(ERR value is not an integer or out of range)
DECRBY l -9223372036854775808 => E(ERR decrement would overflow)
SETEX t 100 5 => S(OK)
INCR t => I(6)
TTL t => I(100)
OBJECT ENCODING t => B(int)
INCRBY t 100 => I(106)
DECRBY t 6 => I(100)
GET t => B(100)
TTL t => I(100)
SET novar 17179869184 => S(OK)
INCR novar => I(17179869185)
INCRBY novar 17179869184 => I(34359738369)
DECRBY novar 34359738370 => I(-1)
INCR => E(ERR wrong number of arguments for 'incr' command)
INCRBY n => E(ERR wrong number of arguments for 'incrby' command)
DECRBY n 1 2 => E(ERR wrong number of arguments for 'decrby' command)
"#;

/// INCRBYFLOAT: long double parsing, formatting and errors.
const INCRBYFLOAT: &str = r#"
FLUSHALL => S(OK)
RPUSH l a => I(1)
INCRBYFLOAT f 10.5 => B(10.5)
GET f => B(10.5)
SET f 10 => S(OK)
INCRBYFLOAT f 10.5 => B(20.5)
OBJECT ENCODING f => B(embstr)
INCRBYFLOAT f 0.1 => B(20.6)
SET f 0.1 => S(OK)
INCRBYFLOAT f 0.2 => B(0.3)
SET f 3.0e3 => S(OK)
INCRBYFLOAT f 3.0e3 => B(6000)
OBJECT ENCODING f => B(embstr)
INCRBYFLOAT f 1e3 => B(7000)
INCRBYFLOAT f abc => E(ERR value is not a valid float)
INCRBYFLOAT f "" => E(ERR value is not a valid float)
INCRBYFLOAT f " 1" => E(ERR value is not a valid float)
INCRBYFLOAT f "1 " => E(ERR value is not a valid float)
INCRBYFLOAT f 1.0.0 => E(ERR value is not a valid float)
INCRBYFLOAT f 1e => E(ERR value is not a valid float)
INCRBYFLOAT f +inf => E(ERR increment would produce NaN or Infinity)
INCRBYFLOAT f inf => E(ERR increment would produce NaN or Infinity)
INCRBYFLOAT f -inf => E(ERR increment would produce NaN or Infinity)
INCRBYFLOAT f Infinity => E(ERR increment would produce NaN or Infinity)
INCRBYFLOAT f nan => E(ERR value is not a valid float)
INCRBYFLOAT f -nan => E(ERR value is not a valid float)
INCRBYFLOAT f 1e5000 => E(ERR value is not a valid float)
INCRBYFLOAT f 1e-5000 => E(ERR value is not a valid float)
INCRBYFLOAT f 0x10 => B(7016)
INCRBYFLOAT f +5 => B(7021)
INCRBYFLOAT f .5 => B(7021.5)
INCRBYFLOAT f 5. => B(7026.5)
INCRBYFLOAT f -.5 => B(7026)
INCRBYFLOAT f 1E2 => B(7126)
GET f => B(7126)
SET f 1e308 => S(OK)
INCRBYFLOAT f 1e308 => B(199999999999999999993371759311691291321120199694831134415594095989843469737676123744200253843777078640893494450108026446304269499187921167194841628860392837535918200039206381557326219209014213335878306791577877829121087126122536729803237260434173178506889763247582601711514636284849020905456510092687857156096)
SET f 5 => S(OK)
INCRBYFLOAT f 1e-5 => B(5.00001)
INCRBYFLOAT f 1e20 => B(100000000000000000008)
INCRBYFLOAT f 1e20 => B(200000000000000000000)
SET f 0 => S(OK)
INCRBYFLOAT f 1e-20 => B(0)
INCRBYFLOAT f 123456789012345678 => B(123456789012345678)
SET f 0 => S(OK)
INCRBYFLOAT f 3.14159265358979323846 => B(3.14159265358979324)
INCRBYFLOAT f -3.14159265358979323846 => B(0)
SET f 1 => S(OK)
INCRBYFLOAT f -1.1 => B(-0.1)
SET f 1 => S(OK)
INCRBYFLOAT f -1 => B(0)
GET f => B(0)
INCRBYFLOAT f -0.0 => B(0)
INCRBYFLOAT l 1 => E(WRONGTYPE Operation against a key holding the wrong kind of value)
INCRBYFLOAT l abc => E(WRONGTYPE Operation against a key holding the wrong kind of value)
SET f abc => S(OK)
INCRBYFLOAT f 1 => E(ERR value is not a valid float)
INCRBYFLOAT f abc => E(ERR value is not a valid float)
SET f " 1" => S(OK)
INCRBYFLOAT f 1 => E(ERR value is not a valid float)
SET f "1e5" => S(OK)
INCRBYFLOAT f 0 => B(100000)
SET f "inf" => S(OK)
INCRBYFLOAT f 1 => E(ERR increment would produce NaN or Infinity)
SET f "nan" => S(OK)
INCRBYFLOAT f 1 => E(ERR value is not a valid float)
SET f 1 => S(OK)
SETRANGE f 2 2 => I(3)
INCRBYFLOAT f 1 => E(ERR value is not a valid float)
SET f 10 => S(OK)
INCRBYFLOAT f 1e17 => B(100000000000000010)
INCRBYFLOAT f 0.00000001 => B(100000000000000010)
SET f 1 => S(OK)
INCRBYFLOAT f 0.1 => B(1.1)
INCRBYFLOAT f 0.1 => B(1.2)
INCRBYFLOAT f 0.1 => B(1.3)
SET f 100 => S(OK)
INCRBYFLOAT f 1.23456789012345678901234567890 => B(101.23456789012345679)
SET f 0 => S(OK)
INCRBYFLOAT f 0.3 => B(0.3)
INCRBYFLOAT f 1e-7 => B(0.3000001)
SET f 0 => S(OK)
INCRBYFLOAT f 1e16 => B(10000000000000000)
INCRBYFLOAT f 1 => B(10000000000000001)
INCRBYFLOAT f 1e17 => B(110000000000000001)
INCRBYFLOAT f 1e19 => B(10110000000000000001)
INCRBYFLOAT f 1e25 => B(10000010109999999999803392)
SET f 9223372036854775807 => S(OK)
INCRBYFLOAT f 1 => B(9223372036854775808)
INCRBYFLOAT f 1.5 => B(9223372036854775810)
SET f -9223372036854775808 => S(OK)
INCRBYFLOAT f -1 => B(-9223372036854775809)
SET f 17179869184 => S(OK)
INCRBYFLOAT f 1.5 => B(17179869185.5)
SET f 0.000003814697265625 => S(OK)
INCRBYFLOAT f 0 => B(0.00000381469726562)
SET f 0.000011444091796875 => S(OK)
INCRBYFLOAT f 0 => B(0.00001144409179688)
SETEX t 100 1.5 => S(OK)
INCRBYFLOAT t 1 => B(2.5)
TTL t => I(100)
INCRBYFLOAT => E(ERR wrong number of arguments for 'incrbyfloat' command)
INCRBYFLOAT f => E(ERR wrong number of arguments for 'incrbyfloat' command)
INCRBYFLOAT f 1 2 => E(ERR wrong number of arguments for 'incrbyfloat' command)
"#;

/// LCS: LEN, IDX, MINMATCHLEN, WITHMATCHLEN, errors, memory bound (RESP2).
const LCS: &str = r#"
FLUSHALL => S(OK)
SET key1 ohmytext => S(OK)
SET key2 mynewtext => S(OK)
LCS key1 key2 => B(mytext)
LCS key1 key2 LEN => I(6)
LCS key1 key2 len => I(6)
LCS key1 key2 IDX => A[B(matches), A[A[A[I(4), I(7)], A[I(5), I(8)]], A[A[I(2), I(3)], A[I(0), I(1)]]], B(len), I(6)]
LCS key1 key2 idx => A[B(matches), A[A[A[I(4), I(7)], A[I(5), I(8)]], A[A[I(2), I(3)], A[I(0), I(1)]]], B(len), I(6)]
LCS key1 key2 IDX MINMATCHLEN 4 => A[B(matches), A[A[A[I(4), I(7)], A[I(5), I(8)]]], B(len), I(6)]
LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN => A[B(matches), A[A[A[I(4), I(7)], A[I(5), I(8)], I(4)]], B(len), I(6)]
LCS key1 key2 IDX WITHMATCHLEN MINMATCHLEN -5 => A[B(matches), A[A[A[I(4), I(7)], A[I(5), I(8)], I(4)], A[A[I(2), I(3)], A[I(0), I(1)], I(2)]], B(len), I(6)]
LCS key1 key2 IDX WITHMATCHLEN MINMATCHLEN 2 => A[B(matches), A[A[A[I(4), I(7)], A[I(5), I(8)], I(4)], A[A[I(2), I(3)], A[I(0), I(1)], I(2)]], B(len), I(6)]
LCS key1 key2 IDX WITHMATCHLEN MINMATCHLEN 3 => A[B(matches), A[A[A[I(4), I(7)], A[I(5), I(8)], I(4)]], B(len), I(6)]
LCS key1 key2 IDX LEN => E(ERR If you want both the length and indexes, please just use IDX.)
LCS key1 key2 LEN IDX => E(ERR If you want both the length and indexes, please just use IDX.)
LCS key1 key2 MINMATCHLEN => E(ERR syntax error)
LCS key1 key2 MINMATCHLEN abc => E(ERR value is not an integer or out of range)
LCS key1 key2 MINMATCHLEN 1.5 LEN => E(ERR value is not an integer or out of range)
LCS key1 key2 foo => E(ERR syntax error)
LCS key1 key2 LEN LEN WITHMATCHLEN => I(6)
LCS key1 key2 MINMATCHLEN 100 => B(mytext)
LCS key1 key2 WITHMATCHLEN => B(mytext)
LCS key1 key2 LEN MINMATCHLEN 5 => I(6)
LCS key1 key2 IDX LEN foo => E(ERR syntax error)
LCS key2 key1 => B(mytext)
LCS key2 key1 IDX WITHMATCHLEN => A[B(matches), A[A[A[I(5), I(8)], A[I(4), I(7)], I(4)], A[A[I(0), I(1)], A[I(2), I(3)], I(2)]], B(len), I(6)]
LCS key1 key1 IDX WITHMATCHLEN => A[B(matches), A[A[A[I(0), I(7)], A[I(0), I(7)], I(8)]], B(len), I(8)]
LCS key1 nokey => B()
LCS key1 nokey LEN => I(0)
LCS key1 nokey IDX => A[B(matches), A[], B(len), I(0)]
LCS nokey nokey2 IDX WITHMATCHLEN => A[B(matches), A[], B(len), I(0)]
RPUSH l a => I(1)
LCS key1 l => E(ERR The specified keys must contain string values)
LCS l key1 => E(ERR The specified keys must contain string values)
LCS l key1 foo => E(ERR The specified keys must contain string values)
LCS key1 l foo => E(ERR The specified keys must contain string values)
LCS l nokey => E(ERR The specified keys must contain string values)
SET i1 12345 => S(OK)
SET i2 2345 => S(OK)
LCS i1 i2 IDX WITHMATCHLEN => A[B(matches), A[A[A[I(1), I(4)], A[I(0), I(3)], I(4)]], B(len), I(4)]
LCS i1 i2 => B(2345)
SET a abcabc => S(OK)
SET b abc => S(OK)
LCS a b IDX WITHMATCHLEN => A[B(matches), A[A[A[I(3), I(5)], A[I(0), I(2)], I(3)]], B(len), I(3)]
LCS b a IDX WITHMATCHLEN => A[B(matches), A[A[A[I(0), I(2)], A[I(3), I(5)], I(3)]], B(len), I(3)]
SET a xaxbxc => S(OK)
SET b abc => S(OK)
LCS a b IDX WITHMATCHLEN => A[B(matches), A[A[A[I(5), I(5)], A[I(2), I(2)], I(1)], A[A[I(3), I(3)], A[I(1), I(1)], I(1)], A[A[I(1), I(1)], A[I(0), I(0)], I(1)]], B(len), I(3)]
LCS a b => B(abc)
SET a GTCGTTCGGAATGCCGTTGCTCTGTAAA => S(OK)
SET b ACCGGTCGAGTGCGCGGAAGCCGGCCGAA => S(OK)
LCS a b => B(GTCGTCGGAAGCCGGCCGAA)
LCS a b LEN => I(20)
LCS a b IDX WITHMATCHLEN => A[B(matches), A[A[A[I(26), I(27)], A[I(27), I(28)], I(2)], A[A[I(23), I(23)], A[I(26), I(26)], I(1)], A[A[I(21), I(21)], A[I(25), I(25)], I(1)], A[A[I(18), I(19)], A[I(23), I(24)], I(2)], A[A[I(12), I(15)], A[I(19), I(22)], I(4)], A[A[I(6), I(10)], A[I(14), I(18)], I(5)], A[A[I(5), I(5)], A[I(10), I(10)], I(1)], A[A[I(0), I(3)], A[I(4), I(7)], I(4)]], B(len), I(20)]
LCS a b IDX MINMATCHLEN 3 => A[B(matches), A[A[A[I(12), I(15)], A[I(19), I(22)]], A[A[I(6), I(10)], A[I(14), I(18)]], A[A[I(0), I(3)], A[I(4), I(7)]]], B(len), I(20)]
SET a "aaaa" => S(OK)
SET b "aa" => S(OK)
LCS a b IDX WITHMATCHLEN => A[B(matches), A[A[A[I(2), I(3)], A[I(0), I(1)], I(2)]], B(len), I(2)]
LCS key1 => E(ERR wrong number of arguments for 'lcs' command)
LCS => E(ERR wrong number of arguments for 'lcs' command)
CONFIG SET proto-max-bulk-len 1mb => S(OK)
SET la aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa => S(OK)
SET lb bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb => S(OK)
LCS la lb LEN => I(0)
APPEND lb b => I(436)
LCS la lb LEN => E(ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len)
LCS la lb IDX => E(ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len)
CONFIG SET proto-max-bulk-len 512mb => S(OK)
"#;

/// LCS IDX as a RESP3 map, and nulls under RESP3.
const LCS_RESP3: &str = r#"
FLUSHALL => S(OK)
SET key1 ohmytext => S(OK)
SET key2 mynewtext => S(OK)
LCS key1 key2 IDX => M{B(matches): A[A[A[I(4), I(7)], A[I(5), I(8)]], A[A[I(2), I(3)], A[I(0), I(1)]]], B(len): I(6)}
LCS key1 key2 IDX WITHMATCHLEN => M{B(matches): A[A[A[I(4), I(7)], A[I(5), I(8)], I(4)], A[A[I(2), I(3)], A[I(0), I(1)], I(2)]], B(len): I(6)}
LCS key1 nokey IDX => M{B(matches): A[], B(len): I(0)}
LCS key1 key2 LEN => I(6)
LCS key1 key2 => B(mytext)
GET nokey => NIL
MGET key1 nokey => A[B(ohmytext), NIL]
GETEX nokey => NIL
SET k v GET => NIL
"#;

#[test]
fn transcripts_match_redis() {
    replay("set_options", SET_OPTIONS, false);
    replay("set_variants", SET_VARIANTS, false);
    replay("getex_getdel", GETEX_GETDEL, false);
    replay("multi", MULTI_KEY, false);
    replay("append_strlen", APPEND_STRLEN, false);
    replay("getrange", GETRANGE, false);
    replay("setrange", SETRANGE, false);
    replay("incr", INCR, false);
    replay("incrbyfloat", INCRBYFLOAT, false);
    replay("lcs", LCS, false);
    replay("lcs_resp3", LCS_RESP3, true);
}

#[test]
#[should_panic(expected = "line 2: GET k")]
fn runner_detects_a_wrong_reply() {
    replay("self-check", "SET k v => S(OK)\nGET k => B(w)\nGET k => B(v)\nGET k => B(v)\nGET k => B(v)\nGET k => B(v)", false);
}

// ---------------------------------------------------------------------------------------------
// INCRBYFLOAT against a golden file: 1,856 random operand pairs (decimal, exponent, hex, tiny,
// huge, binary fractions whose printing ties, invalid forms), each checked as
// `SET k a` + `INCRBYFLOAT k b` on redis-server 7.0.15.

#[test]
fn incrbyfloat_matches_redis_golden_file() {
    let golden = include_str!("data/incrbyfloat_redis7.tsv");
    let mut t = TestShard::new();
    let mut n = 0;
    for line in golden.lines() {
        let mut cols = line.split('\t');
        let (Some(a), Some(b), Some(expected)) = (cols.next(), cols.next(), cols.next()) else {
            panic!("bad golden line {line:?}");
        };
        assert_eq!(t.run(&["SET", "k", a]), Reply::ok());
        let expected = if expected.starts_with("ERR ") {
            Reply::error(expected.to_string())
        } else {
            bulk(expected)
        };
        assert_eq!(t.run(&["INCRBYFLOAT", "k", b]), expected, "SET k {a:?}; INCRBYFLOAT k {b:?}");
        n += 1;
    }
    assert!(n > 1800);
}

// ---------------------------------------------------------------------------------------------
// TTL edges, exact to the millisecond on the manual clock.

fn expire_at(t: &mut TestShard, key: &str) -> Option<u64> {
    t.shard.dbs[t.db].table.get(key.as_bytes()).map(|e| e.expire_at_ms)
}

/// Checks the key reads `value` until `ttl_ms - 1` ms from now and is gone at `ttl_ms`.
fn assert_expires_after(t: &mut TestShard, key: &str, value: &str, ttl_ms: u64) {
    assert_eq!(expire_at(t, key), Some(t.now_ms() + ttl_ms), "{key} expire time");
    t.advance_ms(ttl_ms - 1);
    assert_eq!(t.run(&["GET", key]), bulk(value), "{key} one ms before expiry");
    t.advance_ms(1);
    assert_eq!(t.run(&["GET", key]), Reply::Nil, "{key} at expiry");
    assert_eq!(expire_at(t, key), None, "{key} removed on access");
}

#[test]
fn set_expire_options_are_exact_to_the_millisecond() {
    let mut t = TestShard::new();
    assert_eq!(t.run(&["SET", "k", "v", "PX", "100"]), Reply::ok());
    assert_expires_after(&mut t, "k", "v", 100);

    assert_eq!(t.run(&["SET", "k", "v", "EX", "1"]), Reply::ok());
    assert_expires_after(&mut t, "k", "v", 1000);

    let at = t.now_ms() + 250;
    assert_eq!(t.run(&["SET", "k", "v", "PXAT", &at.to_string()]), Reply::ok());
    assert_expires_after(&mut t, "k", "v", 250);

    // EXAT counts whole seconds from the epoch; START_MS is a whole second.
    assert_eq!(START_MS % 1000, 0);
    let now_s = t.now_ms() / 1000;
    assert_eq!(t.run(&["SET", "k", "v", "EXAT", &(now_s + 3).to_string()]), Reply::ok());
    let ttl_ms = (now_s + 3) * 1000 - t.now_ms();
    assert_eq!(ttl_ms, 2650, "the clock is 350 ms into a second here");
    assert_expires_after(&mut t, "k", "v", ttl_ms);

    assert_eq!(t.run(&["SETEX", "k", "2", "v"]), Reply::ok());
    assert_expires_after(&mut t, "k", "v", 2000);

    assert_eq!(t.run(&["PSETEX", "k", "7", "v"]), Reply::ok());
    assert_expires_after(&mut t, "k", "v", 7);
}

#[test]
fn past_or_present_absolute_expiry_stores_an_already_expired_key() {
    let mut t = TestShard::new();
    t.run(&["SET", "k", "old"]);
    let now = t.now_ms().to_string();
    // Redis 7.0 replies OK (or the old value with GET) and the key is gone on the next access.
    assert_eq!(t.run(&["SET", "k", "v", "PXAT", &now, "GET"]), bulk("old"));
    assert_eq!(t.shard.dbs[0].len(), 1, "stored, expired lazily");
    assert_eq!(t.run(&["GET", "k"]), Reply::Nil);
    assert_eq!(t.shard.dbs[0].len(), 0);
    assert_eq!(t.shard.dbs[0].expires, 0);
    assert_eq!(t.run(&["SET", "k", "v", "PXAT", "1"]), Reply::ok());
    assert_eq!(t.run(&["SETNX", "k", "w"]), Reply::Int(1), "expired key counts as absent");
    assert_eq!(t.run(&["GET", "k"]), bulk("w"));
    assert_eq!(expire_at(&mut t, "k"), Some(0));
}

#[test]
fn getex_sets_and_clears_expiry_exactly() {
    let mut t = TestShard::new();
    t.run(&["SET", "k", "v"]);
    assert_eq!(t.run(&["GETEX", "k", "PX", "50"]), bulk("v"));
    assert_eq!(expire_at(&mut t, "k"), Some(t.now_ms() + 50));
    assert_eq!(t.run(&["GETEX", "k", "EX", "5"]), bulk("v"));
    assert_eq!(expire_at(&mut t, "k"), Some(t.now_ms() + 5000));
    assert_eq!(t.shard.dbs[0].expires, 1);
    assert_eq!(t.run(&["GETEX", "k", "PERSIST"]), bulk("v"));
    assert_eq!(expire_at(&mut t, "k"), Some(0));
    assert_eq!(t.shard.dbs[0].expires, 0);
    // Plain GETEX leaves the TTL alone.
    t.run(&["GETEX", "k", "PX", "10"]);
    assert_eq!(t.run(&["GETEX", "k"]), bulk("v"));
    assert_expires_after(&mut t, "k", "v", 10);

    // An absolute time one ms ahead keeps the key for exactly that ms; now or earlier deletes.
    t.run(&["SET", "k", "v"]);
    let next = (t.now_ms() + 1).to_string();
    assert_eq!(t.run(&["GETEX", "k", "PXAT", &next]), bulk("v"));
    assert_eq!(t.run(&["GET", "k"]), bulk("v"));
    t.advance_ms(1);
    assert_eq!(t.run(&["GET", "k"]), Reply::Nil);
    t.run(&["SET", "k", "v"]);
    let now = t.now_ms().to_string();
    assert_eq!(t.run(&["GETEX", "k", "PXAT", &now]), bulk("v"));
    assert_eq!(t.shard.dbs[0].len(), 0, "deleted at once, not left to expire");
    assert_eq!(t.run(&["GETEX", "k", "PXAT", &now]), Reply::Nil);
}

#[test]
fn in_place_edits_keep_the_ttl_and_replacements_drop_it() {
    let mut t = TestShard::new();
    let keep: &[&[&str]] = &[
        &["APPEND", "k", "x"],
        &["SETRANGE", "k", "0", "y"],
        &["INCR", "n"],
        &["DECRBY", "n", "3"],
        &["INCRBYFLOAT", "n", "1.5"],
        &["SET", "k", "z", "KEEPTTL"],
        &["GETEX", "k"],
    ];
    for cmd in keep {
        t.run(&["SET", "k", "5", "PX", "1000"]);
        t.run(&["SET", "n", "5", "PX", "1000"]);
        let before = (expire_at(&mut t, "k"), expire_at(&mut t, "n"));
        t.advance_ms(10);
        assert!(!t.run(cmd).is_error(), "{cmd:?}");
        assert_eq!((expire_at(&mut t, "k"), expire_at(&mut t, "n")), before, "{cmd:?} keeps TTL");
        assert_eq!(t.shard.dbs[0].expires, 2);
    }
    let drop: &[&[&str]] = &[
        &["SET", "k", "z"],
        &["GETSET", "k", "z"],
        &["MSET", "k", "z"],
        &["SET", "k", "z", "XX"],
        &["SET", "k", "z", "GET"],
    ];
    for cmd in drop {
        t.run(&["SET", "k", "5", "PX", "1000"]);
        assert!(!t.run(cmd).is_error(), "{cmd:?}");
        assert_eq!(expire_at(&mut t, "k"), Some(0), "{cmd:?} clears TTL");
    }
    // A value edited after its key expired starts fresh, without a TTL.
    t.run(&["SET", "k", "5", "PX", "10"]);
    t.advance_ms(10);
    assert_eq!(t.run(&["INCR", "k"]), Reply::Int(1));
    assert_eq!(expire_at(&mut t, "k"), Some(0));
    t.run(&["SET", "k", "abc", "PX", "10"]);
    t.advance_ms(10);
    assert_eq!(t.run(&["APPEND", "k", "d"]), Reply::Int(1));
    assert_eq!(t.run(&["GET", "k"]), bulk("d"));
}

#[test]
fn nx_xx_and_msetnx_see_expired_keys_as_absent() {
    let mut t = TestShard::new();
    t.run(&["SET", "a", "1", "PX", "5"]);
    t.advance_ms(5);
    assert_eq!(t.run(&["SET", "a", "2", "XX"]), Reply::Nil);
    assert_eq!(t.run(&["MSETNX", "a", "3", "b", "4"]), Reply::Int(1));
    assert_eq!(t.run(&["MGET", "a", "b"]), Reply::Array(vec![bulk("3"), bulk("4")]));
    t.run(&["PSETEX", "b", "5", "x"]);
    t.advance_ms(4);
    assert_eq!(t.run(&["MSETNX", "b", "y", "c", "z"]), Reply::Int(0));
    assert_eq!(t.run(&["GET", "c"]), Reply::Nil);
    t.advance_ms(1);
    assert_eq!(t.run(&["MSETNX", "b", "y", "c", "z"]), Reply::Int(1));
}

// ---------------------------------------------------------------------------------------------
// Other behaviour.

#[test]
fn values_are_binary_safe() {
    let mut t = TestShard::new();
    let value = Bytes::from_static(b"x x\0\r\n\xff");
    let key = Bytes::from_static(b"k\0\n");
    let run = |t: &mut TestShard, args: &[&Bytes]| {
        t.run_bytes(&args.iter().map(|b| (*b).clone()).collect::<Vec<_>>())
    };
    let set = Bytes::from_static(b"SET");
    let get = Bytes::from_static(b"GET");
    assert_eq!(run(&mut t, &[&set, &key, &value]), Reply::ok());
    assert_eq!(run(&mut t, &[&get, &key]), Reply::Bulk(value.clone()));
    assert_eq!(t.run(&["GET", "k"]), Reply::Nil);
    let append = Bytes::from_static(b"APPEND");
    assert_eq!(run(&mut t, &[&append, &key, &value]), Reply::Int(14));
}

#[test]
fn encodings_follow_redis() {
    let mut t = TestShard::new();
    let enc = |t: &mut TestShard, k: &str| {
        t.shard.dbs[0].table.get(k.as_bytes()).map(|e| e.value.encoding()).unwrap_or("none")
    };
    t.run(&["SET", "a", "-42"]);
    assert_eq!(enc(&mut t, "a"), "int");
    t.run(&["INCRBY", "a", "2"]);
    assert_eq!(enc(&mut t, "a"), "int");
    t.run(&["INCRBYFLOAT", "a", "2"]);
    assert_eq!(t.run(&["GET", "a"]), bulk("-38"));
    assert_eq!(enc(&mut t, "a"), "embstr", "INCRBYFLOAT stores text, as Redis");
    t.run(&["INCR", "a"]);
    assert_eq!(enc(&mut t, "a"), "int");
    t.run(&["SET", "a", "12"]);
    t.run(&["APPEND", "a", "3"]);
    assert_ne!(enc(&mut t, "a"), "int", "APPEND result is never int-encoded");
    t.run(&["SET", "a", "12"]);
    t.run(&["SETRANGE", "a", "0", "3"]);
    assert_ne!(enc(&mut t, "a"), "int", "SETRANGE result is never int-encoded");
    t.run(&["SET", "big", &"x".repeat(100)]);
    assert_eq!(enc(&mut t, "big"), "raw");
}

#[test]
fn append_grows_a_large_value_and_respects_the_limit() {
    let config = mayfly_engine::config::Config { proto_max_bulk_len: 4096, ..Default::default() };
    let mut t = TestShard::with_config(config);
    let chunk = "0123456789abcdef".repeat(16); // 256 bytes
    for i in 1..=16 {
        assert_eq!(t.run(&["APPEND", "k", &chunk]), Reply::Int(256 * i));
    }
    assert_eq!(
        t.run(&["APPEND", "k", "x"]),
        Reply::error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    );
    assert_eq!(t.run(&["STRLEN", "k"]), Reply::Int(4096));
    assert_eq!(t.run(&["GETRANGE", "k", "-16", "-1"]), bulk("0123456789abcdef"));
    assert_eq!(t.run(&["SETRANGE", "k", "4095", "Z"]), Reply::Int(4096));
    assert_eq!(
        t.run(&["SETRANGE", "k", "4096", "Z"]),
        Reply::error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    );
    assert_eq!(t.run(&["GETRANGE", "k", "-2", "-1"]), bulk("eZ"));
}

#[test]
fn keyspace_hits_and_misses_count_reads_only() {
    let mut t = TestShard::new();
    t.run(&["SET", "a", "1"]);
    t.run(&["GET", "a"]);
    t.run(&["GET", "nope"]);
    t.run(&["MGET", "a", "nope", "a"]);
    t.run(&["INCR", "a"]);
    t.run(&["APPEND", "b", "x"]);
    assert_eq!(t.shard.stats.keyspace_hits, 3);
    assert_eq!(t.shard.stats.keyspace_misses, 2);
}

#[test]
fn writes_are_counted_and_failed_commands_write_nothing() {
    let mut t = TestShard::new();
    let dirty = |t: &TestShard| t.shard.dirty;
    t.run(&["SET", "a", "1"]);
    let d0 = dirty(&t);
    for cmd in [
        &["SET", "a", "2", "NX"][..],
        &["SET", "a", "2", "EX", "0"],
        &["INCRBY", "a", "x"],
        &["SETRANGE", "a", "-1", "x"],
        &["GETEX", "a"],
        &["GETEX", "a", "PERSIST"],
        &["MSETNX", "a", "1", "b", "2"],
        &["GET", "a"],
        &["LCS", "a", "b"],
    ] {
        t.run(cmd);
        assert_eq!(dirty(&t), d0, "{cmd:?} must not count as a write");
    }
    t.run(&["INCR", "a"]);
    assert_eq!(dirty(&t), d0 + 1);
    t.run(&["MSET", "a", "1", "b", "2"]);
    assert_eq!(dirty(&t), d0 + 3);
}

#[test]
fn lcs_of_the_redis_test_suite_rna_strings() {
    // From Redis's tests/unit/type/string.tcl.
    let rna1 = "CACCTTCCCAGGTAACAAACCAACCAACTTTCGATCTCTTGTAGATCTGTTCTCTAAACGAACTTTAAAATCTGTGTGGCTGTCACTCGGCTGCATGCTTAGTGCACTCACGCAGTATAATTAATAACTAATTACTGTCGTTGACAGGACACGAGTAACTCGTCTATCTTCTGCAGGCTGCTTACGGTTTCGTCCGTGTTGCAGCCGATCATCAGCACATCTAGGTTTCGTCCGGGTGTG";
    let rna2 = "ATTAAAGGTTTATACCTTCCCAGGTAACAAACCAACCAACTTTCGATCTCTTGTAGATCTGTTCTCTAAACGAACTTTAAAATCTGTGTGGCTGTCACTCGGCTGCATGCTTAGTGCACTCACGCAGTATAATTAATAACTAATTACTGTCGTTGACAGGACACGAGTAACTCGTCTATCTTCTGCAGGCTGCTTACGGTTTCGTCCGTGTTGCAGCCGATCATCAGCACATCTAGGTTT";
    let rnalcs = "ACCTTCCCAGGTAACAAACCAACCAACTTTCGATCTCTTGTAGATCTGTTCTCTAAACGAACTTTAAAATCTGTGTGGCTGTCACTCGGCTGCATGCTTAGTGCACTCACGCAGTATAATTAATAACTAATTACTGTCGTTGACAGGACACGAGTAACTCGTCTATCTTCTGCAGGCTGCTTACGGTTTCGTCCGTGTTGCAGCCGATCATCAGCACATCTAGGTTT";
    let mut t = TestShard::new();
    t.run(&["SET", "virus1{t}", rna1]);
    t.run(&["SET", "virus2{t}", rna2]);
    assert_eq!(t.run(&["LCS", "virus1{t}", "virus2{t}"]), bulk(rnalcs));
    assert_eq!(t.run(&["LCS", "virus1{t}", "virus2{t}", "LEN"]), Reply::Int(rnalcs.len() as i64));
    let range = |a: (i64, i64), b: (i64, i64), len: Option<i64>| {
        let mut v = vec![
            Reply::Array(vec![Reply::Int(a.0), Reply::Int(a.1)]),
            Reply::Array(vec![Reply::Int(b.0), Reply::Int(b.1)]),
        ];
        v.extend(len.map(Reply::Int));
        Reply::Array(v)
    };
    let expected = |with_len: bool, min: i64| {
        let all = [
            ((238, 238), (239, 239), 1),
            ((236, 236), (238, 238), 1),
            ((229, 230), (236, 237), 2),
            ((224, 224), (235, 235), 1),
            ((1, 222), (13, 234), 222),
        ];
        let matches = all
            .iter()
            .filter(|m| m.2 >= min)
            .map(|&(a, b, l)| range(a, b, with_len.then_some(l)))
            .collect();
        Reply::Map(vec![
            (bulk("matches"), Reply::Array(matches)),
            (bulk("len"), Reply::Int(rnalcs.len() as i64)),
        ])
    };
    assert_eq!(t.run(&["LCS", "virus1{t}", "virus2{t}", "IDX"]), expected(false, 0));
    assert_eq!(t.run(&["LCS", "virus1{t}", "virus2{t}", "IDX", "WITHMATCHLEN"]), expected(true, 0));
    assert_eq!(
        t.run(&["LCS", "virus1{t}", "virus2{t}", "IDX", "WITHMATCHLEN", "MINMATCHLEN", "5"]),
        expected(true, 5)
    );
}

// ---------------------------------------------------------------------------------------------
// The command table: arity, flags and key positions as in Redis's src/commands/*.json, and the
// multi-shard strategy each multi-key command needs.

#[test]
fn command_table_matches_redis_json() {
    use flags::{DENYOOM, FAST, READONLY, WRITE};
    #[rustfmt::skip]
    type Row = (&'static str, i32, u32, (i32, i32, i32), MultiShard);
    let expected: &[Row] = &[
        ("get", 2, READONLY | FAST, (1, 1, 1), MultiShard::None),
        ("set", -3, WRITE | DENYOOM, (1, 1, 1), MultiShard::None),
        ("setnx", 3, WRITE | DENYOOM | FAST, (1, 1, 1), MultiShard::None),
        ("setex", 4, WRITE | DENYOOM, (1, 1, 1), MultiShard::None),
        ("psetex", 4, WRITE | DENYOOM, (1, 1, 1), MultiShard::None),
        ("getex", -2, WRITE | FAST, (1, 1, 1), MultiShard::None),
        ("getdel", 2, WRITE | FAST, (1, 1, 1), MultiShard::None),
        ("getset", 3, WRITE | DENYOOM | FAST, (1, 1, 1), MultiShard::None),
        ("mget", -2, READONLY | FAST, (1, -1, 1), MultiShard::Split(Merge::ArrayInKeyOrder)),
        ("mset", -3, WRITE | DENYOOM, (1, -1, 2), MultiShard::Split(Merge::AllOk)),
        ("msetnx", -3, WRITE | DENYOOM, (1, -1, 2), MultiShard::Gather),
        ("append", 3, WRITE | DENYOOM | FAST, (1, 1, 1), MultiShard::None),
        ("strlen", 2, READONLY | FAST, (1, 1, 1), MultiShard::None),
        ("getrange", 4, READONLY, (1, 1, 1), MultiShard::None),
        ("substr", 4, READONLY, (1, 1, 1), MultiShard::None),
        ("setrange", 4, WRITE | DENYOOM, (1, 1, 1), MultiShard::None),
        ("incr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), MultiShard::None),
        ("decr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), MultiShard::None),
        ("incrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), MultiShard::None),
        ("decrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), MultiShard::None),
        ("incrbyfloat", 3, WRITE | DENYOOM | FAST, (1, 1, 1), MultiShard::None),
        ("lcs", -3, READONLY, (1, 2, 1), MultiShard::Gather),
    ];
    for &(name, arity, flags, keys, multi) in expected {
        let spec = mayfly_engine::lookup(name.as_bytes()).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(spec.arity, arity, "{name} arity");
        assert_eq!(spec.flags, flags, "{name} flags");
        assert_eq!((spec.first_key, spec.last_key, spec.step), keys, "{name} keys");
        assert_eq!(spec.multi, multi, "{name} multi-shard");
        assert_eq!(spec.group, "string", "{name} group");
    }
    let mset = mayfly_engine::lookup(b"MSET").expect("mset");
    assert_eq!(mset.key_indexes(7), vec![1, 3, 5]);
}

// ---------------------------------------------------------------------------------------------
// Model check: random edits applied to the shard and to a plain byte vector agree.

mod model {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Set(Vec<u8>),
        SetInt(i64),
        Append(Vec<u8>),
        SetRange(u16, Vec<u8>),
        GetRange(i64, i64),
        IncrBy(i64),
        Strlen,
        GetDel,
    }

    fn op() -> impl Strategy<Value = Op> {
        let bytes = vec(prop_oneof![Just(b'1'), Just(b'0'), Just(b'-'), any::<u8>()], 0..12);
        prop_oneof![
            bytes.clone().prop_map(Op::Set),
            prop_oneof![any::<i64>(), -1000i64..1000].prop_map(Op::SetInt),
            bytes.clone().prop_map(Op::Append),
            (0u16..40, bytes).prop_map(|(o, b)| Op::SetRange(o, b)),
            (-50i64..50, -50i64..50).prop_map(|(s, e)| Op::GetRange(s, e)),
            prop_oneof![any::<i64>(), -5i64..5].prop_map(Op::IncrBy),
            Just(Op::Strlen),
            Just(Op::GetDel),
        ]
    }

    /// GETRANGE as a plain slice computation over the model.
    fn model_range(v: &[u8], start: i64, end: i64) -> Vec<u8> {
        let len = v.len() as i64;
        if start < 0 && end < 0 && start > end {
            return Vec::new();
        }
        let s = if start < 0 { (len + start).max(0) } else { start };
        let e = if end < 0 { (len + end).max(0) } else { end.min(len - 1) };
        if len == 0 || s > e {
            return Vec::new();
        }
        v[s as usize..=e as usize].to_vec()
    }

    fn run(t: &mut TestShard, args: &[&[u8]]) -> Reply {
        t.run_bytes(&args.iter().map(|a| Bytes::copy_from_slice(a)).collect::<Vec<_>>())
    }

    proptest! {
        #[test]
        fn edits_match_a_byte_model(ops in vec(op(), 1..40)) {
            let mut t = TestShard::new();
            let mut model: Option<Vec<u8>> = None;
            for op in ops {
                match op {
                    Op::Set(b) => {
                        prop_assert_eq!(run(&mut t, &[b"SET", b"k", &b]), Reply::ok());
                        model = Some(b);
                    }
                    Op::SetInt(n) => {
                        let b = n.to_string().into_bytes();
                        prop_assert_eq!(run(&mut t, &[b"SET", b"k", &b]), Reply::ok());
                        model = Some(b);
                    }
                    Op::Append(b) => {
                        let m = model.get_or_insert_with(Vec::new);
                        m.extend_from_slice(&b);
                        let expected = Reply::Int(m.len() as i64);
                        prop_assert_eq!(run(&mut t, &[b"APPEND", b"k", &b]), expected);
                    }
                    Op::SetRange(offset, b) => {
                        let reply = run(&mut t, &[b"SETRANGE", b"k", offset.to_string().as_bytes(), &b]);
                        let offset = offset as usize;
                        if !b.is_empty() {
                            let m = model.get_or_insert_with(Vec::new);
                            if m.len() < offset + b.len() {
                                m.resize(offset + b.len(), 0);
                            }
                            m[offset..offset + b.len()].copy_from_slice(&b);
                        }
                        let len = model.as_ref().map_or(0, Vec::len);
                        prop_assert_eq!(reply, Reply::Int(len as i64));
                    }
                    Op::GetRange(s, e) => {
                        let expected = model_range(model.as_deref().unwrap_or(&[]), s, e);
                        let reply = run(&mut t, &[b"GETRANGE", b"k", s.to_string().as_bytes(), e.to_string().as_bytes()]);
                        prop_assert_eq!(reply, Reply::Bulk(Bytes::from(expected)));
                    }
                    Op::IncrBy(d) => {
                        let reply = run(&mut t, &[b"INCRBY", b"k", d.to_string().as_bytes()]);
                        let current = match &model {
                            None => Some(0),
                            Some(m) => std::str::from_utf8(m).ok().and_then(|s| {
                                let n: i64 = s.parse().ok()?;
                                // Strict form only: what i64 prints back to the same bytes.
                                (n.to_string() == s).then_some(n)
                            }),
                        };
                        match current {
                            None => prop_assert_eq!(reply, Reply::error("ERR value is not an integer or out of range")),
                            Some(n) => match n.checked_add(d) {
                                None => prop_assert_eq!(reply, Reply::error("ERR increment or decrement would overflow")),
                                Some(v) => {
                                    prop_assert_eq!(reply, Reply::Int(v));
                                    model = Some(v.to_string().into_bytes());
                                }
                            },
                        }
                    }
                    Op::Strlen => {
                        let len = model.as_ref().map_or(0, Vec::len);
                        prop_assert_eq!(run(&mut t, &[b"STRLEN", b"k"]), Reply::Int(len as i64));
                    }
                    Op::GetDel => {
                        let expected = model.take().map_or(Reply::Nil, |m| Reply::Bulk(Bytes::from(m)));
                        prop_assert_eq!(run(&mut t, &[b"GETDEL", b"k"]), expected);
                    }
                }
                let stored = run(&mut t, &[b"GET", b"k"]);
                let expected = model.clone().map_or(Reply::Nil, |m| Reply::Bulk(Bytes::from(m)));
                prop_assert_eq!(stored, expected);
            }
        }
    }
}
