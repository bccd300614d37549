"""`postern xmpp-extauth` on its own, speaking ejabberd's framing on a pipe."""
import os
import struct
import subprocess

from conftest import STACK_DIR


def frame(text):
    data = text.encode()
    return struct.pack(">H", len(data)) + data


def run_extauth(stack, *requests):
    binary = os.environ.get("POSTERN_BINARY")
    completed = subprocess.run(
        [binary, "xmpp-extauth", "--auth-url", stack.ports["POSTERN_AUTH_URL"],
         "--auth-secret-file", os.path.join(STACK_DIR, "auth-secret")],
        input=b"".join(frame(r) for r in requests), capture_output=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert len(out) == 4 * len(requests)
    answers = []
    for i in range(len(requests)):
        length, result = struct.unpack(">HH", out[4 * i:4 * i + 4])
        assert length == 2
        answers.append(result)
    return answers


def test_extauth_answers_each_request_in_order(stack, mfa_user, plain_user):
    local, domain = mfa_user.username.split("@")
    plain_local, _ = plain_user.username.split("@")
    app = mfa_user.everything["password"]
    assert run_extauth(
        stack,
        f"auth:{local}:{domain}:{app}",
        f"auth:{local}:{domain}:{mfa_user.password}",
        f"auth:{plain_local}:{domain}:{plain_user.password}",
        f"auth:{local}:{domain}:{app}:with:colons",
        f"isuser:{local}:{domain}",
        f"isuser:nobody-at-all:{domain}",
        f"setpass:{local}:{domain}:new",
        f"tryregister:someone:{domain}:pw",
    ) == [1, 0, 1, 0, 1, 0, 0, 0]


def test_extauth_refuses_when_the_secret_is_wrong(stack, mfa_user, tmp_path):
    wrong = tmp_path / "secret"
    wrong.write_text("not-the-shared-secret-at-all\n")
    local, domain = mfa_user.username.split("@")
    completed = subprocess.run(
        [os.environ.get("POSTERN_BINARY"), "xmpp-extauth", "--auth-url", stack.ports["POSTERN_AUTH_URL"],
         "--auth-secret-file", str(wrong)],
        input=frame(f"auth:{local}:{domain}:{mfa_user.everything['password']}"), capture_output=True, timeout=60)
    assert completed.stdout == b"\x00\x02\x00\x00"
