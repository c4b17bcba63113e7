//! Dataset digests equal to redis-server's `DEBUG DIGEST` / `DEBUG DIGEST-VALUE`, so two
//! servers (Mayfly and Redis, or two Mayfly nodes) can be compared by one 40-hex-digit line.
//!
//! ```text
//!  xor(d, data):  d ^= SHA1(data)                      order-free: set members, keys
//!  mix(d, data):  d = SHA1(d ^ SHA1(data))             ordered: list elements, fields
//!
//!  value digest:  mix(type as u32 BE), then per type
//!    string  mix(bytes)            list  mix(e) for each element, head first
//!    set     xor(m) per member     hash  xor(mix(mix(0, f), v)) per field
//!    zset    xor(mix(mix(0, m), "%.17g" score)) per member     (xor hashes its input: the
//!            element digest is SHA-1'd again before the XOR, as in Redis)
//!    stream  per entry mix("<ms>.<seq>") then mix(f), mix(v) per field (groups not included)
//!    and xor("!!expire!!") when the key has a TTL
//!  key digest:    mix(0, key) then the value digest into it
//!  dataset:       per non-empty db in order: mix(final, db as u32 BE); xor(final, key digest)
//!                 for every key
//! ```
//! A shard contributes, per database, the XOR of its key digests ([`DbDigest`]); the
//! combination over shards ([`combine`]) is order-free within a database, as Redis's is.

use crate::shard::Shard;
use crate::types::list::Elem;
use crate::types::zset::format_score;
use crate::value::Value;

pub type Digest = [u8; 20];

/// SHA-1 (FIPS 180-4) of `data`.
pub fn sha1(data: &[u8]) -> Digest {
    let mut h: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];
    let bit_len = (data.len() as u64).wrapping_mul(8);
    let mut tail = Vec::with_capacity(128);
    let full = data.len() / 64 * 64;
    tail.extend_from_slice(&data[full..]);
    tail.push(0x80);
    while tail.len() % 64 != 56 {
        tail.push(0);
    }
    tail.extend_from_slice(&bit_len.to_be_bytes());
    for block in data[..full].chunks_exact(64).chain(tail.chunks_exact(64)) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t =
                a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// `d ^= SHA1(data)`: adds an unordered element.
pub fn xor(d: &mut Digest, data: &[u8]) {
    for (x, y) in d.iter_mut().zip(sha1(data)) {
        *x ^= y;
    }
}

/// `d = SHA1(d ^ SHA1(data))`: adds an ordered element.
pub fn mix(d: &mut Digest, data: &[u8]) {
    xor(d, data);
    *d = sha1(d);
}

/// Mixes a packed element as its text (integers in decimal, as Redis decodes them).
fn mix_elem(d: &mut Digest, e: Elem<'_>) {
    match e {
        Elem::Int(n) => mix(d, itoa::Buffer::new().format(n).as_bytes()),
        Elem::Str(s) => mix(d, s),
    }
}

fn xor_digest(d: &mut Digest, other: &Digest) {
    for (x, y) in d.iter_mut().zip(other) {
        *x ^= y;
    }
}

/// Redis's object type number (`OBJ_STRING` … `OBJ_STREAM`).
fn type_code(v: &Value) -> u32 {
    match v {
        Value::Str(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
    }
}

/// Mixes a value (and whether it has a TTL) into `d`, as Redis's `xorObjectDigest`.
pub fn value_into(d: &mut Digest, value: &Value, has_expire: bool) {
    mix(d, &type_code(value).to_be_bytes());
    match value {
        Value::Str(s) => s.with_bytes(|b| mix(d, b)),
        Value::List(l) => {
            for e in l.iter() {
                mix_elem(d, e);
            }
        }
        Value::Set(s) => s.for_each(|m| xor(d, m)),
        Value::ZSet(z) => {
            for (m, score) in z.iter() {
                let mut ele = [0u8; 20];
                mix(&mut ele, m);
                mix(&mut ele, format_score(score).as_bytes());
                xor(d, &ele);
            }
        }
        Value::Hash(h) => h.for_each(|f, v| {
            let mut ele = [0u8; 20];
            mix(&mut ele, f);
            mix(&mut ele, v);
            xor(d, &ele);
        }),
        Value::Stream(st) => {
            for e in st.iter() {
                mix(d, format!("{}.{}", e.id.ms, e.id.seq).as_bytes());
                for (f, v) in e.fields() {
                    mix_elem(d, f);
                    mix_elem(d, v);
                }
            }
        }
    }
    if has_expire {
        xor(d, b"!!expire!!");
    }
}

/// `DEBUG DIGEST-VALUE`'s digest of one value.
pub fn value_digest(value: &Value, has_expire: bool) -> Digest {
    let mut d = [0u8; 20];
    value_into(&mut d, value, has_expire);
    d
}

/// One key's contribution to the dataset digest.
pub fn key_digest(key: &[u8], value: &Value, has_expire: bool) -> Digest {
    let mut d = [0u8; 20];
    mix(&mut d, key);
    value_into(&mut d, value, has_expire);
    d
}

/// One shard's part of one database: the XOR of its keys' `SHA1(key digest)` and how many
/// keys it has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DbDigest {
    pub keys: u64,
    pub xor: Digest,
}

