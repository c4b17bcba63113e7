//! Redis's geohash: the 52-bit interleaved code GEO commands keep as sorted-set scores, the
//! cell arithmetic behind radius and box searches, and the haversine distance.
//!
//! ```text
//!  (lon, lat) ──encode(26 steps)──► 26 lat bits (even positions) | 26 lon bits (odd) = score
//!  score ──decode──► cell [lon_min, lon_max] × [lat_min, lat_max] ──centre──► (lon, lat)
//!  search: centre cell at a step fitted to the radius + its 8 neighbours, each a contiguous
//!          score range [cell << (52 - 2·step), (cell + 1) << (52 - 2·step))
//! ```
//! Why reimplemented rather than a crate: replies must be byte-identical to redis-server 7.0,
//! and those bytes depend on every rounding of this arithmetic (the order of operations in the
//! cell bounds, the truncating conversions to integers, the step estimate, the latitude limit
//! ±85.05112878 of the Mercator projection Redis encodes against, the exact earth radius). The
//! algorithms are Redis's (`geohash.c`, `geohash_helper.c`), written anew here; the
//! transcendental functions are the C library's (`f64::sin` & co. call libm), as Redis's are.

// Comparisons are written as C writes them: `x > max || x < min` lets a NaN through where
// `!(min..=max).contains(&x)` would not, and the C behaviour is the one to reproduce.
#![allow(clippy::manual_range_contains)]

/// Bits per coordinate: 26 + 26 = 52, the mantissa of a double score.
pub const STEP_MAX: u8 = 26;
/// Latitude limits of the Web Mercator projection (EPSG:900913) Redis encodes within.
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;

/// Earth's quadratic mean radius for WGS-84, as Redis uses it for every distance.
pub const EARTH_RADIUS_M: f64 = 6372797.560856;
/// Half the equator in Mercator metres: the step estimate doubles a radius up to this.
const MERCATOR_MAX_M: f64 = 20037726.37;
/// Degrees to radians, computed as Redis's `M_PI / 180.0`.
const DEG_TO_RAD: f64 = std::f64::consts::PI / 180.0;

fn deg_rad(deg: f64) -> f64 {
    deg * DEG_TO_RAD
}

fn rad_deg(rad: f64) -> f64 {
    rad / DEG_TO_RAD
}

/// A cell: `step` bits per coordinate, interleaved in the low `2 * step` bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HashBits {
    pub bits: u64,
    pub step: u8,
}

impl HashBits {
    /// The "no cell" value Redis uses for neighbours excluded from a search.
    pub const ZERO: HashBits = HashBits { bits: 0, step: 0 };

    pub fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The cell's bits left-aligned to 52 bits: the smallest score inside it.
    pub fn align52(self) -> u64 {
        self.bits << (52 - 2 * u32::from(self.step.min(STEP_MAX)))
    }

    /// Scores inside the cell: `min` included, `max` excluded.
    pub fn score_range(self) -> (u64, u64) {
        let next = HashBits { bits: self.bits.wrapping_add(1), step: self.step };
        (self.align52(), next.align52())
    }
}

/// A closed interval of one coordinate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

impl Range {
    fn is_zero(self) -> bool {
        self.min == 0.0 && self.max == 0.0
    }
}

/// The ranges GEO scores are encoded in.
pub const WGS84_LONG: Range = Range { min: LONG_MIN, max: LONG_MAX };
pub const WGS84_LAT: Range = Range { min: LAT_MIN, max: LAT_MAX };
/// The standard geohash latitude range, used only to print GEOHASH strings.
pub const STANDARD_LAT: Range = Range { min: -90.0, max: 90.0 };

/// A decoded cell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Area {
    pub hash: HashBits,
    pub longitude: Range,
    pub latitude: Range,
}

/// Spreads the 32 bits of `lat` over the even bit positions and those of `lon` over the odd.
fn interleave(lat: u32, lon: u32) -> u64 {
    spread(lat) | spread(lon) << 1
}

/// Bit i of `v` goes to bit 2i.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | x << 16) & 0x0000_FFFF_0000_FFFF;
    x = (x | x << 8) & 0x00FF_00FF_00FF_00FF;
    x = (x | x << 4) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | x << 2) & 0x3333_3333_3333_3333;
    (x | x << 1) & 0x5555_5555_5555_5555
}

