//! The libraries Redis gives scripts beyond Lua's own: `bit` (LuaBitOp's API) and `cjson`
//! (encode/decode). Written here from their documented behaviour.

use mlua::{Lua, MultiValue, Table, Value};

/// A Lua number as LuaBitOp sees it: taken modulo 2^32 into a signed 32-bit integer.
fn tobit(v: &Value) -> mlua::Result<i32> {
    let n = match v {
        Value::Number(n) => *n,
        Value::Integer(i) => *i as f64,
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .ok_or_else(|| mlua::Error::RuntimeError("bad argument (number expected)".into()))?,
        _ => return Err(mlua::Error::RuntimeError("bad argument (number expected)".into())),
    };
    if !n.is_finite() {
        return Ok(0);
    }
    let m = n.trunc().rem_euclid(4294967296.0);
    Ok(m as u32 as i32)
}

fn num(i: i32) -> Value {
    Value::Number(i as f64)
}

pub fn bit_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("tobit", lua.create_function(|_, v: Value| Ok(num(tobit(&v)?)))?)?;
    t.set("bnot", lua.create_function(|_, v: Value| Ok(num(!tobit(&v)?)))?)?;
    t.set("bswap", lua.create_function(|_, v: Value| Ok(num(tobit(&v)?.swap_bytes())))?)?;
    fn fold(args: &MultiValue, f: fn(i32, i32) -> i32) -> mlua::Result<Value> {
        let mut it = args.iter();
        let mut acc =
            tobit(it.next().ok_or_else(|| mlua::Error::RuntimeError("bad argument #1".into()))?)?;
        for v in it {
            acc = f(acc, tobit(v)?);
        }
        Ok(num(acc))
    }
    t.set("band", lua.create_function(|_, a: MultiValue| fold(&a, |x, y| x & y))?)?;
    t.set("bor", lua.create_function(|_, a: MultiValue| fold(&a, |x, y| x | y))?)?;
    t.set("bxor", lua.create_function(|_, a: MultiValue| fold(&a, |x, y| x ^ y))?)?;
    fn shift(f: fn(i32, u32) -> i32) -> impl Fn(&Lua, (Value, Value)) -> mlua::Result<Value> {
        move |_, (x, n)| Ok(num(f(tobit(&x)?, (tobit(&n)? & 31) as u32)))
    }
    t.set("lshift", lua.create_function(shift(|x, n| ((x as u32) << n) as i32))?)?;
    t.set("rshift", lua.create_function(shift(|x, n| ((x as u32) >> n) as i32))?)?;
    t.set("arshift", lua.create_function(shift(|x, n| x >> n))?)?;
    t.set("rol", lua.create_function(shift(|x, n| (x as u32).rotate_left(n) as i32))?)?;
    t.set("ror", lua.create_function(shift(|x, n| (x as u32).rotate_right(n) as i32))?)?;
    t.set(
        "tohex",
        lua.create_function(|_, (x, n): (Value, Option<Value>)| {
            let x = tobit(&x)? as u32;
            let n = match n {
                Some(v) => tobit(&v)?,
                None => 8,
            };
            let (upper, width) = if n < 0 { (true, (-n) as usize) } else { (false, n as usize) };
            let width = width.min(8);
            let masked = if width >= 8 { x } else { x & ((1u32 << (4 * width)) - 1) };
            let s = if upper { format!("{masked:0width$X}") } else { format!("{masked:0width$x}") };
            Ok(s)
        })?,
    )?;
    Ok(t)
}

/// How deep cjson nests before refusing (cjson's default limit is 1000).
const JSON_DEPTH: usize = 1000;

pub fn cjson_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("null", Value::LightUserData(mlua::LightUserData(std::ptr::null_mut())))?;
    t.set(
        "encode",
        lua.create_function(|lua, v: Value| {
            let mut out = Vec::new();
            encode(&v, &mut out, 0)?;
            lua.create_string(&out)
        })?,
    )?;
    t.set(
        "decode",
        lua.create_function(|lua, s: mlua::String| {
            let v: serde_json::Value = serde_json::from_slice(&s.as_bytes()).map_err(|e| {
                mlua::Error::RuntimeError(format!("Expected value but found invalid token: {e}"))
            })?;
            decode(lua, &v, 0)
        })?,
    )?;
    Ok(t)
}

