//! Eviction, deterministically: a TestShard with a manual clock and a seeded RNG, and
//! `evict_for_write` driven with synthetic used/limit figures. Also MEMORY USAGE/STATS/DOCTOR
//! and an in-process hit-ratio simulation comparing the policies on a Zipf stream.

use mayfly_engine::config::{Config, EvictionPolicy};
use mayfly_engine::error::OpError;
use mayfly_engine::evict::{lfu_decayed, lfu_log_incr, lfu_minutes, LFU_INIT_VAL};
use mayfly_engine::reply::Reply;
use mayfly_engine::testing::TestShard;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn shard(policy: EvictionPolicy) -> TestShard {
    let config = Config {
        maxmemory: 64 << 20,
        maxmemory_policy: policy,
        maxmemory_samples: 5,
        ..Config::default()
    };
    let mut t = TestShard::with_config(config);
    t.shard.rng = SmallRng::seed_from_u64(7);
    t
}

fn exists(t: &mut TestShard, key: &str) -> bool {
    t.run(&["EXISTS", key]) == Reply::Int(1)
}

/// Asks for one eviction: one byte over the limit.
fn evict_one(t: &mut TestShard) -> Result<(), OpError> {
    t.shard.evict_for_write(1_000_001, 1_000_000)
}

#[test]
fn lru_evicts_the_idlest_sampled_keys() {
    let mut t = shard(EvictionPolicy::AllKeysLru);
    t.shard.config.maxmemory_samples = 64;
    for i in 0..10 {
        t.run(&["SET", &format!("k{i}"), "v"]);
        t.advance_ms(10_000);
    }
    // Touching k0 and k1 makes them the most recently used.
    t.run(&["GET", "k0"]);
    t.run(&["GET", "k1"]);
    t.advance_ms(1_000);
    for victim in ["k2", "k3", "k4"] {
        evict_one(&mut t).unwrap();
        assert!(!exists(&mut t, victim), "{victim} should be evicted first");
    }
    assert!(exists(&mut t, "k0") && exists(&mut t, "k1"));
    assert_eq!(t.shard.stats.evicted_keys, 3);
}

#[test]
fn object_idletime_follows_the_injected_clock() {
    let mut t = shard(EvictionPolicy::AllKeysLru);
    t.run(&["SET", "k", "v"]);
    t.advance_ms(42_000);
    assert_eq!(t.run(&["OBJECT", "IDLETIME", "k"]), Reply::Int(42));
}

#[test]
fn lfu_counter_decays_by_elapsed_minutes_over_decay_time() {
    let now = 1_700_000_000_000u64;
    let lru = (lfu_minutes(now) << 8) | 10;
    assert_eq!(lfu_decayed(lru, now, 1), 10);
    assert_eq!(lfu_decayed(lru, now + 3 * 60_000, 1), 7);
    assert_eq!(lfu_decayed(lru, now + 3 * 60_000, 2), 9);
    assert_eq!(lfu_decayed(lru, now + 30 * 60_000, 1), 0);
    assert_eq!(lfu_decayed(lru, now + 30 * 60_000, 0), 10, "decay time 0 never decays");
}

#[test]
fn lfu_log_increment_probability_matches_redis_formula() {
    let mut rng = SmallRng::seed_from_u64(11);
    // At or below LFU_INIT_VAL the increment is certain.
    assert_eq!(lfu_log_incr(LFU_INIT_VAL, 10, &mut rng), LFU_INIT_VAL + 1);
    assert_eq!(lfu_log_incr(255, 10, &mut rng), 255);
    // p = 1 / ((counter − 5) · factor + 1).
    for (counter, factor) in [(6u32, 10u64), (15, 10), (10, 1)] {
        let trials = 200_000;
        let hits =
            (0..trials).filter(|_| lfu_log_incr(counter, factor, &mut rng) > counter).count();
        let expected = 1.0 / (((counter - LFU_INIT_VAL) as f64) * factor as f64 + 1.0);
        let got = hits as f64 / trials as f64;
        assert!((got - expected).abs() < expected * 0.1, "counter {counter}: {got} vs {expected}");
    }
}

