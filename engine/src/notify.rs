//! Keyspace notifications (Redis's `notify-keyspace-events`): event classes, the flag string
//! syntax, and the events a shard records while it runs a command.
//!
//! ```text
//!   handler ── ctx.notify(class, "lpush", key) ──► one branch: class enabled?
//!                                                   └─ yes: Shard::events.push(Event)
//!   net layer, after the job/tick ── Shard::take_events() ──► PUBLISH on
//!        __keyspace@<db>__:<key> <event>   and/or   __keyevent@<db>__:<event> <key>
//! ```
//! The engine only records; it never publishes (it knows no sockets). Recording is off unless
//! the configured flags enable the event's class, so the common configuration (no
//! notifications) pays one load and one branch per event site.

use bytes::Bytes;

/// Class bits, Redis's values (`NOTIFY_*` in server.h).
pub mod class {
    /// `K`: publish on `__keyspace@<db>__:<key>`.
    pub const KEYSPACE: u32 = 1 << 0;
    /// `E`: publish on `__keyevent@<db>__:<event>`.
    pub const KEYEVENT: u32 = 1 << 1;
    /// `g`: DEL, EXPIRE, RENAME, … (type-independent commands).
    pub const GENERIC: u32 = 1 << 2;
    /// `$`: string commands.
    pub const STRING: u32 = 1 << 3;
    /// `l`: list commands.
    pub const LIST: u32 = 1 << 4;
    /// `s`: set commands.
    pub const SET: u32 = 1 << 5;
    /// `h`: hash commands.
    pub const HASH: u32 = 1 << 6;
    /// `z`: sorted set commands.
    pub const ZSET: u32 = 1 << 7;
    /// `x`: a key expired (lazily or by the active cycle).
    pub const EXPIRED: u32 = 1 << 8;
    /// `e`: a key was evicted for maxmemory.
    pub const EVICTED: u32 = 1 << 9;
    /// `t`: stream commands.
    pub const STREAM: u32 = 1 << 10;
    /// `m`: key miss (not part of `A`).
    pub const KEY_MISS: u32 = 1 << 11;
    /// `d`: module events.
    pub const MODULE: u32 = 1 << 13;
    /// `n`: a key was created (not part of `A`).
    pub const NEW: u32 = 1 << 14;
    /// `A`: alias for `g$lshzxetd`.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// Most events one shard buffers between two drains. A drain follows every job and tick, so
/// this only bounds a single huge command (a DEL of millions of keys); past it the events are
/// dropped and counted in [`crate::shard::Stats::notifications_dropped`].
pub const MAX_PENDING_EVENTS: usize = 1 << 20;

/// Parses a flag string as Redis's `keyspaceEventsStringToFlags`; None for an unknown letter.
pub fn parse_flags(s: &str) -> Option<u32> {
    let mut flags = 0;
    for c in s.chars() {
        flags |= match c {
            'A' => class::ALL,
            'g' => class::GENERIC,
            '$' => class::STRING,
            'l' => class::LIST,
            's' => class::SET,
            'h' => class::HASH,
            'z' => class::ZSET,
            'x' => class::EXPIRED,
            'e' => class::EVICTED,
            'K' => class::KEYSPACE,
            'E' => class::KEYEVENT,
            't' => class::STREAM,
            'm' => class::KEY_MISS,
            'd' => class::MODULE,
            'n' => class::NEW,
            _ => return None,
        };
    }
    Some(flags)
}

/// Renders flags in Redis's canonical order (`keyspaceEventsFlagsToString`): `A` when every
/// class of `A` is on, else the class letters, then `K`, `E`, `m`.
pub fn render_flags(flags: u32) -> String {
    let mut out = String::new();
    if flags & class::ALL == class::ALL {
        out.push('A');
    } else {
        for (bit, c) in [
            (class::GENERIC, 'g'),
            (class::STRING, '$'),
            (class::LIST, 'l'),
            (class::SET, 's'),
            (class::HASH, 'h'),
            (class::ZSET, 'z'),
            (class::EXPIRED, 'x'),
            (class::EVICTED, 'e'),
            (class::STREAM, 't'),
            (class::MODULE, 'd'),
            (class::NEW, 'n'),
        ] {
            if flags & bit != 0 {
                out.push(c);
            }
        }
    }
    for (bit, c) in [(class::KEYSPACE, 'K'), (class::KEYEVENT, 'E'), (class::KEY_MISS, 'm')] {
        if flags & bit != 0 {
            out.push(c);
        }
    }
    out
}

/// One recorded event. `keyspace`/`keyevent` are the `K`/`E` flags at the time it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub event: &'static str,
    pub db: usize,
    pub key: Bytes,
    pub keyspace: bool,
    pub keyevent: bool,
}

impl Event {
    /// The (channel, message) pairs to publish, keyspace first, as Redis publishes them.
    pub fn messages(&self) -> impl Iterator<Item = (Bytes, Bytes)> + '_ {
        let space = self.keyspace.then(|| {
            let mut ch = format!("__keyspace@{}__:", self.db).into_bytes();
            ch.extend_from_slice(&self.key);
            (Bytes::from(ch), Bytes::from_static(self.event.as_bytes()))
        });
        let event = self.keyevent.then(|| {
            let ch = format!("__keyevent@{}__:{}", self.db, self.event);
            (Bytes::from(ch), self.key.clone())
        });
        space.into_iter().chain(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_render_as_redis() {
        let r = |s: &str| render_flags(parse_flags(s).unwrap());
        assert_eq!(r("gKE"), "gKE");
        assert_eq!(r("$lshzxeKE"), "$lshzxeKE");
        assert_eq!(r("KA"), "AK");
        assert_eq!(r("EA"), "AE");
        assert_eq!(r(""), "");
        assert_eq!(r("nmKEA"), "AKEm");
        assert_eq!(r("g$lshzxetd"), "A");
        assert_eq!(r("Kn"), "nK");
        assert_eq!(parse_flags("KEw"), None);
        assert_eq!(parse_flags("a"), None);
    }

    #[test]
    fn messages_name_both_channels() {
        let e = Event {
            event: "set",
            db: 9,
            key: Bytes::from_static(b"foo"),
            keyspace: true,
            keyevent: true,
        };
        let m: Vec<_> = e.messages().collect();
        assert_eq!(
            m,
            vec![
                (Bytes::from_static(b"__keyspace@9__:foo"), Bytes::from_static(b"set")),
                (Bytes::from_static(b"__keyevent@9__:set"), Bytes::from_static(b"foo")),
            ]
        );
        let only_event = Event { keyspace: false, ..e };
        assert_eq!(only_event.messages().count(), 1);
    }
}
