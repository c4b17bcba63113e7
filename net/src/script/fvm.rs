//! The functions' side of a shard's Lua: loading a library (its code runs once in load mode,
//! where the only global is a small `redis` table, and registers functions with
//! `redis.register_function`) and calling a registered function with its keys and arguments.
//!
//! Each shard thread has its own functions' interpreter (separate from EVAL's, as in Redis):
//! a library is loaded there the first time one of its functions is called on that shard,
//! and loaded again when the server-wide registry holds a newer version of it.

use std::cell::RefCell;
use std::sync::Arc;

use bytes::Bytes;
use mayfly_engine::reply::Reply;
use mlua::{Function, Lua, MultiValue, Value};

use super::vm::{self, LoadedLib, Vm, FVM, LOAD_DEADLINE, LOAD_TIMED_OUT};
use crate::shard::env::Env;

/// How long a library's code may run at FUNCTION LOAD (Redis's LOAD_TIMEOUT_MS).
const LOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// Script flags (`#!lua flags=` and `redis.register_function{flags=…}`), Redis's names.
pub const FLAG_NO_WRITES: u32 = 1;
pub const FLAG_ALLOW_OOM: u32 = 2;
pub const FLAG_ALLOW_STALE: u32 = 4;
pub const FLAG_NO_CLUSTER: u32 = 8;
pub const FLAG_ALLOW_CROSS_SLOT: u32 = 16;
pub const FLAG_NAMES: [(u32, &str); 5] = [
    (FLAG_NO_WRITES, "no-writes"),
    (FLAG_ALLOW_OOM, "allow-oom"),
    (FLAG_ALLOW_STALE, "allow-stale"),
    (FLAG_NO_CLUSTER, "no-cluster"),
    (FLAG_ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
];

/// One function a library registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncSpec {
    pub name: String,
    pub desc: Option<Bytes>,
    pub flags: u32,
}

/// One library: its name, its whole code (shebang included, as FUNCTION LIST WITHCODE,
/// DUMP and the RDB keep it), where the Lua text starts, and its functions in the order
/// they were registered.
#[derive(Debug)]
pub struct Library {
    pub name: String,
    pub code: Arc<[u8]>,
    pub body_at: usize,
    pub functions: Vec<FuncSpec>,
}

/// This thread's functions' interpreter, with `redis.register_function` wired.
fn with_fvm<T>(f: impl FnOnce(&mut Vm) -> Result<T, Reply>) -> Result<T, Reply> {
    vm::with_vm_in(&FVM, true, |vm| {
        if !vm.register_ready {
            let raw = vm.lua.create_function(raw_register).map_err(vm::lua_err)?;
            vm.lua.set_named_registry_value("mayfly.register", raw).map_err(vm::lua_err)?;
            vm.register_ready = true;
        }
        f(vm)
    })
}

struct Registered {
    spec: FuncSpec,
    f: Function,
}

thread_local! {
    /// The functions registered so far while a library's code runs (None: not loading).
    static LOADING: RefCell<Option<Vec<Registered>>> = const { RefCell::new(None) };
}

/// Redis's rule for library and function names: letters, digits and `_`, at least one.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// `lua_isstring` + `lua_tostring`: strings, and numbers in Lua's own rendering.
fn lua_string(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(n) => Some(n.to_string().into_bytes()),
        Value::Number(n) => Some(vm::fmt_lua_number(*n).into_bytes()),
        _ => None,
    }
}

fn read_flags(t: &mlua::Table) -> Result<u32, &'static str> {
    let mut flags = 0;
    for i in 1.. {
        let v: Value = t.raw_get(i).map_err(|_| "unknown flag given")?;
        if matches!(v, Value::Nil) {
            break;
        }
        let s = lua_string(&v).ok_or("unknown flag given")?;
        let flag = FLAG_NAMES
            .iter()
            .find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(&s))
            .ok_or("unknown flag given")?;
        flags |= flag.0;
    }
    Ok(flags)
}

/// The arguments of `redis.register_function`, in either form, with Redis's errors.
/// `redis.register_function`'s arguments: name, description, flags, callback.
type RegisterArgs = (Vec<u8>, Option<Vec<u8>>, u32, Function);

