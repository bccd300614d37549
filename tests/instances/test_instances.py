"""Several Postern instances behind one PostgreSQL: any request on any
instance, revocation within a second, single use across instances, one
delivery per message, a wrong key refused, and PostgreSQL stopped under load."""
import base64
import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers import free_port, totp, wait_until  # noqa: E402
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADMIN_URL = os.environ.get("POSTERN_TEST_POSTGRES_URL")
PG_DIR = os.environ.get("POSTERN_TEST_PG_DIR")
PASSWORD = "violet staple orbit"
pytestmark = pytest.mark.skipif(not ADMIN_URL, reason="needs POSTERN_TEST_POSTGRES_URL (scripts/test starts PostgreSQL)")






def psql(url, sql):
    return subprocess.run(["psql", "-tA", url, "-c", sql], capture_output=True, text=True, check=True).stdout.strip()




class Instance:
    def __init__(self, database_url, key_from=None, env=None):
        self.data = tempfile.mkdtemp(prefix="postern-instance-")
        if key_from:
            shutil.copy(os.path.join(key_from.data, "server.key"), os.path.join(self.data, "server.key"))
            os.chmod(os.path.join(self.data, "server.key"), 0o600)
        self.port, self.auth_port = free_port(), free_port()
        self.url, self.auth = f"http://127.0.0.1:{self.port}", f"http://127.0.0.1:{self.auth_port}"
        binary = os.environ.get("POSTERN_BINARY", os.path.join(ROOT, ".build", "debug", "postern"))
        self.log_path = os.path.join(self.data, "server.log")
        self.log = open(self.log_path, "w")
        env = dict(os.environ, POSTERN_SCRYPT_LOG_N="12", POSTERN_LOG_LEVEL="info", POSTERN_MAIL_RETRY_BASE="0.5", **(env or {}))
        self.process = subprocess.Popen(
            [binary, "serve", "--data", self.data, "--database", database_url, "--listen", f"127.0.0.1:{self.port}",
             "--auth-listen", f"127.0.0.1:{self.auth_port}", "--public-url", f"http://localhost:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def wait_healthy(self):
        def healthy():
            if self.process.poll() is not None:
                raise AssertionError(f"instance exited: {open(self.log_path).read()[-2000:]}")
            try:
                return requests.get(f"{self.auth}/healthz", timeout=1).ok
            except requests.RequestException:
                return False
        wait_until(healthy, 120, "an instance to start")
        return self

    def api(self, method, path, token=None, **kwargs):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(method, f"{self.url}/api/v1{path}", headers=headers, timeout=30, **kwargs)

    def verify(self, username, password, ip="198.51.100.1"):
        return requests.post(f"{self.auth}/v1/verify", timeout=30,
                             json={"username": username, "password": password, "protocol": "imap", "client_ip": ip})

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.log.close()


@pytest.fixture(scope="module")
def database():
    name = "i_" + uuid.uuid4().hex
    psql(ADMIN_URL, f"CREATE DATABASE {name}")
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="module")
def pair(database):
    a = Instance(database).wait_healthy()
    b = Instance(database, key_from=a).wait_healthy()
    yield a, b
    a.stop()
    b.stop()


def account(instance, username, mfa=False):
    assert instance.api("POST", "/accounts", json={"username": username, "password": PASSWORD}).status_code == 201
    token = instance.api("POST", "/sessions", json={"username": username, "password": PASSWORD}).json()["token"]
    secret = None
    if mfa:
        secret = instance.api("POST", "/mfa/totp", token).json()["secret"]
        assert instance.api("POST", "/mfa/totp/confirm", token, json={"code": totp(secret)}).status_code == 204
    return token, secret


def portal_session(instance, username):
    """Signs in through the portal's form, as a browser would."""
    session = requests.Session()
    page = session.get(f"{instance.url}/signin", timeout=30)
    csrf = page.text.split('name="csrf-token" content="')[1].split('"')[0]
    answer = session.post(f"{instance.url}/signin", timeout=30, allow_redirects=False,
                          headers={"Origin": f"http://localhost:{instance.port}"},
                          data={"username": username, "password": PASSWORD, "csrf_token": csrf})
    assert answer.status_code in (302, 303), answer.status_code
    return session


def test_a_different_key_is_refused_at_start(pair, database):
    stranger = Instance(database)
    try:
        assert stranger.process.wait(timeout=60) != 0
        log = open(stranger.log_path).read()
        assert "key" in log.lower(), log[-1000:]
    finally:
        stranger.stop()


def test_any_request_on_any_instance(pair):
    a, b = pair
    token, _ = account(a, "any@example.org")
    assert b.api("GET", "/account", token).json()["username"] == "any@example.org"
    app = b.api("POST", "/app-passwords", token, json={"name": "Phone"}).json()
    assert a.verify("any@example.org", app["password"]).status_code == 200
    assert a.api("DELETE", "/sessions/current", token).status_code == 204
    assert b.api("GET", "/account", token).status_code == 401


def test_revocation_on_one_instance_holds_on_the_other_at_once(pair):
    a, b = pair
    token, _ = account(a, "revoke@example.org", mfa=True)
    for round in range(5):
        app = a.api("POST", "/app-passwords", token, json={"name": f"Phone {round}"}).json()
        assert b.verify("revoke@example.org", app["password"]).status_code == 200
        assert a.api("DELETE", f"/app-passwords/{app['id']}", token).status_code == 204
        acknowledged = time.monotonic()
        assert b.verify("revoke@example.org", app["password"]).status_code == 401
        assert time.monotonic() - acknowledged < 1.0


def test_a_totp_code_and_a_recovery_code_are_used_once_across_instances(pair):
    a, b = pair
    token, secret = account(a, "once@example.org", mfa=True)
    codes = a.api("POST", "/mfa/recovery-codes", token).json()["codes"]
    # The confirming code's step is spent; the next one is fresh.
    code = totp(secret, offset=1)
    body = {"username": "once@example.org", "password": PASSWORD, "otp": code}
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda i: (a if i % 2 else b).api("POST", "/sessions", json=body).status_code, range(12)))
    assert statuses.count(201) == 1, statuses
    body = {"username": "once@example.org", "password": PASSWORD, "recovery_code": codes[0]}
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda i: (a if i % 2 else b).api("POST", "/sessions", json=body).status_code, range(12)))
    assert statuses.count(201) == 1, statuses


