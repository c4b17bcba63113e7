//! What other connections may see of a client (CLIENT LIST/INFO/KILL), shared across shards.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub struct ClientInfo {
    pub id: u64,
    pub fd: i32,
    pub shard: usize,
    pub addr: String,
    pub laddr: String,
    pub created_ms: u64,
    pub name: Mutex<String>,
    pub lib_name: Mutex<String>,
    pub lib_ver: Mutex<String>,
    /// The last command's table entry (null before the first): one relaxed store per
    /// command, where a mutex cost two atomic read-modify-writes on the hot path.
    last_cmd: AtomicPtr<mayfly_engine::command::CommandSpec>,
    pub last_interaction_ms: AtomicU64,
    pub db: AtomicUsize,
    pub resp: AtomicU8,
    pub in_multi: AtomicBool,
    pub multi_len: AtomicUsize,
    pub killed: AtomicBool,
    pub qbuf: AtomicUsize,
    /// Queued output: bytes in the static buffer, reply-list nodes, reply-list bytes (as
    /// Redis's CLIENT LIST `obl`, `oll`, `omem`; see `conn::output`).
    pub obl: AtomicUsize,
    pub oll: AtomicUsize,
    pub omem: AtomicUsize,
    /// In a blocking command (CLIENT UNBLOCK acts only then).
    pub blocked: AtomicBool,
    /// CLIENT UNBLOCK asked for: 0 no, else a `coord::block::UnblockAs` value.
    pub unblock: AtomicU8,
    /// The last command's subcommand, for `cmd=client|list` (null when it had none).
    last_sub: AtomicPtr<mayfly_engine::command::SubcommandSpec>,
    /// CLIENT NO-EVICT ON (flag `e`).
    pub no_evict: AtomicBool,
    /// Runs MONITOR (flag `O`).
    pub monitor: AtomicBool,
    /// Channels, patterns and shard channels subscribed to (`sub`, `psub`, `ssub`; flag `P`
    /// and type `pubsub` when any).
    pub subscriptions: [AtomicUsize; 3],
}

/// Every connected client, by id: CLIENT LIST/KILL/UNBLOCK on any shard read it.
#[derive(Default)]
pub struct Clients {
    pub map: Mutex<HashMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
    /// Connections open now (maxclients is checked against it).
    pub connected: AtomicUsize,
}

impl Clients {
    /// A fresh client id (from 1, as Redis).
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn insert(&self, info: Arc<ClientInfo>) {
        if let Ok(mut m) = self.map.lock() {
            m.insert(info.id, info);
        }
    }

    pub fn remove(&self, id: u64) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(&id);
        }
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.map.lock().ok().and_then(|m| m.get(&id).cloned())
    }

    /// Every client, by id.
    pub fn all(&self) -> Vec<Arc<ClientInfo>> {
        let mut v: Vec<_> =
            self.map.lock().map(|m| m.values().cloned().collect()).unwrap_or_default();
        v.sort_by_key(|c| c.id);
        v
    }
}

