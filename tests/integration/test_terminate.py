"""Revocation reaches live sessions: after a revocation Postern tells Dovecot
(doveadm's HTTP API, `kick`), ejabberd (mod_http_api, `kick_user`) and Prosody
(integrations/prosody/mod_postern_disconnect.lua) to close the app
password's open connections.

Each test holds a real IMAP connection in IDLE, revokes through the user API,
and waits — with a bound, no sleeps — for the server to close it. The
measured times go to .test-run/kick-latencies.txt."""
import base64
import os
import socket
import subprocess
import time

import pytest
import requests

from conftest import CLIENT_IP, DOMAIN, ROOT, Account, close_xmpp, wait_until  # noqa: F401

OTHER_IP = "127.0.0.3"
LATENCIES = os.path.join(ROOT, ".test-run", "kick-latencies.txt")


class IdlingClient:
    """An IMAP client that logs in, selects INBOX and enters IDLE, from `source`."""

    def __init__(self, port, username, password, source):
        self.sock = socket.create_connection(("127.0.0.1", port), 30, source_address=(source, 0))
        self.file = self.sock.makefile("rb")
        assert self.file.readline().startswith(b"* OK")
        self.command(b"a1 LOGIN " + quote(username) + b" " + quote(password), b"a1 ")
        self.command(b"a2 SELECT INBOX", b"a2 ")
        self.sock.sendall(b"a3 IDLE\r\n")
        assert self.file.readline().startswith(b"+ ")

    def command(self, line, tag):
        self.sock.sendall(line + b"\r\n")
        while True:
            answer = self.file.readline()
            assert answer, f"connection closed during {line[:12]!r}"
            if answer.startswith(tag):
                assert answer.startswith(tag + b"OK"), answer
                return

    def closed_within(self, seconds):
        """Seconds until the server closes the connection, or None if it
        stays open `seconds` (a bounded wait on the socket, no sleep)."""
        start = time.monotonic()
        self.sock.settimeout(seconds)
        try:
            while self.file.readline():
                self.sock.settimeout(max(0.01, seconds - (time.monotonic() - start)))
        except (socket.timeout, TimeoutError):
            return None
        except ConnectionResetError:
            pass
        return time.monotonic() - start

    def still_works(self):
        """Ends IDLE and runs NOOP: the connection is alive and logged in."""
        self.sock.settimeout(10)
        self.sock.sendall(b"DONE\r\n")
        while not (line := self.file.readline()).startswith(b"a3 "):
            assert line, "closed"
        self.command(b"a4 NOOP", b"a4 ")
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def quote(text):
    return b'"' + text.encode() + b'"'


def last_used_from(account, app, address):
    def recorded():
        row = next(a for a in account.app_passwords() if a["id"] == app["id"])
        return row["last_used_ip"] == address
    wait_until(recorded, 10, "the last use to be recorded")


def termination_events(account, server):
    """The account's attempts to end sessions on `server`, newest first."""
    r = requests.get(f"{account.stack.url}/api/v1/activity?category=change&limit=50", headers=account.headers, timeout=30)
    assert r.status_code == 200, r.text
    return [e for e in r.json()["events"] if e["kind"] == "sessions_ended" and e["summary"].startswith(server + ":")]


def record_latency(what, seconds):
    os.makedirs(os.path.dirname(LATENCIES), exist_ok=True)
    with open(LATENCIES, "a") as f:
        f.write(f"{what}: {seconds:.2f} s\n")


def revoke_and_measure(account, app, client, what):
    started = time.monotonic()
    account.revoke(app["id"])
    closed = client.closed_within(5)
    assert closed is not None, f"{what}: the connection stayed open 5 s after the revocation"
    record_latency(what, time.monotonic() - started)
    return closed


def test_imap_idle_through_dovecot_ends_on_revocation_and_other_clients_stay(stack):
    account = Account(stack, "kick", "correct horse battery staple 7", mfa=True)
    phone, laptop = account.app_password("Phone"), account.app_password("Laptop")
    port = stack.port("DOVECOT_IMAP_PORT")
    revoked = IdlingClient(port, account.username, phone["password"], CLIENT_IP)
    other = IdlingClient(port, account.username, laptop["password"], OTHER_IP)
    try:
        last_used_from(account, phone, CLIENT_IP)
        last_used_from(account, laptop, OTHER_IP)
        revoke_and_measure(account, phone, revoked, "dovecot IMAP IDLE")
        assert other.still_works(), "the other app password's session from another address stays"
        events = wait_until(lambda: termination_events(account, "dovecot"), 10, "the attempt in the activity")
        assert events[0]["result"] == "ok"
        assert events[0]["summary"] == f"dovecot: ended 1 IMAP session from {CLIENT_IP}, 127.0.0.1"
    finally:
        revoked.close()
        other.close()


