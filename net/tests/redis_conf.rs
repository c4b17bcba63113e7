//! Started the way Redis's test suite and operators' scripts start redis-server (issue 13,
//! point 1): a redis.conf as first argument, then the log lines they wait for.

mod common;

use std::net::TcpListener;

use common::{run_to_exit, RawClient, Resp, Server};

/// Redis 7.0.15's `tests/assets/default.conf` (test data: the directives the suite's
/// generated configuration starts from), with `pidfile` and `save` overridden on the command
/// line below.
const REDIS_TEST_DEFAULT_CONF: &str = "\
# Redis configuration for testing.

always-show-logo yes
notify-keyspace-events KEA
daemonize no
pidfile /var/run/redis.pid
port 6379
timeout 0
bind 127.0.0.1
loglevel verbose
logfile ''
databases 16
latency-monitor-threshold 1
repl-diskless-sync-delay 0

# Note the infrastructure in server.tcl uses a dict, we can't provide several save directives
save 900 1

rdbcompression yes
dbfilename dump.rdb
dir ./

slave-serve-stale-data yes
appendonly no
appendfsync everysec
no-appendfsync-on-rewrite no
activerehashing yes

enable-protected-configs yes
enable-debug-command yes
enable-module-command yes

propagation-error-behavior panic
";

fn config_get(c: &mut RawClient, name: &str) -> String {
    let reply = Resp::parse(&c.cmd(&["CONFIG", "GET", name]));
    String::from_utf8_lossy(reply.items()[1].as_bytes()).into_owned()
}

#[test]
fn redis_test_suite_default_conf_loads_and_logs_what_tools_wait_for() {
    let dir = std::env::temp_dir().join(format!("mayfly-redis-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let conf = dir.join("default.conf");
    // The suite's generated configuration adds a Unix socket to the file's directives.
    let text = format!("{REDIS_TEST_DEFAULT_CONF}unixsocket {}/socket\n", dir.display());
    std::fs::write(&conf, text).expect("write conf");
    let pidfile = dir.join("redis.pid");
    let pidfile = pidfile.to_str().expect("utf-8");
    let dir_s = dir.to_str().expect("utf-8");
    // `save` points belong to the snapshot work; the rest of the file is taken as it is.
    let server = Server::start_with_config(
        conf.to_str().expect("utf-8"),
        &["--pidfile", pidfile, "--dir", dir_s, "--save", ""],
    );
    let mut c = server.raw();
    assert_eq!(config_get(&mut c, "latency-monitor-threshold"), "1");
    assert_eq!(config_get(&mut c, "repl-diskless-sync-delay"), "0");
    assert_eq!(config_get(&mut c, "propagation-error-behavior"), "panic");
    assert_eq!(config_get(&mut c, "notify-keyspace-events"), "AKE");
    assert_eq!(config_get(&mut c, "loglevel"), "verbose");
    assert_eq!(config_get(&mut c, "enable-debug-command"), "yes");
    assert_eq!(c.cmd(&["DEBUG", "DIGEST"]), b"+0000000000000000000000000000000000000000\r\n");
    let pid = server.pid();
    let log = server.log();
    assert!(log.contains(&format!(" PID: {pid}")), "startup line with the pid: {log}");
    assert!(log.contains("Ready to accept connections"), "{log}");
    for name in ["repl-diskless-sync-delay", "propagation-error-behavior", "unixsocket"] {
        let lines: Vec<&str> =
            log.lines().filter(|l| l.contains(name) && l.contains("has no effect here")).collect();
        assert_eq!(lines.len(), 1, "one log line for {name}: {log}");
    }
    assert_eq!(
        std::fs::read_to_string(pidfile).expect("pidfile").trim(),
        pid.to_string(),
        "pidfile"
    );
    drop(c);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn busy_port_logs_failed_listening_and_exits() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let (code, out) = run_to_exit(&["--port", &port, "--bind", "127.0.0.1"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(&format!("Failed listening on port {port} (tcp), aborting.")), "{out}");
}
