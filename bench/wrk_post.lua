-- POSTs one JSON body and checks every response against the body the correctness gate accepted.
-- wrk -s bench/wrk_post.lua URL -- BODY_FILE EXPECTED_FILE MISMATCH_FILE [MEAN_DELAY_MS|-] [CARTS_FILE THREADS]
-- Prints one line "BENCH_JSON {...}" with the summary, latency percentiles (microseconds) and the count of
-- responses whose body differed from the expected one (a GraphQL error answered with 200, say).
-- With MEAN_DELAY_MS each connection waits an exponentially distributed time of that mean before each request
-- (a paced run: closed loop with think time); without it (or with "-"), connections send the next request at once.
-- With CARTS_FILE (W4, a fresh cart per request), each request's body gets the next cart ID of the file in
-- place of CART_SLOT: thread t of THREADS takes lines t, t + THREADS, t + 2 * THREADS, ..., so no two requests
-- reach the same cart. A thread that runs out stops and counts it in "exhausted" (the run fails), never
-- reusing a cart. The IDs ("id":"...") are blanked in the expected body and in each response before
-- comparing them, as they differ from cart to cart.

local threads = {}
local CART_SLOT = "@cart-id@" -- bench.workloads.CART_ID_SLOT

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

local function lines_of(path)
  local found = {}
  for line in io.lines(path) do
    if line ~= "" then
      table.insert(found, line)
    end
  end
  return found
end

-- A response's trailing "extensions" member (the cost report, which changes from request to request), as
-- bench.workloads' _EXTENSIONS strips it.
local function without_extensions(body)
  return (string.gsub(body, ',"extensions":%b{}}$', "}"))
end

-- The same pattern as bench.workloads' _ID_FIELD.
local function blank_ids(body)
  return (string.gsub(without_extensions(body), '"id":"[^"]*"', '"id":""'))
end

local function use_carts(path, stride)
  local cart_ids = lines_of(path)
  local next_cart = thread_number
  local at = assert(string.find(wrk.body, CART_SLOT, 1, true), "the body has no cart ID slot")
  local head, tail = string.sub(wrk.body, 1, at - 1), string.sub(wrk.body, at + #CART_SLOT)
  expected = blank_ids(expected)
  comparable = blank_ids
  -- Defining request() makes wrk ask it for every request (wrk also calls it once at start to check it).
  function request()
    local cart_id = cart_ids[next_cart]
    next_cart = next_cart + stride
    if cart_id == nil then
      exhausted = exhausted + 1
      wrk.thread:stop()
      cart_id = "no-cart-left" -- an ID of no cart: this request fails rather than reuse one
    end
    return wrk.format(nil, nil, nil, head .. cart_id .. tail)
  end
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
  exhausted = 0
  first_mismatch = nil
  comparable = without_extensions
  expected = without_extensions(expected)
  if args[5] then
    use_carts(args[5], assert(tonumber(args[6]), "CARTS_FILE needs THREADS"))
  end
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
  if comparable(body) ~= expected then
    mismatches = mismatches + 1
    if string.find(body, '"errors":[{', 1, true) then
      with_errors = with_errors + 1
    end
    if first_mismatch == nil then
      first_mismatch = tostring(status) .. "\n" .. body
    end
  end
end

function done(summary, latency, requests)
  local checked_total, mismatch_total, errors_total, exhausted_total = 0, 0, 0, 0
  local sample = nil
  for _, thread in ipairs(threads) do
    checked_total = checked_total + thread:get("checked")
    mismatch_total = mismatch_total + thread:get("mismatches")
    errors_total = errors_total + thread:get("with_errors")
    exhausted_total = exhausted_total + thread:get("exhausted")
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
      .. '"mismatches_with_errors": %d, "exhausted": %d, "latency_us": {"mean": %.1f, "max": %d, "p50": %d, '
      .. '"p90": %d, "p99": %d}}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    checked_total, mismatch_total, errors_total, exhausted_total, latency.mean, latency.max, latency:percentile(50),
    latency:percentile(90), latency:percentile(99)))
end
