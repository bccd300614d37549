-- wrk script: POST /v1/verify with credentials drawn at random from a file of
-- "username password" lines (CREDS environment variable). A file of one line
-- repeats one credential. With SEQUENTIAL=1 the threads go through the file
-- in turn instead (a priming pass that uses every credential). At the end it
-- prints
--   non_200=N errors=M statuses=S
-- N: answers other than 200, M: connect/read/write errors and timeouts,
-- S: the non-200 answers by status, like "503x9,401x2" ("-" when none).
--
-- wrk runs request() and response() in one Lua state per thread and done() in
-- another, so each thread counts in its own global and done() sums them
-- through the thread handles kept by setup().
local creds = {}

local function load(path)
  for line in io.lines(path) do
    local user, pass = line:match("^(%S+) (%S+)$")
    if user then creds[#creds + 1] = '{"username":"' .. user .. '","password":"' .. pass .. '","protocol":"imap","client_ip":"127.0.0.1"}' end
  end
  assert(#creds > 0, "no credentials in " .. path)
end

load(os.getenv("CREDS"))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_number", #threads)
end

non200 = 0
statuses = {}
function init(args)
  -- Each thread its own sequence: with one seed, both would ask for the same
  -- credentials in the same order.
  math.randomseed(os.time() * 1000 + thread_number)
end

local sequential = os.getenv("SEQUENTIAL") == "1"
local position = nil
function request()
  if sequential then
    -- Each thread from its own starting point (the threads are wrk -t2's).
    position = ((position or (thread_number - 1) * math.floor(#creds / 2)) + 1) % #creds
    return wrk.format(nil, "/v1/verify", nil, creds[position + 1])
  end
  return wrk.format(nil, "/v1/verify", nil, creds[math.random(#creds)])
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total, by_status = 0, {}
  for _, thread in ipairs(threads) do
    total = total + thread:get("non200")
    for status, count in pairs(thread:get("statuses")) do by_status[status] = (by_status[status] or 0) + count end
  end
  local parts = {}
  for status, count in pairs(by_status) do parts[#parts + 1] = status .. "x" .. count end
  table.sort(parts)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("non_200=%d errors=%d statuses=%s\n", total, errors, #parts > 0 and table.concat(parts, ",") or "-"))
end
