//! GEO commands (Redis's `geo` group): positions kept in sorted sets, each member's score the
//! 52-bit geohash of its position ([`crate::geohash`]).
//!
//! ```text
//!  GEOADD ──► encode (lon, lat) ──► ZADD's own code (NX / XX / CH, `zadd` event)
//!  GEOPOS / GEODIST / GEOHASH ──► ZSCORE ──► decode the cell centre
//!  GEOSEARCH & GEORADIUS* ──► 9 cells (centre + neighbours) at a step fitted to the shape
//!      ──► each cell is one score range of the set ──► exact distance / box test per member
//!      ──► optional sort by distance (C's qsort, or pqsort with COUNT) ──► reply or STORE
//! ```
//! Everything follows Redis 7.0's `geo.c`: which argument errors win (the source key's type
//! is checked first), replies per option (`member`, then dist, hash, coordinates), distances
//! with 4 decimals, coordinates as `%.17Lf` trimmed, the order of members at equal distance,
//! and the store variants' events (`georadiusstore`, `geosearchstore`, or `del` when empty).
//!
//! In RESP3 Redis sends coordinates as doubles with the `%.17Lf` text; [`Reply::Double`]
//! carries the same value but the net encoder prints it `%.17g` (see NOTES-geosort.md).

use bytes::Bytes;
use memchr::memchr;

use crate::command::{cmd, flags::*, CommandSpec, Handler, MultiShard, ONE_KEY};
use crate::csort;
use crate::db::Entry;
use crate::error::{OpError, OpResult};
use crate::families::zset::{limits, parse_score, zadd_generic, AddFlags};
use crate::geohash::{self, Shape, ShapeKind};
use crate::notify::class;
use crate::reply::Reply;
use crate::shard::Ctx;
use crate::types::zset::ZSetValue;
use crate::value::{parse_i64_strict, Value};

const G: &str = "geo";

pub static COMMANDS: &[CommandSpec] = &[
    cmd(
        "geoadd",
        -5,
        WRITE | DENYOOM,
        ONE_KEY,
        G,
        "3.2.0",
        "Add one or more geospatial items in the geospatial index represented using a sorted set",
        Handler::Shard(geoadd),
    ),
    cmd(
        "geopos",
        -2,
        READONLY,
        ONE_KEY,
        G,
        "3.2.0",
        "Returns longitude and latitude of members of a geospatial index",
        Handler::Shard(geopos),
    ),
    cmd(
        "geodist",
        -4,
        READONLY,
        ONE_KEY,
        G,
        "3.2.0",
        "Returns the distance between two members of a geospatial index",
        Handler::Shard(geodist),
    ),
    cmd(
        "geohash",
        -2,
        READONLY,
        ONE_KEY,
        G,
        "3.2.0",
        "Returns members of a geospatial index as standard geohash strings",
        Handler::Shard(geohash_command),
    ),
    cmd(
        "georadius",
        -6,
        WRITE | DENYOOM,
        ONE_KEY,
        G,
        "3.2.0",
        "Query a sorted set representing a geospatial index to fetch members matching a given \
         maximum distance from a point",
        Handler::Shard(georadius),
    )
    .multi(MultiShard::Gather)
    .movable_keys(georadius_keys::<6>),
    cmd(
        "georadius_ro",
        -6,
        READONLY,
        ONE_KEY,
        G,
        "3.2.10",
        "A read-only variant for GEORADIUS",
        Handler::Shard(georadius_ro),
    ),
    cmd(
        "georadiusbymember",
        -5,
        WRITE | DENYOOM,
        ONE_KEY,
        G,
        "3.2.0",
        "Query a sorted set representing a geospatial index to fetch members matching a given \
         maximum distance from a member",
        Handler::Shard(georadiusbymember),
    )
    .multi(MultiShard::Gather)
    .movable_keys(georadius_keys::<5>),
    cmd(
        "georadiusbymember_ro",
        -5,
        READONLY,
        ONE_KEY,
        G,
        "3.2.10",
        "A read-only variant for GEORADIUSBYMEMBER",
        Handler::Shard(georadiusbymember_ro),
    ),
    cmd(
        "geosearch",
        -7,
        READONLY,
        ONE_KEY,
        G,
        "6.2.0",
        "Query a sorted set representing a geospatial index to fetch members inside an area of \
         a box or a circle.",
        Handler::Shard(geosearch),
    ),
    cmd(
        "geosearchstore",
        -8,
        WRITE | DENYOOM,
        (1, 2, 1),
        G,
        "6.2.0",
        "Query a sorted set representing a geospatial index to fetch members inside an area of \
         a box or a circle, and store the result in another key.",
        Handler::Shard(geosearchstore),
    )
    .multi(MultiShard::Gather),
];

