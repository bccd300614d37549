"""The credential cache across instances: each instance answers repeated
logins from memory, and every change made anywhere (another instance, the
CLI in another process, SQL by hand) is honoured on the other instance within
a second of being acknowledged, even with its listening connection cut."""
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers import wait_until  # noqa: E402
from test_instances import ADMIN_URL, ROOT, account, database, pair, psql  # noqa: E402,F401

pytestmark = pytest.mark.skipif(not ADMIN_URL, reason="needs POSTERN_TEST_POSTGRES_URL (scripts/test starts PostgreSQL)")


def cache_hits(instance):
    text = requests.get(f"{instance.auth}/metrics", timeout=10).text
    line = next(l for l in text.splitlines() if l.startswith('postern_credential_cache_lookups_total{result="hit"}'))
    return int(float(line.split()[-1]))


def warm(instance, username, password):
    """Logs in until the instance answers from its cache."""
    before = cache_hits(instance)
    assert instance.verify(username, password).status_code == 200
    wait_until(lambda: instance.verify(username, password).status_code == 200 and cache_hits(instance) > before, 5,
               "a login answered from the cache")


def refused_within_a_second(instance, username, password):
    acknowledged = time.monotonic()
    wait_until(lambda: instance.verify(username, password).status_code == 401, 1, "the change to be honoured")
    return time.monotonic() - acknowledged


def new_app(instance, token, name, **body):
    answer = instance.api("POST", "/app-passwords", token, json={"name": name, **body})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_repeated_logins_are_answered_from_memory(pair):
    a, b = pair
    token, _ = account(a, "cached@example.org", mfa=True)
    app = new_app(a, token, "Phone")
    warm(b, "cached@example.org", app["password"])
    before = cache_hits(b)
    for _ in range(20):
        assert b.verify("cached@example.org", app["password"]).status_code == 200
    assert cache_hits(b) >= before + 20


def test_a_password_made_on_one_instance_works_on_the_other_at_once(pair):
    a, b = pair
    token, _ = account(a, "created@example.org", mfa=True)
    first = new_app(a, token, "Phone")
    warm(b, "created@example.org", first["password"])  # the account is known to B
    second = new_app(a, token, "Laptop")
    assert b.verify("created@example.org", second["password"]).status_code == 200, "no negative cache"


def test_disable_from_the_cli_in_another_process(pair, database):
    a, b = pair
    token, _ = account(a, "disabled@example.org", mfa=True)
    app = new_app(a, token, "Phone")
    warm(b, "disabled@example.org", app["password"])
    binary = os.environ.get("POSTERN_BINARY", os.path.join(ROOT, ".build", "debug", "postern"))
    subprocess.run([binary, "user", "disable", "--data", a.data, "--database", database, "disabled@example.org"],
                   check=True, capture_output=True)
    print(f"refused after {refused_within_a_second(b, 'disabled@example.org', app['password']):.3f} s")


def test_scope_narrowed_and_expiry_set_by_hand_in_sql(pair, database):
    a, b = pair
    token, _ = account(a, "narrowed@example.org", mfa=True)
    app = new_app(a, token, "Phone")
    warm(b, "narrowed@example.org", app["password"])
    psql(database, f"UPDATE app_passwords SET protocols = 'smtp' WHERE id = '{app['id']}'")
    refused_within_a_second(b, "narrowed@example.org", app["password"])
    other = new_app(a, token, "Tablet")
    warm(b, "narrowed@example.org", other["password"])
    psql(database, f"UPDATE app_passwords SET expires_at = 1 WHERE id = '{other['id']}'")
    refused_within_a_second(b, "narrowed@example.org", other["password"])


def test_an_expiry_passing_is_honoured_from_the_cache(pair):
    a, b = pair
    token, _ = account(a, "expiring@example.org", mfa=True)
    expires = datetime.now(timezone.utc) + timedelta(seconds=3)
    app = new_app(a, token, "Phone", expires_at=expires.isoformat(timespec="seconds").replace("+00:00", "Z"))
    warm(b, "expiring@example.org", app["password"])
    wait_until(lambda: datetime.now(timezone.utc) >= expires, 10, "the expiry time")
    assert b.verify("expiring@example.org", app["password"]).status_code == 401


def test_with_the_listening_connections_cut_a_revocation_still_holds(pair, database):
    a, b = pair
    token, _ = account(a, "cut@example.org", mfa=True)
    for round in range(3):
        app = new_app(a, token, f"Phone {round}")
        warm(b, "cut@example.org", app["password"])
        cut = psql(database, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                             "WHERE application_name = 'postern-feed' AND datname = current_database()")
        assert int(cut) >= 1
        assert a.api("DELETE", f"/app-passwords/{app['id']}", token).status_code == 204
        print(f"refused after {refused_within_a_second(b, 'cut@example.org', app['password']):.3f} s")
    # The feeds come back, and B answers from memory again.
    app = new_app(a, token, "Laptop")
    warm(b, "cut@example.org", app["password"])
