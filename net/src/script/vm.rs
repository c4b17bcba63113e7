//! One Lua 5.1 interpreter per shard thread: the sandbox (`prelude.lua`), compiling scripts
//! by SHA, running one with KEYS/ARGV against the shard's data, and Redis 7.0's conversions
//! between Redis replies and Lua values.
//!
//! A script runs inside one job on the shard that owns its keys (see `super`), so while it
//! runs `redis.call` executes straight on that shard's `Env`: nothing else touches it.

use std::cell::RefCell;
use std::collections::HashMap;

use bytes::Bytes;
use mayfly_engine::command::{flags, Handler, MultiShard};
use mayfly_engine::reply::Reply;
use mlua::{Function, Lua, LuaOptions, MultiValue, StdLib, Table, Value};

use crate::shard::env::Env;

/// How deep a returned table may nest before the reply is refused (Redis hits its Lua
/// stack limit at about the same depth).
const MAX_DEPTH: usize = 1000;

/// Memory one shard's interpreter may hold (scripts' tables and strings, compiled scripts).
const LUA_MEMORY_LIMIT: usize = 1 << 30;

/// Everything a running script's `redis.call` needs, set for the duration of one run.
pub(super) struct RunCtx {
    env: *mut Env,
    db: usize,
    /// 2 or 3 (`redis.setresp`).
    resp: u8,
    read_only: bool,
    /// Which shard this is and how many there are (keys of other shards are refused).
    shard: usize,
    nshards: usize,
    shared: std::sync::Arc<crate::shard::shared::Shared>,
    /// When the script started (for `busy-reply-threshold`).
    start: std::time::Instant,
    /// A write command ran (SCRIPT KILL then refuses: UNKILLABLE).
    wrote: bool,
    /// Set once the script ran past the threshold: its entry in the busy table.
    busy: Option<std::sync::Arc<super::Busy>>,
    /// SCRIPT KILL stopped it.
    killed: bool,
    /// EVAL (true) or FCALL (false): which KILL may stop it, which -BUSY others get.
    eval: bool,
    /// FCALL: the function's name and the caller's command (FUNCTION STATS).
    label: Option<(String, Vec<Bytes>)>,
    /// A function flagged `allow-oom`: its writes skip the maxmemory check.
    pub(super) allow_oom: bool,
}

thread_local! {
    static VM: RefCell<Option<Vm>> = const { RefCell::new(None) };
    /// The functions' interpreter (FUNCTION LOAD / FCALL), separate from EVAL's as in Redis.
    pub(super) static FVM: RefCell<Option<Vm>> = const { RefCell::new(None) };
    /// Set while a library's code runs at load: when it must stop (FUNCTION LOAD timeout).
    pub(super) static LOAD_DEADLINE: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
    pub(super) static LOAD_TIMED_OUT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static CTX: RefCell<Option<RunCtx>> = const { RefCell::new(None) };
}

pub(super) struct Vm {
    pub(super) lua: Lua,
    env: Table,
    globals: Table,
    pub(super) run: Function,
    /// Compiled scripts by SHA, valid for cache generation `generation`.
    funcs: HashMap<String, Function>,
    generation: u64,
    /// Functions' interpreter only: runs a library's code in load mode.
    pub(super) run_lib: Option<Function>,
    /// Functions' interpreter only: the libraries loaded here, by name.
    pub(super) libs: HashMap<String, LoadedLib>,
    /// Functions' interpreter only: `redis.register_function`'s Rust half is installed.
    pub(super) register_ready: bool,
}

/// A library loaded in a functions' interpreter: the code it came from (its identity) and
/// its compiled functions by name.
pub(super) struct LoadedLib {
    pub(super) code: std::sync::Arc<[u8]>,
    pub(super) funcs: HashMap<String, Function>,
}

/// The outcome of compiling a script body.
pub fn compile_check(body: &[u8]) -> Result<(), Reply> {
    with_vm(|vm| vm.compile(body).map(|_| ()))
}

fn with_vm<T>(f: impl FnOnce(&mut Vm) -> Result<T, Reply>) -> Result<T, Reply> {
    with_vm_in(&VM, false, f)
}

