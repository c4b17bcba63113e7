//! Hit-ratio benchmark for caches under `maxmemory`: a seeded Zipfian GET-then-SET-on-miss
//! workload over a keyspace larger than memory, against any Redis-protocol server.
//!
//! Requests go out in pipelined batches: a batch of GETs, then SETs for the batch's misses,
//! so a key missed twice in one batch is set twice (as two clients racing would). Hits are
//! counted after a warm-up share of the operations, so the figure is the steady state.
//!
//! ```text
//! mayfly-hitratio --port 6379 --keyspace 2000000 --zipf 0.99 --ops 2000000
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use mayfly_bench::resp::encode_command;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

struct Options {
    host: String,
    port: u16,
    keyspace: usize,
    zipf_s: f64,
    ops: usize,
    warmup_ops: usize,
    value_bytes: usize,
    batch: usize,
    seed: u64,
    flush: bool,
}

const USAGE: &str = "usage: mayfly-hitratio [--host H] [--port P] [--keyspace N] [--zipf S] \
[--ops N] [--warmup-ops N] [--value-bytes N] [--batch N] [--seed N] [--no-flush]";

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        host: "127.0.0.1".into(),
        port: 6379,
        keyspace: 2_000_000,
        zipf_s: 0.99,
        ops: 2_000_000,
        warmup_ops: 0,
        value_bytes: 256,
        batch: 64,
        seed: 1,
        flush: true,
    };
    let mut warmup_set = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--no-flush" {
            o.flush = false;
            continue;
        }
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.into());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |_| format!("bad value for {flag}: {value}");
        match flag.as_str() {
            "--host" => o.host = value.clone(),
            "--port" => o.port = value.parse().map_err(bad)?,
            "--keyspace" => o.keyspace = value.parse().map_err(bad)?,
            "--zipf" => o.zipf_s = value.parse().map_err(|_| format!("bad --zipf: {value}"))?,
            "--ops" => o.ops = value.parse().map_err(bad)?,
            "--warmup-ops" => {
                o.warmup_ops = value.parse().map_err(bad)?;
                warmup_set = true;
            }
            "--value-bytes" => o.value_bytes = value.parse().map_err(bad)?,
            "--batch" => o.batch = value.parse().map_err(bad)?,
            "--seed" => o.seed = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    if o.keyspace == 0 || o.ops == 0 || o.batch == 0 || o.keyspace > 100_000_000 {
        return Err("keyspace (≤ 1e8), ops and batch must be positive".into());
    }
    o.batch = o.batch.min(10_000);
    if !warmup_set {
        o.warmup_ops = o.ops / 4;
    }
    Ok(o)
}

/// Zipf(s) over ranks 0..n by inverse CDF (binary search over a precomputed table).
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for k in 1..=n {
            sum += 1.0 / (k as f64).powf(s);
            cdf.push(sum);
        }
        cdf.iter_mut().for_each(|c| *c /= sum);
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut impl Rng) -> usize {
        let u: f64 = rng.gen();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// Minimal RESP client: writes commands, reads one reply each (only the kinds GET/SET give).
struct Client {
    out: Vec<u8>,
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    line: Vec<u8>,
}

#[derive(Debug, PartialEq)]
enum Resp {
    Nil,
    Bulk,
    Status,
    Error(String),
    Other,
}

impl Client {
    fn connect(host: &str, port: u16) -> std::io::Result<Client> {
        let s = TcpStream::connect((host, port))?;
        s.set_nodelay(true)?;
        Ok(Client {
            out: Vec::with_capacity(1 << 16),
            writer: s.try_clone()?,
            reader: BufReader::with_capacity(1 << 16, s),
            line: Vec::new(),
        })
    }

    fn push(&mut self, args: &[&[u8]]) {
        encode_command(&mut self.out, args);
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.write_all(&self.out)?;
        self.out.clear();
        Ok(())
    }

    fn read(&mut self) -> std::io::Result<Resp> {
        self.line.clear();
        self.reader.read_until(b'\n', &mut self.line)?;
        let line = self.line.strip_suffix(b"\r\n").unwrap_or(&self.line);
        let Some((&kind, rest)) = line.split_first() else {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
        };
        Ok(match kind {
            b'+' => Resp::Status,
            b'-' => Resp::Error(String::from_utf8_lossy(rest).into_owned()),
            b'_' => Resp::Nil,
            b'$' => {
                let len: i64 =
                    std::str::from_utf8(rest).ok().and_then(|s| s.parse().ok()).unwrap_or(-1);
                if len < 0 {
                    Resp::Nil
                } else {
                    let mut skip = vec![0u8; len as usize + 2];
                    self.reader.read_exact(&mut skip)?;
                    Resp::Bulk
                }
            }
            _ => Resp::Other,
        })
    }

    fn call(&mut self, args: &[&[u8]]) -> std::io::Result<Resp> {
        self.push(args);
        self.flush()?;
        self.read()
    }
}

fn key_of(rank: usize, keyspace: usize) -> String {
    // A fixed permutation of ranks (odd multiplier mod a power of two ≥ keyspace, cycled into
    // range), so hot keys are not neighbours in key order or hash order.
    let m = keyspace.next_power_of_two() as u64;
    let mut x = rank as u64;
    loop {
        x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15 | 1) & (m - 1);
        if (x as usize) < keyspace {
            return format!("key:{x}");
        }
    }
}

