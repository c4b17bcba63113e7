//! Issue 20 (hardening), end to end against the real binary, with redis-server 7.0.15 as the
//! oracle where it is installed: protected mode and the `enable-*` switches, SIGTERM/SIGINT
//! and SHUTDOWN, cross-protocol requests, DEBUG (off by default, SLEEP parsed like Redis, a
//! dead client never kept alive), the idle timeout, output buffers (CLIENT LIST `omem` and
//! `client-output-buffer-limit`), `tcp-backlog`, and HELLO's NOAUTH text.
//!
//! Protected mode needs no outside address: Redis counts only 127.0.0.1, ::1 and Unix sockets
//! as local, so a client bound to 127.0.0.2 talking to a server that also listens on
//! 127.0.0.2 is remote to it.

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::{show, RawClient, RedisServer, Resp, Server};

/// A reply as text, for comparisons with literal replies (`show` escapes CR/LF).
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const REMOTE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const BIND_BOTH: &str = "127.0.0.1 127.0.0.2";

fn remote_client(port: u16) -> RawClient {
    RawClient::connect_from(REMOTE, REMOTE, port)
}

/// Polls `check` every 20 ms until it holds or `t` passes.
fn eventually(t: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + t;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn info_field(c: &mut RawClient, section: &str, field: &str) -> String {
    let reply = Resp::parse(&c.cmd(&["INFO", section]));
    let text = String::from_utf8_lossy(reply.as_bytes()).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}: {text}"))
}

fn client_list(c: &mut RawClient) -> String {
    String::from_utf8_lossy(Resp::parse(&c.cmd(&["CLIENT", "LIST"])).as_bytes()).into_owned()
}

// ---------------------------------------------------------------- 1. protected mode

