//! SLOWLOG: one log for the whole server (every shard's connections push into it), kept
//! behind a mutex that is taken only when a command was slower than
//! `slowlog-log-slower-than` (or for SLOWLOG itself).
//!
//! Entries hold copies of at most [`MAX_ARGC`] arguments of at most [`MAX_ARG_BYTES`] bytes
//! each (Redis's trimming), never a slice of the connection's read buffer, so the log's memory
//! is bounded by `slowlog-max-len` × 32 × ~150 bytes.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use mayfly_engine::reply::Reply;

/// Arguments kept per entry; the last one kept says how many more there were.
pub const MAX_ARGC: usize = 32;
/// Bytes kept per argument; the rest is summarised as `... (N more bytes)`.
pub const MAX_ARG_BYTES: usize = 128;

/// One logged command.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub id: u64,
    pub time_s: u64,
    pub duration_us: u64,
    pub argv: Vec<Bytes>,
    pub peer: String,
    pub name: String,
}

/// The log: newest entry first.
#[derive(Default)]
pub struct SlowLog {
    next_id: u64,
    entries: VecDeque<Entry>,
}

impl SlowLog {
    /// Adds an entry (newest first) and trims the log to `max_len`, as Redis does on push.
    pub fn push(
        &mut self,
        argv: &[Bytes],
        duration_us: u64,
        time_s: u64,
        peer: String,
        name: String,
        max_len: usize,
    ) {
        let entry =
            Entry { id: self.next_id, time_s, duration_us, argv: trim_argv(argv), peer, name };
        self.next_id += 1;
        self.entries.push_front(entry);
        self.entries.truncate(max_len);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets every entry (ids keep counting, as in Redis).
    pub fn reset(&mut self) {
        self.entries.clear();
    }

    /// The `count` newest entries.
    pub fn newest(&self, count: usize) -> impl Iterator<Item = &Entry> {
        self.entries.iter().take(count)
    }
}

/// Redis's trimming of a logged argument vector: at most 32 arguments (the 32nd becomes
/// `... (N more arguments)`), each at most 128 bytes (`... (N more bytes)` appended).
pub fn trim_argv(argv: &[Bytes]) -> Vec<Bytes> {
    let kept = argv.len().min(MAX_ARGC);
    let mut out = Vec::with_capacity(kept);
    for (j, arg) in argv.iter().take(kept).enumerate() {
        if kept != argv.len() && j == kept - 1 {
            out.push(Bytes::from(format!("... ({} more arguments)", argv.len() - kept + 1)));
        } else if arg.len() > MAX_ARG_BYTES {
            let mut s = arg[..MAX_ARG_BYTES].to_vec();
            s.extend_from_slice(
                format!("... ({} more bytes)", arg.len() - MAX_ARG_BYTES).as_bytes(),
            );
            out.push(Bytes::from(s));
        } else {
            // A copy: the argument may be a slice of a large read buffer.
            out.push(Bytes::copy_from_slice(arg));
        }
    }
    out
}

static LOG: Mutex<SlowLog> = Mutex::new(SlowLog { next_id: 0, entries: VecDeque::new() });

fn with_log<R>(f: impl FnOnce(&mut SlowLog) -> R) -> R {
    f(&mut LOG.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

/// Logs a command that took `duration_us` when the settings ask for it; `argv` gives the
/// arguments as they are to be shown (passwords already redacted).
pub fn maybe_push(
    argv: impl FnOnce() -> Vec<Bytes>,
    duration_us: u64,
    slower_than_us: i64,
    max_len: u64,
    client: &crate::conn::client::ClientInfo,
) {
    if slower_than_us < 0 || duration_us < slower_than_us as u64 {
        return;
    }
    let name = client.name.lock().map(|n| n.clone()).unwrap_or_default();
    let argv = argv();
    let now_s = mayfly_engine::clock::unix_time_ms() / 1000;
    let max_len = usize::try_from(max_len).unwrap_or(usize::MAX);
    with_log(|log| log.push(&argv, duration_us, now_s, client.addr.clone(), name, max_len));
}

const HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
];

/// SLOWLOG GET [count] | LEN | RESET | HELP.
pub fn slowlog_command(argv: &[Bytes]) -> Reply {
    let sub = argv[1].to_ascii_lowercase();
    match (sub.as_slice(), argv.len()) {
        (b"help", 2) => Reply::Array(HELP.iter().map(|l| Reply::status(*l)).collect()),
        (b"reset", 2) => {
            with_log(SlowLog::reset);
            Reply::ok()
        }
        (b"len", 2) => Reply::Int(with_log(|l| l.len()) as i64),
        (b"get", 2 | 3) => {
            let mut count = 10usize;
            if let Some(arg) = argv.get(2) {
                match std::str::from_utf8(arg).ok().and_then(|s| s.parse::<i64>().ok()) {
                    Some(-1) => count = usize::MAX,
                    Some(n) if n >= 0 => count = n as usize,
                    _ => return Reply::error("ERR count should be greater than or equal to -1"),
                }
            }
            with_log(|log| Reply::Array(log.newest(count).map(entry_reply).collect()))
        }
        _ => syntax_error(&argv[1], "SLOWLOG"),
    }
}

/// Redis's addReplySubcommandSyntaxError: a known subcommand with arguments it does not take.
pub fn syntax_error(sub: &[u8], parent: &str) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {parent} HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)]).replace(['\r', '\n'], " ")
    ))
}