/// Bit 2i of `v` goes to bit i (the inverse of [`spread`] on the even bits).
fn gather(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | x >> 1) & 0x3333_3333_3333_3333;
    x = (x | x >> 2) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | x >> 4) & 0x00FF_00FF_00FF_00FF;
    x = (x | x >> 8) & 0x0000_FFFF_0000_FFFF;
    x = (x | x >> 16) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// Encodes a position at `step` bits per coordinate (1..=32); None outside the ranges or the
/// Mercator limits (which apply whatever the ranges, as in Redis).
pub fn encode(
    lon_range: Range,
    lat_range: Range,
    lon: f64,
    lat: f64,
    step: u8,
) -> Option<HashBits> {
    if step == 0 || step > 32 || lat_range.is_zero() || lon_range.is_zero() {
        return None;
    }
    if lon > LONG_MAX || lon < LONG_MIN || lat > LAT_MAX || lat < LAT_MIN {
        return None;
    }
    if lat < lat_range.min || lat > lat_range.max || lon < lon_range.min || lon > lon_range.max {
        return None;
    }
    let cells = (1u64 << step) as f64;
    let lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min) * cells;
    let lon_offset = (lon - lon_range.min) / (lon_range.max - lon_range.min) * cells;
    // C converts to uint32_t by truncation; offsets are within 0..=2^step here.
    Some(HashBits { bits: interleave(lat_offset as u32, lon_offset as u32), step })
}

/// Encodes a position in the GEO score ranges.
pub fn encode_wgs84(lon: f64, lat: f64, step: u8) -> Option<HashBits> {
    encode(WGS84_LONG, WGS84_LAT, lon, lat, step)
}

/// The cell of `hash`; None for the zero hash.
pub fn decode(lon_range: Range, lat_range: Range, hash: HashBits) -> Option<Area> {
    if hash.is_zero() || lat_range.is_zero() || lon_range.is_zero() {
        return None;
    }
    let lat_cell = gather(hash.bits);
    let lon_cell = gather(hash.bits >> 1);
    let cells = (1u64 << hash.step.min(63)) as f64;
    let lat_scale = lat_range.max - lat_range.min;
    let lon_scale = lon_range.max - lon_range.min;
    // The cell + 1 is computed in 32 bits, wrapping, as in C.
    let bound = |base: f64, cell: u32, scale: f64| base + (f64::from(cell) / cells) * scale;
    Some(Area {
        hash,
        latitude: Range {
            min: bound(lat_range.min, lat_cell, lat_scale),
            max: bound(lat_range.min, lat_cell.wrapping_add(1), lat_scale),
        },
        longitude: Range {
            min: bound(lon_range.min, lon_cell, lon_scale),
            max: bound(lon_range.min, lon_cell.wrapping_add(1), lon_scale),
        },
    })
}

/// The centre of a cell, clamped to the GEO limits: (lon, lat).
pub fn area_centre(area: &Area) -> (f64, f64) {
    let lon = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// Redis's `(uint64_t)` of a double as x86-64 code compiled by GCC computes it: values below
/// 2^63 convert as signed (truncating; out of range gives 2^63), larger ones with the top bit
/// flipped. Scores of real GEO members are integers below 2^52 and convert exactly.
pub fn score_to_bits(score: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    let signed = |v: f64| -> u64 {
        if v.is_nan() || v >= TWO_63 || v < -TWO_63 {
            1u64 << 63
        } else {
            v as i64 as u64
        }
    };
    if score >= TWO_63 {
        signed(score - TWO_63) ^ (1u64 << 63)
    } else {
        signed(score)
    }
}

/// Redis's `(long long)` of a double on x86-64 (truncation; out of range gives i64::MIN).
pub fn score_to_i64(score: f64) -> i64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if score.is_nan() || score >= TWO_63 || score < -TWO_63 {
        i64::MIN
    } else {
        score as i64
    }
}

/// The position a GEO score stands for: (lon, lat) of its cell's centre.
pub fn decode_score(score: f64) -> (f64, f64) {
    let hash = HashBits { bits: score_to_bits(score), step: STEP_MAX };
    match decode(WGS84_LONG, WGS84_LAT, hash) {
        Some(area) => area_centre(&area),
        // Unreachable: a step-26 hash is never the zero hash.
        None => (0.0, 0.0),
    }
}

/// The 52-bit score of a position (None outside the GEO limits).
pub fn score_of(lon: f64, lat: f64) -> Option<u64> {
    encode_wgs84(lon, lat, STEP_MAX).map(HashBits::align52)
}

