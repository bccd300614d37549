"""Postern sending its notifications to a real SMTP server (aiosmtpd) on
loopback, with STARTTLS or implicit TLS, AUTH, and a certificate from a
private CA."""
import email
import email.policy
import os
import sqlite3
import ssl
import subprocess
import tempfile
import threading

import pytest
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers import free_port, totp, wait_until  # noqa: E402,F401 (re-exported to the tests)
import requests
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMTP_USER, SMTP_PASSWORD = "postern", "mail relay secret"






class Sink:
    """Keeps every message the SMTP server accepted, parsed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.messages = []
        self.logins = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            over_tls = server.transport.get_extra_info("ssl_object") is not None
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message, over_tls))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
        with self.lock:
            self.logins.append((mechanism, ok))
        return AuthResult(success=ok)

    def subjects(self):
        with self.lock:
            return [m[2]["Subject"] for m in self.messages]


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """A private CA and a certificate for 127.0.0.1 signed by it."""
    d = tmp_path_factory.mktemp("pki")
    run = lambda *args: subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem",
        "-days", "2", "-extfile", "ext.cnf")
    return d


class SMTPServer:
    def __init__(self, certificate, implicit_tls=False, port=None):
        self.sink = Sink()
        self.port = port or free_port()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(certificate / "server.pem"), str(certificate / "server.key"))
        options = dict(hostname="127.0.0.1", port=self.port, authenticator=self.sink.authenticate, auth_require_tls=True)
        if implicit_tls:
            options["ssl_context"] = context
            # aiosmtpd counts only STARTTLS as TLS for AUTH; this socket is TLS from the first byte.
            options["auth_require_tls"] = False
        else:
            options["tls_context"] = context
            options["require_starttls"] = True
        self.controller = Controller(self.sink, **options)
        self.implicit_tls = implicit_tls

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()


class Postern:
    def __init__(self, smtp_url, ca_file, data=None):
        self.data = data or tempfile.mkdtemp(prefix="postern-mail-")
        self.port, self.auth_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.smtp_url, self.ca_file = smtp_url, ca_file
        self.start()

    def start(self):
        binary = os.environ.get("POSTERN_BINARY", os.path.join(ROOT, ".build", "debug", "postern"))
        env = dict(os.environ, POSTERN_SCRYPT_LOG_N="12", POSTERN_LOG_LEVEL="info", POSTERN_MAIL_CA_FILE=self.ca_file,
                   POSTERN_MAIL_RETRY_BASE="0.5", POSTERN_MAIL_FROM="security@example.org")
        self.log = open(os.path.join(self.data, "server.log"), "a")
        self.process = subprocess.Popen(
            [binary, "serve", "--data", self.data, "--listen", f"127.0.0.1:{self.port}", "--auth-listen", f"127.0.0.1:{self.auth_port}",
             "--public-url", f"http://localhost:{self.port}", "--smtp-url", self.smtp_url],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)

        def healthy():
            try:
                return requests.get(f"{self.url}/healthz", timeout=1).ok
            except requests.RequestException:
                return False
        wait_until(healthy, 120, "Postern to start")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()

    def pending(self):
        with sqlite3.connect(os.path.join(self.data, "postern.sqlite")) as db:
            return db.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]

    def api(self, method, path, token=None, **kwargs):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(method, f"{self.url}/api/v1{path}", headers=headers, timeout=30, **kwargs)

    def verify(self, username, password, ip):
        return requests.post(f"http://127.0.0.1:{self.auth_port}/v1/verify", timeout=30,
                             json={"username": username, "password": password, "protocol": "imap", "client_ip": ip})

    def account(self, username, password="correct horse battery staple"):
        assert self.api("POST", "/accounts", json={"username": username, "password": password}).status_code == 201
        return self.api("POST", "/sessions", json={"username": username, "password": password}).json()["token"]
