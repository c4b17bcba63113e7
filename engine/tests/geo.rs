//! GEO family tests (GEOADD GEOPOS GEODIST GEOHASH GEORADIUS* GEOSEARCH*).
//!
//! - A golden transcript recorded from redis-server 7.0.15 (`data/geo_redis7.txt`, lines
//!   `command => reply` in the notation of `support/redis_oracle.rs`), covering the cases of
//!   Redis's own `unit/geo.tcl` and every argument error, replayed on a fresh shard. To
//!   re-record: `GEO_SCRIPT=<file of commands> cargo test --test geo record_transcript --
//!   --ignored --nocapture` and keep the lines containing ` => `.
//! - When `redis-server` is installed: seeded random positions, searches and distances run on a
//!   private server and on Mayfly side by side, every reply compared byte for byte.
//! - Proptests: a position encodes to a cell that contains it, and decodes to that cell's
//!   centre; distances are symmetric and bounded.

#[path = "support/redis_oracle.rs"]
mod redis_oracle;
#[path = "support/xorshift.rs"]
mod xorshift;

use bytes::Bytes;
use mayfly_engine::families::zset::format_score;
use mayfly_engine::reply::Reply;
use mayfly_engine::testing::TestShard;
use redis_oracle::{escape, notation, replay_notation, RedisOracle};
use xorshift::XorShift;

const TRANSCRIPT: &str = include_str!("data/geo_redis7.txt");

/// What a RESP2 client sees: doubles as the `%.17g` bulk strings the net encoder sends.
fn wire(r: Reply) -> Reply {
    match r {
        Reply::Double(d) => Reply::bulk_str(&format_score(d)),
        Reply::Array(items) => Reply::Array(items.into_iter().map(wire).collect()),
        other => other,
    }
}

fn run(t: &mut TestShard, argv: &[Bytes]) -> Reply {
    wire(t.run_bytes(argv))
}

#[test]
fn transcript_matches_redis() {
    let mut t = TestShard::new();
    replay_notation(TRANSCRIPT, 150, |argv| run(&mut t, argv));
}

/// Records the transcript of the commands in `$GEO_SCRIPT` from a live redis-server.
#[test]
#[ignore = "recording tool: needs redis-server and GEO_SCRIPT"]
fn record_transcript() {
    redis_oracle::record_transcript("GEO_SCRIPT", RedisOracle::run_bytes);
}

// ---------------------------------------------------------------------------------------------
// Random streams against a live redis-server.

/// A uniform value in `lo..hi` printed with a random number of decimals (sometimes in
/// exponent form), so parsing and rounding paths vary.
fn number(r: &mut XorShift, lo: f64, hi: f64) -> String {
    let v = lo + (r.next() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo);
    match r.below(6) {
        0 => format!("{v:e}"),
        1 => format!("{v:.0}"),
        2 => format!("{v:.3}"),
        _ => format!("{v}"),
    }
}

fn lon(r: &mut XorShift) -> String {
    match r.below(40) {
        0 => "180".into(),
        1 => "-180".into(),
        2 => "0".into(),
        _ => number(r, -180.0, 180.0),
    }
}

fn lat(r: &mut XorShift) -> String {
    match r.below(40) {
        0 => "85.05112878".into(),
        1 => "-85.05112878".into(),
        2 => "0".into(),
        3 => number(r, 80.0, 85.05112878),
        _ => number(r, -85.05112878, 85.05112878),
    }
}

fn unit(r: &mut XorShift) -> &'static str {
    r.pick(&["m", "km", "mi", "ft", "KM"])
}

fn member(r: &mut XorShift) -> String {
    format!("m{}", r.below(400))
}

/// A search size: mostly city to continent scale, sometimes tiny or half the planet.
fn size(r: &mut XorShift) -> String {
    match r.below(10) {
        0 => number(r, 0.0, 10.0),
        1 => number(r, 5_000_000.0, 20_000_000.0),
        2 => "0".into(),
        _ => number(r, 10.0, 3_000_000.0),
    }
}

