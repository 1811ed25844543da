-- wrk script for the scale benchmark: bench/load.lua's request and result line, and besides:
-- BENCH_PATHS ("\n"-separated) to go round several paths, one per request, and
-- BENCH_BODIES (likewise) to go round several bodies, and
-- BENCH_UNIQUE_KEYS=1 to send each request with an Idempotency-Key of its own.
dofile(os.getenv("BENCH_BASE_SCRIPT"))

local paths = {}
for path in string.gmatch(os.getenv("BENCH_PATHS") or "", "[^\n]+") do
    table.insert(paths, path)
end
local bodies = {}
for body in string.gmatch(os.getenv("BENCH_BODIES") or "", "[^\n]+") do
    table.insert(bodies, body)
end
local unique_keys = os.getenv("BENCH_UNIQUE_KEYS") == "1"
math.randomseed(os.time())
local key_prefix = string.format("scale-%d-%d", os.time(), math.random(1, 1000000000))
local sent = 0

function request()
    sent = sent + 1
    if unique_keys then
        wrk.headers["Idempotency-Key"] = key_prefix .. "-" .. sent
    end
    local path = nil
    if #paths > 0 then path = paths[(sent % #paths) + 1] end
    local body = nil
    if #bodies > 0 then body = bodies[(sent % #bodies) + 1] end
    return wrk.format(nil, path, nil, body)
end
