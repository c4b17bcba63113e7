//! The command table: one declarative entry per command. The dispatcher (net crate) enforces
//! what the entry says: arity, flags, key positions and how keys on several shards are handled.

use bytes::Bytes;

use crate::reply::Reply;
use crate::shard::Ctx;

/// Command flags, Redis's names (`COMMAND INFO` reports them).
pub mod flags {
    /// May modify the keyspace.
    pub const WRITE: u32 = 1 << 0;
    /// Reads data only.
    pub const READONLY: u32 = 1 << 1;
    /// May grow memory: refused with the OOM error when over `maxmemory` under `noeviction`.
    pub const DENYOOM: u32 = 1 << 2;
    /// Administrative command.
    pub const ADMIN: u32 = 1 << 3;
    /// Pub/Sub related.
    pub const PUBSUB: u32 = 1 << 4;
    /// Not allowed from scripts.
    pub const NOSCRIPT: u32 = 1 << 5;
    /// May block the client.
    pub const BLOCKING: u32 = 1 << 6;
    /// Allowed while loading the dataset.
    pub const LOADING: u32 = 1 << 7;
    /// Allowed on a stale replica.
    pub const STALE: u32 = 1 << 8;
    /// Not shown in MONITOR.
    pub const SKIP_MONITOR: u32 = 1 << 9;
    /// Not counted in slowlog.
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    /// O(1) or O(log N): Redis's `fast`.
    pub const FAST: u32 = 1 << 11;
    /// Allowed before AUTH.
    pub const NO_AUTH: u32 = 1 << 12;
    /// May be replicated even when read-only (e.g. PUBLISH).
    pub const MAY_REPLICATE: u32 = 1 << 13;
    /// Not allowed inside MULTI.
    pub const NO_MULTI: u32 = 1 << 14;
    /// Allowed in a RESP2 subscribed context.
    pub const ALLOW_SUBSCRIBED: u32 = 1 << 15;

    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MULTI, "no_multi"),
    ];
}

/// A command implemented over one shard's data.
pub type ShardFn = fn(&mut Ctx<'_>, &[Bytes]) -> Reply;

#[derive(Clone, Copy)]
pub enum Handler {
    /// Runs on the shard that owns the keys (or the local shard for keyless commands).
    Shard(ShardFn),
    /// Implemented by the net layer: connection state, pub/sub, transactions, server-wide work.
    Net,
}

/// How a command's keys are handled when they belong to different shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MultiShard {
    /// Single key, or keyless: there is nothing to split.
    None,
    /// Split the key groups (`step` args each) per shard, run the same command on each with its
    /// subset under one multi-shard lock, and merge the replies.
    Split(Merge),
    /// Lock all keys, gather their entries into a scratch shard, run the command there, and
    /// write changed keys back to their owners, atomically.
    Gather,
    /// Keyless command that runs on every shard (DBSIZE, KEYS, FLUSHALL); replies merge.
    Broadcast(Merge),
    /// The net layer coordinates this command itself (SCAN cursors, RANDOMKEY).
    Net,
}

/// How per-shard replies of a [`MultiShard::Split`] command merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// Sum of integer replies (DEL, EXISTS, TOUCH, UNLINK).
    SumInts,
    /// Array replies re-ordered into the original key order (MGET).
    ArrayInKeyOrder,
    /// All replies OK → OK (MSET); the first error otherwise.
    AllOk,
    /// Array replies concatenated in shard order (KEYS).
    ConcatArrays,
}

pub struct CommandSpec {
    /// Lowercase name.
    pub name: &'static str,
    /// Redis arity: positive = exact argc, negative = at least -arity.
    pub arity: i32,
    pub flags: u32,
    /// Key positions (1-based argv index); 0 = no keys. `last_key` -1 = last arg, -2 = one before.
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    /// Command group (`string`, `generic`, `connection`, `server`, …) for COMMAND DOCS.
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub handler: Handler,
    pub multi: MultiShard,
    /// Subcommands (CONFIG GET, CLIENT ID, …) for COMMAND; dispatch stays with the parent.
    pub subcommands: &'static [SubcommandSpec],
    /// For commands whose key positions depend on the arguments (Redis's `movablekeys`, e.g.
    /// a `numkeys` count): the exact key indexes of one invocation. The legacy
    /// `first_key..last_key` range of such a command is a superset that covers every key.
    pub keys_fn: Option<KeysFn>,
}

/// Exact key indexes of one invocation of a movable-keys command.
pub type KeysFn = fn(&[Bytes]) -> Vec<usize>;

pub struct SubcommandSpec {
    pub name: &'static str,
    pub arity: i32,
    pub flags: u32,
    pub summary: &'static str,
}

impl CommandSpec {
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let a = self.arity as i64;
        if a >= 0 {
            argc == a
        } else {
            argc >= -a
        }
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Argv indexes of the keys of this invocation.
    pub fn key_indexes(&self, argc: usize) -> Vec<usize> {
        let mut out = Vec::new();
        if self.first_key <= 0 || argc == 0 {
            return out;
        }
        let first = self.first_key as i64;
        let last = if self.last_key < 0 {
            argc as i64 + self.last_key as i64
        } else {
            self.last_key as i64
        };
        let step = self.step.max(1) as i64;
        let mut i = first;
        while i <= last && i < argc as i64 {
            out.push(i as usize);
            i += step;
        }
        out
    }