def test_a_reset_link_is_used_once_across_instances(pair, database):
    a, b = pair
    account(a, "reset@example.org")
    assert b.api("POST", "/password-reset", json={"username": "reset@example.org"}).status_code == 202

    def link():
        for path in glob.glob(os.path.join(a.data, "outbox", "*.eml")) + glob.glob(os.path.join(b.data, "outbox", "*.eml")):
            text = open(path, encoding="utf-8", errors="replace").read()
            if "To: reset@example.org" in text and "Subject: Reset your password" in text:
                body = base64.b64decode("".join(text.split("Content-Transfer-Encoding: base64")[1].split("--")[0].split())).decode()
                return body.split("/reset?token=")[1].split()[0]
        return None
    token = wait_until(link, 30, "the reset email")
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda i: (a if i % 2 else b).api("POST", "/password-reset/complete",
                                                                   json={"token": token, "new_password": f"new passphrase {i}"}).status_code, range(8)))
    assert statuses.count(204) == 1, statuses


def test_each_message_is_delivered_once_by_two_deliverers(pair, database):
    a, b = pair
    token, _ = account(a, "outbox@example.org")
    for i in range(20):
        assert (a if i % 2 else b).api("POST", "/app-passwords", token, json={"name": f"Device {i}"}).status_code == 201
    wait_until(lambda: psql(database, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND recipient = 'outbox@example.org'") == "0",
               60, "the outbox to drain")
    files = [os.path.basename(p) for p in glob.glob(os.path.join(a.data, "outbox", "*.eml")) + glob.glob(os.path.join(b.data, "outbox", "*.eml"))]
    sent = psql(database, "SELECT id FROM outbox WHERE recipient = 'outbox@example.org'").split()
    assert len(sent) == 20
    for message_id in sent:
        assert files.count(f"{message_id}.eml") == 1, message_id


@pytest.mark.skipif(not PG_DIR, reason="needs the test PostgreSQL's directory to stop and start it")
def test_postgres_stopped_for_30_seconds_under_load(pair):
    a, b = pair
    token, _ = account(a, "outage@example.org", mfa=True)
    app = a.api("POST", "/app-passwords", token, json={"name": "Phone"}).json()
    account(a, "portal@example.org")
    browser = portal_session(b, "portal@example.org")
    assert browser.get(f"{b.url}/security", timeout=30).status_code == 200
    statuses = {"during": [], "unexpected": []}
    stop = threading.Event()
    outage = threading.Event()

    def load(instance):
        while not stop.is_set():
            try:
                status = instance.verify("outage@example.org", app["password"]).status_code
            except requests.RequestException as error:
                statuses["unexpected"].append(str(error))
                continue
            if outage.is_set():
                statuses["during"].append(status)
            elif status not in (200, 503):
                statuses["unexpected"].append(status)

    threads = [threading.Thread(target=load, args=(i,)) for i in (a, b, a, b)]
    for t in threads:
        t.start()
    try:
        subprocess.run([os.path.join(ROOT, "scripts", "postgres-test-server"), "stop", PG_DIR], check=True)
        outage.set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the outage lasts 30 seconds; the portal is checked meanwhile
            page = browser.get(f"{b.url}/security", timeout=30)
            assert page.status_code == 503 and "Please try again in a moment" in page.text, page.status_code
            time.sleep(1)  # paces the checks during the fixed 30-second outage; nothing waits on it
        outage.clear()
        subprocess.run([os.path.join(ROOT, "scripts", "postgres-test-server"), "start", PG_DIR], check=True, capture_output=True)
        back = time.monotonic()
        for instance in (a, b):
            wait_until(lambda: instance.verify("outage@example.org", app["password"]).status_code == 200, 5, "recovery within 5 seconds")
        recovered = time.monotonic() - back
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert statuses["during"], "requests were made during the outage"
    assert set(statuses["during"]) <= {503, 200}, set(statuses["during"])  # 200 only from requests answered before the stop
    assert 401 not in statuses["during"]
    assert statuses["during"].count(503) > 10
    assert not statuses["unexpected"], statuses["unexpected"][:5]
    print(f"recovered in {recovered:.2f} s")


def test_the_account_password_cap_holds_in_total_across_instances(pair):
    a, b = pair
    token, _ = account(a, "sprayed@example.org")
    # Her phone logs in through instance A before the attack.
    assert a.verify("sprayed@example.org", PASSWORD, ip="192.0.2.200").status_code == 200
    # 100 wrong guesses, half through each instance, each from its own address.
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: (a if i % 2 else b).verify("sprayed@example.org", f"guess {i}", ip=f"10.{i // 250}.{i % 250}.7"),
                      range(100)))
    # Neither instance saw 100 itself; together they did: a new source is refused even with the right password…
    assert b.verify("sprayed@example.org", PASSWORD, ip="203.0.113.9").status_code == 401
    assert a.verify("sprayed@example.org", PASSWORD, ip="203.0.113.10").status_code == 401
    # …while her phone, known to A, still logs in through B.
    assert b.verify("sprayed@example.org", PASSWORD, ip="192.0.2.200").status_code == 200
    wait_until(lambda: any(e["summary"].startswith("refused: too many wrong passwords")
                           for e in a.api("GET", "/activity?category=protocol_login&limit=20", token).json()["events"]),
               10, "the refusal to be recorded as throttled")