#[test]
fn protected_mode_denies_remote_clients_with_redis_bytes() {
    let server = Server::start(&["--bind", BIND_BOTH]);
    let denied = remote_client(server.port).wait_closed(Duration::from_secs(5)).expect("closed");
    assert!(denied.starts_with(b"-DENIED Redis is running in protected mode"), "{}", show(&denied));
    if let Some(redis) = RedisServer::start(&["--bind", BIND_BOTH]) {
        let want = remote_client(redis.port).wait_closed(Duration::from_secs(5)).expect("closed");
        assert_eq!(show(&denied), show(&want), "DENIED text differs from Redis");
    }
    // Loopback clients are served, and the refusal is counted as Redis counts it.
    let mut local = server.raw();
    assert_eq!(local.cmd(&["PING"]), b"+PONG\r\n");
    assert_eq!(info_field(&mut local, "stats", "rejected_connections"), "1");
    // `protected-mode no` at run time opens the door.
    assert_eq!(local.cmd(&["CONFIG", "SET", "protected-mode", "no"]), b"+OK\r\n");
    assert_eq!(remote_client(server.port).cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn a_password_turns_protected_mode_off() {
    let server = Server::start(&["--bind", BIND_BOTH, "--requirepass", "s3cret"]);
    let mut remote = remote_client(server.port);
    assert_eq!(remote.cmd(&["PING"]), b"-NOAUTH Authentication required.\r\n");
    assert_eq!(remote.cmd(&["AUTH", "s3cret"]), b"+OK\r\n");
    assert_eq!(remote.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn debug_is_off_by_default_and_local_means_loopback_only() {
    let off = Server::start(&[]);
    let got = off.raw().cmd(&["DEBUG", "SLEEP", "0"]);
    assert!(got.starts_with(b"-ERR DEBUG command not allowed."), "{}", show(&got));
    if let Some(redis) = RedisServer::start(&[]) {
        assert_eq!(show(&got), show(&redis.raw().cmd(&["DEBUG", "SLEEP", "0"])));
        // Refused before AUTH, as in Redis: the same error for an unauthenticated client.
    }
    let local = Server::start(&[
        "--bind",
        BIND_BOTH,
        "--protected-mode",
        "no",
        "--enable-debug-command",
        "local",
    ]);
    assert_eq!(local.raw().cmd(&["DEBUG", "SLEEP", "0"]), b"+OK\r\n");
    assert_eq!(show(&remote_client(local.port).cmd(&["DEBUG", "SLEEP", "0"])), show(&got));
    // Inside MULTI the refusal fails the transaction, like any rejected command.
    let mut remote = remote_client(local.port);
    remote.cmd(&["MULTI"]);
    remote.cmd(&["DEBUG", "SLEEP", "0"]);
    assert!(remote.cmd(&["EXEC"]).starts_with(b"-EXECABORT"));
}

#[test]
fn protected_configs_need_enable_protected_configs() {
    let server = Server::start(&[]);
    let dir = std::env::temp_dir();
    let dir = dir.to_str().expect("utf-8 temp dir");
    let got = server.raw().cmd(&["CONFIG", "SET", "dir", dir]);
    assert_eq!(
        text(&got),
        "-ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config\r\n"
    );
    if let Some(redis) = RedisServer::start(&[]) {
        assert_eq!(show(&got), show(&redis.raw().cmd(&["CONFIG", "SET", "dir", dir])));
    }
    let open = Server::start(&["--enable-protected-configs", "yes"]);
    let mut c = open.raw();
    assert_eq!(c.cmd(&["CONFIG", "SET", "dir", dir]), b"+OK\r\n");
    let now = Resp::parse(&c.cmd(&["CONFIG", "GET", "dir"]));
    let canonical = std::fs::canonicalize(dir).expect("canonical temp dir");
    assert_eq!(now.items()[1].as_bytes(), canonical.to_str().expect("utf-8").as_bytes());
    let bad = c.cmd(&["CONFIG", "SET", "dir", "/nonexistent/mayfly-dir"]);
    assert_eq!(
        text(&bad),
        "-ERR CONFIG SET failed (possibly related to argument 'dir') - No such file or directory\r\n"
    );
}

// ---------------------------------------------------------------- 2. signals and SHUTDOWN

/// The messages (without Redis's `pid:role date level` prefix) a shutdown logs, in order.
const SHUTDOWN_LINES: [&str; 3] =
    ["User requested shutdown...", "Removing the pid file.", "is now ready to exit, bye bye..."];

fn assert_lines_in_order(log: &str, lines: &[&str]) {
    let mut from = 0;
    for line in lines {
        match log[from..].find(line) {
            Some(i) => from += i + line.len(),
            None => panic!("log lacks {line:?} (in order) in:\n{log}"),
        }
    }
}

fn pidfile(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mayfly-hardening-{tag}-{}.pid", std::process::id()))
}

#[test]
fn sigterm_and_sigint_shut_down_cleanly() {
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let pid_path = pidfile(name);
        let mut server = Server::start(&["--pidfile", pid_path.to_str().expect("utf-8")]);
        let written = std::fs::read_to_string(&pid_path).expect("pidfile written at start");
        assert_eq!(written.trim(), server.pid().to_string());
        let mut idle = server.raw();
        assert_eq!(idle.cmd(&["SET", "k", "v"]), b"+OK\r\n");
        server.signal(sig);
        let status = server.wait_exit(Duration::from_secs(15)).expect("exited after the signal");
        assert_eq!(status.code(), Some(0), "{name}: {}", server.log());
        assert!(!pid_path.exists(), "{name}: the pidfile is removed");
        let log = server.log();
        let first = format!("Received {name} scheduling shutdown...");
        let mut want = vec![first.as_str()];
        want.extend(SHUTDOWN_LINES);
        assert_lines_in_order(&log, &want);
        // A connected client sees its connection end.
        assert!(idle.wait_closed(Duration::from_secs(5)).is_ok());
    }
    // Redis logs the same messages in the same order.
    let pid_path = pidfile("redis");
    if let Some(mut redis) = RedisServer::start(&["--pidfile", pid_path.to_str().expect("utf-8")]) {
        redis.signal(libc::SIGTERM);
        let status = redis.wait_exit(Duration::from_secs(15)).expect("redis exited");
        assert_eq!(status.code(), Some(0));
        let mut want = vec!["Received SIGTERM scheduling shutdown..."];
        want.extend(SHUTDOWN_LINES);
        assert_lines_in_order(&redis.log(), &want);
    }
}

#[test]
fn shutdown_command_takes_the_same_path() {
    let pid_path = pidfile("cmd");
    // A directory that disappears, so SHUTDOWN SAVE fails below.
    let dir = std::env::temp_dir().join(format!("mayfly-hardening-gone-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut server = Server::start(&[
        "--pidfile",
        pid_path.to_str().expect("utf-8"),
        "--dir",
        dir.to_str().expect("utf-8"),
    ]);
    std::fs::remove_dir_all(&dir).expect("remove the server's dir");
    let mut c = server.raw();
    assert_eq!(text(&c.cmd(&["SHUTDOWN", "ABORT"])), "-ERR No shutdown in progress.\r\n");
    assert_eq!(text(&c.cmd(&["SHUTDOWN", "SAVE", "NOSAVE"])), "-ERR syntax error\r\n");
    assert_eq!(text(&c.cmd(&["SHUTDOWN", "BOGUS"])), "-ERR syntax error\r\n");
    if let Some(redis) = RedisServer::start(&[]) {
        let mut r = redis.raw();
        for cmd in [&["SHUTDOWN", "ABORT"][..], &["SHUTDOWN", "SAVE", "NOSAVE"], &["SHUTDOWN", "X"]]
        {
            assert_eq!(show(&c.cmd(cmd)), show(&r.cmd(cmd)), "{cmd:?}");
        }
    }
    // The final save fails (its directory is gone): the server stays up, as Redis does.
    assert_eq!(
        text(&c.cmd(&["SHUTDOWN", "SAVE"])),
        "-ERR Errors trying to SHUTDOWN. Check logs.\r\n"
    );
    assert!(server.is_alive());
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
    c.send(&common::encode_cmd(&["SHUTDOWN", "NOSAVE"])).expect("send");
    let got = c.wait_closed(Duration::from_secs(10)).expect("closed by the shutdown");
    assert!(got.is_empty(), "SHUTDOWN answers nothing on success: {}", show(&got));
    let status = server.wait_exit(Duration::from_secs(10)).expect("exited");
    assert_eq!(status.code(), Some(0));
    assert!(!pid_path.exists());
    assert_lines_in_order(&server.log(), &SHUTDOWN_LINES);
}

// ---------------------------------------------------------------- 3. cross-protocol requests

#[test]
fn cross_protocol_requests_are_dropped_like_redis() {
    let server = Server::start(&[]);
    let redis = RedisServer::start(&[]);
    let cases: [&[u8]; 6] = [
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nPING",
        b"PING\r\nPOST /x HTTP/1.1\r\n",
        b"*1\r\n$5\r\nHost:\r\n",
        b"*2\r\n$4\r\npost\r\n$1\r\nx\r\n",
        b"host: example\r\nPING\r\n",
        b"GET / HTTP/1.1\r\nHost: example\r\n\r\n",
    ];
    for case in cases {
        let mut c = server.raw();
        c.send(case).expect("send");
        let got = c.wait_closed(Duration::from_secs(5)).expect("connection closed");
        if let Some(redis) = &redis {
            let mut r = redis.raw();
            r.send(case).expect("send");
            let want = r.wait_closed(Duration::from_secs(5)).expect("redis closed");
            assert_eq!(show(&got), show(&want), "{}", show(case));
        } else if case.starts_with(b"GET") {
            assert_eq!(text(&got), "-ERR wrong number of arguments for 'get' command\r\n");
        } else {
            assert!(got.is_empty(), "{}: {}", show(case), show(&got));
        }
    }
    let log = server.log();
    assert_eq!(log.matches("Possible SECURITY ATTACK detected").count(), 1, "logged once a minute");
    assert!(log.contains(mayfly_net::server::dispatch::SECURITY_ATTACK_LOG));
    // The server goes on serving everyone else.
    assert_eq!(server.raw().cmd(&["PING"]), b"+PONG\r\n");
}

// ---------------------------------------------------------------- 4. DEBUG SLEEP, dead clients

#[test]
fn debug_sleep_arguments_answer_like_redis() {
    let server = Server::start(&["--enable-debug-command", "yes"]);
    let redis = RedisServer::start(&["--enable-debug-command", "yes"]);
    let mut c = server.raw();
    // Each of these returns at once in Redis (its nanosleep gets a negative or overflowed
    // time); a hang here would hit the read timeout.
    for arg in ["inf", "-inf", "+inf", "1e300", "18446744073709551616", "-1", "nan", "abc", "", "0"]
    {
        let got = c.cmd(&["DEBUG", "SLEEP", arg]);
        assert_eq!(got, b"+OK\r\n", "{arg}");
        if let Some(redis) = &redis {
            assert_eq!(show(&got), show(&redis.raw().cmd(&["DEBUG", "SLEEP", arg])), "{arg}");
        }
    }
}

/// Sends `cmd`, waits until the server shows the client running it, then closes the socket
/// without reading; the server must drop the client promptly.
fn assert_dead_client_dropped(server: &Server, cmd: &[&str], shown_as: &str) {
    let mut observer = server.raw();
    let before: i64 = info_field(&mut observer, "clients", "connected_clients").parse().expect("n");
    let mut victim = server.raw();
    let id = Resp::parse(&victim.cmd(&["CLIENT", "ID"])).as_int();
    victim.send(&common::encode_cmd(cmd)).expect("send");
    let marker = format!("id={id} ");
    assert!(
        eventually(Duration::from_secs(5), || {
            client_list(&mut observer)
                .lines()
                .any(|l| l.starts_with(&marker) && l.contains(&format!("cmd={shown_as}")))
        }),
        "the client never showed up running {shown_as}"
    );
    drop(victim);
    assert!(
        eventually(Duration::from_secs(5), || {
            !client_list(&mut observer).lines().any(|l| l.starts_with(&marker))
        }),
        "a closed client running {cmd:?} is still listed: {}",
        client_list(&mut observer)
    );
    let after: i64 = info_field(&mut observer, "clients", "connected_clients").parse().expect("n");
    assert_eq!(after, before, "connected_clients counts the dead client");
}

#[test]
fn a_closed_client_ends_any_wait() {
    let server = Server::start(&["--enable-debug-command", "yes", "--shards", "2"]);
    assert_dead_client_dropped(&server, &["DEBUG", "SLEEP", "1000"], "debug");
    assert_dead_client_dropped(&server, &["DEBUG", "SLEEP", "9223372036854"], "debug");
    assert_dead_client_dropped(&server, &["BLPOP", "nothing-here", "0"], "blpop");
    assert_dead_client_dropped(&server, &["BLMPOP", "0", "2", "{a}x", "b", "LEFT"], "blmpop");
}

// ---------------------------------------------------------------- 5. settings that now work

#[test]
fn idle_clients_are_closed_after_timeout() {
    let server = Server::start(&["--timeout", "1"]);
    let mut idle = server.raw();
    assert_eq!(idle.cmd(&["PING"]), b"+PONG\r\n");
    let started = Instant::now();
    idle.wait_closed(Duration::from_secs(10)).expect("an idle client is closed");
    assert!(started.elapsed() >= Duration::from_millis(900), "closed before the timeout");
    // Subscribers are exempt, as in Redis.
    let mut sub = server.raw();
    sub.cmd(&["SUBSCRIBE", "ch"]);
    assert!(sub.wait_closed(Duration::from_millis(2500)).is_err(), "a subscriber was closed");
}

#[test]
fn refused_settings_stop_the_start_up() {
    for args in [
        &["--no-appendfsync-on-rewrite", "yes"][..],
        &["--daemonize", "yes"],
        &["--io-threads", "4"],
    ] {
        let (code, text) = common::run_to_exit(args);
        assert_eq!(code, Some(1), "{args:?} was accepted");
        assert!(text.contains("is refused"), "{args:?}: {text}");
    }
    let server = Server::start(&["--save", "", "--appendonly", "no"]);
    let got = server.raw().cmd(&["CONFIG", "SET", "no-appendfsync-on-rewrite", "yes"]);
    assert!(show(&got).contains("persistence is not available yet"), "{}", show(&got));
}

// ---------------------------------------------------------------- 6. smaller differences

#[test]
fn hello_noauth_text_matches_redis() {
    let server = Server::start(&["--requirepass", "pw"]);
    let got = server.raw().cmd(&["HELLO", "3"]);
    assert_eq!(
        text(&got),
        "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n"
    );
    if let Some(redis) = RedisServer::start(&["--requirepass", "pw"]) {
        assert_eq!(show(&got), show(&redis.raw().cmd(&["HELLO", "3"])));
    }
    let mut c = server.raw();
    assert!(c.cmd(&["HELLO", "3", "AUTH", "default", "wrong"]).starts_with(b"-WRONGPASS"));
    assert!(c.cmd(&["HELLO", "3", "AUTH", "default", "pw"]).starts_with(b"%7"));
    assert!(c.cmd(&["AUTH", "p"]).starts_with(b"-WRONGPASS"), "a prefix is not the password");
    assert!(c.cmd(&["AUTH", "pww"]).starts_with(b"-WRONGPASS"), "nor an extension");
}

/// The listen backlog of the socket on `port`, from `ss` (Send-Q of a listening socket).
fn listen_backlog(port: u16) -> Option<u64> {
    let out = std::process::Command::new("ss").args(["-ltnH"]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        (cols.len() >= 4 && cols[3].ends_with(&format!(":{port}"))).then(|| cols[2].parse().ok())?
    })
}

#[test]
fn tcp_backlog_is_honoured() {
    let somaxconn: u64 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096);
    let server = Server::start(&[]);
    let Some(backlog) = listen_backlog(server.port) else {
        eprintln!("NOTE: `ss` is not available; skipping the backlog check");
        return;
    };
    assert_eq!(backlog, 511.min(somaxconn), "default tcp-backlog");
    let small = Server::start(&["--tcp-backlog", "77"]);
    assert_eq!(listen_backlog(small.port), Some(77));
}

#[test]
fn client_list_shows_queued_output_and_the_limit_applies() {
    let server = Server::start(&["--shards", "2"]);
    let mut admin = server.raw();
    let value = vec![b'v'; 256 * 1024];
    assert_eq!(admin.cmd(&[&b"SET"[..], b"big", &value]), b"+OK\r\n");
    // A client that pipelines reads of a large value and never reads the replies.
    let mut slow = server.raw();
    let slow_id = Resp::parse(&slow.cmd(&["CLIENT", "ID"])).as_int();
    let mut burst = Vec::new();
    for _ in 0..200 {
        burst.extend_from_slice(&common::encode_cmd(&["GET", "big"]));
    }
    slow.send(&burst).expect("send");
    let marker = format!("id={slow_id} ");
    let field = |line: &str, name: &str| -> u64 {
        line.split(' ')
            .find_map(|f| f.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let mut seen = String::new();
    assert!(
        eventually(Duration::from_secs(5), || {
            seen = client_list(&mut admin)
                .lines()
                .find(|l| l.starts_with(&marker))
                .unwrap_or("")
                .to_string();
            field(&seen, "omem") > 0 && field(&seen, "oll") > 0 && field(&seen, "obl") == 16384
        }),
        "omem/oll/obl never showed the queued replies: {seen}"
    );
    // `normal 0 0 0` (the default) never disconnects it.
    std::thread::sleep(Duration::from_millis(300));
    assert!(client_list(&mut admin).contains(&marker), "disconnected without a limit");
    // With a hard limit, the same client is closed as soon as its output passes it.
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "client-output-buffer-limit", "normal 2mb 0 0"]),
        b"+OK\r\n"
    );
    let mut slow2 = server.raw();
    let id2 = Resp::parse(&slow2.cmd(&["CLIENT", "ID"])).as_int();
    slow2.send(&burst).expect("send");
    let marker2 = format!("id={id2} ");
    assert!(
        eventually(Duration::from_secs(10), || !client_list(&mut admin).contains(&marker2)),
        "a client past the hard limit stays connected"
    );
    assert!(server.log().contains("closed for overcoming of output buffer limits"));
    // Clients that read their replies are unaffected.
    let mut reader = server.raw();
    for _ in 0..20 {
        assert_eq!(reader.cmd(&["GET", "big"]).len(), value.len() + 11);
    }
    drop(slow);
}
