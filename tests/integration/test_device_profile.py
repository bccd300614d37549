"""Setting up an iPhone the way the portal's QR code does: fetch the one-time
link once, read the configuration profile as a device would, then log in to
the real Dovecot and Postfix with exactly the host, port, username and
password inside it."""
import plistlib

import requests

from conftest import Account
from test_autoconfig import imap_session, smtp_session

MAIL_PAYLOAD = "com.apple.mail.managed"


def socket_type(port, use_ssl):
    # Mail's UseSSL asks for TLS; on a port other than the implicit-TLS ones
    # that is STARTTLS.
    assert use_ssl is True, "the profile must never let Mail log in without TLS"
    return "SSL" if port in (993, 995, 465) else "STARTTLS"


def test_a_setup_link_delivers_a_profile_that_logs_in_over_imap_and_smtp_once(stack):
    user = Account(stack, "iphone", "correct horse battery staple 11", mfa=True)
    r = requests.post(f"{stack.url}/api/v1/device-setups", json={"kind": "apple", "name": "iPhone"}, headers=user.headers, timeout=30)
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    assert url.startswith(f"{stack.url}/setup/")
    assert not any(app["name"] == "iPhone" for app in user.app_passwords()), "nothing is made before the link is opened"

    opened = requests.get(url, timeout=30)
    assert opened.status_code == 200, opened.text
    assert opened.headers["Content-Type"].startswith("application/x-apple-aspen-config")
    profile = plistlib.loads(opened.content)
    assert profile["PayloadType"] == "Configuration"
    mail = next(p for p in profile["PayloadContent"] if p["PayloadType"] == MAIL_PAYLOAD)
    assert mail["EmailAddress"] == user.username
    password = mail["IncomingPassword"]
    assert mail.get("OutgoingPasswordSameAsIncomingPassword") or mail["OutgoingPassword"] == password
    assert password != user.password

    imap_port = mail["IncomingMailServerPortNumber"]
    smtp_port = mail["OutgoingMailServerPortNumber"]
    assert imap_port == stack.port("DOVECOT_IMAP_PORT") and smtp_port == stack.port("POSTFIX_SUBMISSION_PORT")
    imap_session(mail["IncomingMailServerHostName"], imap_port, socket_type(imap_port, mail["IncomingMailServerUseSSL"]),
                 mail["IncomingMailServerUsername"], password)
    smtp_session(mail["OutgoingMailServerHostName"], smtp_port, socket_type(smtp_port, mail["OutgoingMailServerUseSSL"]),
                 mail["OutgoingMailServerUsername"], password)

    assert requests.get(url, timeout=30).status_code == 410, "a link works once"
    made = [app for app in user.app_passwords() if app["name"] == "iPhone"]
    assert len(made) == 1 and set(made[0]["protocols"]) == {"imap", "smtp"}
    listed = requests.get(f"{stack.url}/api/v1/device-setups", headers=user.headers, timeout=30).json()
    assert [(s["name"], s["state"]) for s in listed] == [("iPhone", "used")], listed
    assert listed[0]["used_at"] and listed[0]["used_from"] and listed[0]["app_password_id"] == made[0]["id"]
