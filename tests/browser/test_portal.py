"""The portal, driven in a real browser through every flow."""
import os
import re
import time

import requests
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.common.action_chains import ActionChains

from conftest import SCREENSHOTS, totp, wait_until

USER = "alice@example.org"
PASSWORD = "violet staple orbit"
NEW_PASSWORD = "quiet harbour lantern"


def shot(browser, name):
    browser.save_screenshot(os.path.join(SCREENSHOTS, f"{name}.png"))


def assert_labelled(browser):
    """Every visible form field has a label a screen reader announces."""
    for field in browser.find_elements(By.CSS_SELECTOR, "input, select, textarea"):
        if field.get_attribute("type") == "hidden":
            continue
        field_id = field.get_attribute("id")
        labelled = bool(field.get_attribute("aria-label")) or (
            field_id and browser.find_elements(By.CSS_SELECTOR, f"label[for='{field_id}']"))
        labelled = labelled or bool(field.find_elements(By.XPATH, "ancestor::label"))
        assert labelled, f"unlabelled field {field.get_attribute('name')} on {browser.current_url}"


def type_keys(browser, *keys):
    ActionChains(browser).send_keys(*keys).perform()


def submitting(browser, action):
    """Runs `action` (which submits a form) and waits for the next page."""
    old = browser.find_element(By.TAG_NAME, "html")
    action()
    wait_until(lambda: is_stale(old), 30, "the next page")


def is_stale(element):
    try:
        element.tag_name
        return False
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        # Chromium, mid-navigation, reports a node of the old document this way.
        if "does not belong to the document" in str(error):
            return True
        raise


def current_secret(browser):
    return browser.find_element(By.ID, "totp-secret").get_attribute("data-secret")


