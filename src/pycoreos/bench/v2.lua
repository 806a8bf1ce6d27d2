-- wrk driver for `pycoreos benchmark` against the etcd v2 keys API.
--
-- Usage (this is exactly what the Python side runs; it can be pasted into a shell):
--   wrk -t1 -c64 -d5s --timeout 10s -s v2.lua http://127.0.0.1:2379 \
--       method=PUT prefix=/v2/keys/bench/ keyspace=1 keysize=8 valsize=256 seed=1 conns=64
--
-- Arguments are key=value words after the URL (wrk hands them to init(); they never start
-- with "-", so wrk's getopt leaves them alone):
--   method    PUT or GET
--   prefix    path before the key, e.g. /v2/keys/bench/
--   suffix    appended after the key, e.g. ?quorum=true (default empty)
--   keyspace  keys are drawn from [0, keyspace)
--   keysize   keys are the zero-padded decimal index, keysize characters wide
--   valsize   PUT bodies are "value=<valsize seeded random alphanumerics>"
--   seed      per-thread RNG seed is seed + thread id (LuaJIT's PRNG is deterministic)
--   sequential 1 = thread t walks keys t, t+T, t+2T, ... (mod keyspace) instead of random
--   conns     connections of ONE thread (wrk gives each thread connections/threads)
--   quota     0 = run for wrk's -d duration; Q0,Q1,... = thread t stops after Qt responses
--   progress  print "@pcb progress <tid> <n>" every this many requests (0 = never)
--
-- --total strategy: wrk's main thread always sleeps for -d, so Python runs wrk with a long
-- -d, and each thread counts its request() calls. Call number quota+conns happens right after
-- the quota-th response completed (each connection's first call precedes any response and
-- every later call follows one), so the thread stops there with `quota` responses recorded
-- (plus any that complete in the same event-loop pass, at most one per other connection),
-- prints "@pcb stopped", and Python sends SIGINT once every thread has stopped.
-- The time span comes from CLOCK_MONOTONIC stamps taken in request() (first call, stop),
-- not from wrk's own runtime, which includes the SIGINT round trip.
--
-- done() prints every line prefixed with "@pcb" for pycoreos.bench.wrkout to parse:
--   @pcb summary <duration_us> <requests> <bytes>
--   @pcb errors <connect> <read> <write> <status> <timeout>
--   @pcb bucket <latency_us> <count>          (one per distinct latency, ascending)
--   @pcb thread <tid> <first_us> <stop_us> <calls>
--   @pcb end
-- wrk applies its coordinated-omission correction to the latency histogram before done()
-- runs; the buckets are printed as wrk holds them and Python undoes the correction exactly.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } pcb_timespec;
int clock_gettime(int clk_id, pcb_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("pcb_timespec")

local function now_us()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
   return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

-- ---------------------------------------------------------------- main state (setup/done)

local threads = {}
local next_tid = 0

function setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
   table.insert(threads, thread)
end

-- ---------------------------------------------------------------- per-thread state

local cfg = {}
local method, prefix, suffix, body, headers
local keyspace, keyfmt, sequential, quota, conns, progress, nthreads
local seq_next = 0

local ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

local function random_string(n)
   local parts = {}
   for i = 1, n do
      local j = math.random(1, #ALNUM)
      parts[i] = ALNUM:sub(j, j)
   end
   return table.concat(parts)
end

function init(args)
   for i = 1, #args do
      local k, v = args[i]:match("^([%w_]+)=(.*)$")
      if k then cfg[k] = v end
   end
   method = cfg.method or "PUT"
   prefix = cfg.prefix or "/v2/keys/bench/"
   suffix = cfg.suffix or ""
   keyspace = tonumber(cfg.keyspace or "1")
   keyfmt = "%0" .. tonumber(cfg.keysize or "8") .. "d"
   sequential = cfg.sequential == "1"
   conns = tonumber(cfg.conns or "1")
   progress = tonumber(cfg.progress or "0")
   nthreads = tonumber(cfg.threads or "1")
   -- `tid` was set by setup() in the main state before init() runs in this thread's state.
   math.randomseed(tonumber(cfg.seed or "1") + tid)
   -- quota=Q0,Q1,...: thread t's quota is the (t+1)-th number (0 or missing: no quota).
   local quotas = {}
   for q in (cfg.quota or "0"):gmatch("%d+") do quotas[#quotas + 1] = tonumber(q) end
   quota = quotas[tid + 1] or 0
   seq_next = tid
   headers = {}
   if method == "PUT" then
      -- One value per thread, drawn from the seeded PRNG (etcd's benchmark also sends one
      -- random value for the whole run).
      body = "value=" .. random_string(tonumber(cfg.valsize or "8"))
      headers["Content-Type"] = "application/x-www-form-urlencoded"
   end
   -- Globals (not locals) so that done() can read them through thread:get().
   -- wrk calls request() once on the first thread before the run, only to check that the
   -- request parses (script_verify_request); that call is never sent, so it does not count.
   calls = (tid == 0) and -1 or 0
   stopped = false
   t_first = nil
   t_stop = nil
end

local function next_key()
   local k
   if sequential then
      k = seq_next % keyspace
      seq_next = seq_next + nthreads
   else
      k = math.random(0, keyspace - 1)
   end
   return string.format(keyfmt, k)
end

function request()
   calls = calls + 1
   if calls == 1 then t_first = now_us() end
   if progress > 0 and calls % progress == 0 then
      -- One string, one write: wrk's threads share stdout, and io.write with several
      -- arguments lets another thread's line land in the middle of this one.
      io.write("@pcb progress " .. tid .. " " .. calls .. "\n")
      io.flush()
   end
   if quota > 0 and calls == quota + conns and not stopped then
      stopped = true
      t_stop = now_us()
      io.write("@pcb stopped " .. tid .. "\n")
      io.flush()
      wrk.thread:stop()
   end
   return wrk.format(method, prefix .. next_key() .. suffix, headers, body)
end

-- ---------------------------------------------------------------- report (main state)

function done(summary, latency, requests)
   local out = {}
   local function emit(s) out[#out + 1] = "@pcb " .. s end
   local e = summary.errors
   emit(string.format("summary %d %d %d", summary.duration, summary.requests, summary.bytes))
   emit(string.format("errors %d %d %d %d %d", e.connect, e.read, e.write, e.status, e.timeout))
   for i = 1, #latency do
      local v, c = latency(i)
      emit(string.format("bucket %d %d", v, c))
   end
   for _, t in ipairs(threads) do
      emit(string.format("thread %d %d %d %d", t:get("tid"), t:get("t_first") or -1,
                         t:get("t_stop") or -1, t:get("calls") or -1))
   end
   emit("end")
   io.write(table.concat(out, "\n"), "\n")
   io.flush()
end
