//! List family tests.
//!
//! - A transcript recorded from redis-server 7.0.15 (`TRANSCRIPT`, lines `command => reply` in
//!   the notation of `support/redis_oracle.rs`) covers every command, option and error case and
//!   is replayed on a fresh shard. Re-record with `cargo test -p mayfly-engine --test list
//!   record_transcript -- --ignored --nocapture` and keep the lines containing ` => `.
//! - With `redis-server` installed, random command sequences (valid and invalid arguments,
//!   WRONGTYPE keys, small and big elements) run on both sides and every reply must agree.
//! - A proptest model (VecDeque) with tiny node limits checks contents, lengths, node limits and
//!   OBJECT ENCODING while lists grow past one node and shrink back.
//! - A counting allocator measures the bytes per element of a 1M-element list.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
#[path = "support/redis_oracle.rs"]
mod redis_oracle;

use std::collections::VecDeque;

use bytes::Bytes;
use counting_alloc::jemalloc_bytes;
use mayfly_engine::command::{flags, MultiShard};
use mayfly_engine::config::Config;
use mayfly_engine::reply::Reply;
use mayfly_engine::testing::{bulk, TestShard};
use mayfly_engine::types::list::{ListValue, Node};
use mayfly_engine::value::Value;
use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use redis_oracle::{notation, split_command, RedisOracle};

/// Commands of the transcript; `record_transcript` prints them with Redis's replies.
const SCRIPT: &str = r#"
SET s x
RPUSH l a b c d e
LPUSH l 1 2 3
LRANGE l 0 -1
LLEN l
LLEN nokey
LLEN s
LPUSH s a
RPUSH s a
LPUSHX nokey a
RPUSHX nokey a
LPUSHX l x y
RPUSHX l z
LPUSHX s a
EXISTS nokey
LRANGE l 0 0
LRANGE l -3 -1
LRANGE l -100 100
LRANGE l 5 2
LRANGE l 100 200
LRANGE l 0 -100
LRANGE l -9223372036854775808 9223372036854775807
LRANGE l a 1
LRANGE l 0 b
LRANGE nokey 0 -1
LRANGE s 0 -1
LRANGE s x 1
LINDEX l 0
LINDEX l -1
LINDEX l 100
LINDEX l -100
LINDEX l x
LINDEX nokey x
LINDEX s 0
LINDEX s x
LSET l 0 first
LSET l -1 last
LSET l 100 x
LSET l x y
LSET nokey 0 a
LSET nokey x a
LSET s 0 a
LRANGE l 0 -1
LINSERT l BEFORE a before-a
LINSERT l after a after-a
LINSERT l AFTER last after-last
LINSERT l before first before-first
LINSERT l before missing x
LINSERT l middle a x
LINSERT nokey before a x
LINSERT nokey middle a x
LINSERT s before a x
LRANGE l 0 -1
DEL r
RPUSH r a b a c a b a
LREM r 2 a
LRANGE r 0 -1
RPUSH r a a
LREM r -2 a
LRANGE r 0 -1
LREM r 0 b
LREM r 0 zzz
LREM r x a
LREM nokey 1 a
LREM s 1 a
LREM r 0 a
LREM r 0 c
EXISTS r
RPUSH n 1 2 3 10 -1 1 300 100000 1
LREM n 0 1
LRANGE n 0 -1
LPOS n 10
LPOS n 01
LINSERT n before 300 7
LRANGE n 0 -1
DEL t
RPUSH t 1 2 3 4 5 6 7 8 9
LTRIM t 1 -2
LRANGE t 0 -1
LTRIM t -3 100
LRANGE t 0 -1
LTRIM t 0 0
LRANGE t 0 -1
LTRIM t 5 1
EXISTS t
LTRIM nokey 0 1
LTRIM s 0 1
LTRIM s x 1
LTRIM t x 1
LTRIM t 0 y
RPUSH t a
LTRIM t -1 -1
LTRIM t 1 -1
EXISTS t
DEL p
RPUSH p a b c 1 2 3 c c
LPOP p
RPOP p
LPOP p 2
RPOP p 2
LPOP p 0
LPOP p -1
LPOP p x
LPOP p 1 2
LPOP p 100
EXISTS p
LPOP nokey
LPOP nokey 0
LPOP nokey 2
LPOP nokey -1
RPOP nokey 3
LPOP s
LPOP s 0
LPOP s -1
RPOP s 1
RPUSH p a
RPOP p 0
RPOP p 5
DEL q
RPUSH q a b c 1 2 3 c c a c
LPOS q c
LPOS q c RANK 2
LPOS q c RANK -1
LPOS q c RANK -2
LPOS q c COUNT 0
LPOS q c COUNT 2
LPOS q c COUNT 0 RANK -1
LPOS q c COUNT 2 RANK 2
LPOS q c COUNT 2 RANK -2
LPOS q c MAXLEN 3
LPOS q c MAXLEN 2
LPOS q c MAXLEN 3 COUNT 0
LPOS q c MAXLEN 3 COUNT 0 RANK -1
LPOS q c RANK 5
LPOS q c RANK 5 COUNT 0
LPOS q c RANK 0
LPOS q c RANK x
LPOS q c RANK -9223372036854775808
LPOS q c RANK -9223372036854775808 COUNT 2
LPOS q c RANK 9223372036854775807
LPOS q c RANK 9223372036854775808
LPOS q c COUNT -1
LPOS q c COUNT x
LPOS q c MAXLEN -1
LPOS q c MAXLEN x
LPOS q c RANK
LPOS q c FOO 1
LPOS q c COUNT 1 COUNT 3
LPOS q 1 COUNT 0
LPOS q zzz
LPOS q zzz COUNT 0
LPOS nokey a
LPOS nokey a COUNT 0
LPOS nokey a RANK 0
LPOS s a
LPOS s a RANK 0
DEL m1 m2
RPUSH m1 a b c
LMOVE m1 m2 LEFT RIGHT
LMOVE m1 m2 right left
LRANGE m1 0 -1
LRANGE m2 0 -1
LMOVE m1 m2 LEFT LEFT
EXISTS m1
LMOVE m1 m2 LEFT LEFT
LMOVE m2 m2 LEFT RIGHT
LRANGE m2 0 -1
LMOVE m2 m2 RIGHT LEFT
LRANGE m2 0 -1
LMOVE m2 m1 UP LEFT
LMOVE m2 m1 LEFT DOWN
LMOVE nokey m1 UP LEFT
LMOVE m2 s LEFT LEFT
LMOVE s m2 LEFT LEFT
LMOVE nokey s LEFT LEFT
RPOPLPUSH m2 m1
RPOPLPUSH m2 m1
RPOPLPUSH m2 m1
RPOPLPUSH m2 m1
LRANGE m1 0 -1
RPOPLPUSH m1 s
RPOPLPUSH s m1
RPOPLPUSH nokey m1
RPOPLPUSH m1 m1
LRANGE m1 0 -1
DEL a1 a2
RPUSH a2 x y z
LMPOP 2 a1 a2 LEFT
LMPOP 2 a1 a2 RIGHT COUNT 10
EXISTS a2
LMPOP 2 a1 a2 LEFT
RPUSH a1 1 2 3
LMPOP 1 a1 left count 2
LMPOP 1 a1 LEFT COUNT 0
LMPOP 1 a1 LEFT COUNT -1
LMPOP 1 a1 LEFT COUNT x
LMPOP 1 a1 LEFT COUNT
LMPOP 1 a1 LEFT COUNT 1 COUNT 1
LMPOP 1 a1 LEFT FOO
LMPOP 0 a1 LEFT
LMPOP -1 a1 LEFT
LMPOP x a1 LEFT
LMPOP 2 a1 LEFT
LMPOP 3 a1 a2 LEFT
LMPOP 1 a1 MIDDLE
LMPOP 9223372036854775807 a1 LEFT
LMPOP 2 s a1 LEFT
LMPOP 2 a1 s LEFT
LMPOP 2 nokey s LEFT
LMPOP 1 a1 RIGHT
DEL b1 b2
RPUSH b2 x y z
BLPOP b1 b2 0
BRPOP b1 b2 0.5
BLPOP b1 0.01
BRPOP b1 1
BLPOP b1 -1
BLPOP b1 x
BLPOP b1 inf
BLPOP b1 1e300
BLPOP b1 0x10
BLPOP b1 9223372036854775
BLPOP b1 9223372036854776
BLPOP b2 -0.0001
BLPOP s 0
BLPOP b1 s 0
BLPOP b2 s 0
BLPOP s b2 x
EXISTS b2
RPUSH b2 p q r
BLMOVE b2 b1 LEFT RIGHT 0
BLMOVE b2 b1 RIGHT LEFT 1.5
BLMOVE b2 b1 UP LEFT 0
BLMOVE b2 b1 LEFT LEFT -1
BLMOVE b2 b1 LEFT LEFT x
BLMOVE nokey b1 LEFT LEFT 0.01
BLMOVE b2 s LEFT LEFT 0
BRPOPLPUSH b2 b1 0
BRPOPLPUSH b2 b1 0
BRPOPLPUSH b1 b1 -1
BRPOPLPUSH b1 s 0
BRPOPLPUSH nokey b1 0.01
LRANGE b1 0 -1
BLMPOP 0 2 b0 b1 LEFT
BLMPOP 0 2 b0 b1 RIGHT COUNT 10
BLMPOP 0.01 1 b1 LEFT
BLMPOP x 1 b1 LEFT
BLMPOP -1 1 b1 LEFT
BLMPOP 0 0 b1 LEFT
BLMPOP x 0 b1 LEFT
BLMPOP 0 1 b1 MIDDLE
BLMPOP 0 1 b1 LEFT COUNT 0
BLMPOP 0 1 s LEFT
LPUSH
LPUSH l
LPOP
LRANGE l 0
LMPOP 1 l
BLPOP l
BLMPOP 0 1 l
OBJECT ENCODING l
"#;

