"""Postern's Dovecot-protocol SASL socket over its unix path, spoken raw."""
import base64
import os
import socket

from conftest import STACK_DIR


def plain(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()


def read_lines(f, count):
    return [f.readline().decode().rstrip("\n") for _ in range(count)]


def test_unix_socket_handshake_and_pipelined_requests(stack, mfa_user):
    path = os.path.join(STACK_DIR, "postern-auth.sock")
    assert oct(os.stat(path).st_mode & 0o777) == "0o660"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(60)
        s.connect(path)
        f = s.makefile("rb")
        handshake = []
        while not handshake or handshake[-1] != "DONE":
            handshake.append(f.readline().decode().rstrip("\n"))
        assert handshake[0] == "VERSION\t1\t2"
        assert "MECH\tPLAIN\tplaintext" in handshake and "MECH\tLOGIN\tplaintext" in handshake
        assert any(line.startswith("COOKIE\t") and len(line) == 7 + 32 for line in handshake)
        # Two requests in one write; answers come back by id.
        s.sendall(("VERSION\t1\t1\nCPID\t4242\n"
                   f"AUTH\t1\tPLAIN\tservice=smtp\trip=127.0.0.2\tresp={plain(mfa_user.username, mfa_user.everything['password'])}\n"
                   f"AUTH\t2\tPLAIN\tservice=smtp\trip=127.0.0.2\tresp={plain(mfa_user.username, mfa_user.password)}\n").encode())
        answers = {line.split("\t")[1]: line for line in read_lines(f, 2)}
        assert answers["1"] == f"OK\t1\tuser={mfa_user.username}"
        assert answers["2"].startswith("FAIL\t2\treason=Authentication failed.")
        # LOGIN: username and password in continuations.
        s.sendall(b"AUTH\t3\tLOGIN\tservice=imap\n")
        assert f.readline() == b"CONT\t3\t" + base64.b64encode(b"Username:") + b"\n"
        s.sendall(f"CONT\t3\t{base64.b64encode(mfa_user.username.encode()).decode()}\n".encode())
        assert f.readline() == b"CONT\t3\t" + base64.b64encode(b"Password:") + b"\n"
        s.sendall(f"CONT\t3\t{base64.b64encode(mfa_user.imap_only['password'].encode()).decode()}\n".encode())
        assert f.readline().decode() == f"OK\t3\tuser={mfa_user.username}\n"
        # A protocol violation closes the connection.
        s.sendall(b"BOGUS\n")
        assert f.readline() == b""
