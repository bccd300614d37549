"""Real mail and chat servers on loopback, logging in through Postern.

The session starts `scripts/demo-stack` (Postern, Dovecot, Postfix, nginx,
Prosody, ejabberd) into .test-run/stack and drives it with real client
libraries: imaplib, poplib, smtplib, curl and slixmpp. Clients bind to
127.0.0.2 so the client IP Postern records differs from the proxy's.
"""
import asyncio
import base64
import imaplib
import logging
import os
import poplib
import secrets
import smtplib
import socket
import subprocess

import pytest
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers import totp, wait_until  # noqa: E402,F401 (re-exported to the tests)
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STACK_DIR = os.path.join(ROOT, ".test-run", "stack")
CLIENT_IP = "127.0.0.2"
DOMAIN = "example.org"






class Stack:
    def __init__(self):
        env = dict(os.environ, DEMO_STACK_DIR=STACK_DIR, POSTERN_SCRYPT_LOG_N="12", POSTERN_LOG_LEVEL="info",
                   DEMO_STACK_TERMINATE_RETRY_BASE="1")
        subprocess.run([os.path.join(ROOT, "scripts", "demo-stack"), "stop"], env=env, check=False)
        subprocess.run([os.path.join(ROOT, "scripts", "demo-stack"), "start"], env=env, check=True)
        self.env = env
        self.ports = {}
        with open(os.path.join(STACK_DIR, "ports.env")) as f:
            for line in f:
                name, _, value = line.strip().partition("=")
                self.ports[name] = value
        self.url = self.ports["POSTERN_URL"]

    def port(self, name):
        return int(self.ports[name])

    def stop(self):
        subprocess.run([os.path.join(ROOT, "scripts", "demo-stack"), "stop"], env=self.env, check=False)

    def stop_postern(self):
        with open(os.path.join(STACK_DIR, "pids", "postern.pid")) as f:
            pid = int(f.read())
        os.kill(pid, 15)
        wait_until(lambda: not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z",
                   30, "Postern to stop")


class Account:
    """A Postern account made through the user API."""

    def __init__(self, stack, name, password, mfa):
        self.stack = stack
        self.username = f"{name}-{secrets.token_hex(3)}@{DOMAIN}"
        self.local = self.username.split("@")[0]
        self.password = password
        api = f"{stack.url}/api/v1"
        r = requests.post(f"{api}/accounts", json={"username": self.username, "password": password}, timeout=30)
        assert r.status_code == 201, r.text
        r = requests.post(f"{api}/sessions", json={"username": self.username, "password": password}, timeout=30)
        self.headers = {"Authorization": f"Bearer {r.json()['token']}"}
        if mfa:
            secret = requests.post(f"{api}/mfa/totp", headers=self.headers, timeout=30).json()["secret"]
            r = requests.post(f"{api}/mfa/totp/confirm", json={"code": totp(secret)}, headers=self.headers, timeout=30)
            assert r.status_code == 204, r.text

    def app_password(self, name, protocols=None):
        body = {"name": name}
        if protocols:
            body["protocols"] = protocols
        r = requests.post(f"{self.stack.url}/api/v1/app-passwords", json=body, headers=self.headers, timeout=30)
        assert r.status_code == 201, r.text
        return r.json()

    def revoke(self, app_id):
        r = requests.delete(f"{self.stack.url}/api/v1/app-passwords/{app_id}", headers=self.headers, timeout=30)
        assert r.status_code == 204, r.text

    def app_passwords(self):
        return requests.get(f"{self.stack.url}/api/v1/app-passwords", headers=self.headers, timeout=30).json()


@pytest.fixture(scope="session")
def stack():
    s = Stack()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def mfa_user(stack):
    """MFA on, with an app password for everything and one for IMAP only."""
    account = Account(stack, "mfa", "correct horse battery staple 7", mfa=True)
    account.everything = account.app_password("Thunderbird")
    account.imap_only = account.app_password("Phone mail", protocols=["imap"])
    return account