#[test]
fn lfu_counter_grows_logarithmically_through_object_freq() {
    let mut t = shard(EvictionPolicy::AllKeysLfu);
    t.run(&["SET", "k", "v"]);
    assert_eq!(t.run(&["OBJECT", "FREQ", "k"]), Reply::Int(LFU_INIT_VAL as i64));
    for _ in 0..1000 {
        t.run(&["GET", "k"]);
    }
    // Redis's documented table (factor 10): ~18 after 1000 hits.
    let Reply::Int(freq) = t.run(&["OBJECT", "FREQ", "k"]) else { panic!("freq") };
    assert!((14..=24).contains(&freq), "freq after 1000 hits: {freq}");
    // Decay: one period per minute at lfu-decay-time 1.
    t.advance_ms(5 * 60_000);
    let Reply::Int(decayed) = t.run(&["OBJECT", "FREQ", "k"]) else { panic!("freq") };
    assert_eq!(decayed, freq - 5);
}

#[test]
fn lfu_evicts_the_least_frequent() {
    let mut t = shard(EvictionPolicy::AllKeysLfu);
    t.shard.config.maxmemory_samples = 64;
    for i in 0..8 {
        t.run(&["SET", &format!("k{i}"), "v"]);
    }
    for i in 1..8 {
        for _ in 0..(i * 20) {
            t.run(&["GET", &format!("k{i}")]);
        }
    }
    evict_one(&mut t).unwrap();
    assert!(!exists(&mut t, "k0"));
}

#[test]
fn volatile_policies_never_evict_keys_without_ttl() {
    for policy in [
        EvictionPolicy::VolatileLru,
        EvictionPolicy::VolatileLfu,
        EvictionPolicy::VolatileRandom,
        EvictionPolicy::VolatileTtl,
    ] {
        let mut t = shard(policy);
        for i in 0..200 {
            t.run(&["SET", &format!("plain{i}"), "v"]);
        }
        for i in 0..5 {
            t.run(&["SET", &format!("ttl{i}"), "v", "EX", &(100 + i).to_string()]);
        }
        let mut evicted = 0;
        while evict_one(&mut t).is_ok() {
            evicted += 1;
            assert!(evicted <= 5, "{policy:?} evicted a key without TTL");
        }
        assert_eq!(evicted, 5, "{policy:?}");
        assert_eq!(t.run(&["DBSIZE"]), Reply::Int(200), "{policy:?}");
        assert_eq!(evict_one(&mut t), Err(OpError::OutOfMemory));
    }
}

#[test]
fn volatile_ttl_evicts_the_soonest_expiry_first() {
    let mut t = shard(EvictionPolicy::VolatileTtl);
    t.shard.config.maxmemory_samples = 64;
    for (k, ttl) in [("a", "500"), ("b", "50"), ("c", "5000")] {
        t.run(&["SET", k, "v", "EX", ttl]);
    }
    evict_one(&mut t).unwrap();
    assert!(!exists(&mut t, "b"));
    evict_one(&mut t).unwrap();
    assert!(!exists(&mut t, "a"));
}

#[test]
fn noeviction_answers_the_oom_error() {
    let mut t = shard(EvictionPolicy::NoEviction);
    t.run(&["SET", "k", "v"]);
    let err = evict_one(&mut t).unwrap_err();
    assert_eq!(err, OpError::OutOfMemory);
    assert_eq!(
        Reply::from(err),
        Reply::error("OOM command not allowed when used memory > 'maxmemory'.")
    );
    assert!(exists(&mut t, "k"));
    // Under the limit nothing happens, whatever the policy.
    assert_eq!(t.shard.evict_for_write(10, 1_000), Ok(()));
    assert_eq!(t.shard.evict_for_write(10, 0), Ok(()));
}

#[test]
fn eviction_work_per_call_is_bounded() {
    let mut t = shard(EvictionPolicy::AllKeysRandom);
    for i in 0..5000 {
        t.run(&["SET", &format!("k{i}"), "v"]);
    }
    // Asking for far more than the whole dataset evicts only a bounded batch per write.
    t.shard.evict_for_write(u64::MAX / 2, 1).unwrap();
    let left = t.shard.key_count();
    assert!((5000 - 200..5000).contains(&left), "evicted {} in one call", 5000 - left);
}

