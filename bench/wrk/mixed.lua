-- wrk script for scenario 11 of bench/run.py (bench/mixed.py): a mix of two GraphQL
-- requests, chosen per request (a write when math.random() < WRK_WRITE_SHARE), with the
-- latency of each kind measured apart. Prints one machine-readable line at the end:
--   WRK_MIXED_JSON {"requests","duration_us","errors":{…},"reads":{…},"writes":{…},
--                   "writes_by_ticket":{id: n}}
-- with {ok, failed, mean_us, p50_us, p90_us, p99_us, max_us} for reads and writes (failed:
-- a status other than 200 or a body with GraphQL `errors`; their latency is not counted).
--
-- wrk's own latency histogram mixes both kinds, and wrk does not say which request a
-- response answers. So this script is meant for ONE CONNECTION PER THREAD (`-t N -c N`):
-- each thread then has one request in flight at a time, and the response that follows a
-- request() answers it. The time is LuaJIT's FFI clock_gettime(CLOCK_MONOTONIC), taken in
-- request() (just before wrk writes it) and in response().
--
-- Environment:
--   WRK_READ_BODY   file holding the read's JSON body (sent as it is)
--   WRK_WRITE_BODY  file holding the write's JSON body: every __ID__ is replaced by a
--                   random id of WRK_IDS, every __N__ by "<WRK_LABEL>/<thread>-<n>/<t>",
--                   t the request's start in µs of CLOCK_MONOTONIC (the subscribers of
--                   bench/ws/mixed.mjs read it back from the delivered content)
--   WRK_IDS         file of ticket ids, one a line
--   WRK_WRITE_SHARE share of writes (default 0.1)
--   WRK_LABEL       marks this run's writes (no "/", no space)
--   WRK_AUTH        value of the Authorization header (optional)

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } mixed_timespec;
int clock_gettime(int clock_id, mixed_timespec *tp);
]])
local ts = ffi.new("mixed_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC, as Node's process.hrtime
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
local auth = os.getenv("WRK_AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
local read_body = slurp(os.getenv("WRK_READ_BODY"))
local write_template = slurp(os.getenv("WRK_WRITE_BODY"))
local share = tonumber(os.getenv("WRK_WRITE_SHARE") or "0.1")
local label = os.getenv("WRK_LABEL") or "mixed"
wrk.body = read_body

local ids = {}
for line in io.lines(os.getenv("WRK_IDS")) do
  if line ~= "" then ids[#ids + 1] = line end
end

-- Per thread (globals, so that done() can read them with thread:get).
mixed_r = {}     -- read latencies, µs
mixed_w = {}     -- write latencies, µs
mixed_rf = 0     -- failed reads
mixed_wf = 0     -- failed writes
mixed_wt = {}    -- successful writes per ticket id

local counter = 0
local thread_tag = "0"
local kind, started, ticket = nil, 0, nil
local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_number", #threads)
end

function init(args)
  local n = thread_number or 0
  thread_tag = tostring(n)
  math.randomseed(os.time() * 1000 + n * 7919)
end

function request()
  counter = counter + 1
  started = now_us()
  if math.random() < share then
    kind = "w"
    ticket = ids[math.random(1, #ids)]
    local body = write_template:gsub("__ID__", ticket)
    body = body:gsub("__N__", label .. "/" .. thread_tag .. "-" .. counter .. "/" .. started)
    return wrk.format(nil, nil, nil, body)
  end
  kind = "r"
  return wrk.format(nil, nil, nil, read_body)
end

function response(status, headers, body)
  local us = now_us() - started
  local ok = status == 200 and not string.find(body, '"errors"', 1, true)
  if kind == "w" then
    if ok then
      mixed_w[#mixed_w + 1] = us
      mixed_wt[ticket] = (mixed_wt[ticket] or 0) + 1
    else
      mixed_wf = mixed_wf + 1
    end
  elseif kind == "r" then
    if ok then mixed_r[#mixed_r + 1] = us else mixed_rf = mixed_rf + 1 end
  end
  kind = nil
end

local function stats(values, failed)
  table.sort(values)
  local n = #values
  local function at(p)
    if n == 0 then return 0 end
    local k = math.floor(p / 100 * n + 0.5 + 0.5) -- as bench/run.py's pct()
    if k < 1 then k = 1 end
    if k > n then k = n end
    return values[k]
  end
  local sum = 0
  for i = 1, n do sum = sum + values[i] end
  return string.format(
    '{"ok":%d,"failed":%d,"mean_us":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}',
    n, failed, n > 0 and sum / n or 0, at(50), at(90), at(99), n > 0 and values[n] or 0)
end

function done(summary, latency, requests)
  local reads, writes, rf, wf, by_ticket = {}, {}, 0, 0, {}
  for _, thread in ipairs(threads) do
    for _, v in ipairs(thread:get("mixed_r") or {}) do reads[#reads + 1] = v end
    for _, v in ipairs(thread:get("mixed_w") or {}) do writes[#writes + 1] = v end
    rf = rf + (thread:get("mixed_rf") or 0)
    wf = wf + (thread:get("mixed_wf") or 0)
    for id, n in pairs(thread:get("mixed_wt") or {}) do by_ticket[id] = (by_ticket[id] or 0) + n end
  end
  local tickets = {}
  for id, n in pairs(by_ticket) do tickets[#tickets + 1] = string.format('"%s":%d', id, n) end
  local e = summary.errors
  io.write(string.format(
    'WRK_MIXED_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p99":%d,"max":%d},' ..
    '"reads":%s,"writes":%s,"writes_by_ticket":{%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(99), latency.max,
    stats(reads, rf), stats(writes, wf), table.concat(tickets, ",")))
end