@pytest.fixture(scope="session")
def plain_user(stack):
    """No MFA; a UTF-8 account password."""
    return Account(stack, "plain", "Grüße aus Köln, naïve café 9", mfa=False)


# --- Clients ------------------------------------------------------------------

class Refused(Exception):
    """The server refused the login; `text` is what the client was told."""

    def __init__(self, text):
        super().__init__(text)
        self.text = text


class IMAP(imaplib.IMAP4):
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout or 30, source_address=(CLIENT_IP, 0))


class POP3(poplib.POP3):
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(CLIENT_IP, 0))


def imap_login(port, username, password):
    """AUTHENTICATE PLAIN (UTF-8 safe). Returns the server's OK text; raises Refused."""
    client = IMAP("127.0.0.1", port, timeout=30)
    try:
        message = b"\0" + username.encode() + b"\0" + password.encode()
        typ, data = client.authenticate("PLAIN", lambda _: message)
        client.logout()
        return data
    except imaplib.IMAP4.error as error:
        raise Refused(str(error))
    finally:
        try:
            client.shutdown()
        except OSError:
            pass


def pop3_login(port, username, password):
    client = POP3("127.0.0.1", port, timeout=30)
    try:
        client.user(username)
        answer = client.pass_(password)
        client.quit()
        return answer
    except poplib.error_proto as error:
        raise Refused(error.args[0].decode(errors="replace") if isinstance(error.args[0], bytes) else str(error))
    finally:
        try:
            client.close()
        except OSError:
            pass


def smtp_login(port, username, password):
    client = smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(CLIENT_IP, 0))
    try:
        client.ehlo("client.example")
        # AUTH PLAIN by hand: smtplib encodes credentials as ASCII only.
        message = base64.b64encode(b"\0" + username.encode() + b"\0" + password.encode()).decode()
        code, text = client.docmd("AUTH", "PLAIN " + message)
        if code != 235:
            raise Refused(f"{code} {text.decode(errors='replace')}")
        client.quit()
        return code
    finally:
        try:
            client.close()
        except OSError:
            pass


def xmpp_login(port, username, password):
    """Logs in with slixmpp (PLAIN, no TLS on loopback). Returns "ok" or raises
    Refused with the SASL failure condition."""
    import slixmpp

    logging.getLogger("slixmpp").setLevel(logging.CRITICAL)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    client = slixmpp.ClientXMPP(username.split("@")[0] + "@" + DOMAIN, password)
    client["feature_mechanisms"].unencrypted_plain = True
    client["feature_mechanisms"].use_mech = "PLAIN"
    outcome = loop.create_future()

    def failed(stanza):
        if not outcome.done():
            outcome.set_result(("refused", f"{stanza['condition']} {stanza['text']}".strip()))

    client.add_event_handler("session_start", lambda _: outcome.done() or outcome.set_result(("ok", None)))
    client.add_event_handler("failed_auth", failed)
    client.add_event_handler("failed_all_auth", lambda _: outcome.done() or outcome.set_result(("refused", "no mechanism left")))
    client.add_event_handler("disconnected", lambda _: outcome.done() or outcome.set_result(("refused", "disconnected")))
    client.connect(("127.0.0.1", port), disable_starttls=True, force_starttls=False)
    try:
        result, detail = loop.run_until_complete(asyncio.wait_for(outcome, 60))
    finally:
        close_xmpp(client, loop)
    if result != "ok":
        raise Refused(detail)
    return result


def curl(url, username, password, extra=()):
    """curl with a protocol URL; returns (exit code, stderr)."""
    completed = subprocess.run(
        ["curl", "-sS", "--max-time", "60", "--interface", CLIENT_IP, "--user", f"{username}:{password}", *extra, url],
        capture_output=True, text=True)
    return completed.returncode, completed.stderr + completed.stdout


def close_xmpp(client, loop):
    """Disconnects a slixmpp client and closes its event loop, cancelling what is left."""
    client.disconnect(wait=0)
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()
