"""With Postern down, clients get a temporary failure, never "wrong password",
so they keep the saved password and retry. Runs last: it stops Postern.

nginx answers an unreachable auth_http server with its own "internal server
error" (IMAP: an untagged BAD, then it closes the connection). Prosody's
mod_auth_dovecot reports a lost auth connection as not-authorized with the
text "closed", and ejabberd's extauth has no temporary answer at all; both
are limits of those modules, so they are not in this list (see
integrations/README.md). Postern's own temporary failure (its store down)
reaches Prosody as temporary-auth-failure: that path is covered by the SASL
socket's tests."""
import pytest

from conftest import Refused, imap_login, pop3_login, smtp_login

CASES = {
    "dovecot-imap": (imap_login, "DOVECOT_IMAP_PORT", lambda t: "[UNAVAILABLE]" in t),
    "dovecot-pop3": (pop3_login, "DOVECOT_POP3_PORT", lambda t: "[SYS/TEMP]" in t),
    "nginx-imap": (imap_login, "NGINX_IMAP_PORT", lambda t: "EOF" in t and "AUTHENTICATIONFAILED" not in t),
    "nginx-pop3": (pop3_login, "NGINX_POP3_PORT", lambda t: t == "-ERR internal server error"),
    "nginx-smtp": (smtp_login, "NGINX_SMTP_PORT", lambda t: t.startswith("4")),
    "postfix-submission": (smtp_login, "POSTFIX_SUBMISSION_PORT", lambda t: t.startswith("4")),
}


@pytest.fixture(scope="module")
def postern_stopped(stack, mfa_user):
    stack.stop_postern()
    return mfa_user


@pytest.mark.parametrize("path", CASES)
def test_postern_stopped_gives_a_temporary_failure(stack, postern_stopped, path):
    function, port, is_temporary = CASES[path]
    with pytest.raises(Refused) as refused:
        function(stack.port(port), postern_stopped.username, postern_stopped.everything["password"])
    assert is_temporary(refused.value.text), refused.value.text