/// Optional reply and ordering options for a search.
fn search_options(r: &mut XorShift, out: &mut Vec<String>, store: bool) {
    if !store {
        for opt in ["WITHDIST", "WITHHASH", "WITHCOORD"] {
            if r.below(3) == 0 {
                out.push(opt.into());
            }
        }
    }
    match r.below(4) {
        0 => out.push("ASC".into()),
        1 => out.push("DESC".into()),
        _ => {}
    }
    if r.below(3) == 0 {
        out.push("COUNT".into());
        out.push((1 + r.below(30)).to_string());
        if r.below(3) == 0 {
            out.push("ANY".into());
        }
    }
}

fn random_geo_command(r: &mut XorShift, key: &str) -> Vec<String> {
    let s = |v: &str| v.to_string();
    let mut v: Vec<String>;
    match r.below(14) {
        0..=2 => {
            v = vec![s("GEOADD"), s(key)];
            if r.below(6) == 0 {
                v.push(s(r.pick(&["NX", "XX", "CH"])));
            }
            for _ in 0..1 + r.below(8) {
                v.extend([lon(r), lat(r), member(r)]);
            }
        }
        3 => {
            v = vec![s("GEOPOS"), s(key)];
            v.extend((0..1 + r.below(5)).map(|_| member(r)));
        }
        4 => {
            v = vec![s("GEOHASH"), s(key)];
            v.extend((0..1 + r.below(5)).map(|_| member(r)));
        }
        5 => {
            v = vec![s("GEODIST"), s(key), member(r), member(r)];
            if r.below(2) == 0 {
                v.push(s(unit(r)));
            }
        }
        6 | 7 => {
            let name = r.pick(&["GEORADIUS", "GEORADIUS_RO"]);
            v = vec![s(name), s(key), lon(r), lat(r), size(r), s(unit(r))];
            search_options(r, &mut v, false);
        }
        8 => {
            let name = r.pick(&["GEORADIUSBYMEMBER", "GEORADIUSBYMEMBER_RO"]);
            v = vec![s(name), s(key), member(r), size(r), s(unit(r))];
            search_options(r, &mut v, false);
        }
        9 | 10 => {
            v = vec![s("GEOSEARCH"), s(key)];
            geosearch_args(r, &mut v);
            search_options(r, &mut v, false);
        }
        11 => {
            v = vec![s("GEOSEARCHSTORE"), s("dst"), s(key)];
            geosearch_args(r, &mut v);
            search_options(r, &mut v, true);
            if r.below(2) == 0 {
                v.push(s("STOREDIST"));
            }
        }
        12 => {
            v = vec![s("GEORADIUS"), s(key), lon(r), lat(r), size(r), s(unit(r))];
            search_options(r, &mut v, true);
            v.push(s(r.pick(&["STORE", "STOREDIST"])));
            v.push(s("dst"));
        }
        _ => v = vec![s("ZRANGE"), s("dst"), s("0"), s("-1"), s("WITHSCORES")],
    }
    v
}

fn geosearch_args(r: &mut XorShift, v: &mut Vec<String>) {
    if r.below(2) == 0 {
        v.extend(["FROMMEMBER".into(), member(r)]);
    } else {
        v.extend(["FROMLONLAT".into(), lon(r), lat(r)]);
    }
    if r.below(2) == 0 {
        v.extend(["BYRADIUS".into(), size(r), unit(r).into()]);
    } else {
        v.extend(["BYBOX".into(), size(r), size(r), unit(r).into()]);
    }
}

/// Runs `argv` on both sides and requires the same reply, byte for byte.
fn same(oracle: &mut RedisOracle, t: &mut TestShard, argv: &[String], i: usize) -> Reply {
    let argv: Vec<Bytes> = argv.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect();
    let want = oracle.run_bytes(&argv);
    let got = run(t, &argv);
    let shown: Vec<String> = argv.iter().map(|a| escape(a)).collect();
    assert_eq!(notation(&got), notation(&want), "command {i}: {}", shown.join(" "));
    want
}

