//! End-to-end eviction: the real `mayfly` binary under `--maxmemory 64mb` with each policy,
//! written far past its budget by a pipelined client; RSS from /proc must stay near the
//! budget plus the empty server's baseline, and the server must keep answering. Also the
//! noeviction OOM error, INFO used_memory against RSS growth, and maxmemory split across
//! shards with exact per-shard figures.
//!
//! Self-contained on purpose (own spawn helper and RESP client), so it depends on nothing
//! else in `tests/`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MAXMEMORY_BYTES: u64 = 64 << 20;
const WRITE_BYTES: u64 = 512 << 20;
const VALUE_BYTES: usize = 2000;
const PIPELINE: usize = 256;
const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// A spawned server, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

impl Server {
    fn start(args: &[&str]) -> Server {
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new(env!("CARGO_BIN_EXE_mayfly"))
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--shards", "2"])
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn mayfly");
            let mut server = Server { child, port };
            // Start-up, not logic: poll until it answers PING or exits.
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(mut c) = Client::connect(port) {
                    if c.call(&[b"PING"]) == Resp::Status("PONG".into()) {
                        return server;
                    }
                }
                if server.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("mayfly did not start");
    }

    fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc status");
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
        let kb: u64 = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("kB");
        kb * 1024
    }

    fn client(&self) -> Client {
        Client::connect(self.port).expect("connect")
    }
}

#[derive(Debug, PartialEq)]
enum Resp {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Resp>),
}

struct Client {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    out: Vec<u8>,
}

impl Client {
    fn connect(port: u16) -> std::io::Result<Client> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        Ok(Client { writer: s.try_clone()?, reader: BufReader::new(s), out: Vec::new() })
    }

    fn push(&mut self, args: &[&[u8]]) {
        self.out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            self.out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            self.out.extend_from_slice(a);
            self.out.extend_from_slice(b"\r\n");
        }
    }

    fn flush(&mut self) {
        self.writer.write_all(&self.out).expect("write");
        self.out.clear();
    }

    fn read(&mut self) -> Resp {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line).expect("read");
        assert!(line.len() >= 3, "connection closed");
        let text = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        match line[0] {
            b'+' => Resp::Status(text),
            b'-' => Resp::Error(text),
            b':' => Resp::Int(text.parse().expect("int")),
            b'$' => {
                let n: i64 = text.parse().expect("len");
                if n < 0 {
                    return Resp::Bulk(None);
                }
                let mut buf = vec![0; n as usize + 2];
                self.reader.read_exact(&mut buf).expect("bulk");
                buf.truncate(n as usize);
                Resp::Bulk(Some(buf))
            }
            b'*' => {
                let n: i64 = text.parse().expect("len");
                Resp::Array((0..n.max(0)).map(|_| self.read()).collect())
            }
            other => panic!("unexpected reply type {other}"),
        }
    }

    fn call(&mut self, args: &[&[u8]]) -> Resp {
        self.push(args);
        self.flush();
        self.read()
    }

    fn info_u64(&mut self, field: &str) -> u64 {
        self.info_memory(&[field])[0] as u64
    }

    /// Several INFO memory fields from one INFO call, so they describe the same instant.
    fn info_memory(&mut self, fields: &[&str]) -> Vec<i64> {
        let Resp::Bulk(Some(body)) = self.call(&[b"INFO", b"memory"]) else { panic!("INFO") };
        let text = String::from_utf8(body).expect("utf8");
        fields
            .iter()
            .map(|field| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{field}:")))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or_else(|| panic!("no {field} in INFO"))
            })
            .collect()
    }

    /// Pipelined SETs of `count` keys from `start`; returns the error replies.
    fn set_many(&mut self, start: u64, count: u64, value: &[u8], ttl: bool) -> Vec<String> {
        self.set_prefixed("key:", start, count, value, ttl)
    }

    /// Pipelined SETs of keys `{prefix}{start}`..; returns the error replies.
    fn set_prefixed(
        &mut self,
        prefix: &str,
        start: u64,
        count: u64,
        value: &[u8],
        ttl: bool,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        let mut i = start;
        while i < start + count {
            let n = PIPELINE.min((start + count - i) as usize);
            for j in 0..n as u64 {
                let key = format!("{prefix}{}", i + j);
                if ttl {
                    self.push(&[b"SET", key.as_bytes(), value, b"EX", b"100000"]);
                } else {
                    self.push(&[b"SET", key.as_bytes(), value]);
                }
            }
            self.flush();
            for _ in 0..n {
                match self.read() {
                    Resp::Status(_) => {}
                    Resp::Error(e) => errors.push(e),
                    other => panic!("SET replied {other:?}"),
                }
            }
            i += n as u64;
        }
        errors
    }
}

