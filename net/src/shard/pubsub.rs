//! Pub/Sub across shards.
//!
//! A connection's subscriptions are registered on its own shard only. PUBLISH runs a delivery
//! job on every shard (through the mesh, in the publisher's order), and each shard pushes the
//! message into the mailboxes of its local subscribers, which their connection tasks write out.
//! Messages from one publisher therefore reach every subscriber in publish order.
//!
//! A mailbox is bounded by `client-output-buffer-limit pubsub <hard> <soft> <seconds>`: past
//! the hard limit, or above the soft limit for longer than its seconds, the subscriber is
//! disconnected, as Redis does, so one slow reader cannot grow the server without bound.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::task::{Poll, Waker};

use bytes::Bytes;
use mayfly_engine::reply::Reply;

/// Messages waiting to be written to one subscriber.
#[derive(Default)]
pub struct Mailbox {
    queue: RefCell<VecDeque<Reply>>,
    bytes: Cell<usize>,
    waker: RefCell<Option<Waker>>,
    /// Set when the output buffer limit was exceeded: the connection must close.
    pub overflowed: Cell<bool>,
    soft_since_ms: Cell<u64>,
    limits: Cell<(usize, usize, u64)>,
    /// The subscriber's protocol: messages are pushes in RESP3, arrays in RESP2.
    pub resp3: Cell<bool>,
}

fn reply_size(r: &Reply) -> usize {
    match r {
        Reply::Bulk(b) => b.len() + 16,
        Reply::Array(v) | Reply::Push(v) => v.iter().map(reply_size).sum::<usize>() + 8,
        _ => 16,
    }
}

impl Mailbox {
    pub fn new(limits: (usize, usize, u64)) -> Rc<Mailbox> {
        let m = Mailbox::default();
        m.limits.set(limits);
        Rc::new(m)
    }