#[test]
fn random_commands_match_live_redis() {
    let Some(mut oracle) = RedisOracle::start() else { return };
    let mut t = TestShard::new();
    let mut r = XorShift(0x5eed_6e0c_0ffe_e123);
    // Dense sets first, so searches find members at every scale.
    for key in ["g1", "g2"] {
        for chunk in 0..4 {
            let mut v = vec!["GEOADD".to_string(), key.to_string()];
            for j in 0..100 {
                v.extend([lon(&mut r), lat(&mut r), format!("m{}", chunk * 100 + j)]);
            }
            same(&mut oracle, &mut t, &v, 0);
        }
    }
    let (mut errors, mut found, mut distances) = (0, 0, 0);
    for i in 0..3000 {
        let key = if r.below(8) == 0 { "g2" } else { "g1" };
        let argv = random_geo_command(&mut r, key);
        let want = same(&mut oracle, &mut t, &argv, i);
        errors += want.is_error() as usize;
        found += matches!(&want, Reply::Array(a) if a.len() > 1) as usize;
        distances += notation(&want).contains('.') as usize;
    }
    assert!(errors < 300, "{errors} errors: the stream is mostly invalid");
    assert!(found > 800, "searches with several results: {found}");
    assert!(distances > 800, "replies with numbers: {distances}");
}

/// Coordinates and distances across the whole globe, including the poles' limits, the
/// antimeridian and identical points, compared with Redis's output.
#[test]
fn positions_and_distances_match_live_redis() {
    let Some(mut oracle) = RedisOracle::start() else { return };
    let mut t = TestShard::new();
    let mut r = XorShift(0x0123_4567_89ab_cdef);
    let mut add = vec!["GEOADD".to_string(), "p".to_string()];
    for j in 0..2000 {
        add.extend([lon(&mut r), lat(&mut r), format!("m{j}")]);
    }
    same(&mut oracle, &mut t, &add, 0);
    for i in 0..2000 {
        let (a, b) = (format!("m{}", r.below(2000)), format!("m{}", r.below(2000)));
        let u = unit(&mut r).to_string();
        same(&mut oracle, &mut t, &["GEODIST".into(), "p".into(), a.clone(), b, u], i);
        same(&mut oracle, &mut t, &["GEOPOS".into(), "p".into(), a.clone()], i);
        same(&mut oracle, &mut t, &["GEOHASH".into(), "p".into(), a], i);
    }
}

// ---------------------------------------------------------------------------------------------
// Command table, keys, events.

const GEO_COMMANDS: &[&str] = &[
    "geoadd",
    "geopos",
    "geodist",
    "geohash",
    "georadius",
    "georadius_ro",
    "georadiusbymember",
    "georadiusbymember_ro",
    "geosearch",
    "geosearchstore",
];

/// COMMAND INFO's head (name, arity, flags, first, last, step, ACL categories) as Redis's.
#[test]
fn command_info_matches_live_redis() {
    let Some(mut oracle) = RedisOracle::start() else { return };
    let mut t = TestShard::new();
    for name in GEO_COMMANDS {
        let head = |r: Reply| match r {
            Reply::Array(mut outer) => match outer.remove(0) {
                Reply::Array(items) => notation(&Reply::Array(items[..7].to_vec())),
                other => panic!("{name}: {other:?}"),
            },
            other => panic!("{name}: {other:?}"),
        };
        let want = head(oracle.run(&["COMMAND", "INFO", name]));
        let got = head(t.run(&["COMMAND", "INFO", name]));
        assert_eq!(got, want, "COMMAND INFO {name}");
    }
}

#[test]
fn store_destinations_are_keys() {
    let spec = mayfly_engine::lookup(b"georadius").expect("georadius");
    let args = |s: &str| s.split(' ').map(|a| Bytes::copy_from_slice(a.as_bytes())).collect();
    let argv: Vec<Bytes> = args("GEORADIUS src 0 0 1 km STORE a STOREDIST b");
    assert_eq!(spec.keys_of(&argv), vec![1, 7, 9]);
    // Redis's key specs name only the first STORE (`a`); the command writes the last (`b`),
    // which routing must cover too.
    let argv: Vec<Bytes> = args("GEORADIUS src 0 0 1 km STORE a STORE b");
    assert_eq!(spec.keys_of(&argv), vec![1, 7, 9]);
    let argv: Vec<Bytes> = args("GEORADIUS src 0 0 1 km WITHDIST");
    assert_eq!(spec.keys_of(&argv), vec![1]);
    let spec = mayfly_engine::lookup(b"georadiusbymember").expect("georadiusbymember");
    let argv: Vec<Bytes> = args("GEORADIUSBYMEMBER src m 1 km store dst");
    assert_eq!(spec.keys_of(&argv), vec![1, 6]);
    let spec = mayfly_engine::lookup(b"geosearchstore").expect("geosearchstore");
    let argv: Vec<Bytes> = args("GEOSEARCHSTORE dst src FROMMEMBER m BYRADIUS 1 km");
    assert_eq!(spec.keys_of(&argv), vec![1, 2]);
    for name in GEO_COMMANDS {
        let spec = mayfly_engine::lookup(name.as_bytes()).expect("declared");
        assert_eq!(spec.group, "geo");
        assert!(spec.acl_categories().contains(&"@geo"), "{name}");
    }
}

