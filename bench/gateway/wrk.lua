-- wrk script for bench/gateway/run.mjs: POSTs BENCH_BODY to BENCH_PATH (with BENCH_AUTH as the
-- Authorization header when set) and prints one machine-readable line at the end.
--
-- wrk corrects its latency histogram for coordinated omission before reporting it: every sample longer
-- than twice the mean interval between requests on a connection adds samples at that length minus one,
-- two, … intervals. With BENCH_TIME_EACH=1 (one connection only) this script also times every request
-- itself (clock_gettime through LuaJIT's FFI, from wrk asking for the request to its response) and reports
-- those uncorrected percentiles as "each_us".
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/v1/chat/completions"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
local chunks = os.getenv("BENCH_CHUNKS")
if chunks and chunks ~= "" then
  wrk.headers["x-bench-chunks"] = chunks
  wrk.headers["x-bench-interval-ms"] = os.getenv("BENCH_INTERVAL_MS") or "0"
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

if os.getenv("BENCH_TIME_EACH") == "1" then
  local ffi = require("ffi")
  ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
    int clock_gettime(int clock_id, bench_timespec *tp);
  ]]
  local now = ffi.new("bench_timespec")
  local function now_us()
    ffi.C.clock_gettime(1, now) -- CLOCK_MONOTONIC
    return tonumber(now.tv_sec) * 1000000 + tonumber(now.tv_nsec) / 1000
  end
  local started = nil
  samples = {}
  local formatted = nil
  function request()
    formatted = formatted or wrk.format()
    started = now_us()
    return formatted
  end
  function response()
    if started then
      samples[#samples + 1] = now_us() - started
      started = nil
    end
  end
end

local function each_percentiles()
  local all = {}
  for _, thread in ipairs(threads) do
    local got = thread:get("samples")
    if got then
      for _, v in ipairs(got) do all[#all + 1] = v end
    end
  end
  if #all == 0 then return "null" end
  table.sort(all)
  local function at(p)
    return all[math.max(1, math.ceil(#all * p / 100))]
  end
  return string.format('{"count":%d,"p50":%.1f,"p90":%.1f,"p99":%.1f,"p999":%.1f,"max":%.1f}',
    #all, at(50), at(90), at(99), at(99.9), all[#all])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"stdev":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d},' ..
    '"each_us":%s}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max, each_percentiles()))
end
