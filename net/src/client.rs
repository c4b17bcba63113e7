//! What other connections may see of a client (CLIENT LIST/INFO/KILL), shared across shards.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;

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
    pub omem: AtomicUsize,
    /// In a blocking command (CLIENT UNBLOCK acts only then).
    pub blocked: AtomicBool,
    /// CLIENT UNBLOCK asked for: 0 no, else an [`UnblockAs`] value.
    pub unblock: AtomicU8,
}

/// How CLIENT UNBLOCK ends a blocking command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum UnblockAs {
    /// As if its timeout had expired (the default).
    Timeout = 1,
    /// With Redis's `-UNBLOCKED` error.
    Error = 2,
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
            omem: AtomicUsize::new(0),
            blocked: AtomicBool::new(false),
            unblock: AtomicU8::new(0),
        }
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
        let cmd = self.last_cmd_name();
        let age = now_ms.saturating_sub(self.created_ms) / 1000;
        let idle = now_ms.saturating_sub(self.last_interaction_ms.load(Ordering::Relaxed)) / 1000;
        let multi = if self.in_multi.load(Ordering::Relaxed) {
            self.multi_len.load(Ordering::Relaxed) as i64
        } else {
            -1
        };
        let flags = if self.in_multi.load(Ordering::Relaxed) { "x" } else { "N" };
        let qbuf = self.qbuf.load(Ordering::Relaxed);
        let omem = self.omem.load(Ordering::Relaxed);
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user=default redir=-1 resp={}",
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
            omem,
            16384 + qbuf + omem,
            cmd,
            self.resp.load(Ordering::Relaxed),
        )
    }
}