/// The events Redis 7.0.15 raised for the same commands (`notify-keyspace-events KEA`):
/// GEOADD is a ZADD, the stores name themselves, and an empty result deletes.
#[test]
fn events_match_redis() {
    let mut config = mayfly_engine::config::Config::default();
    config.set("notify-keyspace-events", "KEA").expect("flags");
    let mut t = TestShard::with_config(config);
    let steps: &[(&str, &[&str])] = &[
        ("GEOADD g 1 1 a 2 2 b", &["zadd g"]),
        ("GEOADD g 1 1 a", &[]),
        ("GEOADD g XX CH 1.5 1 a", &["zadd g"]),
        ("GEOSEARCHSTORE d g FROMLONLAT 1 1 BYRADIUS 500 km", &["geosearchstore d"]),
        ("GEORADIUS g 1 1 500 km STORE d2", &["georadiusstore d2"]),
        ("GEORADIUS g 1 1 500 km STOREDIST d2", &["georadiusstore d2"]),
        ("GEORADIUS g 50 50 1 km STORE d2", &["del d2"]),
        ("GEORADIUS g 50 50 1 km STORE d2", &[]),
        ("GEOSEARCHSTORE d nokey FROMLONLAT 1 1 BYRADIUS 500 km", &["del d"]),
    ];
    for (cmd, want) in steps {
        let argv: Vec<&str> = cmd.split(' ').collect();
        t.run(&argv);
        let got: Vec<String> = t
            .shard
            .take_events()
            .iter()
            .filter(|e| e.keyevent)
            .map(|e| format!("{} {}", e.event, String::from_utf8_lossy(&e.key)))
            .collect();
        assert_eq!(got, *want, "{cmd}");
    }
}

/// Stores count one change per member, as Redis's `server.dirty += returned_items`.
#[test]
fn stores_count_changes_per_member() {
    let mut t = TestShard::new();
    t.run(&["GEOADD", "g", "1", "1", "a", "1.1", "1.1", "b", "1.2", "1.2", "c"]);
    let before = t.shard.dirty;
    assert_eq!(
        t.run(&["GEOSEARCHSTORE", "d", "g", "FROMLONLAT", "1", "1", "BYRADIUS", "100", "km"]),
        Reply::Int(3)
    );
    assert_eq!(t.shard.dirty - before, 3);
}

// ---------------------------------------------------------------------------------------------
// Properties of the geohash arithmetic.

mod properties {
    use mayfly_engine::geohash::{self, LAT_MAX, LAT_MIN, WGS84_LAT, WGS84_LONG};
    use proptest::prelude::*;

