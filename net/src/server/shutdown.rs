//! Shutting down: SIGTERM, SIGINT and SHUTDOWN all take the same path, [`shutdown`].
//!
//! ```text
//!   SIGTERM/SIGINT ──► signal thread (sigwaitinfo; logs, never touches shard data)
//!                        │ eventfd
//!                        ▼
//!   shard 0: signal_task ──┐
//!   SHUTDOWN (any shard) ──┴─► shutdown(flags): final_save → close listeners → remove pidfile
//!                              → "ready to exit" → exit(0)
//! ```
//! Signals are blocked in every thread (the mask is set before any thread starts) and taken by
//! one thread with `sigwaitinfo`, so no work ever runs in a signal handler. A second signal
//! while a shutdown is under way exits at once (Redis's "You insist..."), and the signal
//! thread ends the process itself if the shutdown has not finished within `shutdown-timeout`
//! seconds (a shard stuck in a long command cannot keep the process alive).

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU8, Ordering};

use bytes::Bytes;
use io_uring::{opcode, types};
use mayfly_engine::reply::Reply;

use crate::log;

/// SHUTDOWN's modifiers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub nosave: bool,
    pub save: bool,
    pub now: bool,
    pub force: bool,
}

/// Where the process is in shutting down.
const IDLE: u8 = 0;
/// A signal asked for a shutdown; shard 0 has not started it yet.
const REQUESTED: u8 = 1;
const IN_PROGRESS: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(IDLE);

/// Blocks SIGINT and SIGTERM in the calling thread (and so in every thread it starts) and
/// returns the set for the signal thread to wait on.
pub fn block_signals() -> std::io::Result<libc::sigset_t> {
    // SAFETY: sigset operations on a set we own; pthread_sigmask changes this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        Ok(set)
    }
}

/// Starts the thread that takes SIGINT and SIGTERM.
pub fn spawn_signal_thread(set: libc::sigset_t) -> std::io::Result<()> {
    std::thread::Builder::new().name("signals".into()).spawn(move || signal_loop(set))?;
    Ok(())
}

/// Waits for a signal in `set`, at most `timeout_s` seconds when given; None on timeout.
fn wait_signal(set: &libc::sigset_t, timeout_s: Option<u64>) -> Option<i32> {
    loop {
        // SAFETY: sigwaitinfo/sigtimedwait read the set we own and write the siginfo we pass.
        let sig = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            match timeout_s {
                None => libc::sigwaitinfo(set, &mut info),
                Some(s) => {
                    let ts = libc::timespec {
                        tv_sec: s.min(i64::MAX as u64) as libc::time_t,
                        tv_nsec: 0,
                    };
                    libc::sigtimedwait(set, &mut info, &ts)
                }
            }
        };
        if sig > 0 {
            return Some(sig);
        }
        let err = std::io::Error::last_os_error().raw_os_error();
        if err == Some(libc::EAGAIN) {
            return None;
        }
        // EINTR: wait again.
    }
}

fn signal_loop(set: libc::sigset_t) {
    loop {
        let Some(sig) = wait_signal(&set, None) else { continue };
        log::from_signal(match sig {
            libc::SIGINT => "Received SIGINT scheduling shutdown...",
            libc::SIGTERM => "Received SIGTERM scheduling shutdown...",
            _ => "Received shutdown signal, scheduling shutdown...",
        });
        let _ = STATE.compare_exchange(IDLE, REQUESTED, Ordering::AcqRel, Ordering::Acquire);
        let server = super::get();
        let one: u64 = 1;
        // SAFETY: an 8-byte write to the eventfd the server owns for the whole process life.
        unsafe {
            libc::write(server.shutdown_eventfd, &one as *const u64 as *const libc::c_void, 8)
        };
        let timeout_s = server.shared.read_config(|c| c.shutdown_timeout_s);
        let second = wait_signal(&set, (timeout_s > 0).then_some(timeout_s));
        match second {
            Some(_) => {
                log::from_signal("You insist... exiting now.");
                remove_pidfile();
                std::process::exit(1);
            }
            None if STATE.load(Ordering::Acquire) != IDLE => {
                log::warning(&format!(
                    "Shutdown did not finish within shutdown-timeout ({timeout_s} s), exiting now."
                ));
                remove_pidfile();
                std::process::exit(1);
            }
            // The shutdown failed (a final save error) and the server goes on, as Redis.
            None => {}
        }
    }
}