/// `SCRIPT` with the replies of redis-server 7.0.15.
const TRANSCRIPT: &str = r#"
SET s x => S(OK)
RPUSH l a b c d e => I(5)
LPUSH l 1 2 3 => I(8)
LRANGE l 0 -1 => A[B(3), B(2), B(1), B(a), B(b), B(c), B(d), B(e)]
LLEN l => I(8)
LLEN nokey => I(0)
LLEN s => E(WRONGTYPE Operation against a key holding the wrong kind of value)
LPUSH s a => E(WRONGTYPE Operation against a key holding the wrong kind of value)
RPUSH s a => E(WRONGTYPE Operation against a key holding the wrong kind of value)
LPUSHX nokey a => I(0)
RPUSHX nokey a => I(0)
LPUSHX l x y => I(10)
RPUSHX l z => I(11)
LPUSHX s a => E(WRONGTYPE Operation against a key holding the wrong kind of value)
EXISTS nokey => I(0)
LRANGE l 0 0 => A[B(y)]
LRANGE l -3 -1 => A[B(d), B(e), B(z)]
LRANGE l -100 100 => A[B(y), B(x), B(3), B(2), B(1), B(a), B(b), B(c), B(d), B(e), B(z)]
LRANGE l 5 2 => A[]
LRANGE l 100 200 => A[]
LRANGE l 0 -100 => A[]
LRANGE l -9223372036854775808 9223372036854775807 => A[B(y), B(x), B(3), B(2), B(1), B(a), B(b), B(c), B(d), B(e), B(z)]
LRANGE l a 1 => E(ERR value is not an integer or out of range)
LRANGE l 0 b => E(ERR value is not an integer or out of range)
LRANGE nokey 0 -1 => A[]
LRANGE s 0 -1 => E(WRONGTYPE Operation against a key holding the wrong kind of value)
LRANGE s x 1 => E(ERR value is not an integer or out of range)
LINDEX l 0 => B(y)
LINDEX l -1 => B(z)
LINDEX l 100 => NIL
LINDEX l -100 => NIL
LINDEX l x => E(ERR value is not an integer or out of range)
LINDEX nokey x => NIL
LINDEX s 0 => E(WRONGTYPE Operation against a key holding the wrong kind of value)
LINDEX s x => E(WRONGTYPE Operation against a key holding the wrong kind of value)
LSET l 0 first => S(OK)
LSET l -1 last => S(OK)
LSET l 100 x => E(ERR index out of range)
LSET l x y => E(ERR value is not an integer or out of range)
LSET nokey 0 a => E(ERR no such key)
LSET nokey x a => E(ERR no such key)
LSET s 0 a => E(WRONGTYPE Operation against a key holding the wrong kind of value)
LRANGE l 0 -1 => A[B(first), B(x), B(3), B(2), B(1), B(a), B(b), B(c), B(d), B(e), B(last)]
LINSERT l BEFORE a before-a => I(12)
LINSERT l after a after-a => I(13)
LINSERT l AFTER last after-last => I(14)
LINSERT l before first before-first => I(15)
LINSERT l before missing x => I(-1)
LINSERT l middle a x => E(ERR syntax error)
LINSERT nokey before a x => I(0)
LINSERT nokey middle a x => E(ERR syntax error)
LINSERT s before a x => E(WRONGTYPE Operation against a key holding the wrong kind of value)
LRANGE l 0 -1 => A[B(before-first), B(first), B(x), B(3), B(2), B(1), B(before-a), B(a), B(after-a), B(b), B(c), B(d), B(e), B(last), B(after-last)]
DEL r => I(0)
RPUSH r a b a c a b a => I(7)
LREM r 2 a => I(2)
LRANGE r 0 -1 => A[B(b), B(c), B(a), B(b), B(a)]
RPUSH r a a => I(7)
LREM r -2 a => I(2)
LRANGE r 0 -1 => A[B(b), B(c), B(a), B(b), B(a)]
LREM r 0 b => I(2)
LREM r 0 zzz => I(0)
LREM r x a => E(ERR value is not an integer or out of range)
LREM nokey 1 a => I(0)
LREM s 1 a => E(WRONGTYPE Operation against a key holding the wrong kind of value)
LREM r 0 a => I(2)
LREM r 0 c => I(1)
EXISTS r => I(0)
RPUSH n 1 2 3 10 -1 1 300 100000 1 => I(9)
LREM n 0 1 => I(3)
LRANGE n 0 -1 => A[B(2), B(3), B(10), B(-1), B(300), B(100000)]
LPOS n 10 => I(2)
LPOS n 01 => NIL
LINSERT n before 300 7 => I(7)
LRANGE n 0 -1 => A[B(2), B(3), B(10), B(-1), B(7), B(300), B(100000)]
DEL t => I(0)
RPUSH t 1 2 3 4 5 6 7 8 9 => I(9)
LTRIM t 1 -2 => S(OK)
LRANGE t 0 -1 => A[B(2), B(3), B(4), B(5), B(6), B(7), B(8)]
LTRIM t -3 100 => S(OK)
LRANGE t 0 -1 => A[B(6), B(7), B(8)]
LTRIM t 0 0 => S(OK)
LRANGE t 0 -1 => A[B(6)]
LTRIM t 5 1 => S(OK)
EXISTS t => I(0)
LTRIM nokey 0 1 => S(OK)
LTRIM s 0 1 => E(WRONGTYPE Operation against a key holding the wrong kind of value)
LTRIM s x 1 => E(ERR value is not an integer or out of range)
LTRIM t x 1 => E(ERR value is not an integer or out of range)
LTRIM t 0 y => E(ERR value is not an integer or out of range)
RPUSH t a => I(1)
LTRIM t -1 -1 => S(OK)
LTRIM t 1 -1 => S(OK)
EXISTS t => I(0)
DEL p => I(0)
RPUSH p a b c 1 2 3 c c => I(8)
LPOP p => B(a)
RPOP p => B(c)
LPOP p 2 => A[B(b), B(c)]
RPOP p 2 => A[B(c), B(3)]
LPOP p 0 => A[]
LPOP p -1 => E(ERR value is out of range, must be positive)
LPOP p x => E(ERR value is out of range, must be positive)
LPOP p 1 2 => E(ERR wrong number of arguments for 'lpop' command)
LPOP p 100 => A[B(1), B(2)]
EXISTS p => I(0)
LPOP nokey => NIL
LPOP nokey 0 => NILARR
LPOP nokey 2 => NILARR
LPOP nokey -1 => E(ERR value is out of range, must be positive)
RPOP nokey 3 => NILARR
LPOP s => E(WRONGTYPE Operation against a key holding the wrong kind of value)
LPOP s 0 => E(WRONGTYPE Operation against a key holding the wrong kind of value)
LPOP s -1 => E(ERR value is out of range, must be positive)
RPOP s 1 => E(WRONGTYPE Operation against a key holding the wrong kind of value)
RPUSH p a => I(1)
RPOP p 0 => A[]
RPOP p 5 => A[B(a)]
DEL q => I(0)
RPUSH q a b c 1 2 3 c c a c => I(10)
LPOS q c => I(2)
LPOS q c RANK 2 => I(6)
LPOS q c RANK -1 => I(9)
LPOS q c RANK -2 => I(7)
LPOS q c COUNT 0 => A[I(2), I(6), I(7), I(9)]
LPOS q c COUNT 2 => A[I(2), I(6)]
LPOS q c COUNT 0 RANK -1 => A[I(9), I(7), I(6), I(2)]
LPOS q c COUNT 2 RANK 2 => A[I(6), I(7)]
LPOS q c COUNT 2 RANK -2 => A[I(7), I(6)]
LPOS q c MAXLEN 3 => I(2)
LPOS q c MAXLEN 2 => NIL
LPOS q c MAXLEN 3 COUNT 0 => A[I(2)]
LPOS q c MAXLEN 3 COUNT 0 RANK -1 => A[I(9), I(7)]
LPOS q c RANK 5 => NIL
LPOS q c RANK 5 COUNT 0 => A[]
LPOS q c RANK 0 => E(ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list)
LPOS q c RANK x => E(ERR value is not an integer or out of range)
LPOS q c RANK -9223372036854775808 => I(9)
LPOS q c RANK -9223372036854775808 COUNT 2 => A[I(9), I(7), I(6), I(2)]
LPOS q c RANK 9223372036854775807 => NIL
LPOS q c RANK 9223372036854775808 => E(ERR value is not an integer or out of range)
LPOS q c COUNT -1 => E(ERR COUNT can't be negative)
LPOS q c COUNT x => E(ERR COUNT can't be negative)
LPOS q c MAXLEN -1 => E(ERR MAXLEN can't be negative)
LPOS q c MAXLEN x => E(ERR MAXLEN can't be negative)
LPOS q c RANK => E(ERR syntax error)
LPOS q c FOO 1 => E(ERR syntax error)
LPOS q c COUNT 1 COUNT 3 => A[I(2), I(6), I(7)]
LPOS q 1 COUNT 0 => A[I(3)]
LPOS q zzz => NIL
LPOS q zzz COUNT 0 => A[]
LPOS nokey a => NIL
LPOS nokey a COUNT 0 => A[]
LPOS nokey a RANK 0 => E(ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list)
LPOS s a => E(WRONGTYPE Operation against a key holding the wrong kind of value)
LPOS s a RANK 0 => E(ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list)
DEL m1 m2 => I(0)
RPUSH m1 a b c => I(3)
LMOVE m1 m2 LEFT RIGHT => B(a)
LMOVE m1 m2 right left => B(c)
LRANGE m1 0 -1 => A[B(b)]
LRANGE m2 0 -1 => A[B(c), B(a)]
LMOVE m1 m2 LEFT LEFT => B(b)
EXISTS m1 => I(0)
LMOVE m1 m2 LEFT LEFT => NIL
LMOVE m2 m2 LEFT RIGHT => B(b)
LRANGE m2 0 -1 => A[B(c), B(a), B(b)]
LMOVE m2 m2 RIGHT LEFT => B(b)
LRANGE m2 0 -1 => A[B(b), B(c), B(a)]
LMOVE m2 m1 UP LEFT => E(ERR syntax error)
LMOVE m2 m1 LEFT DOWN => E(ERR syntax error)
LMOVE nokey m1 UP LEFT => E(ERR syntax error)
LMOVE m2 s LEFT LEFT => E(WRONGTYPE Operation against a key holding the wrong kind of value)
LMOVE s m2 LEFT LEFT => E(WRONGTYPE Operation against a key holding the wrong kind of value)
LMOVE nokey s LEFT LEFT => NIL
RPOPLPUSH m2 m1 => B(a)
RPOPLPUSH m2 m1 => B(c)
RPOPLPUSH m2 m1 => B(b)
RPOPLPUSH m2 m1 => NIL
LRANGE m1 0 -1 => A[B(b), B(c), B(a)]
RPOPLPUSH m1 s => E(WRONGTYPE Operation against a key holding the wrong kind of value)
RPOPLPUSH s m1 => E(WRONGTYPE Operation against a key holding the wrong kind of value)
RPOPLPUSH nokey m1 => NIL
RPOPLPUSH m1 m1 => B(a)
LRANGE m1 0 -1 => A[B(a), B(b), B(c)]
DEL a1 a2 => I(0)
RPUSH a2 x y z => I(3)
LMPOP 2 a1 a2 LEFT => A[B(a2), A[B(x)]]
LMPOP 2 a1 a2 RIGHT COUNT 10 => A[B(a2), A[B(z), B(y)]]
EXISTS a2 => I(0)
LMPOP 2 a1 a2 LEFT => NILARR
RPUSH a1 1 2 3 => I(3)
LMPOP 1 a1 left count 2 => A[B(a1), A[B(1), B(2)]]
LMPOP 1 a1 LEFT COUNT 0 => E(ERR count should be greater than 0)
LMPOP 1 a1 LEFT COUNT -1 => E(ERR count should be greater than 0)
LMPOP 1 a1 LEFT COUNT x => E(ERR count should be greater than 0)
LMPOP 1 a1 LEFT COUNT => E(ERR syntax error)
LMPOP 1 a1 LEFT COUNT 1 COUNT 1 => E(ERR syntax error)
LMPOP 1 a1 LEFT FOO => E(ERR syntax error)
LMPOP 0 a1 LEFT => E(ERR numkeys should be greater than 0)
LMPOP -1 a1 LEFT => E(ERR numkeys should be greater than 0)
LMPOP x a1 LEFT => E(ERR numkeys should be greater than 0)
LMPOP 2 a1 LEFT => E(ERR syntax error)
LMPOP 3 a1 a2 LEFT => E(ERR syntax error)
LMPOP 1 a1 MIDDLE => E(ERR syntax error)
LMPOP 9223372036854775807 a1 LEFT => E(ERR syntax error)
LMPOP 2 s a1 LEFT => E(WRONGTYPE Operation against a key holding the wrong kind of value)
LMPOP 2 a1 s LEFT => A[B(a1), A[B(3)]]
LMPOP 2 nokey s LEFT => E(WRONGTYPE Operation against a key holding the wrong kind of value)
LMPOP 1 a1 RIGHT => NILARR
DEL b1 b2 => I(0)
RPUSH b2 x y z => I(3)
BLPOP b1 b2 0 => A[B(b2), B(x)]
BRPOP b1 b2 0.5 => A[B(b2), B(z)]
BLPOP b1 0.01 => NILARR
BRPOP b1 1 => NILARR
BLPOP b1 -1 => E(ERR timeout is negative)
BLPOP b1 x => E(ERR timeout is not a float or out of range)
BLPOP b1 inf => E(ERR timeout is negative)
BLPOP b1 1e300 => E(ERR timeout is negative)
BLPOP b1 0x10 => NILARR
BLPOP b1 9223372036854775 => NILARR
BLPOP b1 9223372036854776 => E(ERR timeout is negative)
BLPOP b2 -0.0001 => A[B(b2), B(y)]
BLPOP s 0 => E(WRONGTYPE Operation against a key holding the wrong kind of value)
BLPOP b1 s 0 => E(WRONGTYPE Operation against a key holding the wrong kind of value)
BLPOP b2 s 0 => E(WRONGTYPE Operation against a key holding the wrong kind of value)
BLPOP s b2 x => E(ERR timeout is not a float or out of range)
EXISTS b2 => I(0)
RPUSH b2 p q r => I(3)
BLMOVE b2 b1 LEFT RIGHT 0 => B(p)
BLMOVE b2 b1 RIGHT LEFT 1.5 => B(r)
BLMOVE b2 b1 UP LEFT 0 => E(ERR syntax error)
BLMOVE b2 b1 LEFT LEFT -1 => E(ERR timeout is negative)
BLMOVE b2 b1 LEFT LEFT x => E(ERR timeout is not a float or out of range)
BLMOVE nokey b1 LEFT LEFT 0.01 => NIL
BLMOVE b2 s LEFT LEFT 0 => E(WRONGTYPE Operation against a key holding the wrong kind of value)
BRPOPLPUSH b2 b1 0 => B(q)
BRPOPLPUSH b2 b1 0 => NIL
BRPOPLPUSH b1 b1 -1 => E(ERR timeout is negative)
BRPOPLPUSH b1 s 0 => E(WRONGTYPE Operation against a key holding the wrong kind of value)
BRPOPLPUSH nokey b1 0.01 => NIL
LRANGE b1 0 -1 => A[B(q), B(r), B(p)]
BLMPOP 0 2 b0 b1 LEFT => A[B(b1), A[B(q)]]
BLMPOP 0 2 b0 b1 RIGHT COUNT 10 => A[B(b1), A[B(p), B(r)]]
BLMPOP 0.01 1 b1 LEFT => NILARR
BLMPOP x 1 b1 LEFT => E(ERR timeout is not a float or out of range)
BLMPOP -1 1 b1 LEFT => E(ERR timeout is negative)
BLMPOP 0 0 b1 LEFT => E(ERR numkeys should be greater than 0)
BLMPOP x 0 b1 LEFT => E(ERR numkeys should be greater than 0)
BLMPOP 0 1 b1 MIDDLE => E(ERR syntax error)
BLMPOP 0 1 b1 LEFT COUNT 0 => E(ERR count should be greater than 0)
BLMPOP 0 1 s LEFT => E(WRONGTYPE Operation against a key holding the wrong kind of value)
LPUSH => E(ERR wrong number of arguments for 'lpush' command)
LPUSH l => E(ERR wrong number of arguments for 'lpush' command)
LPOP => E(ERR wrong number of arguments for 'lpop' command)
LRANGE l 0 => E(ERR wrong number of arguments for 'lrange' command)
LMPOP 1 l => E(ERR wrong number of arguments for 'lmpop' command)
BLPOP l => E(ERR wrong number of arguments for 'blpop' command)
BLMPOP 0 1 l => E(ERR wrong number of arguments for 'blmpop' command)
OBJECT ENCODING l => B(quicklist)
"#;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn script_lines() -> impl Iterator<Item = &'static str> {
    SCRIPT.lines().map(str::trim).filter(|l| !l.is_empty())
}

#[test]
#[ignore = "needs redis-server; prints the transcript"]
fn record_transcript() {
    let Some(mut oracle) = RedisOracle::start() else { return };
    for line in script_lines() {
        let reply = oracle_run(&mut oracle, &split_command(line));
        println!("{line} => {}", notation(&reply));
    }
}

/// Runs a command on the oracle; blocking commands run inside MULTI, where Redis answers at
/// once (the timeout reply when there is no data), exactly what the engine's handlers return.
fn oracle_run(oracle: &mut RedisOracle, argv: &[Bytes]) -> Reply {
    let blocking = mayfly_engine::lookup(&argv[0]).is_some_and(|s| s.has(flags::BLOCKING));
    if !blocking {
        return oracle.run_bytes(argv);
    }
    oracle.run(&["MULTI"]);
    let queued = oracle.run_bytes(argv);
    if queued.is_error() {
        oracle.run(&["DISCARD"]);
        return queued;
    }
    match oracle.run(&["EXEC"]) {
        Reply::Array(mut v) if v.len() == 1 => v.pop().expect("one reply"),
        other => other,
    }
}

#[test]
fn transcript_matches_redis() {
    let mut t = TestShard::new();
    let mut n = 0;
    for line in TRANSCRIPT.lines().filter(|l| l.contains(" => ")) {
        let (cmd, expected) = line.split_once(" => ").expect("transcript line");
        let reply = t.run_bytes(&split_command(cmd));
        assert_eq!(notation(&reply), expected, "{cmd}");
        n += 1;
    }
    assert_eq!(n, script_lines().count(), "transcript is out of date: re-record it");
}

#[test]
fn resp3_nils() {
    let mut t = TestShard::new();
    t.resp3 = true;
    assert_eq!(t.run(&["LPOP", "nokey"]), Reply::Nil);
    assert_eq!(t.run(&["LPOP", "nokey", "2"]), Reply::NilArray);
    assert_eq!(t.run(&["LMPOP", "1", "nokey", "LEFT"]), Reply::NilArray);
    assert_eq!(t.run(&["BLPOP", "nokey", "0"]), Reply::NilArray);
    assert_eq!(t.run(&["BLMOVE", "nokey", "x", "LEFT", "LEFT", "0"]), Reply::Nil);
    assert_eq!(t.run(&["RPUSH", "k", "a"]), Reply::Int(1));
    assert_eq!(t.run(&["LPOP", "k", "5"]), Reply::Array(vec![bulk("a")]));
    assert_eq!(t.run(&["EXISTS", "k"]), Reply::Int(0));
}

#[test]
fn table_entries() {
    let spec = |n: &str| mayfly_engine::lookup(n.as_bytes()).expect(n);
    for name in ["lmove", "rpoplpush", "lmpop", "blpop", "brpop", "blmove", "brpoplpush", "blmpop"]
    {
        assert_eq!(spec(name).multi, MultiShard::Gather, "{name}");
    }
    for name in ["blpop", "brpop", "blmove", "brpoplpush", "blmpop"] {
        assert!(spec(name).has(flags::BLOCKING), "{name}");
    }
    assert!(spec("lpush").has(flags::DENYOOM | flags::FAST));
    assert_eq!(spec("blpop").key_indexes(4), vec![1, 2]);
    assert_eq!(spec("lmove").key_indexes(5), vec![1, 2]);
    // LMPOP/BLMPOP: exactly numkeys keys; none when numkeys is invalid.
    let argv = |s: &str| -> Vec<Bytes> { s.split(' ').map(b).collect() };
    assert_eq!(spec("lmpop").keys_of(&argv("LMPOP 2 a b LEFT COUNT 3")), vec![2, 3]);
    assert_eq!(spec("lmpop").keys_of(&argv("LMPOP 1 a LEFT")), vec![2]);
    assert_eq!(spec("lmpop").keys_of(&argv("LMPOP 5 a LEFT")), vec![2, 3]);
    assert!(spec("lmpop").keys_of(&argv("LMPOP 0 a LEFT")).is_empty());
    assert!(spec("lmpop").keys_of(&argv("LMPOP x a LEFT")).is_empty());
    assert_eq!(spec("blmpop").keys_of(&argv("BLMPOP 0 2 a b RIGHT")), vec![3, 4]);
    assert!(spec("lmpop").key_indexes(6).starts_with(&[2, 3]));
}

#[test]
fn writes_are_logged_and_empty_lists_vanish() {
    let mut t = TestShard::new();
    t.run(&["RPUSH", "k", "a", "b"]);
    t.shard.write_log = Some(Vec::new());
    t.run(&["LRANGE", "k", "0", "-1"]);
    assert!(t.shard.write_log.as_ref().unwrap().is_empty(), "reads do not log");
    t.run(&["LTRIM", "k", "0", "-1"]);
    t.run(&["RPOPLPUSH", "k", "dst"]);
    t.run(&["LPOP", "k"]);
    let log: Vec<Vec<u8>> =
        t.shard.write_log.take().unwrap().into_iter().map(|(_, k)| k.to_vec()).collect();
    assert!(log.contains(&b"k".to_vec()) && log.contains(&b"dst".to_vec()));
    assert_eq!(t.run(&["EXISTS", "k"]), Reply::Int(0));
    assert_eq!(t.run(&["TYPE", "dst"]), Reply::status("list"));
}

#[test]
fn expired_lists_are_gone() {
    let mut t = TestShard::new();
    t.run(&["RPUSH", "k", "a"]);
    t.run(&["PEXPIRE", "k", "10"]);
    t.advance_ms(10);
    assert_eq!(t.run(&["LLEN", "k"]), Reply::Int(0));
    assert_eq!(t.run(&["LPUSHX", "k", "a"]), Reply::Int(0));
    assert_eq!(t.run(&["RPUSH", "k", "b"]), Reply::Int(1));
    assert_eq!(t.run(&["TTL", "k"]), Reply::Int(-1));
}

fn list_of(t: &mut TestShard, key: &str) -> Option<ListValue> {
    let mut ctx = t.shard.ctx(t.db, false);
    match ctx.peek(key.as_bytes()).map(|e| &e.value) {
        Some(Value::List(l)) => Some((**l).clone()),
        _ => None,
    }
}

fn check_nodes(l: &ListValue, fill: i64) {
    let mut total = 0;
    for node in l.nodes() {
        assert!(!node.is_empty());
        total += node.len();
        if let Node::Packed { buf, count } = node {
            assert_eq!(mayfly_engine::types::list::validate_listpack(buf), Ok(*count as usize));
            if *count > 1 {
                if fill > 0 {
                    assert!(*count as i64 <= fill && buf.len() <= 8192);
                } else {
                    assert!(buf.len() <= [4096, 8192, 16384, 32768, 65536][(-fill - 1) as usize]);
                }
            }
        }
    }
    assert_eq!(total, l.len());
}

#[derive(Debug, Clone)]
enum Op {
    Push(bool, Vec<Vec<u8>>),
    Pop(bool, Option<usize>),
    Set(i64, Vec<u8>),
    Insert(bool, Vec<u8>, Vec<u8>),
    Rem(i64, Vec<u8>),
    Trim(i64, i64),
    Move(bool, bool),
}

fn elem() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "1", "-7", "300", "70000", "x"])
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => (0usize..300).prop_map(|n| vec![b'z'; n]),
        1 => any::<i64>().prop_map(|n| n.to_string().into_bytes()),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (any::<bool>(), prop::collection::vec(elem(), 1..6)).prop_map(|(f, v)| Op::Push(f, v)),
        3 => (any::<bool>(), prop::option::of(0usize..6)).prop_map(|(f, c)| Op::Pop(f, c)),
        2 => (-12i64..12, elem()).prop_map(|(i, v)| Op::Set(i, v)),
        2 => (any::<bool>(), elem(), elem()).prop_map(|(a, p, v)| Op::Insert(a, p, v)),
        2 => (-3i64..4, elem()).prop_map(|(c, v)| Op::Rem(c, v)),
        1 => (-12i64..12, -12i64..12).prop_map(|(s, e)| Op::Trim(s, e)),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(a, b)| Op::Move(a, b)),
    ]
}