    /// ACL categories in Redis's style, derived from flags and group.
    pub fn acl_categories(&self) -> Vec<&'static str> {
        // Redis's order: access kind, the type's category, speed, then the rest.
        let mut cats = Vec::new();
        if self.has(flags::WRITE) {
            cats.push("@write");
        }
        if self.has(flags::READONLY) {
            cats.push("@read");
        }
        match self.group {
            // SORT reads lists, sets and sorted sets, and other keys through patterns.
            "generic" if matches!(self.name, "sort" | "sort_ro") => {
                cats.extend(["@set", "@sortedset", "@list"])
            }
            "string" => cats.push("@string"),
            "list" => cats.push("@list"),
            "hash" => cats.push("@hash"),
            "set" => cats.push("@set"),
            "sorted-set" => cats.push("@sortedset"),
            "bitmap" => cats.push("@bitmap"),
            "hyperloglog" => cats.push("@hyperloglog"),
            "stream" => cats.push("@stream"),
            "geo" => cats.push("@geo"),
            "generic" => cats.push("@keyspace"),
            "connection" => cats.push("@connection"),
            "transactions" => cats.push("@transaction"),
            "scripting" => cats.push("@scripting"),
            "pubsub" => cats.push("@pubsub"),
            _ => {}
        }
        if self.has(flags::FAST) {
            cats.push("@fast");
        } else {
            cats.push("@slow");
        }
        if self.has(flags::BLOCKING) {
            cats.push("@blocking");
        }
        if self.has(flags::ADMIN) {
            cats.push("@admin");
            cats.push("@dangerous");
        } else if matches!(self.name, "sort" | "sort_ro" | "restore" | "migrate") {
            cats.push("@dangerous");
        }
        if self.has(flags::PUBSUB) && self.group != "pubsub" {
            cats.push("@pubsub");
        }
        cats
    }
}

/// Commands whose keys are counted by a `numkeys` argument: (fixed key positions before it,
/// position of numkeys). Keys follow numkeys. Redis expresses this with "keynum" key specs.
fn numkeys_layout(name: &str) -> Option<(&'static [usize], usize)> {
    Some(match name {
        "lmpop" | "zmpop" | "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" => (&[], 1),
        "blmpop" | "bzmpop" => (&[], 2),
        "zunionstore" | "zinterstore" | "zdiffstore" => (&[1], 2),
        _ => return None,
    })
}

/// Shorthand for declaring table entries.
#[allow(clippy::too_many_arguments)]
pub const fn cmd(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    handler: Handler,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        group,
        summary,
        since,
        handler,
        multi: MultiShard::None,
        subcommands: &[],
        keys_fn: None,
    }
}

impl CommandSpec {
    pub const fn multi(mut self, multi: MultiShard) -> Self {
        self.multi = multi;
        self
    }

    pub const fn subcommands(mut self, subs: &'static [SubcommandSpec]) -> Self {
        self.subcommands = subs;
        self
    }

    pub const fn movable_keys(mut self, f: KeysFn) -> Self {
        self.keys_fn = Some(f);
        self
    }

    /// `Some(1)` when this invocation names exactly one key, at index 1, by the table alone
    /// (no movable keys, no numkeys argument): the same answer as `keys_of` == `[1]`, without
    /// allocating.
    pub fn single_key(&self, argc: usize) -> Option<usize> {
        let fixed_one = self.keys_fn.is_none() && self.first_key == 1 && self.last_key == 1;
        (fixed_one && argc > 1 && numkeys_layout(self.name).is_none()).then_some(1)
    }

    /// The key indexes of this invocation: exact for movable-keys commands, else the
    /// `first_key..last_key` range.
    pub fn keys_of(&self, argv: &[Bytes]) -> Vec<usize> {
        match self.keys_fn {
            Some(f) => f(argv).into_iter().filter(|&i| i < argv.len()).collect(),
            None => self.numkeys_keys(argv).unwrap_or_else(|| self.key_indexes(argv.len())),
        }
    }

    /// Keys of commands counted by a `numkeys` argument (see [`numkeys_layout`]), for those
    /// whose table entry declares no `keys_fn`.
    fn numkeys_keys(&self, argv: &[Bytes]) -> Option<Vec<usize>> {
        let (fixed, numkeys_at) = numkeys_layout(self.name)?;
        let mut out: Vec<usize> = fixed.iter().copied().filter(|&i| i < argv.len()).collect();
        let n = argv
            .get(numkeys_at)
            .and_then(|a| std::str::from_utf8(a).ok())
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(0);
        let start = numkeys_at + 1;
        out.extend((start..start.saturating_add(n)).take_while(|&i| i < argv.len()));
        Some(out)
    }
}

pub const NO_KEYS: (i32, i32, i32) = (0, 0, 0);
pub const ONE_KEY: (i32, i32, i32) = (1, 1, 1);

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    /// The routing fast path must name the same key `keys_of` finds, for every command.
    #[test]
    fn single_key_agrees_with_keys_of_for_every_command() {
        let mut fast = 0;
        for spec in crate::commands() {
            for argc in 1..8 {
                let argv: Vec<Bytes> = std::iter::once(Bytes::from(spec.name))
                    .chain((1..argc).map(|i| Bytes::from(format!("{i}"))))
                    .collect();
                if let Some(i) = spec.single_key(argc) {
                    assert_eq!(spec.keys_of(&argv), vec![i], "{} with {argc} args", spec.name);
                    fast += 1;
                }
            }
        }
        assert!(fast > 100, "the fast path covers the one-key commands ({fast})");
        assert_eq!(crate::lookup(b"get").and_then(|s| s.single_key(2)), Some(1));
        assert_eq!(crate::lookup(b"mset").and_then(|s| s.single_key(3)), None);
        assert_eq!(crate::lookup(b"zunionstore").and_then(|s| s.single_key(4)), None);
    }
}
