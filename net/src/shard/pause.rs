//! CLIENT PAUSE's state, one for the whole server: every shard's connections check it before
//! running a command (one relaxed load when nothing is paused), and every shard holds back
//! expiry and eviction while it lasts, as Redis does.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

/// What is paused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Off = 0,
    /// Commands that write or may replicate (and EXEC of such, scripts that may write).
    Write = 1,
    /// Every command.
    All = 2,
}

static KIND: AtomicU8 = AtomicU8::new(0);
static END_MS: AtomicU64 = AtomicU64::new(0);
/// Serialises changes (pause and unpause from different shards at once).
static CHANGE: Mutex<()> = Mutex::new(());

fn kind_of(v: u8) -> Kind {
    match v {
        1 => Kind::Write,
        2 => Kind::All,
        _ => Kind::Off,
    }
}

/// Pauses until `end_ms` (Unix ms). A pause already in force keeps the stronger kind and the
/// later end, as Redis merges pauses of the same purpose.
pub fn pause(kind: Kind, end_ms: u64, now_ms: u64) {
    let _g = CHANGE.lock().unwrap_or_else(|p| p.into_inner());
    let (old_kind, old_end) = match current(now_ms) {
        Kind::Off => (Kind::Off, 0),
        k => (k, END_MS.load(Ordering::Relaxed)),
    };
    END_MS.store(end_ms.max(old_end), Ordering::Relaxed);
    KIND.store(kind.max(old_kind) as u8, Ordering::Release);
}

/// Ends the pause now.
pub fn unpause() {
    let _g = CHANGE.lock().unwrap_or_else(|p| p.into_inner());
    KIND.store(Kind::Off as u8, Ordering::Release);
    END_MS.store(0, Ordering::Relaxed);
}

/// True when a pause may be in force (the hot-path check: one relaxed load).
#[inline]
pub fn maybe_paused() -> bool {
    KIND.load(Ordering::Relaxed) != 0
}

/// The pause in force at `now_ms` (Off once its end has passed).
pub fn current(now_ms: u64) -> Kind {
    let kind = kind_of(KIND.load(Ordering::Acquire));
    if kind == Kind::Off || now_ms >= END_MS.load(Ordering::Relaxed) {
        return Kind::Off;
    }
    kind
}

/// Whether expiry and eviction are held back now (any pause).
#[inline]
pub fn expiry_paused() -> bool {
    maybe_paused() && current(mayfly_engine::clock::unix_time_ms()) != Kind::Off
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test touches the global state, so tests cannot race on it.
    #[test]
    fn pauses_merge_end_and_unpause() {
        unpause();
        assert!(!maybe_paused());
        assert_eq!(current(1000), Kind::Off);
        pause(Kind::All, 2000, 1000);
        assert_eq!(current(1500), Kind::All);
        // A weaker, shorter pause keeps ALL and the later end.
        pause(Kind::Write, 1800, 1500);
        assert_eq!(current(1900), Kind::All);
        assert_eq!(current(2000), Kind::Off);
        // After it ended, a new pause starts fresh.
        pause(Kind::Write, 3000, 2500);
        assert_eq!(current(2600), Kind::Write);
        unpause();
        assert_eq!(current(2600), Kind::Off);
        assert!(!maybe_paused());
    }
}
