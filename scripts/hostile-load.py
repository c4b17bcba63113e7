#!/usr/bin/env python3
"""Latency under hostile load (issue 20, point 7).

A few "fuzzing" connections send random commands that build and tear down large values
(big sets, lists, sorted sets and strings; FLUSHALL, KEYS, SUNIONSTORE, SORT, SWAPDB, DEL of
big keys, …) while a well-behaved control client does SET+GET pairs and records how long
each pair took. Prints the control client's latency percentiles and maximum, and the
fuzzers' command mix. Runs against any Redis-compatible server (Mayfly or redis-server):

    scripts/hostile-load.py --port 6379 --seconds 60 --fuzzers 4

Only the standard library; no timed assertions: it reports, the reader judges.
"""
import argparse
import random
import socket
import threading
import time


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port, host="127.0.0.1"):
        self.s = socket.create_connection((host, port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _fill(self):
        d = self.s.recv(1 << 20)
        if not d:
            raise ConnectionError("closed")
        self.buf += d

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n")
        line, self.buf = self.buf[:i], self.buf[i + 2:]
        return line

    def read(self):
        line = self._line()
        t = line[:1]
        if t in (b"+", b"-", b":", b"_", b",", b"#", b"("):
            return line
        if t in (b"$", b"=", b"!"):
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v
        if t in (b"*", b"~", b">", b"%"):
            n = int(line[1:])
            if n < 0:
                return None
            if t == b"%":
                n *= 2
            return [self.read() for _ in range(n)]
        raise ValueError(line)

    def call(self, *args):
        self.s.sendall(encode(*args))
        return self.read()


KEYS = ["s1", "s2", "{s1}x", "l1", "l2", "z1", "z2", "str1", "str2", "h1"]


def fuzz_command(rng):
    k = rng.choice(KEYS)
    k2 = rng.choice(KEYS)
    n = rng.choice([10, 1000, 20000, 100000])
    choice = rng.randrange(20)
    if choice in (4, 18) and rng.random() < 0.97:
        # Flushes are rare, so the keyspace grows large between them.
        choice = 19
    if choice == 0:
        return ("SADD", k, *[rng.randrange(10**9) for _ in range(min(n, 5000))])
    if choice == 1:
        return ("RPUSH", k, *[b"x" * rng.choice([1, 100]) for _ in range(min(n, 5000))])
    if choice == 2:
        args = []
        for _ in range(min(n, 5000)):
            args += [rng.random(), rng.randrange(10**9)]
        return ("ZADD", k, *args)
    if choice == 3:
        return ("SETRANGE", k, rng.choice([1000, 10**6, 50 * 10**6]), "x")
    if choice == 4:
        return ("FLUSHALL",)
    if choice == 5:
        return ("KEYS", "*")
    if choice == 6:
        return ("SUNIONSTORE", rng.choice(["dst", "{s1}d"]), k, k2)
    if choice == 7:
        return ("SORT", k, "LIMIT", 0, 10)
    if choice == 8:
        return ("SWAPDB", 0, rng.randrange(1, 4))
    if choice == 9:
        return ("DEL", k, k2)
    if choice == 10:
        return ("LRANGE", k, 0, -1)
    if choice == 11:
        return ("SMEMBERS", k)
    if choice == 12:
        return ("ZUNIONSTORE", "zd", 2, k, k2)
    if choice == 13:
        return ("SINTERSTORE", "sd", k, k2)
    if choice == 14:
        return ("DEBUG", "SLEEP", 0)
    if choice == 15:
        return ("COPY", k, k2 + "c", "REPLACE")
    if choice == 16:
        return ("SCAN", 0, "COUNT", n)
    if choice == 17:
        return ("RANDOMKEY",)
    if choice == 18:
        return ("FLUSHDB",)
    # Fill many small keys so FLUSHALL/KEYS/SWAPDB have work.
    args = []
    base = rng.randrange(10**7)
    for i in range(2000):
        args += [f"key:{base + i}", "v" * 20]
    return ("MSET", *args)


def fuzzer(port, seed, stop, counts, lock):
    rng = random.Random(seed)
    c = Conn(port)
    while not stop.is_set():
        cmd = fuzz_command(rng)
        try:
            c.call(*cmd)
        except (ConnectionError, OSError):
            c = Conn(port)
        with lock:
            counts[cmd[0]] = counts.get(cmd[0], 0) + 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--fuzzers", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    stop = threading.Event()
    counts, lock = {}, threading.Lock()
    threads = [threading.Thread(target=fuzzer, args=(args.port, args.seed + i, stop, counts, lock), daemon=True)
               for i in range(args.fuzzers)]
    for t in threads:
        t.start()
    control = Conn(args.port)
    lat = []
    worst = (0.0, 0.0)
    end = time.monotonic() + args.seconds
    i = 0
    while time.monotonic() < end:
        t0 = time.monotonic()
        control.call("SET", f"control:{i % 100}", "v")
        control.call("GET", f"control:{i % 100}")
        dt = time.monotonic() - t0
        lat.append(dt)
        if dt > worst[0]:
            worst = (dt, t0 + dt - (end - args.seconds))
        i += 1
        time.sleep(0.001)
    stop.set()
    lat.sort()
    pct = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000
    print(f"control SET+GET pairs: {len(lat)}")
    print(f"latency ms: p50 {pct(50):.2f}  p99 {pct(99):.2f}  p99.9 {pct(99.9):.2f}  max {worst[0]*1000:.1f} (at {worst[1]:.1f} s)")
    print("fuzzer commands:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
