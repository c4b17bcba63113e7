//! The server log, in redis-server's line format so operators' tools read it unchanged:
//!
//! ```text
//!   <pid>:M 04 Dec 2026 15:53:03.048 # User requested shutdown...
//!   <pid>:signal-handler (1796399583) Received SIGTERM scheduling shutdown...
//! ```
//! The level mark is `.` debug, `-` verbose, `*` notice, `#` warning. Lines go to standard
//! output, or appended to `logfile` when one is configured ([`set_file`]). `loglevel` filters
//! them ([`set_level`], changed at run time by CONFIG SET). No dependency on the other layers,
//! so every layer may log.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

/// Severity, lowest first (Redis's LL_DEBUG … LL_WARNING).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Debug = 0,
    Verbose = 1,
    Notice = 2,
    Warning = 3,
}

impl Level {
    /// The `loglevel` value's level (notice for anything unknown).
    pub fn parse(name: &str) -> Level {
        match name.to_ascii_lowercase().as_str() {
            "debug" => Level::Debug,
            "verbose" => Level::Verbose,
            "warning" => Level::Warning,
            _ => Level::Notice,
        }
    }

    fn mark(self) -> char {
        match self {
            Level::Debug => '.',
            Level::Verbose => '-',
            Level::Notice => '*',
            Level::Warning => '#',
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Notice as u8);
/// The open log file; None = standard output.
static FILE: Mutex<Option<std::fs::File>> = Mutex::new(None);

/// Sets the lowest level written.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Sends the log to `path` (appended, created if missing); "" = standard output.
pub fn set_file(path: &str) -> std::io::Result<()> {
    let file = if path.is_empty() {
        None
    } else {
        Some(std::fs::OpenOptions::new().create(true).append(true).open(path)?)
    };
    if let Ok(mut f) = FILE.lock() {
        *f = file;
    }
    Ok(())
}

/// Whether a line at `level` would be written.
pub fn enabled(level: Level) -> bool {
    level as u8 >= LEVEL.load(Ordering::Relaxed)
}

/// `dd Mon yyyy HH:MM:SS.mmm` in local time, as Redis prints it.
fn timestamp() -> String {
    let mut tv = libc::timeval { tv_sec: 0, tv_usec: 0 };
    // SAFETY: gettimeofday fills the timeval we pass; no timezone is asked for.
    unsafe { libc::gettimeofday(&mut tv, std::ptr::null_mut()) };
    // SAFETY: an all-zero tm is a valid value for localtime_r to overwrite.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let secs: libc::time_t = tv.tv_sec;
    // SAFETY: localtime_r writes into the tm we own and reads the time_t we pass.
    unsafe { libc::localtime_r(&secs, &mut tm) };
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        tm.tm_mday,
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        tv.tv_usec / 1000
    )
}

fn write_line(line: &str) {
    let mut guard = FILE.lock().ok();
    match guard.as_mut().and_then(|g| g.as_mut()) {
        Some(file) => {
            let _ = file.write_all(line.as_bytes());
        }
        None => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
    }
}

/// Writes one line at `level` (when the level is enabled).
pub fn log(level: Level, msg: &str) {
    if !enabled(level) {
        return;
    }
    write_line(&format!("{}:M {} {} {msg}\n", std::process::id(), timestamp(), level.mark()));
}

/// A line from the signal-watching thread, in Redis's signal-handler form (no level mark,
/// the time in seconds): `<pid>:signal-handler (<unix seconds>) <msg>`. Always written.
pub fn from_signal(msg: &str) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    write_line(&format!("{}:signal-handler ({secs}) {msg}\n", std::process::id()));
}

pub fn warning(msg: &str) {
    log(Level::Warning, msg);
}

pub fn notice(msg: &str) {
    log(Level::Notice, msg);
}

pub fn verbose(msg: &str) {
    log(Level::Verbose, msg);
}

pub fn debug(msg: &str) {
    log(Level::Debug, msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_order() {
        assert_eq!(Level::parse("WARNING"), Level::Warning);
        assert_eq!(Level::parse("verbose"), Level::Verbose);
        assert_eq!(Level::parse("bogus"), Level::Notice);
        assert!(Level::Debug < Level::Warning);
    }

    #[test]
    fn timestamp_has_redis_shape() {
        let t = timestamp();
        // "04 Dec 2026 15:53:03.048"
        assert_eq!(t.len(), 24, "{t}");
        assert_eq!(&t[2..3], " ");
        assert_eq!(&t[14..15], ":");
        assert_eq!(&t[20..21], ".");
    }
}