fn info_field(c: &mut Client, section: &str, field: &str) -> std::io::Result<Option<String>> {
    c.push(&[b"INFO", section.as_bytes()]);
    c.flush()?;
    c.line.clear();
    c.reader.read_until(b'\n', &mut c.line)?;
    let len: usize = std::str::from_utf8(&c.line[1..c.line.len().saturating_sub(2)])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len + 2];
    c.reader.read_exact(&mut body)?;
    let text = String::from_utf8_lossy(&body);
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string())))
}

fn run(o: &Options) -> std::io::Result<()> {
    let mut c = Client::connect(&o.host, o.port)?;
    if o.flush {
        c.call(&[b"FLUSHALL"])?;
    }
    let zipf = Zipf::new(o.keyspace, o.zipf_s);
    let mut rng = SmallRng::seed_from_u64(o.seed);
    let value = vec![b'v'; o.value_bytes];
    let (mut gets, mut hits, mut sets, mut errors) = (0u64, 0u64, 0u64, 0u64);
    let start = Instant::now();
    let mut done = 0;
    let mut keys: Vec<String> = Vec::with_capacity(o.batch);
    let mut first_error = None;
    while done < o.ops {
        let n = o.batch.min(o.ops - done);
        keys.clear();
        for _ in 0..n {
            keys.push(key_of(zipf.sample(&mut rng), o.keyspace));
        }
        for k in &keys {
            c.push(&[b"GET", k.as_bytes()]);
        }
        c.flush()?;
        let mut misses = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let r = c.read()?;
            let counted = done + i >= o.warmup_ops;
            if counted {
                gets += 1;
            }
            match r {
                Resp::Bulk => hits += u64::from(counted),
                _ => misses.push(k),
            }
        }
        for k in &misses {
            c.push(&[b"SET", k.as_bytes(), &value]);
        }
        c.flush()?;
        for _ in &misses {
            sets += 1;
            if let Resp::Error(e) = c.read()? {
                errors += 1;
                first_error.get_or_insert(e);
            }
        }
        done += n;
    }
    let secs = start.elapsed().as_secs_f64();
    let used = info_field(&mut c, "memory", "used_memory")?.unwrap_or_default();
    let evicted = info_field(&mut c, "stats", "evicted_keys")?.unwrap_or_default();
    let policy = info_field(&mut c, "memory", "maxmemory_policy")?.unwrap_or_default();
    println!(
        "policy={policy} zipf={} keyspace={} ops={} warmup={} value_bytes={} hit_ratio={:.4} \
         gets={gets} hits={hits} sets={sets} set_errors={errors} evicted_keys={evicted} \
         used_memory={used} secs={secs:.1}",
        o.zipf_s,
        o.keyspace,
        o.ops,
        o.warmup_ops,
        o.value_bytes,
        if gets == 0 { 0.0 } else { hits as f64 / gets as f64 },
    );
    if let Some(e) = first_error {
        eprintln!("first SET error: {e}");
    }
    Ok(())
}

fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&o) {
        eprintln!("mayfly-hitratio: {e}");
        std::process::exit(1);
    }
}
