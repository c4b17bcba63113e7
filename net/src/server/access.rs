//! Who may do what, by where a client connects from: protected mode (which clients are
//! served at all), the `yes`/`no`/`local` switches (DEBUG, MODULE, protected parameters), and
//! the password comparison. A leaf of the server layer: the dispatcher, CONFIG and AUTH use it.

use crate::conn::Conn;
use crate::shard::here;

/// What Redis writes to a non-local client it refuses in protected mode, before closing.
pub const PROTECTED_MODE_DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Protected mode (on by default): with no password for the default user, only local
/// clients (127.0.0.1, ::1, Unix sockets) are served; any other gets Redis's DENIED text
/// and is closed, whatever address the server listens on.
pub fn admit(conn: &mut Conn) -> Result<(), &'static [u8]> {
    let rt = here();
    let protected = rt.shared.read_config(|c| c.protected_mode && c.requirepass.is_empty());
    if protected && !conn.local {
        rt.env.borrow_mut().stats.rejected_connections += 1;
        return Err(PROTECTED_MODE_DENIED);
    }
    Ok(())
}

/// Compares a password without an early exit, so the time taken does not tell how many
/// leading bytes of a guess were right (nor, beyond its own length, how long the secret is).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// Whether a `yes`/`no`/`local` setting (enable-debug-command, enable-protected-configs,
/// enable-module-command) allows this connection (Redis's allowProtectedAction).
pub fn protected_action_allowed(setting: &str, conn: &Conn) -> bool {
    setting == "yes" || (setting == "local" && conn.local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"secret", b""));
        assert!(!constant_time_eq(b"a\0", b"a"), "a trailing NUL is not padding");
    }

    #[test]
    fn denied_text_is_one_error_line() {
        assert!(PROTECTED_MODE_DENIED.starts_with(b"-DENIED "));
        assert!(PROTECTED_MODE_DENIED.ends_with(b"\r\n"));
        assert_eq!(PROTECTED_MODE_DENIED.iter().filter(|&&b| b == b'\n').count(), 1);
    }
}
