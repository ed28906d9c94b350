-- wrk script for bench/run.py: POSTs one GraphQL request again and again, and prints a
-- machine-readable summary line (WRK_JSON {...}) at the end.
--
-- Environment:
--   WRK_BODY     file holding the JSON request body
--   WRK_AUTH     value of the Authorization header (optional)
--   WRK_IDS      optional file of ids, one a line: each request replaces every
--                __ID__ in the body with a random one of them, and every __N__ with a
--                per-thread counter (sendMessage: a random ticket, a unique content)

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
local template = slurp(os.getenv("WRK_BODY"))
wrk.body = template

local ids = nil
local ids_file = os.getenv("WRK_IDS")
if ids_file and ids_file ~= "" then
  ids = {}
  for line in io.lines(ids_file) do
    if line ~= "" then ids[#ids + 1] = line end
  end
end

local counter = 0
local thread_tag = "0"
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  local n = thread_number or 0
  thread_tag = string.format("%d-%d", os.time(), n)
  math.randomseed(os.time() * 1000 + n * 7919)
end

if ids then
  function request()
    counter = counter + 1
    local body = template:gsub("__ID__", ids[math.random(1, #ids)])
    body = body:gsub("__N__", thread_tag .. "-" .. counter)
    return wrk.format(nil, nil, nil, body)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