/// Writes 512 MB under `policy` and checks the server kept answering and stayed on budget by
/// its own count; returns (empty-server RSS, RSS after the writes).
fn fill_past_maxmemory(policy: &str) -> (u64, u64) {
    let value = vec![b'x'; VALUE_BYTES];
    let writes = WRITE_BYTES / VALUE_BYTES as u64;
    let server = Server::start(&["--maxmemory", "64mb", "--maxmemory-policy", policy]);
    let mut c = server.client();
    let baseline = server.rss_bytes();
    let errors = c.set_many(0, writes, &value, policy.starts_with("volatile"));
    assert!(errors.is_empty(), "{policy}: {} errors, first {:?}", errors.len(), errors.first());
    let rss = server.rss_bytes();
    let used = c.info_u64("used_memory");
    assert!(used <= MAXMEMORY_BYTES + MAXMEMORY_BYTES / 10, "{policy}: used_memory {used}");
    // Still answering: the newest key is there, reads and writes work.
    let newest = format!("key:{}", writes - 1);
    assert_eq!(c.call(&[b"GET", newest.as_bytes()]), Resp::Bulk(Some(value.clone())));
    assert_eq!(c.call(&[b"SET", b"after", b"1"]), Resp::Status("OK".into()));
    let Resp::Int(keys) = c.call(&[b"DBSIZE"]) else { panic!("DBSIZE") };
    assert!(keys > 1000 && (keys as u64) < writes, "{policy}: {keys} keys left");
    eprintln!(
        "{policy}: baseline {} MiB, RSS {} MiB, used_memory {} MiB, {keys} keys",
        baseline >> 20,
        rss >> 20,
        used >> 20
    );
    (baseline, rss)
}

#[test]
fn every_eviction_policy_bounds_memory_and_keeps_answering() {
    for policy in [
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "allkeys-s3fifo",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let (baseline, rss) = fill_past_maxmemory(policy);
        // Issue 4's target: RSS within 10% of maxmemory plus the empty server's baseline.
        // Holds because the budget is checked against jemalloc's active bytes (allocated +
        // partly used slabs), freed pages go back to the kernel after 200 ms, and the recv
        // buffer pool is 1 MiB per shard (measured ~72–76 MiB against a 76.9 MiB limit).
        let budget = MAXMEMORY_BYTES + baseline;
        assert!(
            rss <= budget + budget / 10,
            "{policy}: RSS {} MiB vs budget {} MiB + 10%",
            rss >> 20,
            budget >> 20
        );
    }
}