def test_the_second_factor_limit_holds_in_total_across_instances(pair):
    a, b = pair
    token, secret = account(a, "twofactor@example.org", mfa=True)
    codes = a.api("POST", "/mfa/recovery-codes", token).json()["codes"]
    valid = {totp(secret, offset=o) for o in (-1, 0, 1, 2)}
    wrong = next(f"{n:06d}" for n in range(1000) if f"{n:06d}" not in valid)
    # Ten wrong codes, alternating instances: neither saw ten itself.
    for i in range(10):
        reply = (a if i % 2 else b).api("POST", "/sessions", json={"username": "twofactor@example.org", "password": PASSWORD, "otp": wrong})
        assert reply.status_code == 401 and reply.json()["error"] == "otp_required", reply.text
    # The right code is now refused on both…
    for instance in (a, b):
        reply = instance.api("POST", "/sessions", json={"username": "twofactor@example.org", "password": PASSWORD, "otp": totp(secret, offset=1)})
        assert reply.status_code == 429 and reply.json()["error"] == "second_factor_locked", reply.text
    # …while a recovery code still signs in.
    reply = b.api("POST", "/sessions", json={"username": "twofactor@example.org", "password": PASSWORD, "recovery_code": codes[0]})
    assert reply.status_code == 201, reply.text