fn read_args(args: &MultiValue) -> Result<RegisterArgs, &'static str> {
    if args.is_empty() || args.len() > 2 {
        return Err("wrong number of arguments to redis.register_function");
    }
    if args.len() == 2 {
        let name = lua_string(&args[0])
            .ok_or("first argument to redis.register_function must be a string")?;
        let Value::Function(f) = &args[1] else {
            return Err("second argument to redis.register_function must be a function");
        };
        return Ok((name, None, 0, f.clone()));
    }
    let Value::Table(t) = &args[0] else {
        return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
    };
    let (mut name, mut desc, mut flags, mut callback) = (None, None, 0, None);
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|_| "unknown argument given to redis.register_function")?;
        let key = lua_string(&k)
            .ok_or("named argument key given to redis.register_function is not a string")?;
        if key.eq_ignore_ascii_case(b"function_name") {
            name = Some(lua_string(&v).ok_or(
                "function_name argument given to redis.register_function must be a string",
            )?);
        } else if key.eq_ignore_ascii_case(b"description") {
            desc =
                Some(lua_string(&v).ok_or(
                    "description argument given to redis.register_function must be a string",
                )?);
        } else if key.eq_ignore_ascii_case(b"callback") {
            let Value::Function(f) = v else {
                return Err(
                    "callback argument given to redis.register_function must be a function",
                );
            };
            callback = Some(f);
        } else if key.eq_ignore_ascii_case(b"flags") {
            let Value::Table(ft) = v else {
                return Err("flags argument to redis.register_function must be a table representing function flags");
            };
            flags = read_flags(&ft)?;
        } else {
            return Err("unknown argument given to redis.register_function");
        }
    }
    let name = name.ok_or("redis.register_function must get a function name argument")?;
    let callback = callback.ok_or("redis.register_function must get a callback argument")?;
    Ok((name, desc, flags, callback))
}

/// The Rust half of `redis.register_function` (raised by its trampoline when it fails).
fn raw_register(lua: &Lua, args: MultiValue) -> mlua::Result<(Value, bool)> {
    let fail = |m: &str| -> mlua::Result<(Value, bool)> {
        let t = lua.create_table()?;
        t.raw_set("err", format!("ERR {m}"))?;
        Ok((Value::Table(t), true))
    };
    if LOADING.with(|l| l.borrow().is_none()) {
        return fail("redis.register_function can only be called on FUNCTION LOAD command");
    }
    let (name, desc, flags, f) = match read_args(&args) {
        Ok(r) => r,
        Err(m) => return fail(m),
    };
    if !valid_name(&name) {
        return fail("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long");
    }
    let name = String::from_utf8_lossy(&name).into_owned();
    let dup = LOADING
        .with(|l| l.borrow().as_ref().is_some_and(|regs| regs.iter().any(|r| r.spec.name == name)));
    if dup {
        return fail("Function already exists in the library");
    }
    let spec = FuncSpec { name, desc: desc.map(Bytes::from), flags };
    LOADING.with(|l| {
        if let Some(regs) = l.borrow_mut().as_mut() {
            regs.push(Registered { spec, f });
        }
    });
    Ok((Value::Nil, false))
}

/// Runs a library's code (`code[body_at..]`, the text after its shebang line) in this
/// thread's functions' interpreter and keeps its functions under `lib`. Returns what it
/// registered, or Redis's error text (without `ERR `).
pub(super) fn load_library(
    lib: &str,
    code: &Arc<[u8]>,
    body_at: usize,
    timeout: bool,
) -> Result<Vec<FuncSpec>, String> {
    let mut out = Err(String::new());
    let r = with_fvm(|vm| {
        out = load_into(vm, lib, code, body_at, timeout);
        Ok(())
    });
    if let Err(Reply::Error(e)) = r {
        return Err(e.strip_prefix("ERR ").unwrap_or(&e).to_string());
    }
    out
}