/// Keys of GEORADIUS (`FROM` = 6) and GEORADIUSBYMEMBER (`FROM` = 5), as COMMAND GETKEYS
/// reports them from Redis's key specs: the source, then the key after the first `STORE` and
/// after the first `STOREDIST` at or past argv[FROM] (the last argument is never a keyword).
/// The destination the command really writes is the last STORE/STOREDIST key
/// (`georadiusGetKeys`); when a repeated option makes it differ it is added, so routing always
/// covers it.
fn georadius_keys<const FROM: usize>(argv: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    for keyword in ["store", "storedist"] {
        let found = (FROM..argv.len().saturating_sub(1)).find(|&i| is(&argv[i], keyword));
        keys.extend(found.map(|i| i + 1));
    }
    let mut written = None;
    let mut i = 5;
    while i < argv.len() {
        if (is(&argv[i], "store") || is(&argv[i], "storedist")) && i + 1 < argv.len() {
            written = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    if let Some(w) = written.filter(|w| !keys.contains(w)) {
        keys.push(w);
    }
    keys
}

// ---------------------------------------------------------------------------------------------
// Argument helpers.

/// `strcasecmp(arg, word) == 0` as Redis compares option names: on the C string, so bytes
/// after a NUL are not seen.
fn is(arg: &[u8], word: &str) -> bool {
    let end = memchr(0, arg).unwrap_or(arg.len());
    arg[..end].eq_ignore_ascii_case(word.as_bytes())
}

/// Redis's `getDoubleFromObjectOrReply`: the default message, or `ERR <msg>`.
fn parse_double(arg: &[u8], msg: Option<&'static str>) -> Result<f64, Reply> {
    parse_score(arg).ok_or_else(|| match msg {
        Some(m) => Reply::error(format!("ERR {m}")),
        None => OpError::NotFloat.into(),
    })
}

/// A longitude, latitude pair inside the GEO limits (`extractLongLatOrReply`).
fn parse_lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), Reply> {
    let lon = parse_double(lon, None)?;
    let lat = parse_double(lat, None)?;
    // Never NaN here: the parser rejects it.
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&lon)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        return Err(Reply::error(format!(
            "ERR invalid longitude,latitude pair {},{}",
            geohash::format_c_fixed6(lon),
            geohash::format_c_fixed6(lat)
        )));
    }
    Ok((lon, lat))
}

/// Metres per unit.
fn parse_unit(arg: &[u8]) -> Result<f64, Reply> {
    if is(arg, "m") {
        Ok(1.0)
    } else if is(arg, "km") {
        Ok(1000.0)
    } else if is(arg, "ft") {
        Ok(0.3048)
    } else if is(arg, "mi") {
        Ok(1609.34)
    } else {
        Err(Reply::error("ERR unsupported unit provided. please use M, KM, FT, MI"))
    }
}

/// `<radius> <unit>`: (radius, metres per unit).
fn parse_radius(args: &[Bytes]) -> Result<(f64, f64), Reply> {
    let radius = parse_double(&args[0], Some("need numeric radius"))?;
    if radius < 0.0 {
        return Err(Reply::error("ERR radius cannot be negative"));
    }
    Ok((radius, parse_unit(&args[1])?))
}

/// `<width> <height> <unit>`: (width, height, metres per unit).
fn parse_box(args: &[Bytes]) -> Result<(f64, f64, f64), Reply> {
    let width = parse_double(&args[0], Some("need numeric width"))?;
    let height = parse_double(&args[1], Some("need numeric height"))?;
    if height < 0.0 || width < 0.0 {
        return Err(Reply::error("ERR height or width cannot be negative"));
    }
    Ok((width, height, parse_unit(&args[2])?))
}

