//! Connection commands: HELLO, AUTH, SELECT, RESET (QUIT is answered by the dispatcher).

use std::sync::atomic::Ordering;

use bytes::Bytes;
use mayfly_engine::reply::Reply;

use crate::conn::Conn;
use crate::shard::env::parse_db_index;
use crate::shard::here;

use super::lower;

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
        (
            Reply::bulk_str("mode"),
            Reply::bulk_str(if conn.face.is_some() { "cluster" } else { "standalone" }),
        ),
        (Reply::bulk_str("role"), Reply::bulk_str("master")),
        (Reply::bulk_str("modules"), Reply::Array(vec![])),
    ])
}

fn check_password(user: &[u8], pass: &[u8]) -> Result<(), Reply> {
    let required = here().shared.read_config(|c| c.requirepass.clone());
    if user != b"default" {
        return Err(Reply::error("WRONGPASS invalid username-password pair or user is disabled."));
    }
    if required.is_empty() || super::access::constant_time_eq(required.as_bytes(), pass) {
        Ok(())
    } else {
        Err(Reply::error("WRONGPASS invalid username-password pair or user is disabled."))
    }
}

pub fn auth(conn: &mut Conn, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 {
        return Reply::error("ERR syntax error");
    }
    let required = here().shared.read_config(|c| c.requirepass.clone());
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
    conn.authenticated = here().shared.read_config(|c| c.requirepass.is_empty());
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