fn load_into(
    vm: &mut Vm,
    lib: &str,
    code: &Arc<[u8]>,
    body_at: usize,
    timeout: bool,
) -> Result<Vec<FuncSpec>, String> {
    let body = code.get(body_at..).unwrap_or_default();
    let chunk = vm.lua.load(body).set_name("@user_function").into_function().map_err(|e| {
        let msg = match &e {
            mlua::Error::SyntaxError { message, .. } => message.clone(),
            other => other.to_string(),
        };
        format!("Error compiling function: {msg}")
    })?;
    vm.set_env(&chunk).map_err(|e| format!("Error compiling function: {e}"))?;
    let Some(run_lib) = vm.run_lib.clone() else {
        return Err("Error registering functions: not a functions interpreter".into());
    };
    LOADING.with(|l| *l.borrow_mut() = Some(Vec::new()));
    LOAD_TIMED_OUT.with(|t| t.set(false));
    if timeout {
        LOAD_DEADLINE.with(|d| d.set(Some(std::time::Instant::now() + LOAD_TIMEOUT)));
    }
    let res = run_lib.call::<MultiValue>(chunk);
    LOAD_DEADLINE.with(|d| d.set(None));
    let regs = LOADING.with(|l| l.borrow_mut().take()).unwrap_or_default();
    if LOAD_TIMED_OUT.with(|t| t.replace(false)) {
        return Err("Error registering functions: ERR FUNCTION LOAD timeout".into());
    }
    let vals = res.map_err(|e| format!("Error registering functions: ERR {e}"))?;
    let mut vals = vals.into_iter();
    if !matches!(vals.next(), Some(Value::Boolean(true))) {
        let msg = match vals.next() {
            Some(Value::Table(t)) => match t.raw_get::<Value>("err") {
                Ok(Value::String(s)) => s.to_string_lossy().to_string(),
                _ => "ERR unknown error".to_string(),
            },
            Some(Value::String(s)) => format!("ERR {}", s.to_string_lossy()),
            Some(other) => format!("ERR {}", other.to_string().unwrap_or_default()),
            None => "ERR unknown error".to_string(),
        };
        return Err(format!("Error registering functions: {msg}"));
    }
    if regs.is_empty() {
        return Err("No functions registered".into());
    }
    let specs = regs.iter().map(|r| r.spec.clone()).collect();
    let funcs = regs.into_iter().map(|r| (r.spec.name, r.f)).collect();
    vm.libs.insert(lib.to_string(), LoadedLib { code: code.clone(), funcs });
    Ok(specs)
}

/// Drops the libraries of this thread's interpreter that `keep` rejects (deleted or
/// replaced ones).
pub(super) fn retain_libs(keep: impl Fn(&str, &Arc<[u8]>) -> bool) {
    FVM.with(|cell| {
        if let Some(vm) = cell.borrow_mut().as_mut() {
            vm.libs.retain(|name, l| keep(name, &l.code));
        }
    });
}

/// What one FCALL asks for.
pub(super) struct Call {
    pub lib: Arc<Library>,
    pub name: String,
    pub keys: Vec<Bytes>,
    pub args: Vec<Bytes>,
    pub db: usize,
    pub read_only: bool,
    pub allow_oom: bool,
    pub argv: Vec<Bytes>,
}

/// Runs a registered function on this shard; called inside the shard's job.
pub(super) fn run_function(env: &mut Env, call: Call) -> Reply {
    let mut ctx =
        vm::run_ctx(env, call.db, call.read_only, false, Some((call.name.clone(), call.argv)));
    ctx.allow_oom = call.allow_oom;
    let lib = call.lib;
    let result = with_fvm(|vm| {
        let fresh = vm.libs.get(&lib.name).is_some_and(|l| Arc::ptr_eq(&l.code, &lib.code));
        if !fresh {
            load_into(vm, &lib.name, &lib.code, lib.body_at, false)
                .map_err(|m| Reply::error(format!("ERR {m}")))?;
        }
        let f = vm
            .libs
            .get(&lib.name)
            .and_then(|l| l.funcs.get(&call.name))
            .cloned()
            .ok_or_else(|| Reply::error("ERR Function not found"))?;
        let keys = array(&vm.lua, &call.keys).map_err(vm::lua_err)?;
        let args = array(&vm.lua, &call.args).map_err(vm::lua_err)?;
        vm::call_in_ctx(vm, ctx, &call.name, |vm| vm.run.call::<MultiValue>((f, keys, args)))
    });
    result.unwrap_or_else(|e| e)
}

fn array(lua: &Lua, items: &[Bytes]) -> mlua::Result<mlua::Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(&item[..])?)?;
    }
    Ok(t)
}
