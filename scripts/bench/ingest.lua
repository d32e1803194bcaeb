-- ingest.lua: the wrk script of the ingest benchmark (scripts/bench.sh, `make bench`).
--
--   wrk -t T -c C -d 20s -s scripts/bench/ingest.lua http://HOST:PORT/api/v1/agent/reports \
--       -- TOKENS_FILE T INSTANCES PER_SERVICE BOOT START_SEQ FLIP_SHARE OUT_JSON
--
-- Every request is a different agent report (5 checks) of a fleet of INSTANCES instances,
-- PER_SERVICE to a service, named as hub/internal/loadtest names them ("svc-%03d", "i-%05d").
-- Thread t (0-based) owns the instances j with j % T == t and reports for them round-robin, so
-- instance j's seq rises by one per round, from START_SEQ. Outputs, latencies and times vary
-- as real checks do. An instance that is not flipped flips its "upstream" check to warning
-- with probability FLIP_SHARE/2 and flips back with its next report, so FLIP_SHARE of the
-- reports carry a status change. Each request carries the agent token of its service, read
-- from TOKENS_FILE ("<service> <token>" per line, from `loadgen tokens`).
--
-- done() writes OUT_JSON: wrk's counts and latency percentiles, and how many requests each
-- thread generated. Because ownership and order are fixed, that count alone tells
-- `loadgen verify` the last seq sent for every instance.

-- Main state: number the threads and keep them for done().
local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

-- Thread state.
local T, N, PER, boot, start_seq, share
local mine, m = {}, 0
local auth = {}
local flipped = {}
local headers = { ["Content-Type"] = "application/json" }
local buf = {}

function init(args)
   if #args < 8 then
      error("want: TOKENS_FILE THREADS INSTANCES PER_SERVICE BOOT START_SEQ FLIP_SHARE OUT_JSON")
   end
   T, N, PER = tonumber(args[2]), tonumber(args[3]), tonumber(args[4])
   boot, start_seq, share = args[5], tonumber(args[6]), tonumber(args[7])
   out_path = args[8]  -- global: done() reads it with thread:get
   generated = 0       -- global: requests made by this thread
   for line in io.lines(args[1]) do
      local svc, tok = line:match("^(%S+) (%S+)$")
      if svc then auth[svc] = "Bearer " .. tok end
   end
   for j = id, N - 1, T do
      mine[#mine + 1] = j
   end
   m = #mine
   if m == 0 then error("thread " .. id .. " owns no instances") end
   math.randomseed(1000 + id)
end

local function lognormal(median, sigma)
   -- Box-Muller
   local u1, u2 = math.random(), math.random()
   if u1 < 1e-12 then u1 = 1e-12 end
   return median * math.exp(sigma * math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2))
end

local datecache, datesec = {}, -1

-- stamp returns an RFC 3339 time up to back seconds before now, with random nanoseconds.
local function stamp(now, back)
   if now ~= datesec then
      datecache, datesec = {}, now
   end
   local t = now - back
   local d = datecache[t]
   if not d then
      d = os.date("!%Y-%m-%dT%H:%M:%S", t)
      datecache[t] = d
   end
   return d .. string.format(".%09dZ", math.random(0, 999999999))
end

local function check(name, kind, st, output, latency, checked, extra)
   return string.format('{"name":"%s","kind":"%s","status":"%s","output":"%s","latency_ms":%.3f,"checked_at":"%s"%s}',
      name, kind, st, output, latency, checked, extra or "")
end

local zones = { "a", "b", "c" }

local function report(j, seq, flip)
   local s = math.floor(j / PER)
   local svc = string.format("svc-%03d", s)
   local inst = string.format("i-%05d", j)
   local nsvc = math.floor((N + PER - 1) / PER)
   local now = os.time()
   local zone = zones[j % 3 + 1]
   local web = lognormal(8, 0.6)
   local db = lognormal(0.4, 0.5)
   local cache = lognormal(0.2, 0.5)
   local queue = 3 + math.random() * 27
   local up, upst, upout = lognormal(40, 0.5), "passing", nil
   if flip then
      up = 500 + math.random() * 700
      upst, upout = "warning", string.format("HTTP 200 OK but slow: %.0f ms > 500 ms", up)
   else
      upout = string.format("HTTP 200 OK in %.1f ms", up)
   end
   local runbook = "https://wiki.example/runbooks/" .. svc
   buf[1] = '{"version":1,"tenant":"default","service":"' .. svc .. '","instance":"' .. inst .. '"'
   buf[2] = string.format(',"address":"10.%d.%d.%d:8080","agent_version":"bench-1.0.0","runbook":"%s"',
      math.floor(j / 65536) % 256, math.floor(j / 256) % 256, j % 256, runbook)
   buf[3] = ',"tags":["bench","zone-' .. zone .. '"],"meta":{"pod":"' .. svc .. '-' .. inst .. '","zone":"' .. zone .. '"}'
   buf[4] = ',"boot":' .. boot .. ',"seq":' .. string.format("%d", seq) .. ',"sent_at":"' .. stamp(now, 0) .. '","interval":"10s"'
   buf[5] = string.format(',"depends_on":["svc-%03d","postgres-main"],"checks":[', (s + 1) % nsvc)
   buf[6] = check("web", "http", "passing", string.format("HTTP 200 OK in %.1f ms", web), web, stamp(now, math.random(0, 9)))
   buf[7] = "," .. check("db", "tcp", "passing", string.format("connected to 10.1.0.5:5432 in %.2f ms", db), db,
      stamp(now, math.random(0, 9)), ',"component":"postgres-main","critical":true')
   buf[8] = "," .. check("cache", "tcp", "passing", string.format("connected to 10.1.0.6:6379 in %.2f ms", cache), cache,
      stamp(now, math.random(0, 9)), ',"component":"redis-main"')
   buf[9] = "," .. check("queue", "exec", "passing", string.format("queue depth %d (max 100)", math.random(0, 99)), queue,
      stamp(now, math.random(0, 9)))
   buf[10] = "," .. check("upstream", "http", upst, upout, up, stamp(now, math.random(0, 9)),
      ',"runbook":"' .. runbook .. '#upstream"')
   buf[11] = string.format('],"config":{"status":"in_sync","version":"v%d","problems":[]}}', 1 + j % 7)
   return svc, table.concat(buf)
end

function request()
   local k = generated
   generated = k + 1
   local pos = k % m
   local j = mine[pos + 1]
   local seq = start_seq + (k - pos) / m
   local flip = false
   if flipped[j] then
      flipped[j] = nil
   elseif math.random() < share / 2 then
      flipped[j] = true
      flip = true
   end
   local svc, body = report(j, seq, flip)
   headers["Authorization"] = auth[svc]
   return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
   local gen = {}
   for i, t in ipairs(threads) do
      gen[i] = string.format("%d", t:get("generated"))
   end
   local t1 = threads[1]
   local e = summary.errors
   local f = assert(io.open(t1:get("out_path"), "w"))
   f:write(string.format(
      '{"threads":%d,"duration_us":%d,"requests":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d},' ..
      '"generated":[%s]}\n',
      #threads, summary.duration, summary.requests, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
      table.concat(gen, ",")))
   f:close()
end
