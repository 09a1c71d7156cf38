-- POSTs one JSON body and checks every response against the body the correctness gate accepted.
-- wrk -s bench/wrk_post.lua URL -- BODY_FILE EXPECTED_FILE MISMATCH_FILE [MEAN_DELAY_MS]
-- Prints one line "BENCH_JSON {...}" with the summary, latency percentiles (microseconds) and the count of
-- responses whose body differed from the expected one (a GraphQL error answered with 200, say).
-- With MEAN_DELAY_MS each connection waits an exponentially distributed time of that mean before each request
-- (a paced run: closed loop with think time); without it, connections send the next request at once.

local threads = {}

local function slurp(path)
  local file = assert(io.open(path, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = slurp(args[1])
  expected = slurp(args[2])
  mismatch_file = args[3]
  checked = 0
  mismatches = 0
  with_errors = 0
  first_mismatch = nil
  local mean_delay_ms = tonumber(args[4])
  if mean_delay_ms then
    -- wrk only calls delay() when the script defines it, so a closed-loop run keeps no timer per request.
    -- Each thread has its own Lua state and the same default seed: seed them apart.
    math.randomseed(thread_number)
    function delay()
      -- wrk truncates the value to whole milliseconds: round instead, so the mean stays the mean.
      return math.floor(-math.log(1 - math.random()) * mean_delay_ms + 0.5)
    end
  end
end

function response(status, headers, body)
  checked = checked + 1
  if body ~= expected then
    mismatches = mismatches + 1
    if string.find(body, '"errors"', 1, true) then
      with_errors = with_errors + 1
    end
    if first_mismatch == nil then
      first_mismatch = tostring(status) .. "\n" .. body
    end
  end
end

function done(summary, latency, requests)
  local checked_total, mismatch_total, errors_total = 0, 0, 0
  local sample = nil
  for _, thread in ipairs(threads) do
    checked_total = checked_total + thread:get("checked")
    mismatch_total = mismatch_total + thread:get("mismatches")
    errors_total = errors_total + thread:get("with_errors")
    sample = sample or thread:get("first_mismatch")
    mismatch_file = mismatch_file or thread:get("mismatch_file")
  end
  if sample ~= nil and mismatch_file ~= nil then
    local file = io.open(mismatch_file, "wb")
    if file then
      file:write(sample)
      file:close()
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us": %d, "requests": %d, "bytes": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "non_2xx": %d, "timeouts": %d, "checked": %d, "mismatches": %d, '
      .. '"mismatches_with_errors": %d, "latency_us": {"mean": %.1f, "max": %d, "p50": %d, "p90": %d, '
      .. '"p99": %d}}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    checked_total, mismatch_total, errors_total, latency.mean, latency.max, latency:percentile(50),
    latency:percentile(90), latency:percentile(99)))
end