fn fmt_num(n: f64, out: &mut Vec<u8>) -> mlua::Result<()> {
    if !n.is_finite() {
        return Err(mlua::Error::RuntimeError(
            "Cannot serialise number: must not be NaN or Inf".into(),
        ));
    }
    if n == n.trunc() && n.abs() < 1e14 {
        out.extend_from_slice((n as i64).to_string().as_bytes());
    } else {
        out.extend_from_slice(format!("{}", n).as_bytes());
    }
    Ok(())
}

fn encode_str(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 || c == 0x7f => out.extend_from_slice(format!("\\u{:04x}", c).as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

fn encode(v: &Value, out: &mut Vec<u8>, depth: usize) -> mlua::Result<()> {
    if depth > JSON_DEPTH {
        return Err(mlua::Error::RuntimeError("Cannot serialise, excessive nesting (1001)".into()));
    }
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => fmt_num(*n, out)?,
        Value::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => encode_str(&s.as_bytes(), out),
        Value::Table(t) => {
            // An array when every key is a positive integer (cjson's rule, without its
            // sparse-array ratio check).
            let mut max = 0usize;
            let mut count = 0usize;
            let mut is_array = true;
            for (k, _) in t.clone().pairs::<Value, Value>().flatten() {
                count += 1;
                match k {
                    Value::Number(n) if n >= 1.0 && n == n.trunc() => max = max.max(n as usize),
                    Value::Integer(n) if n >= 1 => max = max.max(n as usize),
                    _ => is_array = false,
                }
            }
            if is_array && (count > 0 || max == 0) && max <= count.max(1) * 2 + 10 {
                out.push(b'[');
                for i in 1..=max {
                    if i > 1 {
                        out.push(b',');
                    }
                    encode(&t.raw_get::<Value>(i)?, out, depth + 1)?;
                }
                out.push(b']');
                if count == 0 {
                    out.clear();
                    out.extend_from_slice(b"{}");
                }
            } else {
                out.push(b'{');
                let mut first = true;
                for (k, val) in t.clone().pairs::<Value, Value>().flatten() {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    match &k {
                        Value::String(s) => encode_str(&s.as_bytes(), out),
                        Value::Number(n) => {
                            let mut tmp = Vec::new();
                            fmt_num(*n, &mut tmp)?;
                            encode_str(&tmp, out);
                        }
                        Value::Integer(n) => encode_str(n.to_string().as_bytes(), out),
                        _ => {
                            return Err(mlua::Error::RuntimeError(
                                "Cannot serialise table: table key must be a number or string"
                                    .into(),
                            ))
                        }
                    }
                    out.push(b':');
                    encode(&val, out, depth + 1)?;
                }
                out.push(b'}');
            }
        }
        other => {
            return Err(mlua::Error::RuntimeError(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            )))
        }
    }
    Ok(())
}

fn decode(lua: &Lua, v: &serde_json::Value, depth: usize) -> mlua::Result<Value> {
    if depth > JSON_DEPTH {
        return Err(mlua::Error::RuntimeError("Found too many nested data structures".into()));
    }
    Ok(match v {
        serde_json::Value::Null => Value::LightUserData(mlua::LightUserData(std::ptr::null_mut())),
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::String(lua.create_string(s)?),
        serde_json::Value::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, it) in items.iter().enumerate() {
                t.raw_set(i + 1, decode(lua, it, depth + 1)?)?;
            }
            Value::Table(t)
        }
        serde_json::Value::Object(m) => {
            let t = lua.create_table()?;
            for (k, it) in m {
                t.raw_set(lua.create_string(k)?, decode(lua, it, depth + 1)?)?;
            }
            Value::Table(t)
        }
    })
}
