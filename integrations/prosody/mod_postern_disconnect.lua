-- mod_postern_disconnect: lets Postern end a user's open sessions when an app
-- password is revoked, the account disabled, the password reset or MFA reset.
--
-- POST <http_host>/postern_disconnect with `Authorization: Bearer SECRET` and
-- the JSON body {"user": "alice", "host": "example.org"} closes every c2s
-- session of alice@example.org and answers {"ended": N}. Load it on the
-- VirtualHost; the secret is read from `postern_disconnect_secret_file`.
-- Serve it on loopback only (http_interfaces = { "127.0.0.1" }).
local json = require "util.json";
local hashes = require "util.hashes";
local jid_prep = require "util.jid".prep;

module:depends("http");

local secret_file = module:get_option_string("postern_disconnect_secret_file");
local secret;
do
	local file = secret_file and io.open(secret_file, "r");
	if not file then
		module:log("error", "postern_disconnect_secret_file is not set or cannot be read; refusing every request");
	else
		secret = (file:read("*a") or ""):match("^%s*(.-)%s*$");
		file:close();
		if #secret < 16 then
			module:log("error", "the secret in postern_disconnect_secret_file is shorter than 16 characters; refusing every request");
			secret = nil;
		end
	end
end

-- Compares digests, so the time taken says nothing about the secret.
local function authorized(header)
	if not secret or not header then return false; end
	local given = header:match("^Bearer%s+(.+)$");
	return given ~= nil and hashes.sha256(given) == hashes.sha256(secret);
end

local function answer(event, code, body)
	event.response.headers.content_type = "application/json";
	event.response.status_code = code;
	return json.encode(body);
end

local function disconnect(event)
	local request = event.request;
	if not authorized(request.headers.authorization) then
		return answer(event, 401, { error = "unauthorized" });
	end
	local body = json.decode(request.body or "");
	local user = type(body) == "table" and type(body.user) == "string" and body.user or nil;
	local host = type(body) == "table" and body.host or nil;
	if not user or host ~= module.host or not jid_prep(user .. "@" .. host) then
		return answer(event, 400, { error = "the body must be {\"user\": LOCALPART, \"host\": \"" .. module.host .. "\"}" });
	end
	local user_sessions = prosody.hosts[module.host].sessions[user];
	local targets = {};
	if user_sessions then
		for _, session in pairs(user_sessions.sessions) do targets[#targets + 1] = session; end
	end
	-- Closed after the walk: closing a session removes it from the table.
	for _, session in ipairs(targets) do
		session:close({ condition = "not-authorized", text = "Credentials revoked" });
	end
	module:log("info", "ended %d session(s) of %s@%s for Postern", #targets, user, host);
	return answer(event, 200, { ended = #targets });
end

module:provides("http", {
	default_path = "/postern_disconnect";
	route = { ["POST"] = disconnect; };
});
