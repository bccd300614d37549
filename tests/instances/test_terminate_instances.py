"""Two instances on one PostgreSQL, both configured to end sessions on one
Dovecot: each revocation is acted on exactly once (its order is claimed by
one instance; the once-key keeps it from being queued twice).

The doveadm HTTP API is played by a small recording server here, so the
calls can be counted; the real Dovecot is in tests/integration."""
import json
import os
import secrets
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from test_instances import ADMIN_URL, Instance, account, psql, wait_until  # noqa: F401
from test_instances import database  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(not ADMIN_URL, reason="needs POSTERN_TEST_POSTGRES_URL (scripts/test starts PostgreSQL)")


class RecordingDoveadm:
    """Answers doveadm's HTTP API like Dovecot with no open sessions, and
    remembers every kick mask it was sent."""

    def __init__(self, key):
        self.kicks, self.calls, self.lock = [], 0, threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                expected = "X-Dovecot-API " + __import__("base64").b64encode(key.encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                answer = []
                with recorder.lock:
                    recorder.calls += 1
                    for name, parameters, tag in body:
                        if name == "kick":
                            recorder.kicks.append(tuple(parameters["mask"]))
                            answer.append(["error", {"type": "exitCode", "exitCode": 68}, tag])
                        else:
                            answer.append(["doveadmResponse", [], tag])
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/doveadm/v1"

    def stop(self):
        self.server.shutdown()


@pytest.fixture(scope="module")
def doveadm():
    key = secrets.token_hex(16)
    fake = RecordingDoveadm(key)
    fake.key_file = os.path.join(tempfile.mkdtemp(prefix="postern-doveadm-"), "key")
    with open(fake.key_file, "w") as f:
        f.write(key)
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def terminating_pair(database, doveadm):  # noqa: F811
    env = {"POSTERN_TERMINATE_DOVECOT_URL": doveadm.url, "POSTERN_TERMINATE_DOVECOT_API_KEY_FILE": doveadm.key_file,
           "POSTERN_TERMINATE_INTERVAL": "0.1"}
    a = Instance(database, env=env).wait_healthy()
    b = Instance(database, key_from=a, env=env).wait_healthy()
    yield a, b
    a.stop()
    b.stop()


def test_each_revocation_is_one_kick_however_many_instances(terminating_pair, database, doveadm):  # noqa: F811
    a, b = terminating_pair
    token, _ = account(a, "kick-once@example.org")
    apps = [a.api("POST", "/app-passwords", token, json={"name": f"client {i}"}).json() for i in range(12)]
    for i, app in enumerate(apps):
        # Each app password last used from its own address.
        assert (a if i % 2 else b).verify("kick-once@example.org", app["password"], ip=f"198.51.100.{i + 1}").status_code == 200
    wait_until(lambda: all(x["last_used_ip"] for x in a.api("GET", "/app-passwords", token).json()), 10, "last uses recorded")
    for i, app in enumerate(apps):
        assert (a if i % 2 else b).api("DELETE", f"/app-passwords/{app['id']}", token).status_code == 204

    def all_done():
        states = psql(database, "SELECT state FROM terminations").split()
        return len(states) == len(apps) and set(states) == {"done"}
    wait_until(all_done, 30, "every order to be carried out")
    with doveadm.lock:
        kicked = [mask for mask in doveadm.kicks if mask[0] == "kick-once@example.org"]
    assert sorted(kicked) == sorted(("kick-once@example.org", f"198.51.100.{i + 1}/32") for i in range(len(apps)))
    assert doveadm.calls == len(apps), "one call per revocation"
    events = a.api("GET", "/activity?category=change&limit=100", token).json()["events"]
    assert len([e for e in events if e["kind"] == "sessions_ended"]) == len(apps)
    logs = [open(i.log_path).read() for i in (a, b)]
    assert all("ending open sessions on revocation" in log for log in logs)