/// Runs `f` on this thread's interpreter in `cell` (created on first use; `fmode`: the
/// functions' one).
pub(super) fn with_vm_in<T>(
    cell: &'static std::thread::LocalKey<RefCell<Option<Vm>>>,
    fmode: bool,
    f: impl FnOnce(&mut Vm) -> Result<T, Reply>,
) -> Result<T, Reply> {
    cell.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Vm::new(fmode).map_err(|e| Reply::error(format!("ERR Lua init: {e}")))?);
        }
        match slot.as_mut() {
            Some(vm) => f(vm),
            None => Err(Reply::error("ERR Lua init failed")),
        }
    })
}

/// Bytes held by this shard's interpreter (0 before its first script).
pub fn used_memory() -> usize {
    VM.with(|cell| cell.borrow().as_ref().map_or(0, |vm| vm.lua.used_memory()))
}

/// Bytes held by this shard's functions' interpreter (0 before its first function).
pub fn used_memory_functions() -> usize {
    FVM.with(|cell| cell.borrow().as_ref().map_or(0, |vm| vm.lua.used_memory()))
}

/// What one EVAL asks for.
pub struct Invocation {
    pub sha: String,
    pub body: std::sync::Arc<[u8]>,
    pub keys: Vec<Bytes>,
    pub args: Vec<Bytes>,
    pub db: usize,
    pub read_only: bool,
}

/// Runs a script on this shard; called inside the shard's job.
pub fn run(env: &mut Env, inv: Invocation, generation: u64) -> Reply {
    let ctx = run_ctx(env, inv.db, inv.read_only, true, None);
    let result = with_vm(|vm| {
        if vm.generation != generation {
            vm.funcs.clear();
            vm.generation = generation;
        }
        let f = match vm.funcs.get(&inv.sha) {
            Some(f) => f.clone(),
            None => {
                let f = vm.compile(&inv.body)?;
                vm.funcs.insert(inv.sha.clone(), f.clone());
                f
            }
        };
        vm.set_array("KEYS", &inv.keys).map_err(lua_err)?;
        vm.set_array("ARGV", &inv.args).map_err(lua_err)?;
        call_in_ctx(vm, ctx, &inv.sha, |vm| vm.run.call::<MultiValue>(f))
    });
    result.unwrap_or_else(|e| e)
}

/// The context of one run on this shard.
pub(super) fn run_ctx(
    env: &mut Env,
    db: usize,
    read_only: bool,
    eval: bool,
    label: Option<(String, Vec<Bytes>)>,
) -> RunCtx {
    let rt = crate::shard::here();
    RunCtx {
        env: env as *mut Env,
        db,
        resp: 2,
        read_only,
        shard: rt.id,
        nshards: rt.nshards,
        shared: rt.shared.clone(),
        start: std::time::Instant::now(),
        wrote: false,
        busy: None,
        killed: false,
        eval,
        label,
        allow_oom: false,
    }
}

/// Runs `call` (the runner on a script or function) with `ctx` installed and turns its
/// outcome into the reply; `name` is what errors call the script (SHA or function name).
pub(super) fn call_in_ctx(
    vm: &mut Vm,
    ctx: RunCtx,
    name: &str,
    call: impl FnOnce(&mut Vm) -> mlua::Result<MultiValue>,
) -> Result<Reply, Reply> {
    {
        CTX.with(|c| *c.borrow_mut() = Some(ctx));
        let out = call(vm);
        let done = CTX.with(|c| c.borrow_mut().take());
        let (resp, killed) = done.as_ref().map_or((2, false), |c| (c.resp, c.killed));
        if let Some(busy) = done.and_then(|c| c.busy) {
            super::busy_end(&busy);
        }

        let out = out.map_err(|e| Reply::error(format!("ERR Error running script {e}")))?;
        let mut vals = out.into_iter();
        let ok = matches!(vals.next(), Some(Value::Boolean(true)));
        let value = vals.next().unwrap_or(Value::Nil);
        if ok && !killed {
            return Ok(lua_to_reply(&value, resp, 0));
        }
        let source = vals.next().unwrap_or(Value::Nil);
        let line = vals.next().unwrap_or(Value::Nil);
        if killed {
            let msg = Value::String(
                vm.lua
                    .create_string("Script killed by user with SCRIPT KILL...")
                    .map_err(lua_err)?,
            );
            return Err(script_error(name, &msg, &source, &line));
        }
        Err(script_error(name, &value, &source, &line))
    }
}

