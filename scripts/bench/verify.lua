-- wrk script: POST /v1/verify with credentials drawn at random from a file of
-- "username password" lines (CREDS environment variable).
local creds = {}

local function load(path)
  for line in io.lines(path) do
    local user, pass = line:match("^(%S+) (%S+)$")
    if user then creds[#creds + 1] = '{"username":"' .. user .. '","password":"' .. pass .. '","protocol":"imap","client_ip":"127.0.0.1"}' end
  end
end

load(os.getenv("CREDS"))
math.randomseed(os.time())
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local non200 = 0
function request()
  return wrk.format(nil, "/v1/verify", nil, creds[math.random(#creds)])
end

function response(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end

function done(summary, latency, requests)
  io.write(string.format("non_200=%d\n", non200))
end