def test_portal_end_to_end(server, browser):
    # Sign up with the keyboard alone: the username field has focus. (A
    # fresh browser: no session another test left behind.)
    browser.get(f"{server.url}/signin")
    browser.delete_all_cookies()
    browser.get(f"{server.url}/signup")
    assert_labelled(browser)
    shot(browser, "01-signup")
    submitting(browser, lambda: type_keys(browser, USER, Keys.TAB, PASSWORD, Keys.ENTER))
    wait_until(lambda: browser.current_url.endswith("/security"), 30, "the Security page")
    assert "Two-step sign-in is\nOff" in browser.find_element(By.ID, "mfa-status").text or \
        "Off" in browser.find_element(By.ID, "mfa-status").text
    assert_labelled(browser)
    shot(browser, "02-security-mfa-off")

    # Turn on the authenticator app, from the overview's card: read the secret from the page.
    submitting(browser, lambda: browser.find_element(By.LINK_TEXT, "Turn on two-step sign-in").click())
    wait_until(lambda: browser.current_url.endswith("/security/two-step"), 30, "the two-step page")
    assert "Off" in browser.find_element(By.ID, "mfa-status").text
    assert_labelled(browser)
    submitting(browser, lambda: browser.find_element(By.XPATH, "//button[normalize-space()='Set up authenticator app']").click())
    wait_until(lambda: "/security/totp/setup" in browser.current_url, 30, "the setup page")
    assert browser.find_elements(By.CSS_SELECTOR, ".qr svg[role=img]"), "a QR code"
    secret = current_secret(browser)
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert_labelled(browser)
    shot(browser, "03-totp-setup")
    submitting(browser, lambda: browser.find_element(By.ID, "otp").send_keys("000000", Keys.ENTER))
    assert "not valid" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert current_secret(browser) == secret, "the same enrolment is shown again"
    confirmed_at = time.time()
    submitting(browser, lambda: browser.find_element(By.ID, "otp").send_keys(totp(secret, confirmed_at), Keys.ENTER))
    wait_until(lambda: "done=mfa_on" in browser.current_url, 30, "MFA to turn on")
    assert "On" in browser.find_element(By.ID, "mfa-status").text
    shot(browser, "04-security-mfa-on")

    # Sign out, then sign in with a code. The confirming code's step is spent.
    submitting(browser, lambda: browser.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click())
    wait_until(lambda: "/signin" in browser.current_url, 30, "the sign-in page")
    assert "signed out" in browser.page_source
    browser.find_element(By.ID, "username").send_keys(USER)
    submitting(browser, lambda: browser.find_element(By.ID, "password").send_keys("wrong password here", Keys.ENTER))
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert "not right" in alert
    assert browser.find_element(By.ID, "username").get_attribute("value") == USER, "what was typed is kept"
    assert browser.find_element(By.ID, "password").get_attribute("value") == "", "but never the password"
    shot(browser, "05-signin-error")
    submitting(browser, lambda: browser.find_element(By.ID, "password").send_keys(PASSWORD, Keys.ENTER))
    wait_until(lambda: "/signin/verify" in browser.current_url, 30, "the second step")
    assert_labelled(browser)
    shot(browser, "06-signin-verify")
    submitting(browser, lambda: browser.find_element(By.ID, "otp").send_keys(totp(secret, confirmed_at), Keys.ENTER))
    assert "not valid" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text, "a replayed code is refused"
    submitting(browser, lambda: browser.find_element(By.ID, "otp").send_keys(totp(secret, confirmed_at, offset=1), Keys.ENTER))
    wait_until(lambda: browser.current_url.endswith("/security"), 30, "the Security page")

    # Two app passwords; each shown once, each works against /v1/verify.
    browser.get(f"{server.url}/security/devices")
    passwords = {}
    for name, protocols in (("Thunderbird on laptop", None), ("iPhone Mail", None)):
        field = browser.find_element(By.ID, "name")
        field.clear()
        submitting(browser, lambda: field.send_keys(name, Keys.ENTER))  # the keyboard alone
        wait_until(lambda: "/security/app-passwords/new/" in browser.current_url, 30, "the new password")
        shown = browser.find_element(By.ID, "app-password")
        password = shown.get_attribute("data-password")
        assert re.fullmatch(r"[a-z0-9]{12}", password)
        assert shown.text == f"{password[0:4]} {password[4:8]} {password[8:12]}"
        page = browser.find_element(By.TAG_NAME, "main").text
        assert "will not be shown again" in page
        assert USER in page and "993" in page and "587" in page
        assert browser.find_element(By.CSS_SELECTOR, "button[data-copy]").is_displayed(), "the copy button"
        if name == "Thunderbird on laptop":
            shot(browser, "07-app-password-new")
        reveal_url = browser.current_url
        browser.refresh()
        assert password not in browser.page_source, "reloading never shows it again"
        assert "already been shown" in browser.page_source
        browser.back()
        browser.get(reveal_url)
        assert password not in browser.page_source
        passwords[name] = password
        assert server.verify(USER, password).status_code == 200
        browser.get(f"{server.url}/security/devices")

    # The list shows both, with last use once the server has recorded it.
    def listed():
        browser.get(f"{server.url}/security/devices")
        return browser.page_source.count("192.0.2.44") == 2
    wait_until(listed, 15, "last use in the list")
    rows = browser.find_element(By.CSS_SELECTOR, "table.list").text
    assert "Thunderbird on laptop" in rows and "iPhone Mail" in rows and "over IMAP" in rows
    assert all(p not in browser.page_source for p in passwords.values())
    shot(browser, "08-security-list")

    # Revoke one, after a confirmation that names it.
    submitting(browser, lambda: browser.find_element(By.CSS_SELECTOR, "a[aria-label='Revoke Thunderbird on laptop']").send_keys(Keys.ENTER))
    assert "Revoke “Thunderbird on laptop”?" in browser.find_element(By.TAG_NAME, "h1").text
    shot(browser, "09-revoke-confirm")
    submitting(browser, lambda: browser.find_element(By.XPATH, "//button[contains(., 'Revoke')]").click())
    wait_until(lambda: "done=revoked" in browser.current_url, 30, "the revocation")
    assert server.verify(USER, passwords["Thunderbird on laptop"]).status_code == 401
    assert server.verify(USER, passwords["iPhone Mail"]).status_code == 200
    assert "Thunderbird on laptop" not in browser.find_element(By.CSS_SELECTOR, "table.list").text

    # Change the password, on its own page.
    browser.get(f"{server.url}/security/password")
    browser.find_element(By.ID, "current_password").send_keys(PASSWORD)
    browser.find_element(By.ID, "new_password").send_keys(NEW_PASSWORD)
    submitting(browser, lambda: browser.find_element(By.XPATH, "//button[normalize-space()='Change password']").click())
    wait_until(lambda: "done=password_changed" in browser.current_url, 30, "the password change")
    api = requests.post(f"{server.url}/api/v1/sessions", json={"username": USER, "password": NEW_PASSWORD,
                                                               "otp": totp(secret, offset=1)}, timeout=30)
    assert api.status_code in (201, 401) and api.json().get("error") != "invalid_credentials"
    old = requests.post(f"{server.url}/api/v1/sessions", json={"username": USER, "password": PASSWORD}, timeout=30)
    assert old.json()["error"] == "invalid_credentials"

    # A cross-site POST, or one without the token, changes nothing.
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    browser.get(f"{server.url}/security/devices")
    before = browser.find_element(By.CSS_SELECTOR, "table.list").text
    no_token = requests.post(f"{server.url}/security/app-passwords", data={"name": "Sneaky"}, cookies=cookies,
                             allow_redirects=False, timeout=30)
    assert no_token.status_code == 403
    token = browser.find_element(By.NAME, "csrf_token").get_attribute("value")
    cross = requests.post(f"{server.url}/security/app-passwords", data={"name": "Sneaky", "csrf_token": token, "protocols": "imap"},
                          cookies=cookies, headers={"Origin": "https://evil.example"}, allow_redirects=False, timeout=30)
    assert cross.status_code == 403
    browser.get(f"{server.url}/security/devices")
    assert "Sneaky" not in browser.page_source
    assert browser.find_element(By.CSS_SELECTOR, "table.list").text == before
    shot(browser, "10-security-final")

    # Nothing changes state on GET.
    assert requests.get(f"{server.url}/signout", cookies=cookies, allow_redirects=False, timeout=30).status_code in (404, 405)