    pub fn push(&self, msg: Reply) {
        if self.overflowed.get() {
            return;
        }
        let size = reply_size(&msg);
        self.bytes.set(self.bytes.get() + size);
        self.queue.borrow_mut().push_back(msg);
        let (hard, soft, soft_secs) = self.limits.get();
        let used = self.bytes.get();
        let now = mayfly_engine::clock::unix_time_ms();
        if hard > 0 && used > hard {
            self.overflowed.set(true);
        } else if soft > 0 && used > soft {
            if self.soft_since_ms.get() == 0 {
                self.soft_since_ms.set(now);
            } else if now - self.soft_since_ms.get() > soft_secs * 1000 {
                self.overflowed.set(true);
            }
        } else {
            self.soft_since_ms.set(0);
        }
        if self.overflowed.get() {
            self.queue.borrow_mut().clear();
            self.bytes.set(0);
        }
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    pub fn drain(&self) -> Vec<Reply> {
        self.bytes.set(0);
        self.queue.borrow_mut().drain(..).collect()
    }

    pub fn pending_bytes(&self) -> usize {
        self.bytes.get()
    }

    /// Resolves when a message (or an overflow) is waiting.
    pub async fn ready(&self) {
        std::future::poll_fn(|cx| {
            if !self.queue.borrow().is_empty() || self.overflowed.get() {
                Poll::Ready(())
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// Parses the pubsub class out of `client-output-buffer-limit` (hard, soft, seconds).
pub fn pubsub_limits(spec: &str) -> (usize, usize, u64) {
    let words: Vec<&str> = spec.split_whitespace().collect();
    for chunk in words.chunks(4) {
        if chunk.len() == 4 && chunk[0].eq_ignore_ascii_case("pubsub") {
            let mem = |s: &str| mayfly_engine::config::parse_memory(s).unwrap_or(0) as usize;
            return (mem(chunk[1]), mem(chunk[2]), chunk[3].parse().unwrap_or(0));
        }
    }
    (32 << 20, 8 << 20, 60)
}

/// Which namespace a subscription lives in.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

type Subscribers = Vec<(u64, Rc<Mailbox>)>;

/// This shard's subscriptions.
#[derive(Default)]
pub struct Registry {
    channels: HashMap<Bytes, Subscribers>,
    patterns: HashMap<Bytes, Subscribers>,
    shard_channels: HashMap<Bytes, Subscribers>,
}

impl Registry {
    fn map(&mut self, kind: Kind) -> &mut HashMap<Bytes, Subscribers> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard_channels,
        }
    }

    fn map_ref(&self, kind: Kind) -> &HashMap<Bytes, Subscribers> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard_channels,
        }
    }

    pub fn subscribe(&mut self, kind: Kind, name: Bytes, client: u64, mailbox: Rc<Mailbox>) {
        let subs = self.map(kind).entry(name).or_default();
        if !subs.iter().any(|(id, _)| *id == client) {
            subs.push((client, mailbox));
        }
    }

    pub fn unsubscribe(&mut self, kind: Kind, name: &[u8], client: u64) {
        let map = self.map(kind);
        if let Some(subs) = map.get_mut(name) {
            subs.retain(|(id, _)| *id != client);
            if subs.is_empty() {
                map.remove(name);
            }
        }
    }

    /// Delivers a published message to local subscribers; returns how many received it.
    pub fn publish(&self, kind: Kind, channel: &Bytes, message: &Bytes) -> i64 {
        let mut n = 0;
        let wrap = |mb: &Mailbox, items: Vec<Reply>| {
            if mb.resp3.get() {
                Reply::Push(items)
            } else {
                Reply::Array(items)
            }
        };
        let (exact, tag) = match kind {
            Kind::Shard => (&self.shard_channels, "smessage"),
            _ => (&self.channels, "message"),
        };
        if let Some(subs) = exact.get(channel) {
            for (_, mb) in subs {
                mb.push(wrap(
                    mb,
                    vec![
                        Reply::bulk_str(tag),
                        Reply::Bulk(channel.clone()),
                        Reply::Bulk(message.clone()),
                    ],
                ));
                n += 1;
            }
        }
        if kind == Kind::Channel {
            for (pattern, subs) in &self.patterns {
                if mayfly_engine::glob::glob_match(pattern, channel, false) {
                    for (_, mb) in subs {
                        mb.push(wrap(
                            mb,
                            vec![
                                Reply::bulk_str("pmessage"),
                                Reply::Bulk(pattern.clone()),
                                Reply::Bulk(channel.clone()),
                                Reply::Bulk(message.clone()),
                            ],
                        ));
                        n += 1;
                    }
                }
            }
        }
        n
    }

    /// Names with at least one subscriber, optionally filtered by a glob pattern.
    pub fn names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        self.map_ref(kind)
            .keys()
            .filter(|k| pattern.is_none_or(|p| mayfly_engine::glob::glob_match(p, k, false)))
            .cloned()
            .collect()
    }

    pub fn count(&self, kind: Kind, name: &[u8]) -> usize {
        self.map_ref(kind).get(name).map_or(0, Vec::len)
    }
}

/// A connection's own view of its subscriptions.
#[derive(Default)]
pub struct ClientSubs {
    pub channels: Vec<Bytes>,
    pub patterns: Vec<Bytes>,
    pub shard_channels: Vec<Bytes>,
    pub mailbox: Option<Rc<Mailbox>>,
}

impl ClientSubs {
    pub fn list(&mut self, kind: Kind) -> &mut Vec<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard_channels,
        }
    }

    /// Redis's count in (un)subscribe replies: channels + patterns, or shard channels.
    pub fn count(&self, kind: Kind) -> i64 {
        match kind {
            Kind::Shard => self.shard_channels.len() as i64,
            _ => (self.channels.len() + self.patterns.len()) as i64,
        }
    }

    pub fn active(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard_channels.is_empty())
    }
}
