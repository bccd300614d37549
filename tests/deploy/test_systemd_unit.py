"""The shipped systemd unit and its sample config (integrations/systemd/):
the unit passes `systemd-analyze verify` without a warning, its exposure in
`systemd-analyze security` stays at 2.0 or below with only the documented
checks open, and `postern serve` starts with the sample config."""
import json
import os
import re
import socket
import stat
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers import free_port, wait_until  # noqa: E402
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = os.path.join(ROOT, "integrations", "systemd", "postern.service")
CONFIG = os.path.join(ROOT, "integrations", "systemd", "postern.toml")
BINARY = os.environ.get("POSTERN_BINARY", os.path.join(ROOT, ".build", "debug", "postern"))
INSTALLED_BINARY = "/usr/local/lib/postern/postern"
MAXIMUM_EXPOSURE = 2.0
# The checks the unit leaves open, each explained in docs/deploy.md. Any other
# check that fails means the unit got weaker.
OPEN_CHECKS = {
    "PrivateNetwork=",                          # it serves and calls the network
    "RestrictAddressFamilies=~AF_(INET|INET6)",  # likewise
    "RestrictAddressFamilies=~AF_UNIX",         # the SASL socket
    "IPAddressDeny=",                           # peers depend on the deployment: a drop-in
    "RootDirectory=/RootImage=",                # runs from the host's file system, read-only
    "DeviceAllow=",                             # /dev/rtc, read-only, comes with ProtectClock=
}
pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/systemd-analyze"),
                                reason="needs systemd-analyze (Debian package systemd; scripts/install-packages)")


def unit_for(tmp, binary=BINARY, extra=""):
    """The shipped unit, byte for byte, except that ExecStart names `binary`
    (systemd-analyze verify insists that it exists), in tmp/postern.service."""
    text = open(UNIT).read()
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith("ExecStart=")]
    assert len(starts) == 1, "the unit has one ExecStart="
    assert lines[starts[0]].startswith(f"ExecStart={INSTALLED_BINARY} "), lines[starts[0]]
    lines[starts[0]] = lines[starts[0]].replace(INSTALLED_BINARY, binary, 1)
    text = "".join(lines)
    if extra:
        text = text.replace("\n[Install]", f"\n{extra}\n[Install]")
    path = os.path.join(tmp, "postern.service")
    with open(path, "w") as f:
        f.write(text)
    return path


def verify(path):
    """`systemd-analyze verify` on the unit alone: its exit status and what it
    said about this unit (it may mention other units it loads)."""
    run = subprocess.run(["systemd-analyze", "verify", "--recursive-errors=no", "--man=no", path],
                         capture_output=True, text=True, cwd=os.path.dirname(path))
    said = [line for line in (run.stdout + run.stderr).splitlines() if "postern" in line]
    return run.returncode, said


def security(path):
    """The overall exposure and the failed checks, from `systemd-analyze security --offline=yes`."""
    command = ["systemd-analyze", "security", "--offline=yes", "--no-pager"]
    text = subprocess.run(command + [path], capture_output=True, text=True, check=True).stdout
    match = re.search(r"Overall exposure level for postern\.service: (\d+(?:\.\d+)?)", text)
    assert match, text
    checks = json.loads(subprocess.run(command + ["--json=short", path], capture_output=True, text=True, check=True).stdout)
    failed = {check["name"] for check in checks if check["set"] is False and check["exposure"] not in (None, "0.0")}
    return float(match.group(1)), failed


@pytest.fixture
def tmp():
    with tempfile.TemporaryDirectory(prefix="postern-unit-") as path:
        yield path


def test_the_unit_verifies_without_a_word(tmp):
    assert os.access(BINARY, os.X_OK), f"no postern binary at {BINARY} (swift build, or set POSTERN_BINARY)"
    status, said = verify(unit_for(tmp))
    assert status == 0 and said == [], said


def test_verify_would_notice_a_mistake(tmp):
    """The check above has teeth: a misspelt setting and a missing binary are reported."""
    status, said = verify(unit_for(tmp, extra="ProtectSytem=strict"))
    assert any("Unknown key" in line and "ProtectSytem" in line for line in said), said
    status, said = verify(unit_for(tmp, binary="/nonexistent/postern"))
    assert status != 0 and any("/nonexistent/postern" in line for line in said), said