def test_headers_and_cookies(server):
    page = requests.get(f"{server.url}/signin", timeout=30)
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert "<script>" not in page.text and " onclick=" not in page.text, "no inline script"
    jar = page.headers.get("Set-Cookie", "")
    assert "HttpOnly" in jar and "SameSite=Lax" in jar

    session = requests.Session()
    session.post(f"{server.url}/api/v1/accounts", json={"username": "bob@example.org", "password": PASSWORD}, timeout=30)
    form = session.get(f"{server.url}/signin", timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    signed_in = session.post(f"{server.url}/signin", data={"username": "bob@example.org", "password": PASSWORD, "csrf_token": token},
                             allow_redirects=False, timeout=30)
    assert signed_in.status_code == 303
    cookie = [c for c in signed_in.raw.headers.getlist("Set-Cookie") if c.startswith("postern_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    first = session.cookies.get("postern_session")
    signed_in_again = session.post(f"{server.url}/signin", data={"username": "bob@example.org", "password": PASSWORD, "csrf_token": token},
                                   allow_redirects=False, timeout=30)
    assert signed_in_again.status_code == 403, "the CSRF seed is rotated at sign-in"


def test_app_password_never_signs_in(server):
    session = requests.Session()
    session.post(f"{server.url}/api/v1/accounts", json={"username": "carol@example.org", "password": PASSWORD}, timeout=30)
    token = session.post(f"{server.url}/api/v1/sessions", json={"username": "carol@example.org", "password": PASSWORD}, timeout=30).json()["token"]
    app = session.post(f"{server.url}/api/v1/app-passwords", json={"name": "Phone"}, headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
    form = session.get(f"{server.url}/signin", timeout=30).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    refused = session.post(f"{server.url}/signin", data={"username": "carol@example.org", "password": app["password"], "csrf_token": csrf},
                           allow_redirects=False, timeout=30)
    assert refused.status_code == 401