fn s(v: &[u8]) -> &str {
    std::str::from_utf8(v).expect("utf8 elements")
}

fn norm(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (start + len).max(0) } else { start };
    let end = if end < 0 { end + len } else { end };
    if start > end || start >= len {
        None
    } else {
        Some((start as usize, end.min(len - 1) as usize))
    }
}

fn apply(t: &mut TestShard, m: &mut VecDeque<Vec<u8>>, other: &mut VecDeque<Vec<u8>>, op: &Op) {
    let side = |f: bool| if f { "LEFT" } else { "RIGHT" };
    match op {
        Op::Push(front, vals) => {
            let mut argv = vec![if *front { "LPUSH" } else { "RPUSH" }, "k"];
            argv.extend(vals.iter().map(|v| s(v)));
            for v in vals {
                if *front {
                    m.push_front(v.clone())
                } else {
                    m.push_back(v.clone())
                }
            }
            assert_eq!(t.run(&argv), Reply::Int(m.len() as i64));
        }
        Op::Pop(front, count) => {
            let name = if *front { "LPOP" } else { "RPOP" };
            let pop = |m: &mut VecDeque<Vec<u8>>| if *front { m.pop_front() } else { m.pop_back() };
            match count {
                None => {
                    let want = pop(m).map_or(Reply::Nil, Reply::bulk);
                    assert_eq!(t.run(&[name, "k"]), want);
                }
                Some(c) => {
                    let want = if m.is_empty() {
                        Reply::NilArray
                    } else {
                        Reply::Array((0..*c).filter_map(|_| pop(m)).map(Reply::bulk).collect())
                    };
                    assert_eq!(t.run(&[name, "k", &c.to_string()]), want);
                }
            }
        }
        Op::Set(i, v) => {
            let len = m.len() as i64;
            let idx = if *i < 0 { i + len } else { *i };
            let want = if m.is_empty() {
                Reply::error("ERR no such key")
            } else if (0..len).contains(&idx) {
                m[idx as usize] = v.clone();
                Reply::ok()
            } else {
                Reply::error("ERR index out of range")
            };
            assert_eq!(t.run(&["LSET", "k", &i.to_string(), s(v)]), want);
        }
        Op::Insert(after, pivot, v) => {
            let want = if m.is_empty() {
                0
            } else if let Some(p) = m.iter().position(|e| e == pivot) {
                m.insert(if *after { p + 1 } else { p }, v.clone());
                m.len() as i64
            } else {
                -1
            };
            let w = if *after { "AFTER" } else { "BEFORE" };
            assert_eq!(t.run(&["LINSERT", "k", w, s(pivot), s(v)]), Reply::Int(want));
        }
        Op::Rem(count, v) => {
            let mut removed = 0;
            let limit = if *count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
            let idx: Vec<usize> = if *count < 0 {
                (0..m.len()).rev().filter(|&i| &m[i] == v).take(limit).collect()
            } else {
                (0..m.len()).filter(|&i| &m[i] == v).take(limit).collect()
            };
            let mut idx = idx;
            idx.sort_unstable();
            for i in idx.into_iter().rev() {
                m.remove(i);
                removed += 1;
            }
            assert_eq!(t.run(&["LREM", "k", &count.to_string(), s(v)]), Reply::Int(removed));
        }
        Op::Trim(start, end) => {
            match norm(*start, *end, m.len()) {
                Some((a, z)) => {
                    m.truncate(z + 1);
                    m.drain(..a);
                }
                None => m.clear(),
            }
            assert_eq!(t.run(&["LTRIM", "k", &start.to_string(), &end.to_string()]), Reply::ok());
        }
        Op::Move(from_left, to_left) => {
            // k → k2 and back again, so both lists see the move.
            let v = if *from_left { m.pop_front() } else { m.pop_back() };
            let want = v.clone().map_or(Reply::Nil, Reply::bulk);
            if let Some(v) = v {
                if *to_left {
                    other.push_front(v)
                } else {
                    other.push_back(v)
                }
            }
            let reply = t.run(&["LMOVE", "k", "k2", side(*from_left), side(*to_left)]);
            assert_eq!(reply, want);
        }
    }
}

