"""The operator's console, driven in a real browser: an administrator made
with the CLI sets up a second factor, finds a mail client still on the
account password in the overview, and disables that account; the mail
server's next login for it is refused."""
import os
import re
import subprocess
import time

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import ROOT, SCREENSHOTS, totp, wait_until
from test_portal import assert_labelled, shot, submitting

ADMIN = "admin@example.org"
USER = "thunderbird@example.org"
PASSWORD = "copper lantern meadow"
CLIENT_IP = "198.51.100.23"


def binary():
    return os.environ.get("POSTERN_BINARY", os.path.join(ROOT, ".build", "debug", "postern"))


def full_page_shot(browser, name):
    """A screenshot of the whole page, not just the window."""
    width, height = browser.get_window_size()["width"], browser.get_window_size()["height"]
    page = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, max(height, page + 120))
    try:
        shot(browser, name)
    finally:
        browser.set_window_size(width, height)


def test_admin_console_end_to_end(server, browser):
    api = f"{server.url}/api/v1"
    for username in (ADMIN, USER):
        assert requests.post(f"{api}/accounts", json={"username": username, "password": PASSWORD}, timeout=30).status_code == 201
    def grant():
        return subprocess.run([binary(), "user", "grant-admin", ADMIN, "--data", server.data], capture_output=True, text=True, timeout=120)

    # Without a second factor the role is refused: whoever set up the first
    # factor would own the console.
    refused = grant()
    assert refused.returncode != 0 and "no second factor" in refused.stderr

    browser.delete_all_cookies()
    browser.get(f"{server.url}/signin")
    browser.find_element(By.ID, "username").send_keys(ADMIN)
    submitting(browser, lambda: browser.find_element(By.ID, "password").send_keys(PASSWORD, Keys.ENTER))
    wait_until(lambda: browser.current_url.endswith("/security"), 30, "the Security page")
    assert not browser.find_elements(By.LINK_TEXT, "Administration")
    browser.get(f"{server.url}/admin")
    assert "administrators" in browser.find_element(By.TAG_NAME, "main").text.lower()
    assert not browser.find_elements(By.TAG_NAME, "table")

    # The authenticator app, as a person sets it up; then the role.
    browser.get(f"{server.url}/security/two-step")
    submitting(browser, lambda: browser.find_element(By.XPATH, "//button[normalize-space()='Set up authenticator app']").click())
    secret = browser.find_element(By.ID, "totp-secret").get_attribute("data-secret")
    submitting(browser, lambda: browser.find_element(By.ID, "otp").send_keys(totp(secret, time.time()), Keys.ENTER))
    wait_until(lambda: "done=mfa_on" in browser.current_url, 30, "MFA to turn on")
    granted = grant()
    assert granted.returncode == 0, granted.stderr
    browser.get(f"{server.url}/security")
    assert browser.find_elements(By.LINK_TEXT, "Administration")

    # A mail client logs in with the account password.
    allowed = server.verify(USER, PASSWORD, protocol="imap", client_ip=CLIENT_IP)
    assert allowed.status_code == 200 and allowed.json()["result"] == "allow", allowed.text

    # The overview lists it under the clients still on account passwords.
    def listed():
        browser.get(f"{server.url}/admin")
        rows = browser.find_elements(By.CSS_SELECTOR, "#account-password-clients tbody tr")
        return [row for row in rows if USER in row.text]
    row = wait_until(listed, 15, "the client in the overview")[0]
    assert "IMAP" in row.text and CLIENT_IP in row.text
    assert browser.find_element(By.TAG_NAME, "h1").text == "Administration"
    assert browser.find_elements(By.CSS_SELECTOR, "svg.chart[role=img] title"), "charts drawn by the server, titled"
    assert "allowed and" in browser.find_element(By.ID, "logins-summary").text
    assert_labelled(browser)
    full_page_shot(browser, "admin-overview")

    # The user's page, then Disable, confirmed.
    submitting(browser, lambda: row.find_element(By.LINK_TEXT, USER).click())
    assert browser.find_element(By.TAG_NAME, "h1").text == USER
    assert "Active" in browser.find_element(By.ID, "account-status").text
    assert PASSWORD not in browser.page_source
    submitting(browser, lambda: browser.find_element(By.LINK_TEXT, "Disable").click())
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Disable the account of {USER}?"
    submitting(browser, lambda: browser.find_element(By.XPATH, "//button[normalize-space()='Disable the account']").click())
    wait_until(lambda: "done=disable" in browser.current_url, 30, "the user page after the change")
    assert "The account was disabled." in browser.find_element(By.CSS_SELECTOR, "[role=status]").text
    assert "Disabled" in browser.find_element(By.ID, "account-status").text
    assert browser.find_element(By.LINK_TEXT, "Enable")
    full_page_shot(browser, "admin-user")

    # The mail server's next login for the account is refused.
    refused = server.verify(USER, PASSWORD, protocol="imap", client_ip=CLIENT_IP)
    assert refused.status_code == 401 and refused.json()["result"] == "deny", refused.text

    # The admin log says who did it, and the CSV export carries it.
    submitting(browser, lambda: browser.find_element(By.LINK_TEXT, "Admin log").click())
    log = browser.find_element(By.CSS_SELECTOR, "table.list").text
    assert "disable the account" in log and USER in log and ADMIN in log
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    csv = requests.get(f"{server.url}/admin/log.csv", cookies=cookies, timeout=30)
    assert csv.headers["Content-Disposition"].startswith("attachment")
    assert re.search(rf",{re.escape(ADMIN)},disable,{re.escape(USER)},", csv.text)
    assert os.path.exists(os.path.join(SCREENSHOTS, "admin-overview.png"))

    # Sign out: the browser is shared, and the next test starts signed out.
    submitting(browser, lambda: browser.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click())
    wait_until(lambda: "/signin" in browser.current_url, 30, "the sign-in page")
