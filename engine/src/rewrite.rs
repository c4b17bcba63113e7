//! The commands that recreate one key: what an AOF rewrite writes for an entry, and what the
//! journal records for a whole-entry store (`Shard::store_entry`).
//!
//! ```text
//!   string  ─► SET key v                  (SETRANGE key 0 v when v looks like an integer
//!                                           but is stored as bytes, so it stays bytes)
//!   list    ─► RPUSH key e… ×64 per command
//!   hash    ─► HSET key f v … ×64 pairs   (listpack order, so a listpack keeps its order)
//!   set     ─► SADD key m … ×64
//!   zset    ─► ZADD key s m … ×64          (scores as %.17g, which parses back exactly)
//!   stream  ─► XADD key id f v … per entry (or XADD key MAXLEN 0 last-id x y when empty),
//!              XSETID key last-id ENTRIESADDED n MAXDELETEDID id, per group XGROUP CREATE
//!              … ENTRIESREAD n, XCLAIM … TIME t RETRYCOUNT n JUSTID FORCE per pending entry,
//!              XGROUP CREATECONSUMER for consumers with nothing pending
//!   TTL     ─► PEXPIREAT key ms
//! ```
//! The encoding comes back too. A collection stored in its large encoding while small enough
//! for the compact one (it grew, then shrank: Redis never converts back) would be rebuilt
//! compact; for those the first command adds a member that forces the large encoding and the
//! last one removes it again (a hash field or zset member longer than the listpack limit, a
//! non-integer set member), which any Redis executes the same way. The same placeholder goes
//! first for a skiplist holding a score of -0, which a listpack would store as 0. Lists have
//! one encoding (`quicklist`); their node layout is not part of the value.

use bytes::Bytes;

use crate::config::Config;
use crate::db::Entry;
use crate::journal::{num_arg, word};
use crate::types::hash::HashValue;
use crate::types::set::SetValue;
use crate::types::zset::{format_score, ZSetValue};
use crate::value::{parse_i64_strict, StrValue, Value};

/// Elements per command, as Redis's `AOF_REWRITE_ITEMS_PER_CMD`.
pub const ITEMS_PER_COMMAND: usize = 64;

/// Longest placeholder the encoding trick may write (a listpack value limit above this is left
/// alone: the value comes back in the compact encoding, equal in content).
pub const MAX_PLACEHOLDER_BYTES: u64 = 1 << 20;

/// Calls `emit` with each command that recreates `key` holding `entry`, in order, under
/// `config`'s encoding limits (those of the shard that will execute them). The key must not
/// exist where they run (an AOF rewrite starts empty; `store_entry` deletes it first). An
/// entry whose expiry has passed ends with a PEXPIREAT in the past, which deletes it: callers
/// normally skip expired entries, as Redis's rewrite does.
pub fn entry_to_commands(
    key: &[u8],
    entry: &Entry,
    config: &Config,
    mut emit: impl FnMut(Vec<Bytes>),
) {
    let key = Bytes::copy_from_slice(key);
    match &entry.value {
        Value::Str(s) => emit(string_command(&key, s)),
        Value::List(l) => {
            let items: Vec<Bytes> = l.iter().map(|e| e.to_bytes()).collect();
            batches(&key, "RPUSH", items.into_iter().map(|e| [e]), &mut emit);
        }
        Value::Hash(h) => hash_commands(&key, h, config, &mut emit),
        Value::Set(s) => set_commands(&key, s, config, &mut emit),
        Value::ZSet(z) => zset_commands(&key, z, config, &mut emit),
        Value::Stream(st) => stream_commands(&key, st, &mut emit),
    }
    if entry.expire_at_ms != 0 {
        emit(vec![word("PEXPIREAT"), key, num_arg(entry.expire_at_ms)]);
    }
}