fn read<'c>(ctx: &'c mut Ctx<'_>, key: &[u8]) -> OpResult<Option<&'c ZSetValue>> {
    match ctx.lookup_read(key) {
        None => Ok(None),
        Some(Entry { value: Value::ZSet(z), .. }) => Ok(Some(z)),
        Some(_) => Err(OpError::WrongType),
    }
}

/// A coordinate reply: `%.17Lf` text as a bulk string in RESP2; a double in RESP3.
fn coordinate(x: f64, resp3: bool) -> Reply {
    if resp3 {
        Reply::Double(x)
    } else {
        Reply::Bulk(Bytes::from(geohash::format_coordinate(x)))
    }
}

fn distance_reply(d: f64) -> Reply {
    Reply::Bulk(Bytes::from(geohash::format_distance(d)))
}

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Reply::from(e),
        }
    };
}

// ---------------------------------------------------------------------------------------------
// GEOADD / GEOPOS / GEODIST / GEOHASH.

fn geoadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut flags = AddFlags::default();
    let mut first = 2;
    while first < argv.len() {
        let a = &argv[first];
        if is(a, "nx") {
            flags.nx = true;
        } else if is(a, "xx") {
            flags.xx = true;
        } else if is(a, "ch") {
            flags.ch = true;
        } else {
            break;
        }
        first += 1;
    }
    if !(argv.len() - first).is_multiple_of(3) || (flags.xx && flags.nx) {
        return OpError::Syntax.into();
    }
    let mut pairs = Vec::with_capacity((argv.len() - first) / 3 * 2);
    for item in argv[first..].chunks_exact(3) {
        let (lon, lat) = match parse_lon_lat(&item[0], &item[1]) {
            Ok(p) => p,
            Err(e) => return e,
        };
        // In range, so it encodes; the score is ZADD's argument as Redis builds it.
        let bits = geohash::score_of(lon, lat).unwrap_or(0);
        pairs.push(Bytes::from(itoa::Buffer::new().format(bits).to_owned()));
        pairs.push(item[2].clone());
    }
    zadd_generic(ctx, &argv[1], &pairs, flags)
}

fn geopos(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let resp3 = ctx.resp3;
    let z = tri!(read(ctx, &argv[1]));
    Reply::Array(
        argv[2..]
            .iter()
            .map(|m| match z.and_then(|z| z.score(m)) {
                None => Reply::NilArray,
                Some(score) => {
                    let (lon, lat) = geohash::decode_score(score);
                    Reply::Array(vec![coordinate(lon, resp3), coordinate(lat, resp3)])
                }
            })
            .collect(),
    )
}

fn geodist(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let to_metres = match argv.len() {
        5 => match parse_unit(&argv[4]) {
            Ok(u) => u,
            Err(e) => return e,
        },
        n if n > 5 => return OpError::Syntax.into(),
        _ => 1.0,
    };
    let Some(z) = tri!(read(ctx, &argv[1])) else {
        return Reply::Nil;
    };
    let (Some(s1), Some(s2)) = (z.score(&argv[2]), z.score(&argv[3])) else {
        return Reply::Nil;
    };
    let (lon1, lat1) = geohash::decode_score(s1);
    let (lon2, lat2) = geohash::decode_score(s2);
    distance_reply(geohash::distance(lon1, lat1, lon2, lat2) / to_metres)
}

