//! MULTI, DISCARD, WATCH: the connection's side of transactions. EXEC is in `dispatch` (it
//! runs queued server-level commands through the dispatcher); how the queued commands run
//! atomically across shards is `coord::multi`'s business.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use mayfly_engine::reply::Reply;

use crate::conn::Conn;
use crate::coord::multi;

pub fn multi(conn: &mut Conn) -> Reply {
    if conn.multi.is_some() {
        return Reply::error("ERR MULTI calls can not be nested");
    }
    conn.multi = Some(Vec::new());
    conn.multi_failed = false;
    conn.info.in_multi.store(true, Ordering::Relaxed);
    Reply::ok()
}

pub async fn discard(conn: &mut Conn) -> Reply {
    if conn.multi.is_none() {
        return Reply::error("ERR DISCARD without MULTI");
    }
    end_multi(conn);
    multi::unwatch(&mut conn.watch).await;
    Reply::ok()
}

pub async fn watch(conn: &mut Conn, argv: &[Bytes]) -> Reply {
    if conn.multi.is_some() {
        return Reply::error("ERR WATCH inside MULTI is not allowed");
    }
    multi::watch(&mut conn.watch, conn.db, &argv[1..]).await;
    Reply::ok()
}

pub fn end_multi(conn: &mut Conn) {
    conn.multi = None;
    conn.multi_failed = false;
    conn.info.in_multi.store(false, Ordering::Relaxed);
    conn.info.multi_len.store(0, Ordering::Relaxed);
}