#[test]
fn noeviction_refuses_writes_with_the_oom_error_and_still_serves_reads() {
    let server = Server::start(&["--maxmemory", "64mb", "--maxmemory-policy", "noeviction"]);
    let mut c = server.client();
    let value = vec![b'x'; VALUE_BYTES];
    let writes = (2 * MAXMEMORY_BYTES) / VALUE_BYTES as u64;
    let errors = c.set_many(0, writes, &value, false);
    assert!(!errors.is_empty(), "no OOM after writing twice maxmemory");
    assert!(errors.iter().all(|e| e == OOM), "{:?}", errors.first());
    assert!(server.rss_bytes() < 2 * MAXMEMORY_BYTES);
    assert_eq!(c.call(&[b"GET", b"key:0"]), Resp::Bulk(Some(value)));
    // Commands that do not grow memory still run.
    assert_eq!(c.call(&[b"DEL", b"key:0"]), Resp::Int(1));
    assert_eq!(c.call(&[b"PING"]), Resp::Status("PONG".into()));
    assert_eq!(
        c.call(&[b"CONFIG", b"SET", b"maxmemory-policy", b"bogus"]),
        Resp::Error(
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction, allkeys-s3fifo".into()
        )
    );
    // Switching policy at runtime makes room again.
    assert_eq!(
        c.call(&[b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-lru"]),
        Resp::Status("OK".into())
    );
    assert_eq!(c.call(&[b"SET", b"fresh", b"1"]), Resp::Status("OK".into()));
}

#[test]
fn info_used_memory_tracks_rss_growth_at_one_million_keys() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let rss0 = server.rss_bytes();
    let used0 = c.info_u64("used_memory");
    let errors = c.set_many(0, 1_000_000, &[b'v'; 64], false);
    assert!(errors.is_empty());
    let rss = server.rss_bytes() - rss0;
    let used = c.info_u64("used_memory") - used0;
    eprintln!("1M keys: RSS +{} MiB, used_memory +{} MiB", rss >> 20, used >> 20);
    let diff = rss.abs_diff(used);
    assert!(diff * 10 <= rss, "used_memory +{used} vs RSS +{rss}");
    // The allocator breakdown Redis prints: allocated ≤ active ≤ resident, and the
    // fragmentation fields are the differences of those figures.
    let f = c.info_memory(&[
        "used_memory",
        "allocator_allocated",
        "allocator_active",
        "allocator_resident",
        "allocator_frag_bytes",
        "allocator_rss_bytes",
    ]);
    let (used, allocated, active, resident) = (f[0], f[1], f[2], f[3]);
    assert_eq!(used, allocated);
    assert!(allocated <= active && active <= resident, "{f:?}");
    assert!(active >= 1_000_000 * 64, "{f:?}");
    assert_eq!(f[4], active - allocated);
    assert_eq!(f[5], resident - active);
}

/// unit/maxmemory's "eviction due to output buffers of many MGET clients", Mayfly's way: 20
/// clients pipeline `MGET` of a 100 KB key and never read the replies. Each connection stops
/// reading once its replies back up (send buffer, then at most ~128 KiB staged per recv and
/// one flush batch of replies), so their buffers are bounded per client, no key is evicted for
/// them, and every other client is still served. Before the recv staging fix their queued
/// recv completions held every provided buffer and the whole server stopped answering.
#[test]
fn clients_that_never_read_replies_stay_bounded_and_do_not_stall_the_server() {
    let server = Server::start(&["--maxmemory", "11mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut c = server.client();
    // 5 MB in 50 keys of 100 KB.
    for j in 0..50 {
        let key = j.to_string();
        assert_eq!(c.call(&[b"SETRANGE", key.as_bytes(), b"100000", b"x"]), Resp::Int(100_001));
    }
    let used_before = c.info_u64("used_memory");
    let mut batch = Vec::new();
    for _ in 0..200 {
        batch.extend_from_slice(b"*2\r\n$4\r\nMGET\r\n$1\r\n1\r\n");
    }
    let mut stalled: Vec<(TcpStream, usize)> = (0..20)
        .map(|_| {
            let s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
            s.set_nonblocking(true).expect("nonblocking");
            (s, 0)
        })
        .collect();
    // Write as much as the server takes for 3 s: bounded, not a sleep for logic.
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        for (s, sent) in stalled.iter_mut() {
            let at = *sent % batch.len();
            match s.write(&batch[at..]) {
                Ok(n) => *sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("write: {e}"),
            }
        }
        // Every other client is still served while they are stuck.
        assert_eq!(c.call(&[b"PING"]), Resp::Status("PONG".into()));
        std::thread::sleep(Duration::from_millis(5));
    }
    let sent_total: usize = stalled.iter().map(|(_, n)| n).sum();
    assert!(sent_total > 20 * 200 * 20, "the clients sent {sent_total} bytes");
    let fresh = server.client().call(&[b"DBSIZE"]);
    assert_eq!(fresh, Resp::Int(50), "a new connection is served and no key was evicted");
    assert_eq!(c.call(&[b"INFO", b"stats"]).bulk_field("evicted_keys"), 0);
    let grown = c.info_u64("used_memory").saturating_sub(used_before);
    assert!(grown < 20 * (2 << 20), "20 stuck clients hold {grown} bytes");
    drop(stalled);
}

/// Keys tagged `{a}` hash to slot 15495 (the second half of the slots, shard 1 of 2); `{b}`
/// to slot 3300 (shard 0).
const ON_SHARD_1: &str = "{a}k:";
const ON_SHARD_0: &str = "{b}k:";

/// INFO memory's `shard_used_memory` (one figure per shard), read after three ticks at the
/// default hz, so that every shard has published and calibrated since the last write.
fn shard_figures(c: &mut Client) -> Vec<u64> {
    shard_info_list(c, "shard_used_memory").into_iter().map(|n| n as u64).collect()
}

/// A comma-separated per-shard INFO memory line, read after three ticks (see above).
fn shard_info_list(c: &mut Client, field: &str) -> Vec<i64> {
    std::thread::sleep(Duration::from_millis(300));
    let Resp::Bulk(Some(body)) = c.call(&[b"INFO", b"memory"]) else { panic!("INFO") };
    let text = String::from_utf8(body).expect("utf8");
    assert!(text.contains("maxmemory_split:shards\r\n"), "per-shard memory is off:\n{text}");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} line"));
    line.trim().split(',').map(|n| n.parse().expect("figure")).collect()
}

/// GETs of every key from `readers` connections (spread over both shards by the accept
/// round robin), `rounds` times each; returns the reply bytes read.
fn read_all_keys(port: u16, keys: &[String], readers: usize, rounds: usize) -> u64 {
    let threads: Vec<_> = (0..readers)
        .map(|_| {
            let keys = keys.to_vec();
            std::thread::spawn(move || {
                let mut c = Client::connect(port).expect("connect");
                let mut bytes = 0u64;
                for _ in 0..rounds {
                    for chunk in keys.chunks(100) {
                        for k in chunk {
                            c.push(&[b"GET", k.as_bytes()]);
                        }
                        c.flush();
                        for _ in chunk {
                            let Resp::Bulk(Some(v)) = c.read() else { panic!("GET") };
                            bytes += v.len() as u64;
                        }
                    }
                }
                bytes
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().expect("reader")).sum()
}

/// Issue 4's exact per-shard accounting. A GET's reply is built on the key's shard and freed
/// on the connection's; with per-thread allocator counters alone each such reply moves its
/// bytes from one shard's figure to the other's for good (hundreds of MB here). Frees of
/// another shard's memory are credited to that shard, so the exact figures
/// (`shard_allocated_memory`, never re-aligned to anything) stay put, and so do the figures
/// charged against the budgets (`shard_used_memory`, re-aligned to each arena every tick).
#[test]
fn per_shard_memory_does_not_drift_when_replies_cross_shards() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let value = vec![b'v'; 8000];
    let mut keys = Vec::new();
    for prefix in [ON_SHARD_0, ON_SHARD_1] {
        assert!(c.set_prefixed(prefix, 0, 1000, &value, false).is_empty());
        keys.extend((0..1000).map(|i| format!("{prefix}{i}")));
    }
    let exact_before = shard_info_list(&mut c, "shard_allocated_memory");
    let before = shard_figures(&mut c);
    assert_eq!(before.len(), 2);
    for (shard, figure) in before.iter().enumerate() {
        // 8 MB of values on each shard, plus keys, table and buffers.
        assert!((8_000_000..20_000_000).contains(figure), "shard {shard}: {figure}");
    }
    // Only shard 1's keys: readers on shard 0 move reply bytes one way only (readers in both
    // directions would cancel each other's drift out).
    let shard_1_keys: Vec<String> =
        keys.iter().filter(|k| k.starts_with(ON_SHARD_1)).cloned().collect();
    let moved = read_all_keys(server.port, &shard_1_keys, 4, 5);
    assert_eq!(moved, 4 * 5 * 1000 * 8000);
    let exact_after = shard_info_list(&mut c, "shard_allocated_memory");
    let after = shard_figures(&mut c);
    for shard in 0..2 {
        let exact_drift = exact_after[shard].abs_diff(exact_before[shard]);
        let drift = after[shard].abs_diff(before[shard]);
        assert!(
            exact_drift < 1 << 20 && drift < 4 << 20,
            "shard {shard} moved after {moved} reply bytes: exact {} -> {}, charged {} -> {}",
            exact_before[shard],
            exact_after[shard],
            before[shard],
            after[shard]
        );
    }
    // The per-shard figures add up to the allocator's view of the whole process: the exact
    // ones to its allocated bytes (less what sits in thread caches and the main thread's
    // start-up data), the charged ones to its active bytes.
    let f = c.info_memory(&["used_memory", "allocator_active"]);
    let exact: i64 = exact_after.iter().sum();
    assert!(exact <= f[0] && exact + (4 << 20) > f[0], "{exact_after:?} vs {f:?}");
    let sum: u64 = after.iter().sum();
    assert!(sum.abs_diff(f[1] as u64) < 4 << 20, "shards {after:?} vs active {}", f[1]);
}

/// Issue 4: maxmemory is split across shards. Keys of one shard only get that shard's half;
/// keys of both get both halves; CONFIG SET changes the split at once.
#[test]
fn maxmemory_is_split_between_shards() {
    let server = Server::start(&["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut c = server.client();
    assert_eq!(c.info_u64("shard_maxmemory"), MAXMEMORY_BYTES / 2);
    let value = vec![b'x'; VALUE_BYTES];
    let writes = (2 * MAXMEMORY_BYTES) / VALUE_BYTES as u64;
    let half = MAXMEMORY_BYTES / 2;
    assert!(c.set_prefixed(ON_SHARD_1, 0, writes, &value, false).is_empty());
    let f = shard_figures(&mut c);
    assert!(f[1] <= half + half / 10 && f[1] > half / 2, "shard 1 holds {}: {f:?}", f[1]);
    assert!(f[0] < half / 4, "shard 0 got nothing to hold: {f:?}");
    let used = c.info_u64("used_memory");
    assert!(used < half + half / 5, "only one shard's half is in use: {used}");

    assert!(c.set_prefixed(ON_SHARD_0, 0, writes, &value, false).is_empty());
    let f = shard_figures(&mut c);
    for (shard, figure) in f.iter().enumerate() {
        assert!(*figure <= half + half / 10 && *figure > half / 2, "shard {shard}: {f:?}");
    }
    for prefix in [ON_SHARD_0, ON_SHARD_1] {
        let newest = format!("{prefix}{}", writes - 1);
        assert_eq!(c.call(&[b"GET", newest.as_bytes()]), Resp::Bulk(Some(value.clone())));
    }

    assert_eq!(c.call(&[b"CONFIG", b"SET", b"maxmemory", b"32mb"]), Resp::Status("OK".into()));
    assert_eq!(c.info_u64("shard_maxmemory"), 16 << 20);
    // Halving the budget leaves slab holes that the next calibration counts (active bytes),
    // so each shard gets there over a few rounds of writes, each evicting against the
    // refreshed figure. Bounded: 10 rounds of 200 writes per shard.
    let quarter = 16u64 << 20;
    let mut f = Vec::new();
    for round in 0..10 {
        for prefix in [ON_SHARD_0, ON_SHARD_1] {
            let start = writes + round * 200;
            assert!(c.set_prefixed(prefix, start, 200, &value, false).is_empty());
        }
        f = shard_figures(&mut c);
        if f.iter().all(|figure| *figure <= quarter + quarter / 10) {
            return;
        }
    }
    panic!("after CONFIG SET maxmemory 32mb the shards still hold {f:?}");
}

impl Resp {
    /// A numeric `field:value` line of an INFO reply.
    fn bulk_field(&self, field: &str) -> i64 {
        let Resp::Bulk(Some(body)) = self else { panic!("not a bulk reply: {self:?}") };
        String::from_utf8_lossy(body)
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field}"))
    }
}

/// A key named `{prefix}N` owned by shard `shard` of 2.
fn key_on_shard(prefix: &str, shard: usize) -> String {
    use mayfly_engine::slot::{key_slot, SLOT_COUNT};
    (0..)
        .map(|n| format!("{prefix}{n}"))
        .find(|k| key_slot(k.as_bytes()) as usize * 2 / SLOT_COUNT == shard)
        .expect("a key")
}

#[test]
fn cross_shard_writes_obey_maxmemory_and_count_in_commandstats() {
    let server = Server::start(&["--shards", "2", "--maxmemory-policy", "noeviction"]);
    let mut c = server.client();
    let src = key_on_shard("src", 0);
    let dst = key_on_shard("dst", 1);
    assert_eq!(c.call(&[b"SADD", src.as_bytes(), b"a", b"b"]), Resp::Int(2));
    // A cross-shard SUNIONSTORE runs on a scratch shard (gather): counted like any command.
    assert_eq!(c.call(&[b"SUNIONSTORE", dst.as_bytes(), src.as_bytes()]), Resp::Int(2));
    let stats = match c.call(&[b"INFO", b"commandstats"]) {
        Resp::Bulk(Some(b)) => String::from_utf8_lossy(&b).to_string(),
        other => panic!("INFO: {other:?}"),
    };
    assert!(stats.contains("cmdstat_sunionstore:calls=1,"), "{stats}");
    // Over maxmemory under noeviction, it is refused like a local write, and nothing changes.
    assert_eq!(c.call(&[b"CONFIG", b"SET", b"maxmemory", b"1"]), Resp::Status("OK".into()));
    assert_eq!(c.call(&[b"SET", src.as_bytes(), b"x"]), Resp::Error(OOM.into()));
    assert_eq!(c.call(&[b"DEL", dst.as_bytes()]), Resp::Int(1));
    assert_eq!(c.call(&[b"SUNIONSTORE", dst.as_bytes(), src.as_bytes()]), Resp::Error(OOM.into()));
    assert_eq!(c.call(&[b"EXISTS", dst.as_bytes()]), Resp::Int(0));
    let stats = match c.call(&[b"INFO", b"commandstats"]) {
        Resp::Bulk(Some(b)) => String::from_utf8_lossy(&b).to_string(),
        other => panic!("INFO: {other:?}"),
    };
    let line = stats.lines().find(|l| l.starts_with("cmdstat_sunionstore:")).unwrap_or("");
    assert!(line.starts_with("cmdstat_sunionstore:calls=1,"), "{stats}");
    assert!(line.contains(",rejected_calls=1,"), "{stats}");
    // A transaction over both shards that may grow memory is refused as a whole.
    assert_eq!(c.call(&[b"MULTI"]), Resp::Status("OK".into()));
    assert_eq!(c.call(&[b"SET", dst.as_bytes(), b"1"]), Resp::Status("QUEUED".into()));
    assert_eq!(c.call(&[b"SET", src.as_bytes(), b"1"]), Resp::Status("QUEUED".into()));
    assert_eq!(c.call(&[b"EXEC"]), Resp::Error(OOM.into()));
    assert_eq!(c.call(&[b"EXISTS", dst.as_bytes()]), Resp::Int(0));
    // Room again: the same commands run.
    assert_eq!(c.call(&[b"CONFIG", b"SET", b"maxmemory", b"0"]), Resp::Status("OK".into()));
    assert_eq!(c.call(&[b"SUNIONSTORE", dst.as_bytes(), src.as_bytes()]), Resp::Int(2));
}