#[test]
fn s3fifo_one_hit_keys_leave_before_reused_ones() {
    let mut t = shard(EvictionPolicy::AllKeysS3Fifo);
    for i in 0..100 {
        t.run(&["SET", &format!("k{i}"), "v"]);
    }
    // k0..k9 are read once: they move to main when the small queue is drained.
    for i in 0..10 {
        t.run(&["GET", &format!("k{i}")]);
    }
    assert_eq!(t.shard.evict.s3fifo_queue_lengths(), (100, 0));
    for _ in 0..80 {
        evict_one(&mut t).unwrap();
    }
    for i in 0..10 {
        assert!(exists(&mut t, &format!("k{i}")), "reused k{i} was evicted");
    }
    assert_eq!(t.shard.key_count(), 20);
}

#[test]
fn s3fifo_ghost_readmits_into_main() {
    let mut t = shard(EvictionPolicy::AllKeysS3Fifo);
    for i in 0..20 {
        t.run(&["SET", &format!("k{i}"), "v"]);
    }
    evict_one(&mut t).unwrap();
    assert!(!exists(&mut t, "k0"), "FIFO: the oldest unread key goes first");
    let (small_before, main_before) = t.shard.evict.s3fifo_queue_lengths();
    t.run(&["SET", "k0", "v"]);
    assert_eq!(t.shard.evict.s3fifo_queue_lengths(), (small_before, main_before + 1));
    // Overwrites keep their place: no new queue item.
    t.run(&["SET", "k5", "w"]);
    assert_eq!(t.shard.evict.s3fifo_queue_lengths(), (small_before, main_before + 1));
}

#[test]
fn s3fifo_skips_deleted_keys_and_evicts_untracked_ones() {
    let mut t = shard(EvictionPolicy::AllKeysS3Fifo);
    for i in 0..10 {
        t.run(&["SET", &format!("k{i}"), "v"]);
    }
    for i in 0..10 {
        t.run(&["DEL", &format!("k{i}")]);
    }
    // Keys written by a path that does not admit (a list) are still evictable.
    t.run(&["RPUSH", "list", "a"]);
    t.run(&["SADD", "set", "a"]);
    assert!(evict_one(&mut t).is_ok());
    assert!(evict_one(&mut t).is_ok());
    assert_eq!(t.shard.key_count(), 0);
    assert_eq!(evict_one(&mut t), Err(OpError::OutOfMemory));
}

#[test]
fn policy_names_parse_and_the_error_lists_them() {
    let mut c = Config::default();
    c.set("maxmemory-policy", "allkeys-s3fifo").unwrap();
    assert_eq!(c.maxmemory_policy, EvictionPolicy::AllKeysS3Fifo);
    let err = c.set("maxmemory-policy", "bogus").unwrap_err();
    for p in EvictionPolicy::ALL {
        assert!(err.contains(p.name()), "{err} lacks {}", p.name());
    }
}

#[test]
fn memory_usage_validates_and_sizes() {
    let mut t = TestShard::new();
    assert_eq!(t.run(&["MEMORY", "USAGE", "missing"]), Reply::Nil);
    t.run(&["SET", "small", "v"]);
    t.run(&["SET", "big", &"x".repeat(10_000)]);
    let Reply::Int(small) = t.run(&["MEMORY", "USAGE", "small"]) else { panic!() };
    let Reply::Int(big) = t.run(&["MEMORY", "USAGE", "big", "SAMPLES", "0"]) else { panic!() };
    assert!(small > 16 && small < 200, "small: {small}");
    assert!((10_000..10_300).contains(&big), "big: {big}");
    let syntax = Reply::error("ERR syntax error");
    assert_eq!(t.run(&["MEMORY", "USAGE", "small", "SAMPLES"]), syntax);
    assert_eq!(t.run(&["MEMORY", "USAGE", "small", "SAMPLES", "-1"]), syntax);
    assert_eq!(t.run(&["MEMORY", "USAGE", "small", "FOO"]), syntax);
    assert_eq!(
        t.run(&["MEMORY", "USAGE", "small", "SAMPLES", "x"]),
        Reply::error("ERR value is not an integer or out of range")
    );
    for i in 0..100 {
        t.run(&["HSET", "h", &format!("field{i}"), "value"]);
    }
    let Reply::Int(all) = t.run(&["MEMORY", "USAGE", "h", "SAMPLES", "0"]) else { panic!() };
    let Reply::Int(sampled) = t.run(&["MEMORY", "USAGE", "h"]) else { panic!() };
    assert!(all > 100 * 12, "hash: {all}");
    assert!((sampled - all).abs() < all / 2, "sampled {sampled} vs all {all}");
}