pub(super) fn lua_err(e: mlua::Error) -> Reply {
    Reply::error(format!("ERR {e}"))
}

/// Redis's text for an error a script raised: `-<msg> script: <sha>, on <source>:<line>.`
fn script_error(sha: &str, err: &Value, source: &Value, line: &Value) -> Reply {
    let msg = match err {
        Value::Table(t) => match t.raw_get::<Value>("err") {
            Ok(Value::String(s)) => s.to_string_lossy().to_string(),
            _ => "ERR unknown error".to_string(),
        },
        Value::String(s) => format!("ERR {}", s.to_string_lossy()),
        Value::Number(n) => format!("ERR {}", fmt_lua_number(*n)),
        Value::Integer(n) => format!("ERR {n}"),
        _ => "ERR unknown error".to_string(),
    };
    let mut out = msg;
    if let (Value::String(src), Some(line)) = (source, value_int(line)) {
        out.push_str(&format!(" script: {sha}, on {}:{line}.", src.to_string_lossy()));
    }
    Reply::error(out.replace(['\r', '\n'], " "))
}

fn value_int(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => Some(*i),
        Value::Number(n) => Some(*n as i64),
        _ => None,
    }
}

/// Lua 5.1's own `%.14g` rendering of a number (what `tostring` gives).
pub(super) fn fmt_lua_number(n: f64) -> String {
    fmt_g(n, 14)
}

