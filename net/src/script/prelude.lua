-- Mayfly's Lua sandbox, run once per interpreter (one per shard thread). It receives the
-- debug library (kept private) and the Rust side of the `redis` API, builds the `redis`
-- table, makes the libraries and the globals read-only, and returns the environment
-- scripts run in and the runner that calls a script and locates its errors.
local dbg, call, rawcall, sha1hex, log, setresp, G, fmode, register = ...

local function readonly()
  error("Attempt to modify a readonly table", 2)
end

local function protect(t)
  return setmetatable({}, { __index = t, __newindex = readonly, __metatable = false })
end

-- An error table as Redis builds one from "-CODE message" or "message".
local function error_table(e)
  local code, msg
  if string.sub(e, 1, 1) == "-" then
    local sp = string.find(e, " ", 1, true)
    if sp then
      code, msg = string.sub(e, 2, sp - 1), string.sub(e, sp + 1)
    else
      code, msg = "ERR", string.sub(e, 2)
    end
  else
    code, msg = "ERR", e
  end
  msg = string.gsub(msg, "^[\r\n]+", "")
  msg = string.gsub(msg, "[\r\n]+$", "")
  return { err = code .. " " .. msg }
end

local redis = {}
redis.call = call
redis.pcall = function(...)
  return (rawcall(...))
end
redis.error_reply = function(...)
  local e = ...
  if select("#", ...) ~= 1 or type(e) ~= "string" then
    return { err = "ERR wrong number or type of arguments" }
  end
  if string.sub(e, 1, 1) ~= "-" then
    e = "-" .. e
  end
  return error_table(e)
end
redis.status_reply = function(...)
  local s = ...
  if select("#", ...) ~= 1 or type(s) ~= "string" then
    return { err = "ERR wrong number or type of arguments" }
  end
  return { ok = s }
end
redis.sha1hex = sha1hex
redis.log = log
redis.setresp = setresp
redis.LOG_DEBUG = 0
redis.LOG_VERBOSE = 1
redis.LOG_NOTICE = 2
redis.LOG_WARNING = 3
redis.REPL_NONE = 0
redis.REPL_AOF = 1
redis.REPL_SLAVE = 2
redis.REPL_REPLICA = 2
redis.REPL_ALL = 3
redis.REDIS_VERSION = "7.0.15"
redis.REDIS_VERSION_NUM = 0x0007000f
redis.set_repl = function(...)
  local n = select("#", ...)
  local flags = ...
  if n ~= 1 then
    error({ err = "ERR redis.set_repl() requires one argument." })
  end
  if type(flags) ~= "number" or flags < 0 or flags > 3 then
    error({ err = "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE." })
  end
end
redis.replicate_commands = function()
  return true
end
redis.breakpoint = function()
  return false
end
redis.debug = function() end

-- Binary chunks would bypass every check of the sandbox.
local raw_loadstring = loadstring
G.loadstring = function(s, name)
  if type(s) == "string" and string.sub(s, 1, 1) == "\27" then
    return nil, "loadstring: binary chunks are not allowed"
  end
  return raw_loadstring(s, name)
end
G.loadfile = nil
G.dofile = nil
G.load = nil
G.module = nil
G.require = nil
G.newproxy = nil
G.gcinfo = nil
G.print = nil

G.redis = protect(redis)
for _, name in ipairs({ "string", "table", "math", "bit", "cjson" }) do
  if rawget(G, name) then
    G[name] = protect(G[name])
  end
end
if not fmode then
  G.KEYS = {}
  G.ARGV = {}
end

local env = setmetatable({}, {
  __index = function(_, k)
    local v = G[k]
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = readonly,
  __metatable = false,
})
G._G = env

-- Where an error happened: the innermost frame of the user's script.
local function handler(e)
  for level = 2, 64 do
    local i = dbg.getinfo(level, "Sl")
    if not i then
      break
    end
    if i.source == "@user_script" or i.source == "@user_function" then
      return { e, i.source, i.currentline }
    end
  end
  return { e }
end

local function run(f)
  local ok, r = xpcall(f, handler)
  if ok then
    return true, r
  end
  if type(r) ~= "table" then
    -- The handler does not run for memory errors: r is Lua's message.
    return false, r
  end
  return false, r[1], r[2], r[3]
end

if not fmode then
  return env, run
end

-- Functions (FUNCTION LOAD / FCALL): a library's code runs once with only a small `redis`
-- table (register_function, log, versions) as its globals; the functions it registers run
-- later with the full API. Both see the same environment table, whose lookups switch.
local load_redis = {
  register_function = register,
  log = log,
  LOG_DEBUG = 0,
  LOG_VERBOSE = 1,
  LOG_NOTICE = 2,
  LOG_WARNING = 3,
  REDIS_VERSION = redis.REDIS_VERSION,
  REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM,
}
local load_globals = {
  redis = setmetatable({}, { __index = function(_, k)
    local v = load_redis[k]
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end, __newindex = readonly, __metatable = false }),
}
local loading = false
local fenv = setmetatable({}, {
  __index = function(_, k)
    local v
    if loading then
      v = load_globals[k]
    else
      v = G[k]
    end
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = readonly,
  __metatable = false,
})

-- Runs a library's code in load mode: true, or false and the error.
local function run_lib(chunk)
  loading = true
  local ok, r = xpcall(chunk, handler)
  loading = false
  if ok then
    return true
  end
  if type(r) ~= "table" then
    return false, r
  end
  return false, r[1]
end

-- Calls a registered function with its keys and arguments.
local function run_fn(f, keys, args)
  return run(function()
    return f(keys, args)
  end)
end

return fenv, run_fn, run_lib