#[test]
fn memory_stats_doctor_help_and_errors() {
    let mut t = TestShard::new();
    assert_eq!(
        t.run(&["MEMORY", "DOCTOR"]),
        Reply::Verbatim("txt", bytes::Bytes::from_static(b"Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting."))
    );
    for i in 0..1000 {
        t.run(&["SET", &format!("key:{i}"), "value"]);
    }
    let Reply::Map(fields) = t.run(&["MEMORY", "STATS"]) else { panic!("map") };
    let get = |name: &str| {
        fields.iter().find(|(k, _)| *k == Reply::bulk_str(name)).map(|(_, v)| v.clone())
    };
    assert_eq!(get("keys.count"), Some(Reply::Int(1000)));
    for name in ["peak.allocated", "total.allocated", "startup.allocated", "dataset.bytes"] {
        assert!(matches!(get(name), Some(Reply::Int(n)) if n > 0), "{name}");
    }
    assert!(matches!(get("keys.bytes-per-key"), Some(Reply::Int(n)) if (20..500).contains(&n)));
    assert!(get("db.0").is_some());
    let Reply::Array(help) = t.run(&["MEMORY", "HELP"]) else { panic!() };
    assert_eq!(help.len(), 14);
    assert_eq!(
        t.run(&["MEMORY", "FOO"]),
        Reply::error("ERR unknown subcommand 'FOO'. Try MEMORY HELP.")
    );
    assert_eq!(
        t.run(&["MEMORY", "STATS", "x"]),
        Reply::error("ERR wrong number of arguments for 'memory|stats' command")
    );
}

/// Zipf(s) over `n` ranks by inverse CDF; seeded, so runs repeat exactly.
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

/// GET, then SET on a miss, with the cache bounded to `capacity` keys (used/limit in keys).
fn simulate(policy: EvictionPolicy, s: f64, ops: usize) -> f64 {
    let keyspace = 20_000;
    let capacity = keyspace / 10;
    let mut t = shard(policy);
    let zipf = Zipf::new(keyspace, s);
    let mut rng = SmallRng::seed_from_u64(42);
    // Keys are scrambled so rank order is not key order.
    let mut hits = 0;
    for op in 0..ops {
        let rank = zipf.sample(&mut rng);
        let key = format!("key:{}", (rank as u64).wrapping_mul(2_654_435_761) % 1_000_003);
        if matches!(t.run(&["GET", &key]), Reply::Bulk(_)) {
            if op >= ops / 5 {
                hits += 1;
            }
            continue;
        }
        let used = t.shard.key_count() as u64 + 1;
        if used > capacity as u64 {
            // One key over: the estimated size of one entry frees it.
            t.shard.evict_for_write(used, capacity as u64).unwrap();
        }
        t.run(&["SET", &key, "v"]);
        t.advance_ms(1);
    }
    hits as f64 / (ops - ops / 5) as f64
}

#[test]
fn simulated_hit_ratio_s3fifo_beats_sampled_lru() {
    for s in [0.99, 0.8] {
        let lru = simulate(EvictionPolicy::AllKeysLru, s, 200_000);
        let s3 = simulate(EvictionPolicy::AllKeysS3Fifo, s, 200_000);
        let random = simulate(EvictionPolicy::AllKeysRandom, s, 200_000);
        eprintln!("zipf {s}: lru {lru:.4} s3fifo {s3:.4} random {random:.4}");
        assert!(s3 > lru, "zipf {s}: s3fifo {s3} vs lru {lru}");
    }
}

#[test]
fn object_idletime_and_freq_under_s3fifo() {
    let mut t = shard(EvictionPolicy::AllKeysS3Fifo);
    t.run(&["SET", "k", "v"]);
    t.advance_ms(42_000);
    // The field holds S3-FIFO's count and queue bits, not an access time.
    let Reply::Error(e) = t.run(&["OBJECT", "IDLETIME", "k"]) else { panic!("IDLETIME") };
    assert!(e.contains("allkeys-s3fifo maxmemory policy is selected"), "{e}");
    assert_eq!(t.run(&["OBJECT", "FREQ", "k"]), Reply::Int(0));
    t.run(&["GET", "k"]);
    assert_eq!(t.run(&["OBJECT", "FREQ", "k"]), Reply::Int(1));
    for _ in 0..10 {
        t.run(&["GET", "k"]);
    }
    assert_eq!(t.run(&["OBJECT", "FREQ", "k"]), Reply::Int(3), "saturates at 3");
}