/// C's `%.<prec>g`.
fn fmt_g(n: f64, prec: usize) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan".into() } else { "nan".into() };
    }
    if n.is_infinite() {
        return if n < 0.0 { "-inf".into() } else { "inf".into() };
    }
    if n == 0.0 {
        return if n.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let exp = n.abs().log10().floor() as i32;
    // Round to `prec` significant digits first, the exponent may change.
    let sci = format!("{:.*e}", prec - 1, n);
    let (mant, e) = sci.split_once('e').unwrap_or((&sci, "0"));
    let e: i32 = e.parse().unwrap_or(exp);
    if e < -4 || e >= prec as i32 {
        let mant = trim_zeros(mant);
        let sign = if e < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", e.abs())
    } else {
        let decimals = (prec as i32 - 1 - e).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, n)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Redis's `redis.call` and `redis.setresp` are C functions: an error they raise leaves the
/// script's frame on the stack (so its line is known) and keeps a raised table a table. These
/// trampolines call the Rust half (a named registry function answering `(value, failed)`) and
/// raise `value` when it failed. They own no Rust values, so the Lua error's longjmp crosses
/// only plain frames.
macro_rules! trampoline {
    ($name:ident, $key:literal) => {
        unsafe extern "C-unwind" fn $name(l: *mut mlua::ffi::lua_State) -> std::os::raw::c_int {
            // SAFETY: standard Lua C API use on the state Lua passed in; the stack holds the
            // arguments and the registry function was set at interpreter creation.
            unsafe {
                let n = mlua::ffi::lua_gettop(l);
                mlua::ffi::lua_getfield(l, mlua::ffi::LUA_REGISTRYINDEX, $key.as_ptr());
                mlua::ffi::lua_insert(l, 1);
                mlua::ffi::lua_call(l, n, 2);
                if mlua::ffi::lua_toboolean(l, -1) != 0 {
                    mlua::ffi::lua_pop(l, 1);
                    mlua::ffi::lua_error(l);
                }
                mlua::ffi::lua_pop(l, 1);
                1
            }
        }
    };
}
trampoline!(call_trampoline, c"mayfly.rawcall");
trampoline!(setresp_trampoline, c"mayfly.setresp");
trampoline!(register_trampoline, c"mayfly.register");

impl Vm {
    fn new(fmode: bool) -> mlua::Result<Vm> {
        // SAFETY: the debug library is loaded only to locate errors; the prelude takes it
        // into a local and removes the global before any script runs.
        let lua = unsafe {
            Lua::unsafe_new_with(
                StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
                LuaOptions::new(),
            )
        };
        // A script that allocates without limit fails with Lua's "not enough memory" instead
        // of taking the process's memory.
        lua.set_memory_limit(LUA_MEMORY_LIMIT)?;
        let globals = lua.globals();
        let dbg: Table = globals.get("debug")?;
        globals.set("debug", Value::Nil)?;
        globals.set("bit", super::libs::bit_table(&lua)?)?;
        globals.set("cjson", super::libs::cjson_table(&lua)?)?;
        let rawcall = lua.create_function(|lua, args: MultiValue| raw_call(lua, args))?;
        lua.set_named_registry_value("mayfly.rawcall", rawcall.clone())?;
        // SAFETY: the trampolines follow the Lua C API contract (see `trampoline!`).
        let call = unsafe { lua.create_c_function(call_trampoline)? };
        let sha1hex = lua.create_function(|lua, args: MultiValue| {
            if args.len() != 1 {
                return Err(mlua::Error::RuntimeError("wrong number of arguments".into()));
            }
            let bytes = match &args[0] {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Number(n) => fmt_lua_number(*n).into_bytes(),
                Value::Integer(n) => n.to_string().into_bytes(),
                _ => Vec::new(),
            };
            lua.create_string(super::sha1hex(&bytes))
        })?;
        let log = lua.create_function(|_, args: MultiValue| {
            if args.len() < 2 {
                return Err(mlua::Error::RuntimeError(
                    "redis.log() requires two arguments or more.".into(),
                ));
            }
            let level = value_int(&args[0]).ok_or_else(|| {
                mlua::Error::RuntimeError("First argument must be a number (log level).".into())
            })?;
            if !(0..=3).contains(&level) {
                return Err(mlua::Error::RuntimeError("Invalid debug level.".into()));
            }
            let text: Vec<String> = args
                .iter()
                .skip(1)
                .map(|v| match v {
                    Value::String(s) => s.to_string_lossy().to_string(),
                    Value::Number(n) => fmt_lua_number(*n),
                    Value::Integer(n) => n.to_string(),
                    _ => String::new(),
                })
                .collect();
            let text = text.join(" ");
            match level {
                0 => crate::log::debug(&text),
                1 => crate::log::verbose(&text),
                2 => crate::log::notice(&text),
                _ => crate::log::warning(&text),
            }
            Ok(())
        })?;
        let raw_setresp = lua.create_function(|lua, args: MultiValue| {
            let fail = |m: &str| -> mlua::Result<(Value, bool)> {
                Ok((Value::String(lua.create_string(m)?), true))
            };
            if args.len() != 1 {
                return fail("redis.setresp() requires one argument.");
            }
            let v = value_int(&args[0]).unwrap_or(0);
            if v != 2 && v != 3 {
                return fail("RESP version must be 2 or 3.");
            }
            CTX.with(|c| {
                if let Some(c) = c.borrow_mut().as_mut() {
                    c.resp = v as u8;
                }
            });
            Ok((Value::Nil, false))
        })?;
        lua.set_named_registry_value("mayfly.setresp", raw_setresp)?;
        // SAFETY: as above.
        let setresp = unsafe { lua.create_c_function(setresp_trampoline)? };
        let prelude = lua.load(include_str!("prelude.lua")).set_name("=mayfly").into_function()?;
        lua.set_hook(mlua::HookTriggers::new().every_nth_instruction(100_000), |_, _| busy_check());
        // `mayfly.register` (the Rust half) is installed by the functions' side.
        // SAFETY: as above.
        let register = unsafe { lua.create_c_function(register_trampoline)? };
        let (env, run, run_lib): (Table, Function, Option<Function>) = prelude.call((
            dbg,
            call,
            rawcall,
            sha1hex,
            log,
            setresp,
            globals.clone(),
            fmode,
            register,
        ))?;
        Ok(Vm {
            lua,
            env,
            globals,
            run,
            funcs: HashMap::new(),
            generation: 0,
            run_lib,
            libs: HashMap::new(),
            register_ready: false,
        })
    }

    fn compile(&mut self, body: &[u8]) -> Result<Function, Reply> {
        let f = self.lua.load(body).set_name("@user_script").into_function().map_err(|e| {
            let msg = match &e {
                mlua::Error::SyntaxError { message, .. } => message.clone(),
                other => other.to_string(),
            };
            Reply::error(format!("ERR Error compiling script (new function): {msg}"))
        })?;
        // The script sees the read-only environment, not the real globals.
        let setfenv: Function = self.globals.get("setfenv").map_err(lua_err)?;
        setfenv.call::<()>((f.clone(), self.env.clone())).map_err(lua_err)?;
        Ok(f)
    }

    /// Makes `f` see the sandboxed environment instead of the real globals.
    pub(super) fn set_env(&self, f: &Function) -> mlua::Result<()> {
        let setfenv: Function = self.globals.get("setfenv")?;
        setfenv.call::<()>((f.clone(), self.env.clone()))
    }

    fn set_array(&self, name: &str, items: &[Bytes]) -> mlua::Result<()> {
        let t = self.lua.create_table_with_capacity(items.len(), 0)?;
        for (i, item) in items.iter().enumerate() {
            t.raw_set(i + 1, self.lua.create_string(&item[..])?)?;
        }
        self.globals.raw_set(name, t)
    }
}

/// The instruction-count hook: past `busy-reply-threshold` the script is registered as busy
/// (other clients get -BUSY, SCRIPT KILL can stop it); once killed it fails at every check,
/// so a `pcall` in the script cannot swallow the kill.
fn busy_check() -> mlua::Result<mlua::VmState> {
    if let Some(deadline) = LOAD_DEADLINE.with(|d| d.get()) {
        if LOAD_TIMED_OUT.with(|t| t.get()) || std::time::Instant::now() >= deadline {
            LOAD_TIMED_OUT.with(|t| t.set(true));
            return Err(mlua::Error::RuntimeError("FUNCTION LOAD timeout".into()));
        }
    }
    CTX.with(|c| {
        let mut c = c.borrow_mut();
        let Some(ctx) = c.as_mut() else { return Ok(mlua::VmState::Continue) };
        if ctx.killed {
            return Err(mlua::Error::RuntimeError(
                "Script killed by user with SCRIPT KILL...".into(),
            ));
        }
        match &ctx.busy {
            None => {
                let threshold = ctx.shared.read_config(|c| c.busy_reply_threshold);
                if threshold > 0 && ctx.start.elapsed().as_millis() as u64 >= threshold {
                    ctx.busy = Some(super::busy_begin(
                        ctx.shard,
                        ctx.wrote,
                        ctx.eval,
                        ctx.label.clone(),
                        ctx.start,
                    ));
                }
            }
            Some(busy) => {
                if busy.kill.load(std::sync::atomic::Ordering::Acquire) {
                    ctx.killed = true;
                    return Err(mlua::Error::RuntimeError(
                        "Script killed by user with SCRIPT KILL...".into(),
                    ));
                }
            }
        }
        Ok(mlua::VmState::Continue)
    })
}

/// The Rust half of `redis.call`/`redis.pcall`: returns the converted reply, or an error
/// table and `true` (which `redis.call` raises and `redis.pcall` returns).
fn raw_call(lua: &Lua, args: MultiValue) -> mlua::Result<(Value, bool)> {
    let fail = |msg: &str| -> mlua::Result<(Value, bool)> {
        let t = lua.create_table()?;
        t.raw_set("err", msg)?;
        Ok((Value::Table(t), true))
    };
    if args.is_empty() {
        return fail("ERR Please specify at least one argument for this redis lib call");
    }
    let mut argv: Vec<Bytes> = Vec::with_capacity(args.len());
    for a in args.iter() {
        match a {
            Value::String(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Number(n) => argv.push(Bytes::from(fmt_g(*n, 17))),
            Value::Integer(n) => argv.push(Bytes::from(n.to_string())),
            _ => return fail("ERR Lua redis lib command arguments must be strings or integers"),
        }
    }
    let Some(spec) = mayfly_engine::lookup(&argv[0]) else {
        return fail("ERR Unknown Redis command called from script");
    };
    if !spec.arity_ok(argv.len()) {
        return fail("ERR Wrong number of args calling Redis command from script");
    }
    if spec.has(flags::NOSCRIPT) {
        return fail("ERR This Redis command is not allowed from script");
    }
    let reply = CTX.with(|c| {
        let mut c = c.borrow_mut();
        let Some(ctx) = c.as_mut() else {
            return Reply::error("ERR redis.call/pcall can only be called inside a script invocation");
        };
        if ctx.read_only && spec.has(flags::WRITE | flags::MAY_REPLICATE) {
            return Reply::error("ERR Write commands are not allowed from read-only scripts.");
        }
        if spec.name == "select" {
            return match std::str::from_utf8(&argv[1]).ok().and_then(|s| s.parse::<i64>().ok()) {
                None => Reply::error("ERR value is not an integer or out of range"),
                Some(n) => {
                    // SAFETY: the job running this script holds the only &mut Env for its
                    // whole duration and does not use it while Lua runs.
                    let dbs = unsafe { (*ctx.env).shard.dbs.len() };
                    if n < 0 || n as usize >= dbs {
                        Reply::error("ERR DB index is out of range")
                    } else {
                        ctx.db = n as usize;
                        Reply::ok()
                    }
                }
            };
        }
        if !matches!(spec.handler, Handler::Shard(_)) {
            return Reply::error(format!(
                "ERR Mayfly does not run '{}' from scripts yet",
                spec.name
            ));
        }
        if ctx.nshards > 1 {
            if matches!(spec.multi, MultiShard::Broadcast(_) | MultiShard::Net) {
                return Reply::error(format!(
                    "ERR '{}' touches every shard: Mayfly runs a script on the shard of its keys and does not run it from scripts yet",
                    spec.name
                ));
            }
            for i in spec.keys_of(&argv) {
                if ctx.shared.shard_of(&argv[i]) != ctx.shard {
                    return Reply::error(format!(
                        "ERR Script accessed key '{}' that lives on another shard than the script's keys; Mayfly runs a script on the shard of its keys (use hash tags to keep them together)",
                        String::from_utf8_lossy(&argv[i])
                    ));
                }
            }
        }
        if spec.has(flags::WRITE) {
            ctx.wrote = true;
            if let Some(b) = &ctx.busy {
                b.wrote.store(true, std::sync::atomic::Ordering::Release);
            }
        }
        // SAFETY: as above: the script's job owns the Env exclusively while Lua runs.
        let env = unsafe { &mut *ctx.env };
        if ctx.allow_oom && spec.has(flags::DENYOOM) {
            // `allow-oom`: the write goes ahead above maxmemory, as in Redis.
            return env.shard.execute_spec(spec, ctx.db, &argv, ctx.resp == 3);
        }
        env.exec_spec(spec, ctx.db, &argv, ctx.resp == 3)
    });
    let resp = CTX.with(|c| c.borrow().as_ref().map_or(2, |c| c.resp));
    if let Reply::Error(e) = &reply {
        let t = lua.create_table()?;
        let text = e.trim_end_matches(['\r', '\n']);
        t.raw_set("err", text)?;
        return Ok((Value::Table(t), true));
    }
    Ok((reply_to_lua(lua, &reply, resp)?, false))
}

/// A command's reply as the script sees it (Redis 7.0, RESP2 or RESP3 per `redis.setresp`).
fn reply_to_lua(lua: &Lua, r: &Reply, resp: u8) -> mlua::Result<Value> {
    let single = |k: &str, v: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(k, v)?;
        Ok(Value::Table(t))
    };
    Ok(match r {
        Reply::Status(s) => single("ok", Value::String(lua.create_string(s.as_bytes())?))?,
        Reply::Error(e) => single("err", Value::String(lua.create_string(e.as_bytes())?))?,
        Reply::Int(n) => Value::Number(*n as f64),
        Reply::Bulk(b) => Value::String(lua.create_string(&b[..])?),
        Reply::Nil | Reply::NilArray => {
            if resp == 3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Reply::Array(items) | Reply::Push(items) => array(lua, items, resp)?,
        Reply::Set(items) => {
            if resp == 3 {
                let t = lua.create_table()?;
                for it in items {
                    t.raw_set(reply_to_lua(lua, it, resp)?, true)?;
                }
                single("set", Value::Table(t))?
            } else {
                array(lua, items, resp)?
            }
        }
        Reply::Map(pairs) => {
            if resp == 3 {
                let t = lua.create_table()?;
                for (k, v) in pairs {
                    t.raw_set(reply_to_lua(lua, k, resp)?, reply_to_lua(lua, v, resp)?)?;
                }
                single("map", Value::Table(t))?
            } else {
                let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
                let mut i = 1;
                for (k, v) in pairs {
                    t.raw_set(i, reply_to_lua(lua, k, resp)?)?;
                    t.raw_set(i + 1, reply_to_lua(lua, v, resp)?)?;
                    i += 2;
                }
                Value::Table(t)
            }
        }
        Reply::Double(d) => {
            if resp == 3 {
                single("double", Value::Number(*d))?
            } else {
                Value::String(lua.create_string(mayfly_resp::format_double(*d))?)
            }
        }
        Reply::Bool(b) => {
            if resp == 3 {
                Value::Boolean(*b)
            } else {
                Value::Number(if *b { 1.0 } else { 0.0 })
            }
        }
        Reply::Verbatim(fmt, s) => {
            if resp == 3 {
                let inner = lua.create_table()?;
                inner.raw_set("format", *fmt)?;
                inner.raw_set("string", lua.create_string(&s[..])?)?;
                single("verbatim_string", Value::Table(inner))?
            } else {
                Value::String(lua.create_string(&s[..])?)
            }
        }
        Reply::BigNumber(n) => {
            if resp == 3 {
                single("big_number", Value::String(lua.create_string(n)?))?
            } else {
                Value::String(lua.create_string(n)?)
            }
        }
    })
}

fn array(lua: &Lua, items: &[Reply], resp: u8) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, it) in items.iter().enumerate() {
        t.raw_set(i + 1, reply_to_lua(lua, it, resp)?)?;
    }
    Ok(Value::Table(t))
}

