//! What happens after a command ran, for the operator: the slow log ([`super::slowlog`]),
//! MONITOR ([`super::monitor`]) and the LATENCY monitor's command events
//! (`shard::latency`).
//! Called by the dispatcher with the command's wall time (measured around its execution,
//! hops to the owning shard included).
//!
//! The settings are read once per configuration change (a per-thread copy keyed by the
//! configuration generation), not on every command.

use std::cell::Cell;
use std::time::Instant;

use bytes::Bytes;
use mayfly_engine::command::{flags, CommandSpec};

use crate::conn::Conn;
use crate::coord::block::{Interrupt, Interrupts};
use crate::shard::here;

/// The settings the hooks need, copied out of the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    generation: u64,
    pub slowlog_slower_than_us: i64,
    pub slowlog_max_len: u64,
    pub latency_monitor_threshold_ms: u64,
}

thread_local! {
    static SETTINGS: Cell<Option<Settings>> = const { Cell::new(None) };
}

/// The current settings (re-read only when the configuration changed).
pub fn settings() -> Settings {
    let shared = &here().shared;
    let generation = shared.config_generation();
    if let Some(s) = SETTINGS.with(Cell::get).filter(|s| s.generation == generation) {
        return s;
    }
    let (s, tracking) = shared.read_config(|c| {
        let s = Settings {
            generation,
            slowlog_slower_than_us: c.slowlog_log_slower_than,
            slowlog_max_len: c.slowlog_max_len,
            latency_monitor_threshold_ms: c.latency_monitor_threshold_ms,
        };
        (s, c.latency_tracking)
    });
    crate::shard::stats::LATENCY_TRACKING.store(tracking, std::sync::atomic::Ordering::Relaxed);
    SETTINGS.with(|c| c.set(Some(s)));
    s
}

/// Whether a command's argument vector must be kept to be observed after it ran.
pub fn wants_argv(spec: &CommandSpec, s: &Settings) -> bool {
    (s.slowlog_slower_than_us >= 0 && !spec.has(flags::SKIP_SLOWLOG))
        || (super::monitor::active() && !spec.has(flags::SKIP_MONITOR | flags::ADMIN))
}

/// Redis does not show administrative commands (nor those flagged skip-monitor) to monitors;
/// a container command is judged by its subcommand's flags (CONFIG GET is administrative).
fn monitored(spec: &CommandSpec, argv: &[Bytes]) -> bool {
    let hidden = flags::SKIP_MONITOR | flags::ADMIN;
    let sub = argv
        .get(1)
        .and_then(|a| spec.subcommands.iter().find(|s| s.name.as_bytes().eq_ignore_ascii_case(a)));
    spec.flags & hidden == 0 && sub.is_none_or(|s| s.flags & hidden == 0)
}

/// Records a command that ran for `elapsed`.
pub fn after_command(conn: &Conn, spec: &CommandSpec, argv: &[Bytes], elapsed_us: u64) {
    let s = settings();
    latency_sample(spec, elapsed_us);
    if super::monitor::active() && monitored(spec, argv) {
        super::monitor::feed(conn.db, &conn.info, &redacted(argv));
    }
    if !spec.has(flags::SKIP_SLOWLOG) {
        super::slowlog::maybe_push(
            || redacted(argv),
            elapsed_us,
            s.slowlog_slower_than_us,
            s.slowlog_max_len,
            &conn.info,
        );
    }
}