fn entry_reply(e: &Entry) -> Reply {
    Reply::Array(vec![
        Reply::Int(e.id as i64),
        Reply::Int(e.time_s as i64),
        Reply::Int(e.duration_us as i64),
        Reply::Array(e.argv.iter().cloned().map(Reply::Bulk).collect()),
        Reply::bulk(e.peer.clone()),
        Reply::bulk(e.name.clone()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    #[test]
    fn trims_arguments_like_redis() {
        let mut many = vec!["sadd".to_string(), "set".to_string()];
        many.extend((3..=33).map(|i| i.to_string()));
        let many: Vec<Bytes> = many.into_iter().map(Bytes::from).collect();
        let t = trim_argv(&many);
        assert_eq!(t.len(), 32);
        assert_eq!(&t[30][..], b"31");
        assert_eq!(&t[31][..], b"... (2 more arguments)");
        let long = vec![Bytes::from("set"), Bytes::from(vec![b'A'; 129])];
        let t = trim_argv(&long);
        assert_eq!(t[1].len(), 128 + "... (1 more bytes)".len());
        assert!(t[1].ends_with(b"A... (1 more bytes)"));
        let exact = vec![Bytes::from(vec![b'B'; 128])];
        assert_eq!(trim_argv(&exact)[0].len(), 128);
    }

    #[test]
    fn newest_first_bounded_ids_keep_counting() {
        let mut log = SlowLog::default();
        for i in 0..5 {
            log.push(&argv(&["ping", &i.to_string()]), 7, 1, "a:1".into(), "".into(), 3);
        }
        assert_eq!(log.len(), 3);
        let ids: Vec<u64> = log.newest(10).map(|e| e.id).collect();
        assert_eq!(ids, vec![4, 3, 2]);
        log.reset();
        assert!(log.is_empty());
        log.push(&argv(&["ping"]), 7, 1, "a:1".into(), "n".into(), 3);
        assert_eq!(log.newest(1).next().map(|e| e.id), Some(5));
        log.push(&argv(&["ping"]), 7, 1, "a:1".into(), "n".into(), 0);
        assert!(log.is_empty());
    }

    #[test]
    fn get_count_errors() {
        let r = slowlog_command(&argv(&["slowlog", "get", "-2"]));
        assert_eq!(r, Reply::error("ERR count should be greater than or equal to -1"));
        let r = slowlog_command(&argv(&["slowlog", "get", "x"]));
        assert_eq!(r, Reply::error("ERR count should be greater than or equal to -1"));
        let r = slowlog_command(&argv(&["slowlog", "GET", "1", "2"]));
        assert_eq!(
            r,
            Reply::error(
                "ERR unknown subcommand or wrong number of arguments for 'GET'. Try SLOWLOG HELP."
            )
        );
    }
}
