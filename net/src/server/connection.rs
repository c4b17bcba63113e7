//! Connection commands: HELLO, AUTH, SELECT, RESET (QUIT is answered by the dispatcher), and
//! the admission of a new connection (protected mode).

use std::sync::atomic::Ordering;

use bytes::Bytes;
use mayfly_engine::reply::Reply;

use crate::conn::Conn;
use crate::shard::env::parse_db_index;
use crate::shard::here;

use super::lower;

/// What Redis writes to a non-local client it refuses in protected mode, before closing.
pub const PROTECTED_MODE_DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Protected mode (on by default): with no password for the default user, only local
/// clients (127.0.0.1, ::1, Unix sockets) are served; any other gets Redis's DENIED text
/// and is closed, whatever address the server listens on.
pub fn admit(conn: &mut Conn) -> Result<(), &'static [u8]> {
    let rt = here();
    let protected = rt
        .shared
        .config
        .read()
        .map(|c| c.protected_mode && c.requirepass.is_empty())
        .unwrap_or(true);
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

pub fn hello(conn: &mut Conn, argv: &[Bytes]) -> Reply {
    let mut i = 1;
    let mut proto = if conn.resp3 { 3 } else { 2 };
    if argv.len() > 1 {
        let v = std::str::from_utf8(&argv[1]).ok().and_then(|s| s.parse::<i64>().ok());
        match v {
            None => return Reply::error("ERR Protocol version is not an integer or out of range"),
            Some(2) | Some(3) => proto = v.unwrap_or(2),
            Some(_) => return Reply::error("NOPROTO unsupported protocol version"),
        }
        i = 2;
    }
    let mut setname = None;
    while i < argv.len() {
        let opt = lower(&argv[i]);
        if opt == b"auth" && i + 2 < argv.len() {
            if let Err(e) = check_password(&argv[i + 1], &argv[i + 2]) {
                return e;
            }
            conn.authenticated = true;
            i += 3;
        } else if opt == b"setname" && i + 1 < argv.len() {
            setname = Some(argv[i + 1].clone());
            i += 2;
        } else {
            return Reply::error(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&argv[i])
            ));
        }
    }
    if !conn.authenticated {
        return Reply::error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(name) = setname {
        if let Err(e) = set_client_name(conn, &name) {
            return e;
        }
    }
    conn.resp3 = proto == 3;
    conn.info.resp.store(proto as u8, Ordering::Relaxed);
    Reply::Map(vec![
        (Reply::bulk_str("server"), Reply::bulk_str("redis")),
        (Reply::bulk_str("version"), Reply::bulk_str(super::REDIS_VERSION)),
        (Reply::bulk_str("proto"), Reply::Int(proto)),
        (Reply::bulk_str("id"), Reply::Int(conn.info.id as i64)),
        (Reply::bulk_str("mode"), Reply::bulk_str("standalone")),
        (Reply::bulk_str("role"), Reply::bulk_str("master")),
        (Reply::bulk_str("modules"), Reply::Array(vec![])),
    ])
}

fn check_password(user: &[u8], pass: &[u8]) -> Result<(), Reply> {
    let required = here().shared.config.read().map(|c| c.requirepass.clone()).unwrap_or_default();
    if user != b"default" {
        return Err(Reply::error("WRONGPASS invalid username-password pair or user is disabled."));
    }
    if required.is_empty() || constant_time_eq(required.as_bytes(), pass) {
        Ok(())
    } else {
        Err(Reply::error("WRONGPASS invalid username-password pair or user is disabled."))
    }
}

pub fn auth(conn: &mut Conn, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 {
        return Reply::error("ERR syntax error");
    }
    let required = here().shared.config.read().map(|c| c.requirepass.clone()).unwrap_or_default();
    if argv.len() == 2 && required.is_empty() {
        return Reply::error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
    }
    let (user, pass) = if argv.len() == 3 {
        (&argv[1][..], &argv[2][..])
    } else {
        (&b"default"[..], &argv[1][..])
    };
    match check_password(user, pass) {
        Ok(()) => {
            conn.authenticated = true;
            Reply::ok()
        }
        Err(e) => e,
    }
}

pub fn set_client_name(conn: &mut Conn, name: &[u8]) -> Result<(), Reply> {
    if name.iter().any(|c| !(b'!'..=b'~').contains(c)) {
        return Err(Reply::error(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    if let Ok(mut n) = conn.info.name.lock() {
        *n = String::from_utf8_lossy(name).into_owned();
    }
    Ok(())
}

pub async fn reset(conn: &mut Conn) {
    super::transactions::end_multi(conn);
    crate::coord::multi::unwatch(&mut conn.watch).await;
    super::pubsub::unsubscribe_all(conn);
    conn.db = 0;
    conn.info.db.store(0, Ordering::Relaxed);
    conn.resp3 = false;
    conn.info.resp.store(2, Ordering::Relaxed);
    if let Ok(mut n) = conn.info.name.lock() {
        n.clear();
    }
    conn.authenticated =
        here().shared.config.read().map(|c| c.requirepass.is_empty()).unwrap_or(true);
}

/// SELECT n.
pub fn select(conn: &mut Conn, argv: &[Bytes]) -> Reply {
    let databases = here().env.borrow().shard.dbs.len();
    match parse_db_index(&argv[1], databases) {
        Ok(n) => {
            conn.db = n;
            conn.info.db.store(n, Ordering::Relaxed);
            Reply::ok()
        }
        Err(e) => e,
    }
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