/// The commands of a transaction run as one batch on the shards: each is recorded with an
/// even share of the batch's time (their own times are not measured one by one there).
pub fn after_batch(
    conn: &Conn,
    specs: &[&'static CommandSpec],
    cmds: Option<Vec<Vec<Bytes>>>,
    elapsed_us: u64,
) {
    let Some(cmds) = cmds else { return };
    let share = elapsed_us / (cmds.len().max(1) as u64);
    for (spec, argv) in specs.iter().zip(&cmds) {
        after_command(conn, spec, argv, share);
    }
}

/// The LATENCY monitor's `command` / `fast-command` event (Redis samples every command's
/// time against `latency-monitor-threshold`).
pub fn latency_sample(spec: &CommandSpec, elapsed_us: u64) {
    let threshold_ms = settings().latency_monitor_threshold_ms;
    if threshold_ms == 0 {
        return;
    }
    let event = if spec.has(flags::FAST) { "fast-command" } else { "command" };
    crate::shard::latency::add_sample_if_needed(event, elapsed_us / 1000, threshold_ms);
}

/// Microseconds since `start`.
pub fn elapsed_us(start: Instant) -> u64 {
    start.elapsed().as_micros().min(u64::MAX as u128) as u64
}

/// The argument vector as the slow log and MONITOR show it: passwords and ACL rules replaced
/// by `(redacted)`, as Redis's `redactClientCommandArgument` does for AUTH, HELLO … AUTH,
/// ACL SETUSER, CONFIG SET of a sensitive parameter and MIGRATE … AUTH/AUTH2.
pub fn redacted(argv: &[Bytes]) -> Vec<Bytes> {
    let mut out: Vec<Bytes> = argv.to_vec();
    let redact = |out: &mut Vec<Bytes>, j: usize| {
        if let Some(a) = out.get_mut(j) {
            *a = Bytes::from_static(b"(redacted)");
        }
    };
    let Some(name) = argv.first() else { return out };
    let is = |a: &Bytes, s: &str| a.eq_ignore_ascii_case(s.as_bytes());
    if is(name, "auth") {
        if argv.len() <= 3 {
            (1..argv.len()).for_each(|j| redact(&mut out, j));
        }
    } else if is(name, "hello") {
        let mut j = 2;
        while j < argv.len() {
            if is(&argv[j], "auth") && argv.len() - 1 - j >= 2 {
                redact(&mut out, j + 1);
                redact(&mut out, j + 2);
                j += 3;
            } else if is(&argv[j], "setname") {
                j += 2;
            } else {
                j += 1;
            }
        }
    } else if is(name, "acl") && argv.get(1).is_some_and(|s| is(s, "setuser")) {
        (2..argv.len()).for_each(|j| redact(&mut out, j));
    } else if is(name, "config") && argv.get(1).is_some_and(|s| is(s, "set")) {
        let mut j = 2;
        while j + 1 < argv.len() {
            if ["masterauth", "masteruser", "requirepass"].iter().any(|p| is(&argv[j], p)) {
                redact(&mut out, j + 1);
            }
            j += 2;
        }
    } else if is(name, "migrate") {
        let mut j = 6;
        while j < argv.len() {
            if is(&argv[j], "auth") {
                redact(&mut out, j + 1);
                j += 2;
            } else if is(&argv[j], "auth2") {
                redact(&mut out, j + 1);
                redact(&mut out, j + 2);
                j += 3;
            } else if is(&argv[j], "keys") {
                break;
            } else {
                j += 1;
            }
        }
    }
    out
}

/// Wraps a blocking command's interrupts to measure how long it waited, so the slow log gets
/// the time it ran, not the time it was blocked (as Redis logs a blocked command once it is
/// served).
pub struct WaitClock<I> {
    pub inner: I,
    since: Option<Instant>,
    pub waited_us: u64,
}

impl<I> WaitClock<I> {
    pub fn new(inner: I) -> Self {
        WaitClock { inner, since: None, waited_us: 0 }
    }
}

impl<I: Interrupts> Interrupts for WaitClock<I> {
    fn next(&mut self) -> impl std::future::Future<Output = Interrupt> + '_ {
        self.inner.next()
    }

    fn set_blocked(&mut self, blocked: bool) {
        if blocked {
            self.since.get_or_insert_with(Instant::now);
        } else if let Some(t) = self.since.take() {
            self.waited_us += elapsed_us(t);
        }
        self.inner.set_blocked(blocked);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    fn joined(argv: &[Bytes]) -> String {
        argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn redacts_like_redis() {
        assert_eq!(joined(&redacted(&v(&["AUTH", "pw"]))), "AUTH (redacted)");
        assert_eq!(joined(&redacted(&v(&["auth", "u", "pw"]))), "auth (redacted) (redacted)");
        assert_eq!(
            joined(&redacted(&v(&["hello", "3", "AUTH", "u", "p", "SETNAME", "x"]))),
            "hello 3 AUTH (redacted) (redacted) SETNAME x"
        );
        assert_eq!(
            joined(&redacted(&v(&["acl", "setuser", "u", "on", ">p"]))),
            "acl setuser (redacted) (redacted) (redacted)"
        );
        assert_eq!(
            joined(&redacted(&v(&["config", "set", "masterauth", "x", "maxmemory", "1"]))),
            "config set masterauth (redacted) maxmemory 1"
        );
        assert_eq!(
            joined(&redacted(&v(&["migrate", "h", "1", "key", "9", "5000", "AUTH2", "u", "p"]))),
            "migrate h 1 key 9 5000 AUTH2 (redacted) (redacted)"
        );
        assert_eq!(
            joined(&redacted(&v(&["migrate", "h", "1", "key", "9", "5000", "AUTH", "p"]))),
            "migrate h 1 key 9 5000 AUTH (redacted)"
        );
        assert_eq!(joined(&redacted(&v(&["get", "k"]))), "get k");
    }
}