impl ClientInfo {
    pub fn new(
        id: u64,
        fd: i32,
        shard: usize,
        addr: String,
        laddr: String,
        now_ms: u64,
    ) -> ClientInfo {
        ClientInfo {
            id,
            fd,
            shard,
            addr,
            laddr,
            created_ms: now_ms,
            name: Mutex::new(String::new()),
            lib_name: Mutex::new(String::new()),
            lib_ver: Mutex::new(String::new()),
            last_cmd: AtomicPtr::new(std::ptr::null_mut()),
            last_interaction_ms: AtomicU64::new(now_ms),
            db: AtomicUsize::new(0),
            resp: AtomicU8::new(2),
            in_multi: AtomicBool::new(false),
            multi_len: AtomicUsize::new(0),
            killed: AtomicBool::new(false),
            qbuf: AtomicUsize::new(0),
            obl: AtomicUsize::new(0),
            oll: AtomicUsize::new(0),
            omem: AtomicUsize::new(0),
            blocked: AtomicBool::new(false),
            unblock: AtomicU8::new(0),
            last_sub: AtomicPtr::new(std::ptr::null_mut()),
            no_evict: AtomicBool::new(false),
            monitor: AtomicBool::new(false),
            subscriptions: [AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0)],
        }
    }

    /// Records the subcommand of the command this client runs now (`argv[1]` of a container
    /// command such as CLIENT or CONFIG), for CLIENT LIST's `cmd=parent|sub`.
    pub fn set_last_sub(
        &self,
        spec: &'static mayfly_engine::command::CommandSpec,
        argv: &[bytes::Bytes],
    ) {
        let sub = argv.get(1).and_then(|a| {
            spec.subcommands.iter().find(|s| s.name.as_bytes().eq_ignore_ascii_case(a))
        });
        let ptr = sub.map_or(std::ptr::null_mut(), |s| s as *const _ as *mut _);
        self.last_sub.store(ptr, Ordering::Relaxed);
    }

    /// The last command as Redis's CLIENT LIST names it: `get`, `client|list`, or "NULL".
    pub fn last_cmd_full_name(&self) -> String {
        let name = self.last_cmd_name();
        let ptr = self.last_sub.load(Ordering::Relaxed);
        // SAFETY: null or made from a `&'static SubcommandSpec` of the command table in
        // `set_last_sub`; table entries live for the whole program and are never mutated.
        match unsafe { ptr.as_ref() } {
            Some(sub) => format!("{name}|{}", sub.name),
            None => name.to_string(),
        }
    }

    /// Subscribed to anything (Redis's CLIENT_PUBSUB flag).
    pub fn is_pubsub(&self) -> bool {
        self.subscriptions.iter().any(|n| n.load(Ordering::Relaxed) > 0)
    }

    /// Redis's client flags letters for CLIENT LIST (`N` when none).
    pub fn flags(&self) -> String {
        let mut f = String::new();
        if self.monitor.load(Ordering::Relaxed) {
            f.push('O');
        }
        if self.is_pubsub() {
            f.push('P');
        }
        if self.in_multi.load(Ordering::Relaxed) {
            f.push('x');
        }
        if self.blocked.load(Ordering::Relaxed) {
            f.push('b');
        }
        if self.no_evict.load(Ordering::Relaxed) {
            f.push('e');
        }
        if f.is_empty() {
            f.push('N');
        }
        f
    }

    /// Records the command this client runs now, for CLIENT LIST's `cmd=`.
    pub fn set_last_cmd(&self, spec: &'static mayfly_engine::command::CommandSpec) {
        self.last_cmd.store(spec as *const _ as *mut _, Ordering::Relaxed);
    }

    /// The last command's name, "NULL" before the first, as Redis prints it.
    pub fn last_cmd_name(&self) -> &'static str {
        let ptr = self.last_cmd.load(Ordering::Relaxed);
        // SAFETY: the pointer is null or was made from a `&'static CommandSpec` in
        // `set_last_cmd`; the table entries live for the whole program and are never mutated.
        match unsafe { ptr.as_ref() } {
            Some(spec) => spec.name,
            None => "NULL",
        }
    }

    /// One CLIENT LIST line, in Redis 7.0's field order.
    pub fn describe(&self, now_ms: u64) -> String {
        let name = self.name.lock().map(|n| n.clone()).unwrap_or_default();
        let cmd = self.last_cmd_full_name();
        let age = now_ms.saturating_sub(self.created_ms) / 1000;
        let idle = now_ms.saturating_sub(self.last_interaction_ms.load(Ordering::Relaxed)) / 1000;
        let multi = if self.in_multi.load(Ordering::Relaxed) {
            self.multi_len.load(Ordering::Relaxed) as i64
        } else {
            -1
        };
        let flags = self.flags();
        let [sub, psub, ssub] = [0, 1, 2].map(|i| self.subscriptions[i].load(Ordering::Relaxed));
        let qbuf = self.qbuf.load(Ordering::Relaxed);
        let obl = self.obl.load(Ordering::Relaxed);
        let oll = self.oll.load(Ordering::Relaxed);
        let omem = self.omem.load(Ordering::Relaxed);
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={sub} psub={psub} ssub={ssub} multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl={} oll={} omem={} tot-mem={} events=r cmd={} user=default redir=-1 resp={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            name,
            age,
            idle,
            flags,
            self.db.load(Ordering::Relaxed),
            multi,
            qbuf,
            16384usize.saturating_sub(qbuf),
            obl,
            oll,
            omem,
            16384 + qbuf + omem,
            cmd,
            self.resp.load(Ordering::Relaxed),
        )
    }
}
