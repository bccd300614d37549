-- wrk script for the soak: a mix of valid app passwords, wrong passwords from
-- many addresses, and a few addresses that keep guessing (and get throttled).
-- CREDS: file of "username password" lines (valid app passwords).
local creds = {}
for line in io.lines(os.getenv("CREDS")) do
  local user, pass = line:match("^(%S+) (%S+)$")
  if user then creds[#creds + 1] = { user, pass } end
end
math.randomseed(os.time())
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local counts = { valid = 0, refused = 0, other = 0 }
local function body(user, pass, ip)
  return '{"username":"' .. user .. '","password":"' .. pass .. '","protocol":"imap","client_ip":"' .. ip .. '"}'
end

function request()
  local pick = math.random(100)
  local c = creds[math.random(#creds)]
  if pick <= 70 then      -- a real client
    return wrk.format(nil, "/v1/verify", nil, body(c[1], c[2], "192.0.2." .. math.random(250)))
  elseif pick <= 90 then  -- a wrong password from anywhere
    return wrk.format(nil, "/v1/verify", nil, body(c[1], "wrong" .. math.random(1e6), "10." .. math.random(250) .. "." .. math.random(250) .. ".1"))
  else                    -- a few addresses that keep guessing: throttled
    return wrk.format(nil, "/v1/verify", nil, body(c[1], "guess" .. math.random(1e6), "203.0.113." .. math.random(3)))
  end
end

function response(status)
  if status == 200 then counts.valid = counts.valid + 1
  elseif status == 401 then counts.refused = counts.refused + 1
  else counts.other = counts.other + 1 end
end

function done(summary, latency, requests)
  io.write(string.format("socket_errors=%d timeouts=%d\n", summary.errors.connect + summary.errors.read + summary.errors.write,
                         summary.errors.timeout))
end
