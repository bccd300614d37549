-- Postern passdb for Dovecot 2.3 (package dovecot-auth-lua).
--
-- Dovecot hands every IMAP/POP3 (and submission) login to this script, which
-- asks Postern's auth listener: POST /v1/verify with the user, the password,
-- the service and the client's IP. Postern decides; this script only speaks.
--
--   200 -> PASSDB_RESULT_OK, with Postern's canonical username
--   401 -> refused. With POSTERN_SHOW_MESSAGE the client sees Postern's
--          message (e.g. "use an app password from https://..."): the
--          answer is Dovecot's "nologin" with a reason, which never logs
--          anyone in but which Dovecot's log counts as a successful password
--          check followed by a refusal. Set it to false for a plain
--          PASSDB_RESULT_PASSWORD_MISMATCH and Dovecot's own generic text.
--   anything else, or no answer -> PASSDB_RESULT_INTERNAL_FAILURE, so the
--          client sees a temporary failure and keeps its saved password.
--
-- Settings: edit the lines below (Dovecot 2.3 passes no arguments to
-- Lua passdbs). Use an IP address in the URL: a host name would need
-- Dovecot's DNS client.
local POSTERN_VERIFY_URL = "{{POSTERN_AUTH_URL}}/v1/verify"
local POSTERN_SECRET_FILE = "{{POSTERN_SECRET_FILE}}" -- "" when no shared secret is set
local POSTERN_TIMEOUT_MSECS = 15000
local POSTERN_SHOW_MESSAGE = true

local http_client = nil
local shared_secret = nil

local function json_string(value)
  value = tostring(value or "")
  value = value:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == '\\' then return '\\\\' end
    return string.format("\\u%04x", c:byte())
  end)
  return '"' .. value .. '"'
end

function script_init()
  http_client = dovecot.http.client({
    request_timeout_msecs = POSTERN_TIMEOUT_MSECS,
    max_attempts = 1,
    user_agent = "dovecot-postern",
  })
  if POSTERN_SECRET_FILE ~= "" then
    local file = io.open(POSTERN_SECRET_FILE, "r")
    if file == nil then
      dovecot.i_error("postern: cannot read the shared secret file " .. POSTERN_SECRET_FILE)
      return 1
    end
    shared_secret = file:read("*l")
    file:close()
  end
  return 0
end

function auth_passdb_lookup(req)
  -- Postern never hands out password hashes; only verification is possible.
  return dovecot.auth.PASSDB_RESULT_SCHEME_NOT_AVAILABLE, "use auth_password_verify"
end

function auth_password_verify(req, password)
  local body = "{" ..
    '"username":' .. json_string(req.user) .. "," ..
    '"password":' .. json_string(password) .. "," ..
    '"protocol":' .. json_string(req.service) .. "," ..
    '"client_ip":' .. json_string(req.remote_ip) .. "}"
  local request = http_client:request({ url = POSTERN_VERIFY_URL, method = "POST" })
  request:add_header("Content-Type", "application/json")
  if shared_secret ~= nil then request:add_header("X-Postern-Auth-Secret", shared_secret) end
  request:set_payload(body)
  local response = request:submit()
  local status = response:status()
  if status == 200 then
    local user = string.match(response:payload(), '"username"%s*:%s*"([^"\\]*)"')
    if user == nil then
      return dovecot.auth.PASSDB_RESULT_INTERNAL_FAILURE, "postern: unreadable answer"
    end
    return dovecot.auth.PASSDB_RESULT_OK, { user = user }
  elseif status == 401 then
    if POSTERN_SHOW_MESSAGE then
      local message = string.match(response:payload(), '"message"%s*:%s*"([^"\\]*)"') or "Authentication failed."
      return dovecot.auth.PASSDB_RESULT_OK, { nologin = "y", reason = message }
    end
    return dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH, "postern: refused"
  end
  req:log_warning("postern: temporary failure, HTTP status " .. tostring(status))
  return dovecot.auth.PASSDB_RESULT_INTERNAL_FAILURE, "postern: unavailable"
end
