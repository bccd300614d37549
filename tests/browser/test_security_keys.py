"""Security keys and recovery codes in a real browser, with Chromium's virtual authenticator."""
import email
import email.policy
import glob
import os
import re
from urllib.parse import unquote

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.common.virtual_authenticator import Protocol, Transport, VirtualAuthenticatorOptions

from conftest import wait_until
from test_portal import assert_labelled, shot, submitting

USER = "dave@example.org"
PASSWORD = "amber meadow compass"


def sign_in_password(server, browser, password=PASSWORD):
    browser.get(f"{server.url}/signin")
    browser.find_element(By.ID, "username").send_keys(USER)
    submitting(browser, lambda: browser.find_element(By.ID, "password").send_keys(password, Keys.ENTER))
    wait_until(lambda: "/signin/verify" in browser.current_url, 30, "the second step")


def reset_links(server):
    links = []
    for path in glob.glob(os.path.join(server.data, "outbox", "*.eml")):
        with open(path, "rb") as f:
            message = email.message_from_binary_file(f, policy=email.policy.default)
        if message["To"] == USER and message["Subject"] == "Reset your password":
            links += re.findall(r"http://localhost:\d+/reset\?token=[A-Za-z0-9_-]+", message.get_body(("plain",)).get_content())
    return links


def sign_out(browser):
    submitting(browser, lambda: browser.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click())


def test_security_key_and_recovery_codes(server, browser):
    options = VirtualAuthenticatorOptions()
    options.protocol = Protocol.CTAP2
    options.transport = Transport.INTERNAL
    options.has_resident_key = True
    options.has_user_verification = True
    options.is_user_verified = True
    browser.add_virtual_authenticator(options)
    try:
        browser.delete_all_cookies()
        browser.get(f"{server.url}/signup")
        browser.find_element(By.ID, "username").send_keys(USER)
        submitting(browser, lambda: browser.find_element(By.ID, "password").send_keys(PASSWORD, Keys.ENTER))
        wait_until(lambda: browser.current_url.endswith("/security"), 30, "the Security page")

        # Register a key in the portal, on the two-step page.
        browser.get(f"{server.url}/security/two-step")
        browser.find_element(By.ID, "key-name").send_keys("Virtual key")
        browser.find_element(By.ID, "add-key").click()
        wait_until(lambda: "done=key_added" in browser.current_url, 30, "the key to be added")
        assert "Virtual key" in browser.find_element(By.CSS_SELECTOR, "table.list").text
        assert "On" in browser.find_element(By.ID, "mfa-status").text
        assert len(browser.get_credentials()) == 1
        assert_labelled(browser)

        # Recovery codes, shown once.
        submitting(browser, lambda: browser.find_element(By.XPATH, "//button[normalize-space()='Generate recovery codes']").click())
        codes = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#recovery-codes code")]
        assert len(codes) == 10 and all(re.fullmatch(r"[0-9a-z]{5}-[0-9a-z]{5}-[0-9a-z]{4}", c) for c in codes)
        link = browser.find_element(By.ID, "download-codes")
        assert link.get_attribute("download") == "postern-recovery-codes.txt"
        assert all(code in unquote(link.get_attribute("href")) for code in codes)
        assert browser.find_element(By.CSS_SELECTOR, "button[data-print]").is_displayed()
        shot(browser, "11-recovery-codes")
        browser.refresh()
        assert codes[0] not in browser.page_source and "already been shown" in browser.page_source
        browser.get(f"{server.url}/security/two-step")
        assert browser.find_element(By.ID, "codes-remaining").text == "10"
        shot(browser, "12-security-keys")

        # Sign out, then sign in with the key.
        sign_out(browser)
        sign_in_password(server, browser)
        assert_labelled(browser)
        shot(browser, "13-signin-key")
        browser.find_element(By.ID, "use-key").click()
        wait_until(lambda: browser.current_url.endswith("/security"), 30, "signing in with the key")
        browser.get(f"{server.url}/security/two-step")
        assert "never used" not in browser.find_element(By.CSS_SELECTOR, "table.list").text

        # Sign out, then sign in with a recovery code; it works once.
        sign_out(browser)
        sign_in_password(server, browser)
        browser.find_element(By.TAG_NAME, "summary").click()
        submitting(browser, lambda: browser.find_element(By.ID, "recovery_code").send_keys(codes[0].upper(), Keys.ENTER))
        wait_until(lambda: browser.current_url.endswith("/security"), 30, "signing in with a recovery code")
        browser.get(f"{server.url}/security/two-step")
        assert browser.find_element(By.ID, "codes-remaining").text == "9"
        sign_out(browser)
        sign_in_password(server, browser)
        browser.find_element(By.TAG_NAME, "summary").click()
        submitting(browser, lambda: browser.find_element(By.ID, "recovery_code").send_keys(codes[0], Keys.ENTER))
        assert "not valid, or was used already" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
        browser.find_element(By.ID, "use-key").click()
        wait_until(lambda: browser.current_url.endswith("/security"), 30, "signing in with the key again")

        # Forgot the password: the reset link, then the key as the second factor.
        sign_out(browser)
        browser.get(f"{server.url}/forgot")
        submitting(browser, lambda: browser.find_element(By.ID, "username").send_keys(USER, Keys.ENTER))
        wait_until(lambda: reset_links(server), 30, "the reset email")
        browser.get(reset_links(server)[0])
        browser.find_element(By.ID, "new_password").send_keys("a keyed new passphrase")
        browser.find_element(By.ID, "reset-with-key").click()
        wait_until(lambda: "notice=reset" in browser.current_url, 30, "the reset with the key")
        sign_in_password(server, browser, "a keyed new passphrase")
        browser.find_element(By.ID, "use-key").click()
        wait_until(lambda: browser.current_url.endswith("/security"), 30, "signing in after the reset")

        # Remove the key: MFA goes off.
        browser.get(f"{server.url}/security/two-step")
        submitting(browser, lambda: browser.find_element(By.CSS_SELECTOR, "button[aria-label='Remove Virtual key']").click())
        assert "done=key_removed" in browser.current_url
        assert "Off" in browser.find_element(By.ID, "mfa-status").text
        assert not browser.find_elements(By.CSS_SELECTOR, "button[aria-label='Remove Virtual key']")
    finally:
        browser.remove_all_credentials()
        browser.remove_virtual_authenticator()
