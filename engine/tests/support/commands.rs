//! Commands for a [`TestShard`] written as `&str` slices, with short argument expansions, and
//! readers that turn replies into comparable values. Include with
//! `#[path = "support/commands.rs"] mod commands;`.
//!
//! Each test binary uses part of this module, so unused items are expected.

#![allow(dead_code)]

use bytes::Bytes;
use mayfly_engine::reply::Reply;
use mayfly_engine::testing::{bulk, TestShard};

/// The arguments of a command. `@a..b` stands for the integers a..b (exclusive) as separate
/// arguments, and `@pairsN` for the field-value pairs `f0 v f1 v … f{N-1} v`.
pub fn argv(args: &[&str]) -> Vec<Bytes> {
    let mut out = Vec::new();
    for a in args {
        if let Some(count) = a.strip_prefix("@pairs") {
            let count: usize = count.parse().expect("@pairsN");
            for i in 0..count {
                out.push(Bytes::from(format!("f{i}")));
                out.push(Bytes::from_static(b"v"));
            }
        } else if let Some(range) = a.strip_prefix('@') {
            let (lo, hi) = range.split_once("..").expect("@a..b");
            let (lo, hi): (i64, i64) = (lo.parse().unwrap(), hi.parse().unwrap());
            out.extend((lo..hi).map(|i| Bytes::from(i.to_string())));
        } else {
            out.push(Bytes::copy_from_slice(a.as_bytes()));
        }
    }
    out
}

/// Runs a command after expanding its arguments with [`argv`].
pub fn run(t: &mut TestShard, args: &[&str]) -> Reply {
    t.run_bytes(&argv(args))
}

/// The items of an array or set reply in a fixed order, for replies whose order is unspecified.
pub fn sorted(reply: Reply) -> Vec<Reply> {
    let mut items = match reply {
        Reply::Array(v) | Reply::Set(v) => v,
        other => panic!("not an array: {other:?}"),
    };
    items.sort_by_key(|r| format!("{r:?}"));
    items
}

/// The bulk strings of an array or set reply as text, sorted.
pub fn strs(reply: Reply) -> Vec<String> {
    let mut out: Vec<String> = sorted(reply).into_iter().map(one).collect();
    out.sort();
    out
}

/// The text of a bulk reply.
pub fn one(reply: Reply) -> String {
    match reply {
        Reply::Bulk(b) => String::from_utf8(b.to_vec()).expect("utf-8"),
        other => panic!("not a bulk: {other:?}"),
    }
}

/// Bulk replies of `items`, in order.
pub fn bulks(items: &[&str]) -> Vec<Reply> {
    items.iter().map(|s| bulk(s)).collect()
}

/// `OBJECT ENCODING key`.
pub fn encoding(t: &mut TestShard, key: &str) -> Reply {
    t.run(&["OBJECT", "ENCODING", key])
}

/// Runs `argv` and asserts it added `counted` to the shard's change counter (`dirty`, INFO's
/// `rdb_changes_since_last_save`).
#[track_caller]
pub fn assert_changes(t: &mut TestShard, argv: &[&str], counted: u64) {
    let before = t.shard.dirty;
    t.run(argv);
    assert_eq!(t.shard.dirty - before, counted, "{argv:?}");
}