fn check(t: &mut TestShard, key: &str, m: &VecDeque<Vec<u8>>, fill: i64) {
    let want = Reply::Array(m.iter().map(|v| Reply::bulk(v.clone())).collect());
    assert_eq!(t.run(&["LRANGE", key, "0", "-1"]), want);
    assert_eq!(t.run(&["LLEN", key]), Reply::Int(m.len() as i64));
    if m.is_empty() {
        assert_eq!(t.run(&["EXISTS", key]), Reply::Int(0));
        return;
    }
    assert_eq!(t.run(&["OBJECT", "ENCODING", key]), bulk("quicklist"));
    let l = list_of(t, key).expect("list");
    check_nodes(&l, fill);
    // Spot-check LINDEX from both ends.
    assert_eq!(t.run(&["LINDEX", key, "0"]), Reply::bulk(m[0].clone()));
    assert_eq!(t.run(&["LINDEX", key, "-1"]), Reply::bulk(m[m.len() - 1].clone()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn model(fill in prop::sample::select(vec![-1i64, -2, 1, 2, 3, 5]),
             ops in prop::collection::vec(op(), 1..120)) {
        let config = Config { list_max_listpack_size: fill, ..Config::default() };
        let mut t = TestShard::with_config(config);
        let mut m = VecDeque::new();
        let mut m2 = VecDeque::new();
        for op in &ops {
            apply(&mut t, &mut m, &mut m2, op);
            check(&mut t, "k", &m, fill);
            check(&mut t, "k2", &m2, fill);
        }
    }
}

#[test]
fn crosses_node_boundaries_both_ways() {
    let config = Config { list_max_listpack_size: 2, ..Config::default() };
    let mut t = TestShard::with_config(config);
    for i in 0..9 {
        t.run(&["RPUSH", "k", &i.to_string()]);
    }
    assert_eq!(list_of(&mut t, "k").unwrap().node_count(), 5);
    assert_eq!(t.run(&["OBJECT", "ENCODING", "k"]), bulk("quicklist"));
    t.run(&["LTRIM", "k", "6", "7"]);
    assert_eq!(list_of(&mut t, "k").unwrap().node_count(), 1);
    assert_eq!(t.run(&["LRANGE", "k", "0", "-1"]), Reply::Array(vec![bulk("6"), bulk("7")]));
    assert_eq!(t.run(&["OBJECT", "ENCODING", "k"]), bulk("quicklist"));
    // CONFIG SET applies to later writes: -2 lets the node grow past 2 entries.
    t.shard.config.list_max_listpack_size = -2;
    t.run(&["RPUSH", "k", "a", "b", "c"]);
    assert_eq!(list_of(&mut t, "k").unwrap().node_count(), 1);
}

/// Random commands, valid and not, on both Mayfly and redis-server; every reply must agree.
#[test]
fn random_commands_agree_with_redis() {
    // Default nodes, and nodes of three entries so most commands cross node boundaries.
    for (seed, fill) in [(7, -2), (8, 3)] {
        random_commands(seed, fill);
    }
}

fn random_commands(seed: u64, fill: i64) {
    let Some(mut oracle) = RedisOracle::start() else { return };
    oracle.run(&["CONFIG", "SET", "list-max-listpack-size", &fill.to_string()]);
    let config = Config { list_max_listpack_size: fill, ..Config::default() };
    let mut t = TestShard::with_config(config);
    let mut rng = SmallRng::seed_from_u64(seed);
    let keys = ["l1", "l2", "l3", "str"];
    let elems = ["a", "b", "c", "1", "2", "-3", "300", "99999999999", "01", ""];
    let nums = ["0", "1", "2", "-1", "-2", "3", "-5", "10", "x", "9223372036854775807"];
    oracle.run(&["SET", "str", "v"]);
    t.run(&["SET", "str", "v"]);
    let long = "q".repeat(5000);
    for step in 0..3000 {
        let key = keys[rng.gen_range(0..keys.len())];
        let key2 = keys[rng.gen_range(0..keys.len())];
        let mut e = || -> String {
            if rng.gen_ratio(1, 40) {
                long.clone()
            } else {
                elems[rng.gen_range(0..elems.len())].to_string()
            }
        };
        let (e1, e2, e3) = (e(), e(), e());
        let n1 = nums[rng.gen_range(0..nums.len())];
        let n2 = nums[rng.gen_range(0..nums.len())];
        let side = |r: &mut SmallRng| ["LEFT", "RIGHT", "left", "UP"][r.gen_range(0..4)];
        let s1 = side(&mut rng);
        let s2 = side(&mut rng);
        let cmd: Vec<String> = match rng.gen_range(0..20) {
            0 => vec!["LPUSH".into(), key.into(), e1, e2],
            1 => vec!["RPUSH".into(), key.into(), e1, e2, e3],
            2 => vec!["LPUSHX".into(), key.into(), e1],
            3 => vec!["RPUSHX".into(), key.into(), e1],
            4 => vec!["LPOP".into(), key.into()],
            5 => vec!["RPOP".into(), key.into(), n1.into()],
            6 => vec!["LRANGE".into(), key.into(), n1.into(), n2.into()],
            7 => vec!["LINDEX".into(), key.into(), n1.into()],
            8 => vec!["LSET".into(), key.into(), n1.into(), e1],
            9 => vec![
                "LINSERT".into(),
                key.into(),
                ["BEFORE", "AFTER", "after", "X"][rng.gen_range(0..4)].into(),
                e1,
                e2,
            ],
            10 => vec!["LREM".into(), key.into(), n1.into(), e1],
            11 => vec!["LTRIM".into(), key.into(), n1.into(), n2.into()],
            12 => {
                let mut c = vec!["LPOS".into(), key.into(), e1];
                for _ in 0..rng.gen_range(0..3) {
                    c.push(["RANK", "COUNT", "MAXLEN"][rng.gen_range(0..3)].into());
                    c.push(nums[rng.gen_range(0..nums.len())].into());
                }
                c
            }
            13 => vec!["LMOVE".into(), key.into(), key2.into(), s1.into(), s2.into()],
            14 => vec!["RPOPLPUSH".into(), key.into(), key2.into()],
            15 => {
                let mut c = vec!["LMPOP".into(), "2".into(), key.into(), key2.into(), s1.into()];
                if rng.gen_bool(0.5) {
                    c.extend(["COUNT".into(), n1.into()]);
                }
                c
            }
            16 => vec!["BLPOP".into(), key.into(), key2.into(), "0".into()],
            17 => vec!["BRPOPLPUSH".into(), key.into(), key2.into(), "0".into()],
            18 => vec!["BLMPOP".into(), "0".into(), "1".into(), key.into(), s1.into()],
            _ => vec!["LLEN".into(), key.into()],
        };
        // Blocking with a 0 timeout would hang the oracle: only send them when data is there
        // or run them inside MULTI, where Redis answers the timeout reply at once.
        let argv: Vec<Bytes> = cmd.iter().map(|a| b(a)).collect();
        let want = oracle_run(&mut oracle, &argv);
        let got = t.run_bytes(&argv);
        assert_eq!(notation(&got), notation(&want), "step {step}: {cmd:?}");
        if step % 50 == 0 {
            for k in keys {
                let a = oracle.run(&["LRANGE", k, "0", "-1"]);
                assert_eq!(notation(&t.run(&["LRANGE", k, "0", "-1"])), notation(&a), "{k}");
            }
        }
    }
}

// ---- memory ----------------------------------------------------------------------------

/// 1M elements pushed through the command path, in batches as a client would send them.
fn bytes_for(elements: impl Fn(usize) -> String) -> isize {
    let mut t = TestShard::new();
    t.run(&["SET", "warm", "up"]);
    let before = jemalloc_bytes();
    for batch in 0..1000 {
        let mut argv = vec![b("RPUSH"), b("k")];
        argv.extend((batch * 1000..batch * 1000 + 1000).map(|i| Bytes::from(elements(i))));
        t.run_bytes(&argv);
    }
    let after = jemalloc_bytes();
    assert_eq!(t.run(&["LLEN", "k"]), Reply::Int(1_000_000));
    after - before
}

#[test]
fn memory_per_element_is_at_most_redis() {
    // redis-server 7.0.15, same data (RPUSH in batches of 1000), used_memory delta:
    // integers 0..1M: 5,039,160 bytes; "element:N": 16,025,624 bytes.
    let ints = bytes_for(|i| i.to_string());
    let strs = bytes_for(|i| format!("element:{i}"));
    eprintln!("1M integers: {ints} bytes; 1M \"element:N\": {strs} bytes");
    assert!(ints <= 5_039_160, "integers: {ints} bytes");
    assert!(strs <= 16_025_624, "strings: {strs} bytes");
}
