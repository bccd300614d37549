"""Each path a mail or chat client takes through a real server to Postern."""
import pytest

from conftest import (CLIENT_IP, Refused, curl, imap_login, pop3_login, smtp_login, wait_until, xmpp_login)

# name: (login function, port name, protocol, does the server pass the client's IP?)
PATHS = {
    "dovecot-imap": (imap_login, "DOVECOT_IMAP_PORT", "imap", True),
    "dovecot-pop3": (pop3_login, "DOVECOT_POP3_PORT", "pop3", True),
    "nginx-imap": (imap_login, "NGINX_IMAP_PORT", "imap", True),
    "nginx-pop3": (pop3_login, "NGINX_POP3_PORT", "pop3", True),
    "nginx-smtp": (smtp_login, "NGINX_SMTP_PORT", "smtp", True),
    "postfix-submission": (smtp_login, "POSTFIX_SUBMISSION_PORT", "smtp", True),
    "prosody": (xmpp_login, "PROSODY_C2S_PORT", "xmpp", False),
    "ejabberd": (xmpp_login, "EJABBERD_C2S_PORT", "xmpp", False),
}


def login(stack, path, username, password):
    function, port, _, _ = PATHS[path]
    return function(stack.port(port), username, password)


def refusal(stack, path, username, password):
    with pytest.raises(Refused) as refused:
        login(stack, path, username, password)
    return refused.value.text


@pytest.mark.parametrize("path", PATHS)
def test_app_password_logs_in(stack, mfa_user, path):
    login(stack, path, mfa_user.username, mfa_user.everything["password"])


@pytest.mark.parametrize("path", PATHS)
def test_app_password_typed_with_spaces_and_capitals_logs_in(stack, mfa_user, path):
    password = mfa_user.everything["password"].upper()
    login(stack, path, mfa_user.username, " ".join(password[i:i + 4] for i in range(0, 12, 4)))


@pytest.mark.parametrize("path", PATHS)
def test_mfa_account_password_is_refused_with_the_configured_message(stack, mfa_user, path):
    text = refusal(stack, path, mfa_user.username, mfa_user.password)
    protocol = PATHS[path][2]
    hint = f"use an app password from {stack.url}/security"
    if protocol == "imap":
        assert hint in text
    elif protocol == "pop3":
        assert text.startswith("-ERR") and hint in text
    elif protocol == "smtp":
        assert text.startswith("535 5.7.8") and hint in text
    else:
        assert text.startswith("not-authorized")
        if path == "prosody":  # ejabberd's extauth carries no text
            assert hint in text


@pytest.mark.parametrize("path", PATHS)
def test_account_password_without_mfa_works_in_utf8(stack, plain_user, path):
    assert any(ord(c) > 127 for c in plain_user.password)
    login(stack, path, plain_user.username, plain_user.password)


@pytest.mark.parametrize("path", PATHS)
def test_wrong_password_and_unknown_user_are_refused_alike(stack, plain_user, path):
    wrong = refusal(stack, path, plain_user.username, "not the password at all")
    unknown = refusal(stack, path, "nobody-here@example.org", "not the password at all")
    assert wrong == unknown


@pytest.mark.parametrize("path", PATHS)
def test_revocation_is_immediate(stack, mfa_user, path):
    app = mfa_user.app_password(f"revoke-{path}")
    login(stack, path, mfa_user.username, app["password"])
    mfa_user.revoke(app["id"])
    refusal(stack, path, mfa_user.username, app["password"])


@pytest.mark.parametrize("path", PATHS)
def test_scope_holds(stack, mfa_user, path):
    password = mfa_user.imap_only["password"]
    if PATHS[path][2] == "imap":
        login(stack, path, mfa_user.username, password)
    else:
        refusal(stack, path, mfa_user.username, password)


@pytest.mark.parametrize("path", PATHS)
def test_last_use_records_protocol_and_real_client_ip(stack, mfa_user, path):
    app = mfa_user.app_password(f"last-use-{path}")
    login(stack, path, mfa_user.username, app["password"])
    _, _, protocol, passes_ip = PATHS[path]

    def recorded():
        row = next(a for a in mfa_user.app_passwords() if a["id"] == app["id"])
        return row if row["last_used_protocol"] == protocol else None
    row = wait_until(recorded, 10, "last use to be recorded")
    # Prosody's mod_auth_dovecot and ejabberd's extauth do not pass the client's address.
    assert row["last_used_ip"] == (CLIENT_IP if passes_ip else None)


@pytest.mark.parametrize("url_port,scheme", [("NGINX_IMAP_PORT", "imap"), ("DOVECOT_POP3_PORT", "pop3"),
                                             ("POSTFIX_SUBMISSION_PORT", "smtp")])
def test_curl_logs_in_with_an_app_password_and_not_with_the_account_password(stack, mfa_user, url_port, scheme):
    url = f"{scheme}://127.0.0.1:{stack.port(url_port)}/"
    extra = ["--login-options", "AUTH=PLAIN"]
    if scheme == "smtp":
        extra += ["--mail-from", mfa_user.username, "--mail-rcpt", "someone@example.net", "--upload-file", "/dev/null"]
    code, output = curl(url, mfa_user.username, mfa_user.everything["password"], extra)
    assert code == 0, output
    code, output = curl(url, mfa_user.username, mfa_user.password, extra)
    assert code == 67, output  # CURLE_LOGIN_DENIED