/// Runs on shard 0: starts the shutdown a signal asked for.
pub async fn signal_task(eventfd: RawFd) {
    loop {
        let mut buf = vec![0u8; 8];
        let sqe = opcode::Read::new(types::Fd(eventfd), buf.as_mut_ptr(), 8).build();
        let (res, _) = crate::rt::op_with_buf(sqe, buf).await;
        if res < 0 && res != -libc::EINTR && res != -libc::EAGAIN {
            log::warning(&format!("reading the shutdown eventfd failed: errno {}", -res));
            crate::rt::sleep_ms(100).await;
        }
        if STATE.load(Ordering::Acquire) != REQUESTED {
            continue;
        }
        if let Err(e) = shutdown(Flags::default()).await {
            log::warning(&e);
        }
    }
}

/// Writes what must survive the restart before the process exits: the final RDB snapshot
/// when save points are configured or SHUTDOWN SAVE asks for it (`persist::final_save`),
/// the AOF's last fsync when it is on.
pub async fn final_save(flags: Flags) -> Result<(), String> {
    let config = super::get().shared.config();
    let save_points = !config.save.is_empty();
    if config.appendonly {
        log::notice("Calling fsync() on the AOF file.");
        super::aof::final_fsync().await?;
    }
    if (save_points && !flags.nosave) || flags.save {
        return super::persist::final_save().await;
    }
    Ok(())
}

fn remove_pidfile() {
    let Some(server) = super::try_get() else { return };
    if !server.pidfile.is_empty() {
        log::notice("Removing the pid file.");
        let _ = std::fs::remove_file(&server.pidfile);
    }
}

/// The shutdown sequence (Redis's prepareForShutdown + finishShutdown). On success the
/// process exits with status 0 and this never returns; Err says why it could not (the server
/// keeps running, as Redis does when its final save fails).
pub async fn shutdown(flags: Flags) -> Result<(), String> {
    let prev = STATE.swap(IN_PROGRESS, Ordering::AcqRel);
    if prev == IN_PROGRESS {
        return Err("a shutdown is already in progress".into());
    }
    log::warning("User requested shutdown...");
    let timeout_s = super::get().shared.config().shutdown_timeout_s;
    let save = async {
        if timeout_s == 0 {
            return final_save(flags).await;
        }
        match crate::rt::race(final_save(flags), crate::rt::sleep_ms(timeout_s * 1000)).await {
            crate::rt::Either::Left(r) => r,
            crate::rt::Either::Right(()) => {
                Err(format!("the final save did not finish within {timeout_s} s"))
            }
        }
    };
    if let Err(e) = save.await {
        log::warning(&e);
        if flags.force {
            log::warning("Error trying to save the DB. Exit anyway.");
        } else {
            log::warning("Error trying to save the DB, can't exit.");
            log::warning(
                "Errors trying to shut down the server. Check the logs for more information.",
            );
            STATE.store(IDLE, Ordering::Release);
            return Err("Errors trying to SHUTDOWN. Check logs.".into());
        }
    }
    super::persist::abandon_bgsave();
    remove_pidfile();
    for &fd in &super::get().listeners {
        // SAFETY: closing the listening sockets the server opened; the accept loops see
        // errors and back off until the process exits just below.
        unsafe {
            libc::shutdown(fd, libc::SHUT_RDWR);
            libc::close(fd);
        }
    }
    log::warning("Redis is now ready to exit, bye bye...");
    std::process::exit(0);
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT].
pub async fn shutdown_command(argv: &[Bytes]) -> Reply {
    let mut flags = Flags::default();
    let mut abort = false;
    for arg in &argv[1..] {
        match arg.to_ascii_lowercase().as_slice() {
            b"nosave" => flags.nosave = true,
            b"save" => flags.save = true,
            b"now" => flags.now = true,
            b"force" => flags.force = true,
            b"abort" => abort = true,
            _ => return Reply::error("ERR syntax error"),
        }
    }
    if (abort && flags != Flags::default()) || (flags.nosave && flags.save) {
        return Reply::error("ERR syntax error");
    }
    if abort {
        // A shutdown here never waits (there are no replicas to wait for), so there is
        // never one to abort.
        return Reply::error("ERR No shutdown in progress.");
    }
    match shutdown(flags).await {
        Ok(()) => Reply::ok(),
        Err(e) => Reply::error(format!("ERR {e}")),
    }
}