def test_imap_idle_through_nginx_ends_when_dovecot_ends_the_backend(stack):
    account = Account(stack, "kick-nginx", "correct horse battery staple 7", mfa=True)
    phone = account.app_password("Phone")
    client = IdlingClient(stack.port("NGINX_IMAP_PORT"), account.username, phone["password"], CLIENT_IP)
    try:
        # nginx passes the client's address to Postern; Dovecot sees nginx's.
        last_used_from(account, phone, CLIENT_IP)
        revoke_and_measure(account, phone, client, "nginx IMAP proxy -> dovecot IDLE")
    finally:
        client.close()


def demo_stack(stack, *args):
    subprocess.run([os.path.join(ROOT, "scripts", "demo-stack"), *args], env=stack.env, check=True)


def test_dovecot_down_at_revocation_is_told_when_it_is_back(stack):
    account = Account(stack, "kick-later", "correct horse battery staple 7", mfa=True)
    phone = account.app_password("Phone")
    demo_stack(stack, "stop", "dovecot")
    try:
        account.revoke(phone["id"])
        retrying = wait_until(lambda: [e for e in termination_events(account, "dovecot") if e["result"] == "retrying"], 30,
                              "a failed attempt in the activity")
        assert "could not close open connections" in retrying[0]["summary"] and "will try again" in retrying[0]["summary"]
    finally:
        demo_stack(stack, "resume", "dovecot")
    back = time.monotonic()
    done = wait_until(lambda: [e for e in termination_events(account, "dovecot") if e["result"] == "ok"], 60, "the retry after Dovecot is back")
    record_latency("dovecot back -> retried kick delivered", time.monotonic() - back)
    assert done[0]["summary"] == "dovecot: no open sessions"
    assert len(done) == 1


def xmpp_session_ends_on_revocation(port, account, app):
    """Logs in with slixmpp, revokes once the session is up, and returns the
    seconds until the server ended the stream (None: still open after 5 s)."""
    import asyncio
    import logging

    import slixmpp

    logging.getLogger("slixmpp").setLevel(logging.CRITICAL)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    client = slixmpp.ClientXMPP(account.local + "@" + DOMAIN + "/phone", app["password"])
    client["feature_mechanisms"].unencrypted_plain = True
    client["feature_mechanisms"].use_mech = "PLAIN"
    started, ended = loop.create_future(), loop.create_future()
    client.add_event_handler("session_start", lambda _: started.done() or started.set_result(True))
    client.add_event_handler("disconnected", lambda _: ended.done() or ended.set_result(time.monotonic()))
    client.connect(("127.0.0.1", port), disable_starttls=True, force_starttls=False)

    async def scenario():
        await asyncio.wait_for(started, 30)
        await loop.run_in_executor(None, lambda: account.app_passwords())  # the session is up and idle
        began = time.monotonic()
        await loop.run_in_executor(None, account.revoke, app["id"])
        try:
            return await asyncio.wait_for(ended, 5) - began
        except asyncio.TimeoutError:
            return None
    try:
        return loop.run_until_complete(scenario())
    finally:
        close_xmpp(client, loop)


@pytest.mark.parametrize("server, port_name, label", [("ejabberd", "EJABBERD_C2S_PORT", "ejabberd"), ("prosody", "PROSODY_C2S_PORT", "Prosody")])
def test_xmpp_session_ends_on_revocation(stack, server, port_name, label):
    account = Account(stack, f"kick-{server}", "correct horse battery staple 7", mfa=True)
    app = account.app_password("Chat", protocols=["xmpp"])
    seconds = xmpp_session_ends_on_revocation(stack.port(port_name), account, app)
    assert seconds is not None, f"the {label} stream stayed open 5 s after the revocation"
    record_latency(f"{server} XMPP stream", seconds)
    events = wait_until(lambda: termination_events(account, server), 10, "the attempt in the activity")
    assert [e["summary"] for e in events] == [f"{server}: ended 1 XMPP session"]
