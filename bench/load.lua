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