/// The 11-character standard geohash string of a GEO score (Redis's GEOHASH reply): decode,
/// re-encode against latitude ±90, print 5 bits per character, the last always `0`.
pub fn standard_string(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode_score(score);
    let bits = encode(WGS84_LONG, STANDARD_LAT, lon, lat, STEP_MAX).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = ALPHABET[idx as usize];
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Neighbours.

/// Moves a cell one step east (`d > 0`) or west along the longitude (odd) bits, wrapping.
fn move_lon(hash: &mut HashBits, d: i8) {
    move_bits(hash, d, 0xaaaa_aaaa_aaaa_aaaa);
}

/// Moves a cell one step north (`d > 0`) or south along the latitude (even) bits, wrapping.
fn move_lat(hash: &mut HashBits, d: i8) {
    move_bits(hash, d, 0x5555_5555_5555_5555);
}

/// Adds ±1 to the coordinate whose bits are `mask` by carrying through the other
/// coordinate's positions (filled with ones so the carry crosses them), then masks back.
fn move_bits(hash: &mut HashBits, d: i8, mask: u64) {
    if d == 0 || hash.step == 0 {
        return;
    }
    let moving = hash.bits & mask;
    let other = hash.bits & !mask;
    let shift = 64 - 2 * u32::from(hash.step.min(32));
    let fill = (!mask).checked_shr(shift).unwrap_or(0);
    let moved = if d > 0 {
        moving.wrapping_add(fill.wrapping_add(1))
    } else {
        (moving | fill).wrapping_sub(fill.wrapping_add(1))
    };
    hash.bits = (moved & mask.checked_shr(shift).unwrap_or(0)) | other;
}

/// The eight cells around one, in Redis's search order after the centre.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Neighbours {
    pub north: HashBits,
    pub south: HashBits,
    pub east: HashBits,
    pub west: HashBits,
    pub north_east: HashBits,
    pub north_west: HashBits,
    pub south_east: HashBits,
    pub south_west: HashBits,
}

pub fn neighbours(hash: HashBits) -> Neighbours {
    let at = |dx: i8, dy: i8| {
        let mut h = hash;
        move_lon(&mut h, dx);
        move_lat(&mut h, dy);
        h
    };
    Neighbours {
        north: at(0, 1),
        south: at(0, -1),
        east: at(1, 0),
        west: at(-1, 0),
        north_east: at(1, 1),
        north_west: at(-1, 1),
        south_east: at(1, -1),
        south_west: at(-1, -1),
    }
}

// ---------------------------------------------------------------------------------------------
// Search shapes.

/// What a search covers around its centre, in the unit of `conversion` (metres per unit).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ShapeKind {
    Radius(f64),
    Box { width: f64, height: f64 },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub lon: f64,
    pub lat: f64,
    /// Metres per unit of the shape's sizes (m 1, km 1000, ft 0.3048, mi 1609.34).
    pub conversion: f64,
    pub kind: ShapeKind,
}

/// The bounding box of a shape: (min_lon, min_lat, max_lon, max_lat). The longitude span is
/// taken at the box edge nearer the pole (the wider one), as Redis does.
pub fn bounding_box(shape: &Shape) -> [f64; 4] {
    let (height, width) = match shape.kind {
        ShapeKind::Radius(r) => (shape.conversion * r, shape.conversion * r),
        ShapeKind::Box { width, height } => {
            (shape.conversion * (height / 2.0), shape.conversion * (width / 2.0))
        }
    };
    let lat_delta = rad_deg(height / EARTH_RADIUS_M);
    let lon_delta_top = rad_deg(width / EARTH_RADIUS_M / deg_rad(shape.lat + lat_delta).cos());
    let lon_delta_bottom = rad_deg(width / EARTH_RADIUS_M / deg_rad(shape.lat - lat_delta).cos());
    let lon_delta = if shape.lat < 0.0 { lon_delta_bottom } else { lon_delta_top };
    [shape.lon - lon_delta, shape.lat - lat_delta, shape.lon + lon_delta, shape.lat + lat_delta]
}