/// A script's return value as a Redis reply (Redis 7.0's rules: numbers truncate to
/// integers, arrays stop at the first nil, `err`/`ok`/`double`/`map`/`set` tables).
fn lua_to_reply(v: &Value, resp: u8, depth: usize) -> Reply {
    if depth > MAX_DEPTH {
        return Reply::error("ERR reached lua stack limit");
    }
    match v {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(b) => {
            if resp == 3 {
                Reply::Bool(*b)
            } else if *b {
                Reply::Int(1)
            } else {
                Reply::Nil
            }
        }
        Value::Number(n) => Reply::Int(c_double_to_i64(*n)),
        Value::Integer(n) => Reply::Int(*n),
        Value::Table(t) => table_to_reply(t, resp, depth),
        _ => Reply::Nil,
    }
}

/// C's `(long long)` of a double as x86-64 computes it: out of range and NaN give i64::MIN.
fn c_double_to_i64(n: f64) -> i64 {
    if !(-9223372036854775808.0..9223372036854775808.0).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

fn table_to_reply(t: &Table, resp: u8, depth: usize) -> Reply {
    if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
        let text = e.to_string_lossy().replace(['\r', '\n'], " ");
        return Reply::error(text);
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
        return Reply::status(s.to_string_lossy().replace(['\r', '\n'], " "));
    }
    match t.raw_get::<Value>("double") {
        Ok(Value::Number(d)) => return Reply::Double(d),
        Ok(Value::Integer(d)) => return Reply::Double(d as f64),
        _ => {}
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("big_number") {
        return Reply::BigNumber(s.to_string_lossy().replace(['\r', '\n'], " "));
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let mut pairs = Vec::new();
        for (k, v) in m.pairs::<Value, Value>().flatten() {
            pairs.push((lua_to_reply(&k, resp, depth + 1), lua_to_reply(&v, resp, depth + 1)));
        }
        return Reply::Map(pairs);
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        let mut items = Vec::new();
        for (k, _) in s.pairs::<Value, Value>().flatten() {
            items.push(lua_to_reply(&k, resp, depth + 1));
        }
        return Reply::Set(items);
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => {
                let r = lua_to_reply(&v, resp, depth + 1);
                if depth == 0 && matches!(&r, Reply::Error(e) if e == "ERR reached lua stack limit")
                {
                    return r;
                }
                items.push(r);
            }
        }
    }
    if items.iter().any(|r| matches!(r, Reply::Error(e) if e == "ERR reached lua stack limit")) {
        return Reply::error("ERR reached lua stack limit");
    }
    Reply::Array(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmt_g_matches_c() {
        assert_eq!(fmt_g(1.0, 17), "1");
        assert_eq!(fmt_g(3.5, 17), "3.5");
        assert_eq!(fmt_g(0.1, 17), "0.10000000000000001");
        assert_eq!(fmt_g(1e20, 17), "1e+20");
        assert_eq!(fmt_g(-2.0, 14), "-2");
        assert_eq!(fmt_g(123456789012345678.0, 17), "1.2345678901234568e+17");
        assert_eq!(fmt_g(0.0001, 14), "0.0001");
        assert_eq!(fmt_g(0.00001, 14), "1e-05");
    }
}
