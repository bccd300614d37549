"""Setting up a mail client the way Thunderbird does: fetch the autoconfig
document for an address, then log in to the real Dovecot and Postfix with
exactly the host, port, TLS mode and username it names, and an app password."""
import imaplib
import os
import poplib
import smtplib
import ssl
import xml.etree.ElementTree as ET

import requests

from conftest import DOMAIN, STACK_DIR, Account

AUTODISCOVER_REQUEST = """<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>{address}</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>"""
OUTLOOK = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"


def tls_context():
    """Trusts the demo stack's own certificate, and checks the host name."""
    return ssl.create_default_context(cafile=os.path.join(STACK_DIR, "tls", "cert.pem"))


def autoconfig(stack, address, path="/mail/config-v1.1.xml"):
    r = requests.get(f"{stack.url}{path}", params={"emailaddress": address}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/xml"
    return r.content


def servers(document, address):
    """{type: (hostname, port, socketType, username)} as a client reads them."""
    provider = ET.fromstring(document).find("emailProvider")
    found = {}
    for element in provider.findall("incomingServer") + provider.findall("outgoingServer"):
        assert element.findtext("authentication") == "password-cleartext"
        username = element.findtext("username").replace("%EMAILADDRESS%", address)
        found[element.get("type")] = (element.findtext("hostname"), int(element.findtext("port")),
                                      element.findtext("socketType"), username)
    return found


def imap_session(host, port, socket_type, username, password):
    if socket_type == "SSL":
        client = imaplib.IMAP4_SSL(host, port, ssl_context=tls_context(), timeout=30)
    else:
        assert socket_type == "STARTTLS"
        client = imaplib.IMAP4(host, port, timeout=30)
        client.starttls(ssl_context=tls_context())
    try:
        typ, _ = client.login(username, password)
        assert typ == "OK"
        assert client.noop()[0] == "OK"
    finally:
        client.logout()


def pop3_session(host, port, socket_type, username, password):
    if socket_type == "SSL":
        client = poplib.POP3_SSL(host, port, context=tls_context(), timeout=30)
    else:
        client = poplib.POP3(host, port, timeout=30)
        client.stls(context=tls_context())
    try:
        client.user(username)
        assert client.pass_(password).startswith(b"+OK")
    finally:
        client.quit()


def smtp_session(host, port, socket_type, username, password):
    if socket_type == "SSL":
        client = smtplib.SMTP_SSL(host, port, context=tls_context(), timeout=30)
    else:
        client = smtplib.SMTP(host, port, timeout=30)
        client.ehlo("thunderbird.example")
        client.starttls(context=tls_context())
    try:
        client.ehlo("thunderbird.example")
        code, _ = client.login(username, password)
        assert code == 235
        client.sendmail(username, ["someone@example.net"], b"Subject: set up in one step\r\n\r\nHello.\r\n")
    finally:
        client.quit()


def test_autoconfig_thunderbird_setup_logs_in_over_imap_pop3_and_smtp(stack):
    user = Account(stack, "thunderbird", "correct horse battery staple 8", mfa=True)
    document = autoconfig(stack, user.username)
    root = ET.fromstring(document)
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    assert root.find("emailProvider").get("id") == DOMAIN
    assert root.find("emailProvider").findtext("domain") == DOMAIN
    found = servers(document, user.username)
    assert set(found) == {"imap", "pop3", "smtp"}
    for _, port, socket_type, username in found.values():
        assert socket_type == ("SSL" if port in (993, 995, 465) else "STARTTLS")
        assert username == user.username
    assert found["imap"][1] == stack.port("DOVECOT_IMAP_PORT")
    assert found["smtp"][1] == stack.port("POSTFIX_SUBMISSION_PORT")

    password = user.app_password("Thunderbird (autoconfig)")["password"]
    imap_session(*found["imap"], password)
    pop3_session(*found["pop3"], password)
    smtp_session(*found["smtp"], password)
    # With a second factor on, the account password opens nothing.
    try:
        imap_session(*found["imap"], user.password)
        raise AssertionError("the account password logged in over IMAP")
    except imaplib.IMAP4.error:
        pass


def test_autoconfig_is_the_same_for_every_address_of_the_domain(stack):
    user = Account(stack, "samebytes", "correct horse battery staple 9", mfa=False)
    existing = autoconfig(stack, user.username)
    assert existing == autoconfig(stack, f"nobody-at-all@{DOMAIN}")
    assert existing == autoconfig(stack, user.username, path="/.well-known/autoconfig/mail/config-v1.1.xml")
    assert user.local.encode() not in existing
    r = requests.get(f"{stack.url}/mail/config-v1.1.xml", params={"emailaddress": "someone@not-served.example"}, timeout=30)
    assert r.status_code == 404


def test_autoconfig_and_autodiscover_agree(stack):
    user = Account(stack, "outlook", "correct horse battery staple 10", mfa=False)
    found = servers(autoconfig(stack, user.username), user.username)
    r = requests.post(f"{stack.url}/autodiscover/autodiscover.xml", data=AUTODISCOVER_REQUEST.format(address=user.username),
                      headers={"Content-Type": "text/xml"}, timeout=30)
    assert r.status_code == 200, r.text
    account = ET.fromstring(r.content).find(f"{OUTLOOK}Response/{OUTLOOK}Account")
    assert account.findtext(f"{OUTLOOK}Action") == "settings"
    for protocol in account.findall(f"{OUTLOOK}Protocol"):
        host, port, socket_type, username = found[protocol.findtext(f"{OUTLOOK}Type").lower()]
        assert protocol.findtext(f"{OUTLOOK}Server") == host
        assert int(protocol.findtext(f"{OUTLOOK}Port")) == port
        assert protocol.findtext(f"{OUTLOOK}LoginName") == username
        assert protocol.findtext(f"{OUTLOOK}Encryption") == ("SSL" if socket_type == "SSL" else "TLS")