fn geohash_command(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let z = tri!(read(ctx, &argv[1]));
    Reply::Array(
        argv[2..]
            .iter()
            .map(|m| match z.and_then(|z| z.score(m)) {
                None => Reply::Nil,
                Some(score) => Reply::bulk_slice(&geohash::standard_string(score)),
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// GEORADIUS, GEORADIUSBYMEMBER, their _RO forms, GEOSEARCH and GEOSEARCHSTORE
// (Redis's `georadiusGeneric`).

/// Which command of the family runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Radius,
    RadiusRo,
    ByMember,
    ByMemberRo,
    Search,
    SearchStore,
}

impl Variant {
    fn around_coords(self) -> bool {
        matches!(self, Variant::Radius | Variant::RadiusRo)
    }

    fn around_member(self) -> bool {
        matches!(self, Variant::ByMember | Variant::ByMemberRo)
    }

    fn search(self) -> bool {
        matches!(self, Variant::Search | Variant::SearchStore)
    }

    /// Accepts `STORE key` / `STOREDIST key`.
    fn store_options(self) -> bool {
        matches!(self, Variant::Radius | Variant::ByMember)
    }

    /// The source key's argv index.
    fn source(self) -> usize {
        if self == Variant::SearchStore {
            2
        } else {
            1
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// One member found inside the shape.
struct GeoPoint {
    lon: f64,
    lat: f64,
    /// Metres from the centre until the reply divides it by the unit.
    dist: f64,
    score: f64,
    member: Bytes,
}

fn georadius(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    radius_generic(ctx, argv, Variant::Radius)
}

fn georadius_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    radius_generic(ctx, argv, Variant::RadiusRo)
}

fn georadiusbymember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    radius_generic(ctx, argv, Variant::ByMember)
}

fn georadiusbymember_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    radius_generic(ctx, argv, Variant::ByMemberRo)
}

fn geosearch(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    radius_generic(ctx, argv, Variant::Search)
}

fn geosearchstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    radius_generic(ctx, argv, Variant::SearchStore)
}

/// The position of `member` in `z`, or Redis's error.
fn member_position(z: &ZSetValue, member: &[u8]) -> Result<(f64, f64), Reply> {
    z.score(member)
        .map(geohash::decode_score)
        .ok_or_else(|| Reply::error("ERR could not decode requested zset member"))
}

/// Everything a search needs once its arguments are parsed.
struct Request {
    shape: Shape,
    store: Option<Bytes>,
    store_dist: bool,
    with_dist: bool,
    with_hash: bool,
    with_coords: bool,
    sort: Sort,
    any: bool,
    /// Most results to return; 0 = all.
    count: usize,
}

/// Parses the arguments in Redis's order, so the same error wins. `z` is the source set
/// (already type-checked); member lookups use it.
fn parse_request(
    argv: &[Bytes],
    variant: Variant,
    z: Option<&ZSetValue>,
) -> Result<Request, Reply> {
    let mut shape = Shape { lon: 0.0, lat: 0.0, conversion: 0.0, kind: ShapeKind::Radius(0.0) };
    let mut store: Option<Bytes> = None;
    let base;
    if variant.around_coords() {
        base = 6;
        (shape.lon, shape.lat) = parse_lon_lat(&argv[2], &argv[3])?;
        let (radius, conversion) = parse_radius(&argv[4..6])?;
        shape.kind = ShapeKind::Radius(radius);
        shape.conversion = conversion;
    } else if variant.around_member() {
        base = 5;
        // Without a source set Redis only parses the options, to pick the empty reply.
        if let Some(z) = z {
            (shape.lon, shape.lat) = member_position(z, &argv[2])?;
            let (radius, conversion) = parse_radius(&argv[3..5])?;
            shape.kind = ShapeKind::Radius(radius);
            shape.conversion = conversion;
        }
    } else if variant == Variant::SearchStore {
        base = 3;
        store = Some(argv[1].clone());
    } else {
        base = 2;
    }

    let (mut with_dist, mut with_hash, mut with_coords) = (false, false, false);
    let (mut from_member, mut from_lonlat, mut by_radius, mut by_box) =
        (false, false, false, false);
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: i64 = 0;
    let mut store_dist = false;
    let remaining = argv.len().saturating_sub(base);
    let mut i = 0;
    while i < remaining {
        let arg = &argv[base + i];
        let has = |n: usize| i + n < remaining;
        if is(arg, "withdist") {
            with_dist = true;
        } else if is(arg, "withhash") {
            with_hash = true;
        } else if is(arg, "withcoord") {
            with_coords = true;
        } else if is(arg, "any") {
            any = true;
        } else if is(arg, "asc") {
            sort = Sort::Asc;
        } else if is(arg, "desc") {
            sort = Sort::Desc;
        } else if is(arg, "count") && has(1) {
            count = parse_i64_strict(&argv[base + i + 1])
                .ok_or_else(|| Reply::from(OpError::NotInteger))?;
            if count <= 0 {
                return Err(Reply::error("ERR COUNT must be > 0"));
            }
            i += 1;
        } else if (is(arg, "store") || is(arg, "storedist")) && has(1) && variant.store_options() {
            store = Some(argv[base + i + 1].clone());
            store_dist = is(arg, "storedist");
            i += 1;
        } else if is(arg, "storedist") && variant == Variant::SearchStore {
            store_dist = true;
        } else if is(arg, "frommember") && has(1) && variant.search() && !from_lonlat {
            if let Some(z) = z {
                (shape.lon, shape.lat) = member_position(z, &argv[base + i + 1])?;
            }
            from_member = true;
            i += 1;
        } else if is(arg, "fromlonlat") && has(2) && variant.search() && !from_member {
            (shape.lon, shape.lat) = parse_lon_lat(&argv[base + i + 1], &argv[base + i + 2])?;
            from_lonlat = true;
            i += 2;
        } else if is(arg, "byradius") && has(2) && variant.search() && !by_box {
            let (radius, conversion) = parse_radius(&argv[base + i + 1..base + i + 3])?;
            shape.kind = ShapeKind::Radius(radius);
            shape.conversion = conversion;
            by_radius = true;
            i += 2;
        } else if is(arg, "bybox") && has(3) && variant.search() && !by_radius {
            let (width, height, conversion) = parse_box(&argv[base + i + 1..base + i + 4])?;
            shape.kind = ShapeKind::Box { width, height };
            shape.conversion = conversion;
            by_box = true;
            i += 3;
        } else {
            return Err(OpError::Syntax.into());
        }
        i += 1;
    }

    if store.is_some() && (with_dist || with_hash || with_coords) {
        let what = if variant == Variant::SearchStore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(Reply::error(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    let name = || String::from_utf8_lossy(&argv[0]).replace(['\r', '\n'], " ");
    if variant.search() && !(from_member || from_lonlat) {
        return Err(Reply::error(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
            name()
        )));
    }
    if variant.search() && !(by_radius || by_box) {
        return Err(Reply::error(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {}",
            name()
        )));
    }
    if any && count == 0 {
        return Err(Reply::error("ERR the ANY argument requires COUNT argument"));
    }
    Ok(Request {
        shape,
        store,
        store_dist,
        with_dist,
        with_hash,
        with_coords,
        sort,
        any,
        count: usize::try_from(count).unwrap_or(usize::MAX),
    })
}

/// Appends the members of `z` with scores in `[min, max)` that lie inside `shape`, stopping
/// once `out` holds `limit` points (0 = no limit).
fn points_in_range(
    z: &ZSetValue,
    min: f64,
    max: f64,
    shape: &Shape,
    out: &mut Vec<GeoPoint>,
    limit: usize,
) {
    let start = z.partition_point(|s, _| s < min);
    z.for_each_from(start, |member, score| {
        if score >= max {
            return false;
        }
        let (lon, lat) = geohash::decode_score(score);
        if let Some(dist) = geohash::within(shape, lon, lat) {
            out.push(GeoPoint { lon, lat, dist, score, member: Bytes::copy_from_slice(member) });
        }
        limit == 0 || out.len() < limit
    });
}

/// Scans the centre cell and its neighbours in Redis's order, skipping excluded cells and a
/// cell equal to the one scanned just before it (huge radii make neighbours coincide).
fn points_in_areas(
    z: &ZSetValue,
    areas: &geohash::SearchAreas,
    shape: &Shape,
    limit: usize,
) -> Vec<GeoPoint> {
    let cells = areas.cells();
    let mut out = Vec::new();
    let mut last_scanned = 0;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        // Redis's check is off while the last scanned cell is the centre (index 0).
        if last_scanned != 0 && *cell == cells[last_scanned] {
            continue;
        }
        if limit != 0 && !out.is_empty() && out.len() >= limit {
            break;
        }
        let (min, max) = cell.score_range();
        points_in_range(z, min as f64, max as f64, shape, &mut out, limit);
        last_scanned = i;
    }
    out
}

fn radius_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], variant: Variant) -> Reply {
    let resp3 = ctx.resp3;
    let z = tri!(read(ctx, &argv[variant.source()]));
    let req = match parse_request(argv, variant, z) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let Some(z) = z else {
        return match &req.store {
            Some(dst) => store_points(ctx, variant, dst, Vec::new()),
            None => Reply::Array(Vec::new()),
        };
    };
    // COUNT returns the nearest ones unless ANY asks for whichever come first.
    let sort =
        if req.count != 0 && req.sort == Sort::None && !req.any { Sort::Asc } else { req.sort };
    let areas = geohash::search_areas(&req.shape);
    let mut points = points_in_areas(z, &areas, &req.shape, if req.any { req.count } else { 0 });
    if points.is_empty() && req.store.is_none() {
        return Reply::Array(Vec::new());
    }
    let total = points.len();
    let returned = if req.count == 0 { total } else { total.min(req.count) };
    if sort != Sort::None {
        let by_dist = |a: &GeoPoint, b: &GeoPoint| {
            let o = if a.dist > b.dist {
                std::cmp::Ordering::Greater
            } else if a.dist == b.dist {
                std::cmp::Ordering::Equal
            } else {
                std::cmp::Ordering::Less
            };
            if sort == Sort::Desc {
                o.reverse()
            } else {
                o
            }
        };
        if returned == total {
            csort::qsort_by(&mut points, by_dist);
        } else {
            csort::pqsort_by(&mut points, 0, returned as i64 - 1, by_dist);
        }
    }
    points.truncate(returned);
    let conversion = req.shape.conversion;
    if let Some(dst) = &req.store {
        let entries = points
            .into_iter()
            .map(|p| {
                let score = if req.store_dist { p.dist / conversion } else { p.score };
                (p.member, score)
            })
            .collect();
        return store_points(ctx, variant, dst, entries);
    }
    let options = req.with_dist as usize + req.with_hash as usize + req.with_coords as usize;
    Reply::Array(
        points
            .into_iter()
            .map(|p| {
                if options == 0 {
                    return Reply::Bulk(p.member);
                }
                let mut item = Vec::with_capacity(options + 1);
                item.push(Reply::Bulk(p.member));
                if req.with_dist {
                    item.push(distance_reply(p.dist / conversion));
                }
                if req.with_hash {
                    item.push(Reply::Int(geohash::score_to_i64(p.score)));
                }
                if req.with_coords {
                    item.push(Reply::Array(vec![
                        coordinate(p.lon, resp3),
                        coordinate(p.lat, resp3),
                    ]));
                }
                Reply::Array(item)
            })
            .collect(),
    )
}

/// Replaces `dst` with the found members (or deletes it when none), as the STORE variants do.
fn store_points(
    ctx: &mut Ctx<'_>,
    variant: Variant,
    dst: &[u8],
    entries: Vec<(Bytes, f64)>,
) -> Reply {
    let n = entries.len();
    if n == 0 {
        if ctx.remove(dst).is_some() {
            ctx.notify(class::GENERIC, "del", dst);
        }
        return Reply::Int(0);
    }
    // Members of one set are distinct; keep the first should cells ever overlap.
    let mut seen = hashbrown::HashSet::with_capacity(n);
    let unique: Vec<(Vec<u8>, f64)> = entries
        .into_iter()
        .filter(|(m, _)| seen.insert(m.clone()))
        .map(|(m, s)| (m.to_vec(), s))
        .collect();
    let limits = limits(ctx);
    ctx.set_value(dst, Value::ZSet(Box::new(ZSetValue::from_unique(unique, limits))), 0);
    let event = if variant.search() { "geosearchstore" } else { "georadiusstore" };
    ctx.notify(class::ZSET, event, dst);
    // Redis counts one change per stored member; `set_value` counted one.
    ctx.shard.dirty += n as u64 - 1;
    Reply::Int(n as i64)
}
