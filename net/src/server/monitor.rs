//! MONITOR: every command any shard runs, as Redis's status line
//! (`+1339518083.107412 [0 127.0.0.1:60866] "keys" "*"`), sent to every monitoring client.
//!
//! ```text
//!   command on any shard ─► feed(): format once, append to each monitor's queue (one mutex)
//!   monitor's shard: pump task ─► every PUMP_MS takes its queue ─► the connection's mailbox
//! ```
//! Nobody monitoring costs one relaxed load per command ([`active`]). A monitor's backlog is
//! bounded: by its `client-output-buffer-limit` class (normal, as in Redis) or, without one,
//! by [`UNLIMITED_CAP_BYTES`]; past it the monitor is closed like any client over its limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use mayfly_engine::reply::Reply;

use crate::conn::client::ClientInfo;
use crate::conn::Conn;
use crate::shard::here;
use crate::shard::pubsub::Mailbox;

/// How often a monitor's pump moves its lines to the connection.
const PUMP_MS: u64 = 2;
/// A monitor's backlog when no output-buffer limit is configured for normal clients.
pub const UNLIMITED_CAP_BYTES: usize = 64 * 1024 * 1024;

struct Monitor {
    id: u64,
    lines: Vec<String>,
    bytes: usize,
    cap_bytes: usize,
    overflowed: bool,
}

static COUNT: AtomicUsize = AtomicUsize::new(0);
static HUB: Mutex<Vec<Monitor>> = Mutex::new(Vec::new());

fn with_hub<R>(f: impl FnOnce(&mut Vec<Monitor>) -> R) -> R {
    f(&mut HUB.lock().unwrap_or_else(|p| p.into_inner()))
}

/// True when someone monitors (the hot-path check).
#[inline]
pub fn active() -> bool {
    COUNT.load(Ordering::Relaxed) > 0
}

/// Redis's `sdscatrepr`: a quoted string with `\\`, `\"`, `\n`, `\r`, `\t`, `\a`, `\b` and
/// `\xHH` for other unprintable bytes.
pub fn repr(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
}

/// One MONITOR line (without the leading `+` and the CRLF the encoder adds).
pub fn line(now_us: u64, db: usize, peer: &str, argv: &[Bytes]) -> String {
    let mut s = format!("{}.{:06} [{db} {peer}] ", now_us / 1_000_000, now_us % 1_000_000);
    for (j, a) in argv.iter().enumerate() {
        if j > 0 {
            s.push(' ');
        }
        repr(&mut s, a);
    }
    s
}

/// Sends a command that ran to every monitor.
pub fn feed(db: usize, client: &ClientInfo, argv: &[Bytes]) {
    let text = line(mayfly_engine::clock::unix_time_us(), db, &client.addr, argv);
    with_hub(|hub| {
        for m in hub.iter_mut().filter(|m| !m.overflowed) {
            m.bytes += text.len() + 3;
            if m.bytes > m.cap_bytes {
                m.overflowed = true;
                m.lines = Vec::new();
            } else {
                m.lines.push(text.clone());
            }
        }
    });
}

/// The backlog a monitor may hold: the normal class's hard limit, else its soft limit, else
/// [`UNLIMITED_CAP_BYTES`].
fn cap_bytes() -> usize {
    let spec = here().shared.read_config(|c| c.client_output_buffer_limit.clone());
    let words: Vec<&str> = spec.split_whitespace().collect();
    let mem = |s: &str| mayfly_engine::config::parse_memory(s).unwrap_or(0) as usize;
    let (hard, soft) = words
        .chunks(4)
        .find(|c| c.len() == 4 && c[0].eq_ignore_ascii_case("normal"))
        .map_or((0, 0), |c| (mem(c[1]), mem(c[2])));
    match (hard, soft) {
        (0, 0) => UNLIMITED_CAP_BYTES,
        (0, s) => s,
        (h, _) => h,
    }
}

/// MONITOR: from now on the client receives every command's line. A client that already
/// monitors gets no reply (Redis ignores the repeat).
pub fn monitor_command(conn: &mut Conn) -> Reply {
    if conn.info.monitor.swap(true, Ordering::Relaxed) {
        conn.split_reply = true;
        return Reply::Array(Vec::new());
    }
    let cap = cap_bytes();
    let mailbox = match &conn.subs.mailbox {
        Some(m) => m.clone(),
        None => {
            // The mailbox applies the pubsub limits; the monitor's own cap is checked here.
            let m = Mailbox::new((0, 0, 0));
            m.resp3.set(conn.resp3);
            conn.subs.mailbox = Some(m.clone());
            m
        }
    };
    let id = conn.info.id;
    with_hub(|hub| {
        hub.push(Monitor { id, lines: Vec::new(), bytes: 0, cap_bytes: cap, overflowed: false })
    });
    COUNT.fetch_add(1, Ordering::Relaxed);
    crate::rt::exec::spawn(pump(id, mailbox, conn.info.clone(), cap));
    Reply::ok()
}

/// Forgets a monitor whose connection closed.
pub fn forget(info: &ClientInfo) {
    if !info.monitor.load(Ordering::Relaxed) {
        return;
    }
    let removed = with_hub(|hub| {
        let before = hub.len();
        hub.retain(|m| m.id != info.id);
        before - hub.len()
    });
    COUNT.fetch_sub(removed, Ordering::Relaxed);
}

/// Moves a monitor's lines into its connection's mailbox until the monitor is forgotten;
/// closes the connection when its backlog (queued lines plus unsent output) passes `cap`.
async fn pump(id: u64, mailbox: std::rc::Rc<Mailbox>, info: Arc<ClientInfo>, cap: usize) {
    loop {
        crate::rt::sleep_ms(PUMP_MS).await;
        let taken = with_hub(|hub| {
            hub.iter_mut().find(|m| m.id == id).map(|m| {
                m.bytes = 0;
                (std::mem::take(&mut m.lines), m.overflowed)
            })
        });
        let Some((lines, overflowed)) = taken else { return };
        let unsent = info.omem.load(Ordering::Relaxed) + info.obl.load(Ordering::Relaxed);
        if overflowed || unsent > cap {
            crate::log::warning(&format!(
                "Client {} closed for overcoming of output buffer limits.",
                info.describe(mayfly_engine::clock::unix_time_ms())
            ));
            // Wake the connection, then mark it: its serve loop closes it.
            mailbox.push(Reply::status(""));
            mailbox.overflowed.set(true);
            forget(&info);
            return;
        }
        for l in lines {
            mailbox.push(Reply::status(l));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_quote_like_redis() {
        let argv: Vec<Bytes> = ["set", "k", "a\"b\\c\r\n\t\x07\x08\x01\u{7f}é"]
            .iter()
            .map(|s| Bytes::from(*s))
            .collect();
        assert_eq!(
            line(1_339_518_083_107_412, 0, "127.0.0.1:60866", &argv),
            "1339518083.107412 [0 127.0.0.1:60866] \"set\" \"k\" \"a\\\"b\\\\c\\r\\n\\t\\a\\b\\x01\\x7f\\xc3\\xa9\""
        );
        assert_eq!(line(5, 3, "x:1", &[]), "0.000005 [3 x:1] ");
    }
}
