"""Helpers every Python test suite shares: free ports, bounded waits, TOTP codes."""
import base64
import hashlib
import hmac
import socket
import struct
import time


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, seconds=30, what="condition"):
    """Polls `condition` until it returns something true (and returns that),
    or fails after `seconds`: the way to wait on a condition with a bound."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def totp(secret, at=None, offset=0):
    """The RFC 6238 code (SHA-1, 6 digits, 30 s) for a base32 secret."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    counter = int((at or time.time()) // 30) + offset
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    start = digest[-1] & 15
    return "%06d" % ((struct.unpack(">I", digest[start:start + 4])[0] & 0x7FFFFFFF) % 1000000)
