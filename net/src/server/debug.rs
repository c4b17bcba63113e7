//! DEBUG and its subcommands. DEBUG itself is off unless `enable-debug-command` allows the
//! client (checked by the dispatcher, as Redis does before running it).

use bytes::Bytes;
use mayfly_engine::reply::Reply;

use crate::conn::Conn;

use super::{lower, subcommand_error};

pub async fn debug(conn: &mut Conn, argv: &[Bytes]) -> Reply {
    let sub = lower(&argv[1]);
    match sub.as_slice() {
        b"sleep" if argv.len() == 3 => {
            if let Some(us) = sleep_duration_us(&argv[2]) {
                // A client that goes away ends the sleep: nothing keeps its connection (and
                // its maxclients slot) alive.
                let ms = us.div_ceil(1000);
                if crate::conn::unless_closed(conn, crate::rt::sleep_ms(ms)).await.is_none() {
                    return Reply::NilArray;
                }
            }
            Reply::ok()
        }
        b"object" if argv.len() == 3 => super::debug_data::object(conn.db, argv[2].clone()).await,
        b"digest" if argv.len() == 2 => super::debug_data::dataset_digest().await,
        b"digest-value" => super::debug_data::digest_value(conn.db, &argv[2..]).await,
        b"set-active-expire" if argv.len() == 3 => {
            let on = argv[2].as_ref() != b"0";
            super::config::update_config(move |c| c.active_expire_enabled = on).await;
            Reply::ok()
        }
        b"log" => Reply::ok(),
        b"reload" => super::persist::debug_reload(argv).await,
        b"help" => Reply::Array(
            [
                "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "LOG <message>",
                "RELOAD [option ...]",
                "SET-ACTIVE-EXPIRE <0|1>",
                "SLEEP <seconds>",
            ]
            .iter()
            .map(|l| Reply::status(*l))
            .collect(),
        ),
        _ => subcommand_error(&argv[1], "DEBUG"),
    }
}

/// How long DEBUG SLEEP sleeps, as Redis 7.0 computes it: the argument's longest numeric
/// prefix (C `strtod`: garbage is 0) times 10^6 as a 64-bit integer; a value that is
/// negative, not finite or out of the integer's range makes Redis's nanosleep fail at once,
/// so it answers OK without sleeping (None here). Replies are the same as Redis's; only a
/// closed client ends a long sleep early.
pub fn sleep_duration_us(arg: &[u8]) -> Option<u64> {
    let secs = strtod_prefix(arg);
    let us = secs * 1_000_000.0;
    if !us.is_finite() || us <= 0.0 || us >= 9.223_372_036_854_776e18 {
        return None;
    }
    let us = us as u64;
    (us > 0).then_some(us)
}

/// C `strtod` over a byte string: leading white space, a sign, then the longest prefix that
/// is a decimal or hexadecimal number, `inf`/`infinity` or `nan`; 0 when there is none.
fn strtod_prefix(arg: &[u8]) -> f64 {
    let mut i = 0;
    while i < arg.len() && matches!(arg[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let mut sign = 1.0;
    if i < arg.len() && (arg[i] == b'+' || arg[i] == b'-') {
        if arg[i] == b'-' {
            sign = -1.0;
        }
        i += 1;
    }
    let rest = &arg[i..];
    let starts =
        |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
    if starts(b"inf") {
        return sign * f64::INFINITY;
    }
    if starts(b"nan") {
        return f64::NAN;
    }
    if starts(b"0x") {
        return sign * hex_prefix(&rest[2..]);
    }
    let digits = |from: usize| rest[from..].iter().take_while(|b| b.is_ascii_digit()).count();
    let mut end = digits(0);
    let int_digits = end;
    let mut frac_digits = 0;
    if end < rest.len() && rest[end] == b'.' {
        frac_digits = digits(end + 1);
        end += 1 + frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return 0.0;
    }
    if end < rest.len() && (rest[end] == b'e' || rest[end] == b'E') {
        let mut j = end + 1;
        if j < rest.len() && (rest[j] == b'+' || rest[j] == b'-') {
            j += 1;
        }
        let exp_digits = digits(j);
        if exp_digits > 0 {
            end = j + exp_digits;
        }
    }
    let text = std::str::from_utf8(&rest[..end]).unwrap_or("0");
    sign * text.parse::<f64>().unwrap_or(0.0)
}

/// The hexadecimal part of `strtod` after `0x`: digits, an optional fraction, an optional
/// binary exponent `p±n`.
fn hex_prefix(s: &[u8]) -> f64 {
    let hex = |b: u8| (b as char).to_digit(16).map(f64::from);
    let mut value = 0.0;
    let mut i = 0;
    while let Some(d) = s.get(i).and_then(|&b| hex(b)) {
        value = value * 16.0 + d;
        i += 1;
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        let mut scale = 1.0 / 16.0;
        while let Some(d) = s.get(i).and_then(|&b| hex(b)) {
            value += d * scale;
            scale /= 16.0;
            i += 1;
        }
    }
    if matches!(s.get(i), Some(b'p' | b'P')) {
        let mut j = i + 1;
        let mut neg = false;
        if matches!(s.get(j), Some(b'+' | b'-')) {
            neg = s[j] == b'-';
            j += 1;
        }
        let mut exp: i32 = 0;
        let mut any = false;
        while let Some(d) = s.get(j).filter(|b| b.is_ascii_digit()) {
            exp = exp.saturating_mul(10).saturating_add(i32::from(d - b'0'));
            any = true;
            j += 1;
        }
        if any {
            value *= 2f64.powi(if neg { -exp } else { exp });
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_takes_the_numeric_prefix() {
        assert_eq!(strtod_prefix(b"1.5"), 1.5);
        assert_eq!(strtod_prefix(b"  -2e3xyz"), -2000.0);
        assert_eq!(strtod_prefix(b"abc"), 0.0);
        assert_eq!(strtod_prefix(b""), 0.0);
        assert_eq!(strtod_prefix(b".5"), 0.5);
        assert_eq!(strtod_prefix(b"5."), 5.0);
        assert_eq!(strtod_prefix(b"1e"), 1.0);
        assert_eq!(strtod_prefix(b"0x10"), 16.0);
        assert_eq!(strtod_prefix(b"0x1p4"), 16.0);
        assert!(strtod_prefix(b"INFINITY").is_infinite());
        assert!(strtod_prefix(b"nan").is_nan());
    }

    #[test]
    fn sleep_follows_redis_conversion() {
        assert_eq!(sleep_duration_us(b"0.1"), Some(100_000));
        assert_eq!(sleep_duration_us(b"2"), Some(2_000_000));
        // Redis answers these at once: nanosleep fails on the negative or overflowed value.
        for arg in [
            &b"inf"[..],
            b"-inf",
            b"1e300",
            b"18446744073709551616",
            b"-1",
            b"nan",
            b"abc",
            b"0",
            b"",
        ] {
            assert_eq!(sleep_duration_us(arg), None, "{}", String::from_utf8_lossy(arg));
        }
        // In range: Redis really sleeps this long (only a closed client ends it early here).
        let us = sleep_duration_us(b"9223372036854").expect("in range");
        assert!(us.abs_diff(9_223_372_036_854_000_000) < 1_000_000, "{us}");
        assert_eq!(sleep_duration_us(b"1e-9"), None, "rounds down to 0 µs");
    }
}
