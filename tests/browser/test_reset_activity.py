"""Forgot password → the email (an .eml in <data>/outbox: no SMTP configured)
→ the reset page with a second factor; and the Activity page explaining a
refused mail client."""
import email
import email.policy
import glob
import os
import re
import time

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import totp, wait_until
from test_portal import assert_labelled, shot, submitting

USER = "erin@example.org"
PASSWORD = "maple kettle orbit"
NEW_PASSWORD = "granite willow sunrise"


def mails(server, subject, to=USER):
    found = []
    for path in glob.glob(os.path.join(server.data, "outbox", "*.eml")):
        with open(path, "rb") as f:
            message = email.message_from_binary_file(f, policy=email.policy.default)
        if message["Subject"] == subject and message["To"] == to:
            found.append(message)
    return found


def test_forgot_password_with_mfa_and_activity(server, browser):
    api = f"{server.url}/api/v1"
    assert requests.post(f"{api}/accounts", json={"username": USER, "password": PASSWORD}, timeout=30).status_code == 201
    token = requests.post(f"{api}/sessions", json={"username": USER, "password": PASSWORD}, timeout=30).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    secret = requests.post(f"{api}/mfa/totp", headers=headers, timeout=30).json()["secret"]
    started = time.time()
    assert requests.post(f"{api}/mfa/totp/confirm", json={"code": totp(secret, started)}, headers=headers, timeout=30).status_code == 204
    app = requests.post(f"{api}/app-passwords", json={"name": "Old phone"}, headers=headers, timeout=30).json()
    codes = requests.post(f"{api}/mfa/recovery-codes", headers=headers, timeout=30).json()["codes"]
    # A mail client still using the account password: refused, and explained.
    assert server.verify(USER, PASSWORD, client_ip="192.0.2.77").status_code == 401

    browser.delete_all_cookies()
    browser.get(f"{server.url}/signin")
    submitting(browser, lambda: browser.find_element(By.LINK_TEXT, "Forgot your password?").click())
    assert_labelled(browser)
    submitting(browser, lambda: browser.find_element(By.ID, "username").send_keys(USER, Keys.ENTER))
    assert "we sent it a link" in browser.page_source
    shot(browser, "20-forgot-sent")
    wait_until(lambda: mails(server, "Reset your password"), 30, "the reset email")
    message = mails(server, "Reset your password")[0]
    link = re.search(r"http://localhost:\d+/reset\?token=[A-Za-z0-9_-]+", message.get_body(("plain",)).get_content()).group(0)

    browser.get(link)
    assert_labelled(browser)
    assert browser.find_elements(By.ID, "otp"), "MFA is on: the page asks for a second factor"
    shot(browser, "21-reset-page")
    browser.find_element(By.ID, "new_password").send_keys(NEW_PASSWORD)
    submitting(browser, lambda: browser.find_element(By.ID, "new_password").send_keys(Keys.ENTER))
    assert "authenticator" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    browser.find_element(By.ID, "new_password").send_keys(NEW_PASSWORD)
    browser.find_element(By.ID, "recovery_code").send_keys(codes[0])
    submitting(browser, lambda: browser.find_element(By.ID, "recovery_code").send_keys(Keys.ENTER))
    assert "Your password was reset" in browser.page_source
    browser.get(link)
    assert "doesn't work" in browser.page_source, "the link works once"

    assert requests.get(f"{api}/account", headers=headers, timeout=30).status_code == 401, "old sessions ended"
    assert server.verify(USER, app["password"]).status_code == 401, "app passwords revoked"
    wait_until(lambda: mails(server, "Your password was reset"), 30, "the reset notice")

    # Sign in with the new password and a code, then read the activity.
    browser.get(f"{server.url}/signin")
    browser.find_element(By.ID, "username").send_keys(USER)
    submitting(browser, lambda: browser.find_element(By.ID, "password").send_keys(NEW_PASSWORD, Keys.ENTER))
    submitting(browser, lambda: browser.find_element(By.ID, "otp").send_keys(totp(secret, started, offset=1), Keys.ENTER))
    wait_until(lambda: browser.current_url.endswith("/security"), 30, "the Security page")
    submitting(browser, lambda: browser.find_element(By.LINK_TEXT, "Activity").click())
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "refused: account password used over IMAP while MFA is on; use an app password" in page
    assert "192.0.2.77" in page and "password reset by email" in page
    shot(browser, "22-activity")
    submitting(browser, lambda: browser.find_element(By.LINK_TEXT, "Changes").click())
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "password reset by email" in page and "refused: account password" not in page