def test_the_unit_exposure_is_ok(tmp):
    exposure, failed = security(unit_for(tmp))
    print(f"exposure {exposure}; open: {sorted(failed)}")
    assert exposure <= MAXIMUM_EXPOSURE, f"exposure {exposure} is above {MAXIMUM_EXPOSURE}; open: {sorted(failed)}"
    assert failed <= OPEN_CHECKS, f"weaker than shipped: {sorted(failed - OPEN_CHECKS)}"


def test_a_weaker_unit_is_noticed(tmp):
    path = unit_for(tmp)
    text = open(path).read()
    for setting in ("MemoryDenyWriteExecute=yes", "NoNewPrivileges=yes", "SystemCallFilter=~@privileged @resources"):
        with open(path, "w") as f:
            f.write(text.replace(setting + "\n", ""))
        exposure, failed = security(path)
        assert not failed <= OPEN_CHECKS, setting
    with open(path, "w") as f:
        f.write(re.sub(r"(?m)^(Protect|Private|Restrict)\w+=.*\n", "", text))
    exposure, _ = security(path)
    assert exposure > MAXIMUM_EXPOSURE


def test_the_unit_and_the_sample_config_agree():
    """The config's data directory is the unit's StateDirectory, its SASL socket
    is in the RuntimeDirectory, and ExecStart reads the config where it is installed."""
    unit, config = open(UNIT).read(), open(CONFIG).read()
    state = re.search(r"(?m)^StateDirectory=(\S+)$", unit).group(1)
    runtime = re.search(r"(?m)^RuntimeDirectory=(\S+)$", unit).group(1)
    assert re.search(rf'(?m)^data = "/var/lib/{state}"$', config)
    assert re.search(rf'(?m)^sasl_listen = \["unix:/run/{runtime}/[^"]+"', config)
    assert re.search(r"(?m)^ExecStart=\S+ serve --config /etc/postern/postern\.toml$", unit)


def environment(tmp):
    """The sample config's paths moved into tmp: the environment overrides the file."""
    data, run = os.path.join(tmp, "data"), os.path.join(tmp, "run")
    os.makedirs(run)
    secret = os.path.join(tmp, "auth-secret")
    with open(secret, "w") as f:
        f.write("a shared secret of some length\n")
    port, auth_port = free_port(), free_port()
    env = dict(os.environ, POSTERN_DATA=data, POSTERN_SASL_LISTEN=f"unix:{run}/auth", POSTERN_AUTH_SECRET_FILE=secret,
               POSTERN_LISTEN=f"127.0.0.1:{port}", POSTERN_AUTH_LISTEN=f"127.0.0.1:{auth_port}", POSTERN_SCRYPT_LOG_N="12")
    return env, f"http://127.0.0.1:{auth_port}", f"{run}/auth", data


def test_postern_serves_with_the_sample_config(tmp):
    env, auth, sasl, data = environment(tmp)
    log = open(os.path.join(tmp, "serve.log"), "w+")
    process = subprocess.Popen([BINARY, "serve", "--config", CONFIG], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        def up():
            assert process.poll() is None, open(log.name).read()[-3000:]
            try:
                return requests.get(f"{auth}/healthz", timeout=1).ok
            except requests.RequestException:
                return False
        wait_until(up, 120, "postern serve with the sample config")
        # The settings from the file hold: a shared secret, the SASL socket, closed sign-up.
        assert requests.post(f"{auth}/v1/verify", json={"username": "a@example.org", "password": "x", "protocol": "imap"},
                             timeout=30).status_code == 401
        assert stat.S_IMODE(os.stat(sasl).st_mode) == 0o660
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(sasl)
            s.sendall(b"VERSION\t1\t2\nCPID\t1\n")
            assert b"MECH\tPLAIN" in s.recv(4096)
        assert os.path.exists(os.path.join(data, "server.key"))
        log.seek(0)
        assert "signup=closed" in log.read()
    finally:
        process.terminate()
        status = process.wait(timeout=30)
    log.seek(0)
    assert status == 0 and "stopped" in log.read(), "SIGTERM stops it gracefully"


def test_every_example_in_the_sample_config_loads(tmp):
    """The commented-out examples ("#key = …", "#[table]") are real settings
    with valid values: with all of them switched on, the config loads."""
    text = re.sub(r"(?m)^#(?=[a-z\[])", "", open(CONFIG).read())
    assert text != open(CONFIG).read()
    path = os.path.join(tmp, "postern.toml")
    with open(path, "w") as f:
        f.write(text)
    env, _, _, _ = environment(tmp)
    env["POSTERN_DATABASE_URL"] = ""  # the PostgreSQL example stays off: SQLite in tmp
    run = subprocess.run([BINARY, "user", "list", "--config", path], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
