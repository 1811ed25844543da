-- wrk script: the request comes from the environment, the result goes out as one JSON line.
-- BENCH_METHOD, BENCH_BODY, BENCH_HEADERS ("Name: value" lines separated by "\n"). In a
-- header's value, "{unique}" becomes BENCH_RUN_ID and the request's number in the run: a
-- fresh `Idempotency-Key` for every request, say.
wrk.method = os.getenv("BENCH_METHOD") or "GET"
-- No body, no Content-Length: wrk would send "Content-Length: 0" for an empty one.
local body = os.getenv("BENCH_BODY") or ""
if body ~= "" then wrk.body = body end
local unique = {}
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
    local name, value = string.match(line, "^([^:]+):%s*(.*)$")
    if string.find(value, "{unique}", 1, true) then unique[name] = value end
    wrk.headers[name] = value
end

-- Only then a request of its own each time: otherwise wrk sends one prepared request.
if next(unique) ~= nil then
    local run_id = os.getenv("BENCH_RUN_ID") or ""
    local sent = 0
    request = function()
        sent = sent + 1
        local suffix = run_id .. "-" .. sent
        for name, value in pairs(unique) do
            wrk.headers[name] = string.gsub(value, "{unique}", function() return suffix end)
        end
        return wrk.format()
    end
end

-- Paced (BENCH_RATE: requests per second over all the connections), each request waits for
-- its slot on one clock, a slot every 1/BENCH_RATE s: a fast server and a slow one are sent the
-- same requests at the same moments, however fast each answers. A slot missed while every
-- connection waited for an answer (a stall) is taken as soon as one is free, as wrk2 does, so
-- that a server that keeps up on average is sent the whole rate (and one that cannot shows it
-- in its rate). Unpaced, each connection sends again as soon as it is answered. wrk asks
-- `delay()` (in whole ms) before every request.
local rate = tonumber(os.getenv("BENCH_RATE") or "")
if rate then
    local ffi = require("ffi")
    ffi.cdef([[
        typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
        int clock_gettime(int clock, bench_timespec *now);
    ]])
    local CLOCK_MONOTONIC = 1
    local clock = ffi.new("bench_timespec")
    local function now_ms()
        ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
        return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
    end
    local interval_ms = 1000 / rate
    local next_slot = nil
    delay = function()
        local now = now_ms()
        local slot = next_slot or now
        next_slot = slot + interval_ms
        return math.max(0, math.floor(slot - now + 0.5))
    end
end

function done(summary, latency, requests)
    local errors = summary.errors
    io.write(string.format(
        'BENCH_RESULT {"requests": %d, "duration_us": %d, "errors": {"connect": %d, '
            .. '"read": %d, "write": %d, "status": %d, "timeout": %d}, '
            .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
        summary.requests, summary.duration, errors.connect, errors.read, errors.write,
        errors.status, errors.timeout, latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency.max))
end
