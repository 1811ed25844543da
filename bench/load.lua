-- wrk script: the request comes from the environment, the result goes out as one JSON line.
-- BENCH_METHOD, BENCH_BODY, BENCH_HEADERS ("Name: value" lines separated by "\n").
wrk.method = os.getenv("BENCH_METHOD") or "GET"
-- No body, no Content-Length: wrk would send "Content-Length: 0" for an empty one.
local body = os.getenv("BENCH_BODY") or ""
if body ~= "" then wrk.body = body end
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
    local name, value = string.match(line, "^([^:]+):%s*(.*)$")
    wrk.headers[name] = value
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