    proptest! {
        /// A position encodes to the cell that holds it, and decodes to that cell's centre.
        #[test]
        fn encode_decode_round_trip(lon in -180.0f64..=180.0, lat in LAT_MIN..=LAT_MAX) {
            let hash = geohash::encode_wgs84(lon, lat, geohash::STEP_MAX).expect("in range");
            let area = geohash::decode(WGS84_LONG, WGS84_LAT, hash).expect("cell");
            let eps = 1e-9;
            prop_assert!(area.longitude.min - eps <= lon && lon <= area.longitude.max + eps);
            prop_assert!(area.latitude.min - eps <= lat && lat <= area.latitude.max + eps);
            let (clon, clat) = geohash::decode_score(hash.align52() as f64);
            let half_lon = (area.longitude.max - area.longitude.min) / 2.0;
            let half_lat = (area.latitude.max - area.latitude.min) / 2.0;
            prop_assert!((clon - lon).abs() <= half_lon + eps, "lon {lon} -> {clon}");
            prop_assert!((clat - lat).abs() <= half_lat + eps, "lat {lat} -> {clat}");
            // Re-encoding the centre gives the same cell.
            prop_assert_eq!(geohash::score_of(clon, clat), Some(hash.align52()));
        }

        /// Distances are symmetric, zero to oneself, and at most half a great circle.
        #[test]
        fn distances_are_a_metric_on_the_sphere(
            lon1 in -180.0f64..=180.0, lat1 in LAT_MIN..=LAT_MAX,
            lon2 in -180.0f64..=180.0, lat2 in LAT_MIN..=LAT_MAX,
        ) {
            let d = geohash::distance(lon1, lat1, lon2, lat2);
            prop_assert_eq!(d, geohash::distance(lon2, lat2, lon1, lat1));
            prop_assert_eq!(geohash::distance(lon1, lat1, lon1, lat1), 0.0);
            prop_assert!(d <= std::f64::consts::PI * geohash::EARTH_RADIUS_M + 1e-6);
        }

        /// Every member inside a radius search's circle lies in one of the scanned cells.
        #[test]
        fn search_cells_cover_the_circle(
            lon in -179.0f64..=179.0, lat in -70.0f64..=70.0,
            radius_km in 1.0f64..2000.0, bearing in 0.0f64..360.0, frac in 0.0f64..0.99,
        ) {
            // A point at `frac` of the radius along `bearing` (small-circle approximation).
            let d = radius_km * 1000.0 * frac / geohash::EARTH_RADIUS_M;
            let (b, la) = (bearing.to_radians(), lat.to_radians());
            let plat = (la.sin() * d.cos() + la.cos() * d.sin() * b.cos()).asin();
            let plon = lon.to_radians()
                + (b.sin() * d.sin() * la.cos()).atan2(d.cos() - la.sin() * plat.sin());
            let (plon, plat) = (
                (plon.to_degrees() + 540.0).rem_euclid(360.0) - 180.0,
                plat.to_degrees(),
            );
            prop_assume!(plat > LAT_MIN && plat < LAT_MAX);
            let score = geohash::score_of(plon, plat).expect("in range") as f64;
            let (slon, slat) = geohash::decode_score(score);
            let shape = geohash::Shape {
                lon, lat, conversion: 1000.0, kind: geohash::ShapeKind::Radius(radius_km),
            };
            prop_assume!(geohash::within(&shape, slon, slat).is_some());
            let areas = geohash::search_areas(&shape);
            let covered = areas.cells().iter().any(|c| {
                let (min, max) = c.score_range();
                !c.is_zero() && (min as f64) <= score && score < max as f64
            });
            prop_assert!(covered, "({plon}, {plat}) in radius {radius_km} km of ({lon}, {lat})");
        }
    }
}

/// Arbitrary argument lists never panic and always answer.
mod robustness {
    use mayfly_engine::testing::TestShard;
    use proptest::prelude::*;

    const WORDS: &[&str] = &[
        "GEOADD",
        "GEOPOS",
        "GEODIST",
        "GEOHASH",
        "GEORADIUS",
        "GEORADIUS_RO",
        "GEORADIUSBYMEMBER",
        "GEOSEARCH",
        "GEOSEARCHSTORE",
        "g",
        "d",
        "m1",
        "m2",
        "0",
        "1",
        "-1",
        "180",
        "-180",
        "85.05112878",
        "1e308",
        "nan",
        "inf",
        "-0",
        "",
        "\0",
        "km",
        "m",
        "mi",
        "ft",
        "x",
        "COUNT",
        "ANY",
        "ASC",
        "DESC",
        "WITHDIST",
        "WITHHASH",
        "WITHCOORD",
        "STORE",
        "STOREDIST",
        "FROMMEMBER",
        "FROMLONLAT",
        "BYRADIUS",
        "BYBOX",
        "NX",
        "XX",
        "CH",
        "9223372036854775807",
        "-9223372036854775808",
        "20000",
        "0.0001",
    ];

    proptest! {
        #[test]
        fn arbitrary_arguments_never_panic(
            cmds in prop::collection::vec(
                (0usize..9, prop::collection::vec(0usize..WORDS.len(), 0..12)), 1..20),
        ) {
            let mut t = TestShard::new();
            t.run(&["GEOADD", "g", "1", "1", "m1", "179.9", "-85", "m2", "0", "0", "0"]);
            t.run(&["SET", "s", "x"]);
            for (name, args) in cmds {
                let mut argv = vec![WORDS[name]];
                argv.extend(args.iter().map(|&i| WORDS[i]));
                let _reply = t.run(&argv);
            }
        }
    }
}
