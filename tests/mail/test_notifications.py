"""Security notifications arrive at a real SMTP server, with the right
content, exactly once — also across an SMTP outage and a Postern restart."""
import re

import pytest

from conftest import SMTP_PASSWORD, SMTP_USER, Postern, SMTPServer, totp, wait_until




@pytest.fixture(scope="module")
def starttls(certificate):
    server = SMTPServer(certificate).start()
    postern = Postern(f"smtp://{SMTP_USER}:{SMTP_PASSWORD.replace(' ', '%20')}@127.0.0.1:{server.port}", str(certificate / "ca.pem"))
    yield server, postern
    postern.stop()
    server.stop()


def test_alerts_arrive_over_starttls_with_auth_and_say_what_happened(starttls):
    server, postern = starttls
    token = postern.account("alice@example.org")
    secret = postern.api("POST", "/mfa/totp", token).json()["secret"]
    assert postern.api("POST", "/mfa/totp/confirm", token, json={"code": totp(secret)}).status_code == 204
    app = postern.api("POST", "/app-passwords", token, json={"name": "Thunderbird"}).json()
    assert postern.verify("alice@example.org", app["password"], "198.51.100.23").status_code == 200
    assert postern.verify("alice@example.org", "correct horse battery staple", "192.0.2.50").status_code == 401
    for guess in range(3):  # failed guesses never send mail
        postern.verify("alice@example.org", f"wrong {guess}", "203.0.113.66")

    expected = {"Two-factor authentication turned on", "New app password created",
                "A third-party application accessed your account", "Your mail client is using your account password"}
    wait_until(lambda: expected <= set(server.sink.subjects()), 30, "the alerts")
    assert sorted(server.sink.subjects()) == sorted(expected)
    assert all(ok for _, ok in server.sink.logins) and server.sink.logins[0][0] == "PLAIN"
    for mail_from, rcpts, message, over_tls in server.sink.messages:
        assert over_tls, "STARTTLS was used"
        assert mail_from == "security@example.org" and rcpts == ["alice@example.org"]
        assert message["To"] == "alice@example.org" and message["Message-ID"].endswith("@localhost>")
        assert message.get_content_type() == "multipart/alternative"
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert f"http://localhost:{postern.port}/security" in text and "<a href=" in html
    access = next(m for _, _, m, _ in server.sink.messages if m["Subject"] == "A third-party application accessed your account")
    text = access.get_body(("plain",)).get_content()
    assert "\u201cThunderbird\u201d" in text and "IMAP" in text and "198.51.100.23" in text
    assert f"/security/app-passwords/{app['id']}/revoke" in text
    refused = next(m for _, _, m, _ in server.sink.messages if m["Subject"] == "Your mail client is using your account password")
    assert "192.0.2.50" in refused.get_body(("plain",)).get_content()


def test_password_reset_by_email(starttls):
    server, postern = starttls
    postern.account("bob@example.org")
    assert postern.api("POST", "/password-reset", json={"username": "bob@example.org"}).status_code == 202
    mail = wait_until(lambda: next((m for _, r, m, _ in server.sink.messages if r == ["bob@example.org"] and m["Subject"] == "Reset your password"), None),
                      30, "the reset email")
    link = re.search(r"/reset\?token=([A-Za-z0-9_-]+)", mail.get_body(("plain",)).get_content()).group(1)
    done = postern.api("POST", "/password-reset/complete", json={"token": link, "new_password": "a brand new passphrase"})
    assert done.status_code == 204, done.text
    assert postern.api("POST", "/sessions", json={"username": "bob@example.org", "password": "a brand new passphrase"}).status_code == 201
    wait_until(lambda: "Your password was reset" in [m["Subject"] for _, r, m, _ in server.sink.messages if r == ["bob@example.org"]],
               30, "the reset notice")


def test_implicit_tls(certificate):
    server = SMTPServer(certificate, implicit_tls=True).start()
    postern = Postern(f"smtps://{SMTP_USER}:{SMTP_PASSWORD.replace(' ', '%20')}@127.0.0.1:{server.port}", str(certificate / "ca.pem"))
    try:
        token = postern.account("carol@example.org")
        postern.api("POST", "/app-passwords", token, json={"name": "Phone"})
        wait_until(lambda: "New app password created" in server.sink.subjects(), 30, "the alert over implicit TLS")
        assert server.sink.messages[0][3], "TLS from the first byte"
    finally:
        postern.stop()
        server.stop()


def test_outage_and_restart_deliver_every_alert_exactly_once(certificate):
    server = SMTPServer(certificate).start()
    port = server.port
    server.stop()  # the SMTP server is down from the start
    postern = Postern(f"smtp://{SMTP_USER}:{SMTP_PASSWORD.replace(' ', '%20')}@127.0.0.1:{port}", str(certificate / "ca.pem"))
    try:
        token = postern.account("dave@example.org")
        for name in ("Laptop", "Phone", "Tablet"):
            assert postern.api("POST", "/app-passwords", token, json={"name": name}).status_code == 201
        assert postern.pending() == 3
        # Failed attempts are recorded while it waits.
        wait_until(lambda: postern.pending() == 3 and "sending failed" in open(postern.log.name).read(), 30, "a failed attempt")
        postern.stop()
        postern.start()  # restart while the alerts wait
        assert postern.pending() == 3
        server = SMTPServer(certificate, port=port).start()
        wait_until(lambda: postern.pending() == 0, 60, "the outbox to drain")
        ids = [m["Message-ID"] for _, _, m, _ in server.sink.messages]
        assert sorted(m["Subject"] for _, _, m, _ in server.sink.messages) == ["New app password created"] * 3
        assert len(set(ids)) == 3, ids
        # Nothing more arrives: each was marked sent after its 250.
        deadline_subjects = len(server.sink.messages)
        postern.stop()
        postern.start()
        wait_until(lambda: "notifications" in open(postern.log.name).read(), 30, "the restarted server")
        assert postern.pending() == 0 and len(server.sink.messages) == deadline_subjects
    finally:
        postern.stop()
        server.stop()