/// SET stores integer-looking text as an `int`; a value kept as bytes (APPEND, SETRANGE,
/// INCRBYFLOAT results) comes back as bytes through SETRANGE, which never makes an integer.
fn string_command(key: &Bytes, s: &StrValue) -> Vec<Bytes> {
    let bytes = s.to_bytes();
    let stored_as_bytes = !matches!(s, StrValue::Int(_));
    if stored_as_bytes && parse_i64_strict(&bytes).is_some() {
        vec![word("SETRANGE"), key.clone(), num_arg(0), bytes]
    } else {
        vec![word("SET"), key.clone(), bytes]
    }
}

/// `name key` followed by the items, `ITEMS_PER_COMMAND` items per command.
fn batches<const N: usize>(
    key: &Bytes,
    name: &'static str,
    items: impl Iterator<Item = [Bytes; N]>,
    emit: &mut impl FnMut(Vec<Bytes>),
) {
    let mut cmd: Vec<Bytes> = Vec::new();
    for item in items {
        if cmd.is_empty() {
            cmd.reserve(2 + N * ITEMS_PER_COMMAND);
            cmd.push(word(name));
            cmd.push(key.clone());
        }
        cmd.extend(item);
        if cmd.len() == 2 + N * ITEMS_PER_COMMAND {
            emit(std::mem::take(&mut cmd));
        }
    }
    if !cmd.is_empty() {
        emit(cmd);
    }
}

/// A member longer than a listpack limit that `taken` says is not in the collection (of `len`
/// members, so one of `len + 1` candidates is free), when that is affordable.
fn placeholder(limit: u64, len: usize, taken: impl Fn(&[u8]) -> bool) -> Option<Bytes> {
    if limit >= MAX_PLACEHOLDER_BYTES {
        return None;
    }
    let base = vec![b'_'; limit as usize + 1];
    (0..=len)
        .map(|i| {
            let mut candidate = base.clone();
            if i > 0 {
                candidate.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
            }
            candidate
        })
        .find(|c| !taken(c))
        .map(Bytes::from)
}

fn hash_commands(key: &Bytes, h: &HashValue, config: &Config, emit: &mut impl FnMut(Vec<Bytes>)) {
    let entries = h.entries();
    let value_limit = config.hash_max_listpack_value;
    // Every field is at most the limit, so a longer one is not in the hash.
    let force = h.encoding() == "hashtable"
        && entries.len() as u64 <= config.hash_max_listpack_entries
        && entries
            .iter()
            .all(|(f, v)| f.len() as u64 <= value_limit && v.len() as u64 <= value_limit);
    let dummy = if force { placeholder(value_limit, h.len(), |f| h.contains(f)) } else { None };
    if let Some(d) = &dummy {
        emit(vec![word("HSET"), key.clone(), d.clone(), Bytes::new()]);
    }
    batches(key, "HSET", entries.into_iter().map(|(f, v)| [f, v]), emit);
    if let Some(d) = dummy {
        emit(vec![word("HDEL"), key.clone(), d]);
    }
}

fn set_commands(key: &Bytes, s: &SetValue, config: &Config, emit: &mut impl FnMut(Vec<Bytes>)) {
    let members = s.members();
    // All members integers: a non-integer one is not in the set.
    let force = s.encoding() == "hashtable"
        && members.len() as u64 <= config.set_max_intset_entries
        && members.iter().all(|m| parse_i64_strict(m).is_some());
    let dummy = force.then(|| word("mayfly:hashtable"));
    if let Some(d) = &dummy {
        emit(vec![word("SADD"), key.clone(), d.clone()]);
    }
    batches(key, "SADD", members.into_iter().map(|m| [m]), emit);
    if let Some(d) = dummy {
        emit(vec![word("SREM"), key.clone(), d]);
    }
}