/// Every database of a shard (expired keys not yet removed included, as Redis counts them).
pub fn shard_digests(shard: &Shard) -> Vec<DbDigest> {
    shard
        .dbs
        .iter()
        .map(|db| {
            let mut out = DbDigest::default();
            for (k, e) in db.table.iter() {
                out.keys += 1;
                xor(&mut out.xor, &key_digest(k, &e.value, e.expire_at_ms != 0));
            }
            out
        })
        .collect()
}

/// The dataset digest from every shard's per-database parts.
pub fn combine(shards: &[Vec<DbDigest>]) -> Digest {
    let dbs = shards.iter().map(Vec::len).max().unwrap_or(0);
    let mut final_d = [0u8; 20];
    for db in 0..dbs {
        let parts = shards.iter().filter_map(|s| s.get(db));
        let mut keys = 0;
        let mut x = [0u8; 20];
        for p in parts {
            keys += p.keys;
            xor_digest(&mut x, &p.xor);
        }
        if keys == 0 {
            continue;
        }
        mix(&mut final_d, &(db as u32).to_be_bytes());
        xor_digest(&mut final_d, &x);
    }
    final_d
}

/// Lowercase hex, as Redis prints a digest.
pub fn hex(d: &Digest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_matches_the_standard_vectors() {
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(hex(&sha1(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            hex(&sha1(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        let million = vec![b'a'; 1_000_000];
        assert_eq!(hex(&sha1(&million)), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
        // Lengths around the padding boundary.
        for n in 54..=66 {
            assert_eq!(sha1(&vec![7u8; n]).len(), 20);
        }
    }

    #[test]
    fn empty_dataset_digest_is_zero_and_order_does_not_matter() {
        assert_eq!(hex(&combine(&[])), "0".repeat(40));
        let a = DbDigest { keys: 1, xor: sha1(b"a") };
        let b = DbDigest { keys: 1, xor: sha1(b"b") };
        let one = combine(&[vec![a, DbDigest::default()], vec![b]]);
        let two = combine(&[vec![b], vec![a]]);
        assert_eq!(one, two);
        let moved = combine(&[vec![DbDigest::default(), a], vec![DbDigest::default(), b]]);
        assert_ne!(one, moved, "the database number is part of the digest");
    }

    /// Digests redis-server 7.0.15 printed for the same values (DEBUG DIGEST-VALUE).
    #[test]
    fn value_digests_equal_redis() {
        use crate::testing::TestShard;
        let mut t = TestShard::new();
        t.run(&["SET", "s", "hello"]);
        t.run(&["EXPIRE", "s", "100"]);
        t.run(&["SET", "n", "123"]);
        t.run(&["HSET", "h", "a", "1", "b", "2"]);
        t.run(&["ZADD", "z", "1", "a", "2.5", "b"]);
        t.run(&["RPUSH", "l", "a", "b", "c", "1", "2"]);
        let digest_of = |t: &TestShard, k: &str| {
            let e = t.shard.dbs[0].table.get(k.as_bytes()).expect("key");
            hex(&value_digest(&e.value, e.expire_at_ms != 0))
        };
        assert_eq!(digest_of(&t, "s"), "d037c4eb8a8b36b602fbced4000daeab0714c1e3");
        assert_eq!(digest_of(&t, "n"), "89f7f51b707418f666d5b45e053bd5bbbf82ac2b");
        assert_eq!(digest_of(&t, "l"), "f48a1249517530ff1906fc79ddbf9b687f71f06f");
        assert_eq!(digest_of(&t, "h"), "6c8f22b3bf510fdcfd6122dd0f908a80e88243bf");
        assert_eq!(digest_of(&t, "z"), "c45c5b051acd64070e5ed1a949939d5145f806c5");
    }
}