/// The step (bits per coordinate) whose cells are about as large as `range_m` around `lat`.
pub fn estimate_steps_by_radius(range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return 26;
    }
    let mut range_m = range_m;
    let mut step: i32 = 1;
    // Bounded: doubling reaches the limit in < 1100 rounds from the smallest positive double;
    // a NaN range does not enter the loop.
    while range_m < MERCATOR_MAX_M && step < 2000 {
        range_m *= 2.0;
        step += 1;
    }
    step -= 2;
    if lat > 66.0 || lat < -66.0 {
        step -= 1;
        if lat > 80.0 || lat < -80.0 {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// The cells to scan for a search: the centre cell and its neighbours, those that cannot
/// overlap the bounding box zeroed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchAreas {
    pub hash: HashBits,
    pub neighbours: Neighbours,
    pub area: Area,
}

impl SearchAreas {
    /// The nine cells in Redis's scan order: centre, N, S, E, W, NE, NW, SE, SW.
    pub fn cells(&self) -> [HashBits; 9] {
        let n = &self.neighbours;
        [
            self.hash,
            n.north,
            n.south,
            n.east,
            n.west,
            n.north_east,
            n.north_west,
            n.south_east,
            n.south_west,
        ]
    }
}

/// Redis's `geohashCalculateAreasByShapeWGS84`.
pub fn search_areas(shape: &Shape) -> SearchAreas {
    let [min_lon, min_lat, max_lon, max_lat] = bounding_box(shape);
    let radius_m = match shape.kind {
        ShapeKind::Radius(r) => r,
        ShapeKind::Box { width, height } => {
            ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
        }
    } * shape.conversion;
    let mut steps = estimate_steps_by_radius(radius_m, shape.lat);
    let at = |steps: u8| {
        let hash = encode(WGS84_LONG, WGS84_LAT, shape.lon, shape.lat, steps)
            .unwrap_or(HashBits { bits: 0, step: steps });
        let area = decode(WGS84_LONG, WGS84_LAT, hash).unwrap_or(Area {
            hash,
            longitude: Range { min: 0.0, max: 0.0 },
            latitude: Range { min: 0.0, max: 0.0 },
        });
        (hash, neighbours(hash), area)
    };
    let (mut hash, mut neighbours, mut area) = at(steps);
    // The step estimate can leave the box poking out of the 3×3 cells near their edges.
    let cell = |h: HashBits| decode(WGS84_LONG, WGS84_LAT, h);
    let too_coarse = cell(neighbours.north).is_some_and(|a| a.latitude.max < max_lat)
        || cell(neighbours.south).is_some_and(|a| a.latitude.min > min_lat)
        || cell(neighbours.east).is_some_and(|a| a.longitude.max < max_lon)
        || cell(neighbours.west).is_some_and(|a| a.longitude.min > min_lon);
    if steps > 1 && too_coarse {
        steps -= 1;
        (hash, neighbours, area) = at(steps);
    }
    if steps >= 2 {
        let n = &mut neighbours;
        if area.latitude.min < min_lat {
            (n.south, n.south_west, n.south_east) =
                (HashBits::ZERO, HashBits::ZERO, HashBits::ZERO);
        }
        if area.latitude.max > max_lat {
            (n.north, n.north_east, n.north_west) =
                (HashBits::ZERO, HashBits::ZERO, HashBits::ZERO);
        }
        if area.longitude.min < min_lon {
            (n.west, n.south_west, n.north_west) = (HashBits::ZERO, HashBits::ZERO, HashBits::ZERO);
        }
        if area.longitude.max > max_lon {
            (n.east, n.south_east, n.north_east) = (HashBits::ZERO, HashBits::ZERO, HashBits::ZERO);
        }
    }
    SearchAreas { hash, neighbours, area }
}

// ---------------------------------------------------------------------------------------------
// Distances.

/// Distance along a meridian between two latitudes, in metres.
pub fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Great-circle (haversine) distance in metres.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// Whether the point (`lon`, `lat`) is inside `shape`, and its distance from the centre in
/// metres. The comparisons are Redis's, including a NaN distance counting as inside a radius.
pub fn within(shape: &Shape, lon: f64, lat: f64) -> Option<f64> {
    match shape.kind {
        ShapeKind::Radius(r) => {
            let d = distance(shape.lon, shape.lat, lon, lat);
            if d > r * shape.conversion {
                None
            } else {
                Some(d)
            }
        }
        ShapeKind::Box { width, height } => {
            let (width_m, height_m) = (width * shape.conversion, height * shape.conversion);
            if lat_distance(lat, shape.lat) > height_m / 2.0 {
                return None;
            }
            if distance(lon, lat, shape.lon, lat) > width_m / 2.0 {
                return None;
            }
            Some(distance(shape.lon, shape.lat, lon, lat))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Number formatting, as Redis prints GEO replies.

/// A distance with 4 decimals (Redis's `fixedpoint_d2string(…, 4)`): scaled by 10^4, rounded
/// to nearest even like `llrint`, then printed as a fixed-point integer.
pub fn format_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".into();
    }
    let scaled = (d * 10_000.0).round_ties_even();
    // llrint of a value out of range (or NaN) gives i64::MIN on x86-64.
    let v: i64 = if scaled.is_nan()
        || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&scaled)
    {
        i64::MIN
    } else {
        scaled as i64
    };
    let magnitude = v.unsigned_abs();
    let sign = if v < 0 { "-" } else { "" };
    format!("{sign}{}.{:04}", magnitude / 10_000, magnitude % 10_000)
}

/// A coordinate as Redis's `addReplyHumanLongDouble` prints it: `%.17Lf` of the value (exact,
/// since a long double holds every double), trailing zeros and a bare point removed, `-0` as 0.
pub fn format_coordinate(x: f64) -> String {
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan".into() } else { "nan".into() };
    }
    if let Some(s) = format_fixed17_small(x) {
        return s;
    }
    // Rust's fixed-precision formatting is exact with ties to even, like glibc's printf.
    let mut s = format!("{x:.17}");
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

/// [`format_coordinate`] without the general formatter, for |x| < 2^53: x = m·2^-k exactly, so
/// x·10^17 = m·10^17 / 2^k, an integer division in 128 bits (m·10^17 < 2^110) rounded to
/// nearest, ties to even, as glibc rounds. None when x is out of that range.
fn format_fixed17_small(x: f64) -> Option<String> {
    const SCALE: u128 = 100_000_000_000_000_000; // 10^17
    if !x.is_finite() || x.abs() >= 9_007_199_254_740_992.0 {
        return None;
    }
    let bits = x.to_bits();
    let exp_bits = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    // |x| = m · 2^e.
    let (m, e) = if exp_bits == 0 { (frac, -1074) } else { (frac | 1 << 52, exp_bits - 1075) };
    let scaled: u128 = if e >= 0 {
        (u128::from(m) << e) * SCALE
    } else {
        let k = (-e) as u32;
        if k >= 127 {
            // |x| < 2^53 · 2^-127 < 10^-21: rounds to zero.
            0
        } else {
            let n = u128::from(m) * SCALE;
            let q = n >> k;
            let r = n & ((1u128 << k) - 1);
            let half = 1u128 << (k - 1);
            if r > half || (r == half && q & 1 == 1) {
                q + 1
            } else {
                q
            }
        }
    };
    let (int, mut fraction) = (scaled / SCALE, (scaled % SCALE) as u64);
    let mut out = String::with_capacity(24);
    if x.is_sign_negative() && scaled != 0 {
        out.push('-');
    }
    out.push_str(itoa::Buffer::new().format(int));
    if fraction != 0 {
        let mut digits = 17;
        while fraction % 10 == 0 {
            fraction /= 10;
            digits -= 1;
        }
        out.push('.');
        let text = itoa::Buffer::new().format(fraction).to_owned();
        out.extend(std::iter::repeat_n('0', digits - text.len()));
        out.push_str(&text);
    }
    Some(out)
}

/// C's `%f` (6 decimals), for the invalid-coordinates error.
pub fn format_c_fixed6(x: f64) -> String {
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan".into() } else { "nan".into() };
    }
    format!("{x:.6}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for &(a, b) in &[(0u32, 0u32), (1, 0), (0, 1), (0x3ff_ffff, 0x155_5555), (u32::MAX, 7)] {
            let v = interleave(a, b);
            assert_eq!(gather(v), a);
            assert_eq!(gather(v >> 1), b);
        }
        assert_eq!(interleave(1, 0), 1);
        assert_eq!(interleave(0, 1), 2);
    }

    #[test]
    fn scores_match_redis_reference_values() {
        // From Redis's unit/geo.tcl "Check geoset values".
        assert_eq!(score_of(-74.0131604, 40.7126674), Some(1791873972053020));
        assert_eq!(score_of(-73.9903085, 40.7362513), Some(1791875485187452));
        assert_eq!(score_of(-73.7858139, 40.6428986), Some(1791895905559723));
        assert_eq!(score_of(180.1, 0.0), None);
        assert_eq!(score_of(0.0, 85.06), None);
    }

    #[test]
    fn geohash_string_matches_wikipedia_example() {
        let score = score_of(-5.6, 42.6).expect("in range") as f64;
        assert_eq!(&standard_string(score), b"ezs42e44yx0");
    }

    #[test]
    fn neighbours_wrap_and_move_one_cell() {
        let h = encode_wgs84(0.0, 0.0, 4).expect("in range");
        let n = neighbours(h);
        let centre = decode(WGS84_LONG, WGS84_LAT, h).expect("cell");
        let east = decode(WGS84_LONG, WGS84_LAT, n.east).expect("cell");
        assert_eq!(east.longitude.min, centre.longitude.max);
        assert_eq!(east.latitude, centre.latitude);
        let north = decode(WGS84_LONG, WGS84_LAT, n.north).expect("cell");
        assert_eq!(north.latitude.min, centre.latitude.max);
        // West of the first column wraps to the last.
        let edge = encode_wgs84(-180.0, 0.0, 3).expect("in range");
        let west = decode(WGS84_LONG, WGS84_LAT, neighbours(edge).west).expect("cell");
        assert_eq!(west.longitude.max, 180.0);
    }

    #[test]
    fn formats_like_c() {
        assert_eq!(format_distance(0.0), "0.0000");
        assert_eq!(format_distance(-0.0), "0.0000");
        assert_eq!(format_distance(775.0), "775.0000");
        assert_eq!(format_distance(0.77504), "0.7750");
        assert_eq!(format_distance(0.00005), "0.0000"); // 0.5 rounds to even
        assert_eq!(format_distance(0.00015), "0.0001"); // 1.4999…
        assert_eq!(format_distance(0.00025), "0.0002"); // 2.5 to even
        assert_eq!(format_distance(1.00005), "1.0001");
        assert_eq!(format_distance(-1.5), "-1.5000");
        assert_eq!(format_coordinate(13.361389338970184), "13.36138933897018433");
        assert_eq!(format_coordinate(-0.0), "0");
        assert_eq!(format_coordinate(1.0), "1");
        assert_eq!(format_coordinate(-1e-20), "0");
        assert_eq!(format_c_fixed6(200.0), "200.000000");
        assert_eq!(format_c_fixed6(f64::NEG_INFINITY), "-inf");
    }

    /// The fast path agrees with exact formatting, ties included.
    #[test]
    fn fixed17_fast_path_matches_exact_formatting() {
        let slow = |x: f64| {
            let mut s = format!("{x:.17}");
            let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
            s.truncate(trimmed);
            if s == "-0" {
                s = "0".into();
            }
            s
        };
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            -180.0,
            85.05112878,
            1.0 + 3.0 * 0.5f64.powi(18), // 1.000011444091796875: a tie at the 17th decimal
            1.0 + 3.0 * 0.5f64.powi(18) + 2.0 * f64::EPSILON,
            0.5f64.powi(18) * 3.0, // 18 decimals, tie
            0.5f64.powi(18) * 5.0,
            1e-17,
            5e-18,
            -5e-18,
            1e-300,
            f64::MIN_POSITIVE / 4.0,
            9_007_199_254_740_991.0,
            123_456.789,
        ];
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let v = f64::from_bits(seed);
            if v.is_finite() && v.abs() < 1e15 {
                values.push(v);
            }
            values.push((seed >> 11) as f64 / (1u64 << 53) as f64 * 360.0 - 180.0);
        }
        for v in values {
            assert_eq!(format_fixed17_small(v).as_deref(), Some(slow(v).as_str()), "{v:e}");
        }
        assert_eq!(format_fixed17_small(1e300), None);
    }

    #[test]
    fn c_conversions_of_odd_scores() {
        assert_eq!(score_to_bits(5.0), 5);
        assert_eq!(score_to_bits(-5.0), (-5i64) as u64);
        assert_eq!(score_to_bits(f64::INFINITY), 0);
        assert_eq!(score_to_bits(1e300), 0);
        assert_eq!(score_to_bits(f64::NAN), 1u64 << 63);
        assert_eq!(score_to_bits(f64::NEG_INFINITY), 1u64 << 63);
        assert_eq!(score_to_bits(1e19), 10_000_000_000_000_000_000);
        assert_eq!(score_to_i64(1e300), i64::MIN);
    }

    #[test]
    fn steps_follow_the_radius() {
        assert_eq!(estimate_steps_by_radius(0.0, 0.0), 26);
        assert_eq!(estimate_steps_by_radius(1e9, 0.0), 1);
        assert!(estimate_steps_by_radius(1000.0, 0.0) > estimate_steps_by_radius(100_000.0, 0.0));
        assert_eq!(estimate_steps_by_radius(f64::NAN, 0.0), 1);
        assert_eq!(estimate_steps_by_radius(f64::MIN_POSITIVE, 89.0), 26);
    }
}