fn zset_commands(key: &Bytes, z: &ZSetValue, config: &Config, emit: &mut impl FnMut(Vec<Bytes>)) {
    let value_limit = config.zset_max_listpack_value;
    let fits_listpack = z.len() as u64 <= config.zset_max_listpack_entries
        && z.iter().all(|(m, _)| m.len() as u64 <= value_limit);
    // A listpack stores -0 as 0: a skiplist holding -0 must be a skiplist before that member
    // arrives, so the placeholder goes first whenever one is needed.
    let negative_zero = z.iter().any(|(_, s)| s == 0.0 && s.is_sign_negative());
    let dummy = if z.encoding() == "skiplist" && (fits_listpack || negative_zero) {
        placeholder(value_limit, z.len(), |m| z.score(m).is_some())
    } else {
        None
    };
    if let Some(d) = &dummy {
        emit(vec![word("ZADD"), key.clone(), num_arg(0), d.clone()]);
    }
    let items = z.iter().map(|(m, s)| [Bytes::from(format_score(s)), Bytes::copy_from_slice(m)]);
    batches(key, "ZADD", items, emit);
    if let Some(d) = dummy {
        emit(vec![word("ZREM"), key.clone(), d]);
    }
}

/// A stream as Redis 7.0's AOF rewrite writes it: its live entries, then its metadata, then
/// its groups with their pending entries and consumers. Tombstones and the node layout are
/// not part of the value (the node size follows the executing shard's limits).
fn stream_commands(
    key: &Bytes,
    st: &crate::types::stream::Stream,
    emit: &mut impl FnMut(Vec<Bytes>),
) {
    let meta = st.meta();
    if st.is_empty() {
        emit(vec![
            word("XADD"),
            key.clone(),
            word("MAXLEN"),
            num_arg(0),
            meta.last_id.to_bytes(),
            word("x"),
            word("y"),
        ]);
    } else {
        for e in st.iter() {
            let mut cmd = vec![word("XADD"), key.clone(), e.id.to_bytes()];
            for (f, v) in e.fields() {
                cmd.push(f.to_bytes());
                cmd.push(v.to_bytes());
            }
            emit(cmd);
        }
    }
    emit(vec![
        word("XSETID"),
        key.clone(),
        meta.last_id.to_bytes(),
        word("ENTRIESADDED"),
        num_arg(meta.entries_added),
        word("MAXDELETEDID"),
        meta.max_deleted_entry_id.to_bytes(),
    ]);
    for (name, group) in st.groups() {
        emit(vec![
            word("XGROUP"),
            word("CREATE"),
            key.clone(),
            name.clone(),
            group.last_id.to_bytes(),
            word("ENTRIESREAD"),
            Bytes::from(group.entries_read.to_string()),
        ]);
        for (id, nack) in group.pel() {
            emit(vec![
                word("XCLAIM"),
                key.clone(),
                name.clone(),
                Bytes::copy_from_slice(&nack.consumer),
                num_arg(0),
                id.to_bytes(),
                word("TIME"),
                Bytes::from(nack.delivery_time_ms.to_string()),
                word("RETRYCOUNT"),
                num_arg(nack.delivery_count),
                word("JUSTID"),
                word("FORCE"),
            ]);
        }
        for (consumer, c) in group.consumers() {
            if c.pel.is_empty() {
                emit(vec![
                    word("XGROUP"),
                    word("CREATECONSUMER"),
                    key.clone(),
                    name.clone(),
                    Bytes::copy_from_slice(consumer),
                ]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{dataset, TestShard};

    /// Builds `key` on a shard with `setup`, turns its entry into commands, runs them on a
    /// fresh shard and compares the key there: value, encoding and expiry.
    fn round_trip(config: &Config, setup: &[&[&str]]) -> (String, Vec<Vec<Bytes>>) {
        let mut source = TestShard::with_config(config.clone());
        for argv in setup {
            let reply = source.run(argv);
            assert!(!reply.is_error(), "{argv:?}: {reply:?}");
        }
        let entry = source.shard.dbs[0].table.get(&b"k"[..]).expect("setup made k").clone();
        let mut commands = Vec::new();
        entry_to_commands(b"k", &entry, config, |c| commands.push(c));
        let mut copy = TestShard::with_config(config.clone());
        for argv in &commands {
            let reply = copy.run_bytes(argv);
            assert!(!reply.is_error(), "{argv:?}: {reply:?}");
        }
        assert_eq!(dataset(&copy.shard), dataset(&source.shard), "after {setup:?}");
        assert_eq!(copy.shard.dbs[0].expires, source.shard.dbs[0].expires);
        (entry.value.encoding().to_string(), commands)
    }

    #[test]
    fn streams_come_back_with_entries_metadata_groups_and_pending_entries() {
        let config = Config::default();
        // Entries with tombstones, a trimmed head, groups with pending entries and an idle
        // consumer, an expiry.
        let (encoding, commands) = round_trip(
            &config,
            &[
                &["XADD", "k", "1-1", "a", "1", "b", "2"],
                &["XADD", "k", "2-1", "a", "3"],
                &["XADD", "k", "3-1", "c", "4", "d", "5"],
                &["XADD", "k", "4-1", "a", "6", "b", "7"],
                &["XDEL", "k", "2-1"],
                &["XGROUP", "CREATE", "k", "g1", "0"],
                &["XGROUP", "CREATE", "k", "g2", "$", "ENTRIESREAD", "3"],
                &["XREADGROUP", "GROUP", "g1", "alice", "COUNT", "2", "STREAMS", "k", ">"],
                &["XREADGROUP", "GROUP", "g1", "bob", "COUNT", "1", "STREAMS", "k", ">"],
                &["XGROUP", "CREATECONSUMER", "k", "g1", "carol"],
                &["XACK", "k", "g1", "1-1"],
                &["PEXPIREAT", "k", "99999999999999"],
            ],
        );
        assert_eq!(encoding, "stream");
        assert!(commands.iter().any(|c| c[0] == "XCLAIM"), "{commands:?}");
        // An empty stream keeps its last id and groups.
        round_trip(
            &config,
            &[
                &["XADD", "k", "5-5", "f", "v"],
                &["XDEL", "k", "5-5"],
                &["XGROUP", "CREATE", "k", "g", "$"],
            ],
        );
    }

    fn small_limits() -> Config {
        Config {
            hash_max_listpack_entries: 8,
            hash_max_listpack_value: 16,
            set_max_intset_entries: 8,
            zset_max_listpack_entries: 8,
            zset_max_listpack_value: 16,
            ..Config::default()
        }
    }

    fn words(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    fn run_with<'a>(head: &[&'a str], rest: &'a [String]) -> Vec<&'a str> {
        head.iter().copied().chain(rest.iter().map(String::as_str)).collect()
    }

    #[test]
    fn strings_keep_their_encoding() {
        let c = Config::default();
        assert_eq!(round_trip(&c, &[&["SET", "k", "12345"]]).0, "int");
        assert_eq!(round_trip(&c, &[&["SET", "k", "hello"]]).0, "embstr");
        let long = "x".repeat(100);
        assert_eq!(round_trip(&c, &[&["SET", "k", &long]]).0, "raw");
        // Integer text stored as bytes must not come back as an int.
        let (enc, cmds) = round_trip(&c, &[&["SET", "k", "12"], &["APPEND", "k", "3"]]);
        assert_eq!(enc, "embstr");
        assert_eq!(cmds[0][0], "SETRANGE");
        round_trip(&c, &[&["SET", "k", "1"], &["INCRBYFLOAT", "k", "1"]]);
        round_trip(&c, &[&["SETBIT", "k", "1000", "1"]]);
        round_trip(&c, &[&["PFADD", "k", "a", "b", "c"], &["PFCOUNT", "k"]]);
        round_trip(&c, &[&["SET", "k", ""]]);
        let (_, cmds) = round_trip(&c, &[&["SET", "k", "v", "PX", "5000"]]);
        assert_eq!(cmds.last().map(|c| c[0].clone()), Some(word("PEXPIREAT")));
    }

    #[test]
    fn lists_come_back_in_order_in_batches() {
        let c = Config::default();
        let items = words("e", 150);
        let (enc, cmds) = round_trip(&c, &[&run_with(&["RPUSH", "k"], &items)]);
        assert_eq!(enc, "quicklist");
        assert_eq!(cmds.len(), 3, "64 items per RPUSH");
        let big = "b".repeat(10_000);
        round_trip(
            &c,
            &[&["RPUSH", "k", "a", &big, "c"], &["LPUSH", "k", "z"], &["EXPIRE", "k", "9"]],
        );
    }

    #[test]
    fn hashes_keep_encoding_and_listpack_order() {
        let c = small_limits();
        assert_eq!(round_trip(&c, &[&["HSET", "k", "z", "1", "a", "2", "m", "3"]]).0, "listpack");
        let fields: Vec<String> = (0..20).flat_map(|i| [format!("f{i}"), format!("{i}")]).collect();
        assert_eq!(round_trip(&c, &[&run_with(&["HSET", "k"], &fields)]).0, "hashtable");
        let long = "v".repeat(40);
        assert_eq!(round_trip(&c, &[&["HSET", "k", "a", &long]]).0, "hashtable");
        // Grown past the limit, then shrunk: still a hashtable, and must come back as one.
        let to_delete: Vec<String> = (2..20).map(|i| format!("f{i}")).collect();
        let (enc, cmds) = round_trip(
            &c,
            &[&run_with(&["HSET", "k"], &fields), &run_with(&["HDEL", "k"], &to_delete)],
        );
        assert_eq!(enc, "hashtable");
        assert_eq!(cmds.last().map(|c| c[0].clone()), Some(word("HDEL")));
    }

    #[test]
    fn sets_keep_their_encoding() {
        let c = small_limits();
        assert_eq!(round_trip(&c, &[&["SADD", "k", "3", "1", "2"]]).0, "intset");
        assert_eq!(round_trip(&c, &[&["SADD", "k", "a", "1", "b"]]).0, "hashtable");
        let ints = words("", 20);
        assert_eq!(round_trip(&c, &[&run_with(&["SADD", "k"], &ints)]).0, "hashtable");
        let (enc, _) = round_trip(
            &c,
            &[&run_with(&["SADD", "k"], &ints), &run_with(&["SREM", "k"], &ints[3..])],
        );
        assert_eq!(enc, "hashtable", "all integers and few: only the forced conversion keeps it");
    }

    #[test]
    fn sorted_sets_keep_encoding_and_exact_scores() {
        let c = small_limits();
        let scores =
            ["1", "a", "-0", "b", "0.1", "c", "1e300", "d", "-inf", "e", "inf", "f", "5e-324", "g"];
        assert_eq!(
            round_trip(
                &c,
                &[&run_with(&["ZADD", "k"], &[]).into_iter().chain(scores).collect::<Vec<_>>()]
            )
            .0,
            "listpack"
        );
        let pairs: Vec<String> =
            (0..20).flat_map(|i| [format!("{i}.5"), format!("m{i}")]).collect();
        assert_eq!(round_trip(&c, &[&run_with(&["ZADD", "k"], &pairs)]).0, "skiplist");
        // Shrunk skiplist holding -0 (a listpack would store 0): both must survive.
        let gone: Vec<String> = (2..20).map(|i| format!("m{i}")).collect();
        let (enc, _) = round_trip(
            &c,
            &[
                &run_with(&["ZADD", "k"], &pairs),
                &["ZADD", "k", "-0", "neg"],
                &run_with(&["ZREM", "k"], &gone),
                &["PEXPIRE", "k", "100000"],
            ],
        );
        assert_eq!(enc, "skiplist");
        // A skiplist for its long member, holding -0, and a member named like the placeholder.
        let long = "_".repeat(17);
        let (enc, cmds) = round_trip(&c, &[&["ZADD", "k", "1", &long], &["ZADD", "k", "-0", "a"]]);
        assert_eq!(enc, "skiplist");
        assert_eq!(cmds[0][3].len(), 18, "the placeholder steps around the member it would be");
    }

    #[test]
    fn batches_split_at_the_item_count() {
        let mut out = Vec::new();
        let key = word("k");
        batches(&key, "SADD", (0..129).map(|i| [num_arg(i)]), &mut |c| out.push(c.len()));
        assert_eq!(out, vec![66, 66, 3]);
        out.clear();
        batches(&key, "HSET", std::iter::empty::<[Bytes; 2]>(), &mut |c| out.push(c.len()));
        assert!(out.is_empty());
    }
}
