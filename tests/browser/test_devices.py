"""The Security overview's cards and setting up a device in one step: a
Thunderbird gets its password, and the list says when and from where it was
last used, in words people read; another app gets a QR code of the settings
without the password; an iPhone gets a one-time link whose profile signs in."""
import os
import plistlib
import re
import subprocess
import tempfile
from datetime import datetime, timezone

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import SCREENSHOTS, wait_until
from test_portal import assert_labelled, shot, submitting

USER = "frank@example.org"
PASSWORD = "copper lantern meadow"
CLIENT_IP = "198.51.100.7"
RELATIVE = re.compile(r"just now|\d+ minutes? ago")


def sign_up(server, browser):
    browser.delete_all_cookies()
    browser.get(f"{server.url}/signup")
    browser.find_element(By.ID, "username").send_keys(USER)
    submitting(browser, lambda: browser.find_element(By.ID, "password").send_keys(PASSWORD, Keys.ENTER))
    wait_until(lambda: browser.current_url.endswith("/security"), 30, "the Security overview")


def read_qr(element):
    """The text of the QR code `element` draws, read from its screenshot by zbarimg."""
    path = os.path.join(tempfile.mkdtemp(prefix="postern-qr-"), "qr.png")
    element.parent.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)  # whole, not cut by the viewport
    element.screenshot(path)
    result = subprocess.run(["zbarimg", "--quiet", "--raw", path], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.rstrip("\n")


def check_time(element):
    """A <time> reads as words, with the exact UTC time in its title and ISO in datetime."""
    assert element.tag_name == "time"
    assert RELATIVE.fullmatch(element.text), element.text
    assert element.get_attribute("title").endswith(" UTC")
    moment = datetime.fromisoformat(element.get_attribute("datetime").replace("Z", "+00:00"))
    assert abs((datetime.now(timezone.utc) - moment).total_seconds()) < 600


def test_overview_and_thunderbird(server, browser):
    sign_up(server, browser)

    # The overview: four cards, each leading to its own page.
    headings = [h.text for h in browser.find_elements(By.CSS_SELECTOR, ".cards .card h2")]
    assert headings == ["Two-step sign-in", "Apps and devices", "Password", "Recent activity"]
    assert "Off" in browser.find_element(By.ID, "mfa-status").text
    assert browser.find_element(By.ID, "apps-summary").text == "No app passwords yet"
    links = {a.text: a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, ".cards .card h2 a")}
    assert links["Password"] == f"{server.url}/security/password"
    assert links["Recent activity"] == f"{server.url}/security/activity"
    check_time(browser.find_element(By.CSS_SELECTOR, ".recent time"))
    shot(browser, "30-security-overview")

    # Set up a new device → Thunderbird: its name and protocols are filled in.
    submitting(browser, lambda: browser.find_element(By.LINK_TEXT, "Set up a new device").click())
    assert browser.current_url.endswith("/security/devices#new-device")
    choices = [c.find_element(By.TAG_NAME, "strong").text for c in browser.find_elements(By.CSS_SELECTOR, "a.choice")]
    assert choices == ["iPhone, iPad or Mac", "Thunderbird", "Outlook", "Another app"]
    submitting(browser, lambda: browser.find_element(By.PARTIAL_LINK_TEXT, "Thunderbird").click())
    assert browser.find_element(By.TAG_NAME, "h1").text == "Set up Thunderbird"
    assert browser.find_element(By.ID, "name").get_attribute("value") == "Thunderbird"
    checked = {box.get_attribute("value") for box in browser.find_elements(By.NAME, "protocols") if box.is_selected()}
    assert checked == {"imap", "smtp"}
    assert_labelled(browser)
    submitting(browser, lambda: browser.find_element(By.XPATH, "//button[normalize-space()='Create its password']").click())

    # The one-time password, with the line that tells Thunderbird what to do with it.
    wait_until(lambda: "/security/app-passwords/new/" in browser.current_url, 30, "the new password")
    assert "In Thunderbird, add your address and paste this as the password; it finds the servers itself." == \
        browser.find_element(By.ID, "instruction").text
    password = browser.find_element(By.ID, "app-password").get_attribute("data-password")
    assert re.fullmatch(r"[a-z0-9]{12}", password)
    assert "will not be shown again" in browser.find_element(By.TAG_NAME, "main").text
    assert not browser.find_elements(By.ID, "settings-qr"), "Thunderbird finds the servers itself"
    assert server.verify(USER, password, client_ip=CLIENT_IP).status_code == 200
    assert server.verify(USER, password, protocol="pop3", client_ip=CLIENT_IP).status_code == 401, "not a POP3 password"
    browser.refresh()
    assert password not in browser.page_source

    # Listed first on the devices page, with times in words and the last use.
    def last_used():
        browser.get(f"{server.url}/security/devices")
        return CLIENT_IP in browser.find_element(By.CSS_SELECTOR, "table.apps").text
    wait_until(last_used, 15, "the last use in the list")
    row = browser.find_element(By.CSS_SELECTOR, "table.apps tbody tr")
    assert row.find_element(By.CSS_SELECTOR, ".name").text == "Thunderbird"
    assert [s.text for s in row.find_elements(By.CSS_SELECTOR, ".scopes li")] == ["IMAP (reading mail)", "SMTP (sending mail)"]
    created, used = row.find_elements(By.TAG_NAME, "time")
    check_time(created)
    check_time(used)
    assert f"from {CLIENT_IP} over IMAP" in row.text
    sections = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "main h2")]
    assert sections == ["Your app passwords", "Set up a new device", "Generate an app password by hand"]
    labels = [label.text for label in browser.find_elements(By.CSS_SELECTOR, "#by-hand label.check")]
    assert labels[0] == "IMAP (reading mail)" and "SMTP (sending mail)" in labels, "the form's scopes read as the list's"
    name = row.find_element(By.CSS_SELECTOR, ".name")
    assert browser.execute_script("return getComputedStyle(arguments[0]).wordBreak", name) != "break-all"
    assert browser.execute_script("return getComputedStyle(arguments[0]).overflowWrap", name) != "anywhere"
    assert_labelled(browser)
    shot(browser, "31-devices-list")

    # Back on the overview, the card says what was used last, and when.
    browser.get(f"{server.url}/security")
    assert browser.find_element(By.ID, "apps-summary").text == "1 app password"
    card = browser.find_element(By.CSS_SELECTOR, "section[aria-labelledby=apps-heading]").text
    assert "Last used: Thunderbird" in card and f"from {CLIENT_IP} over IMAP" in card

    # An old path that moved lands on its page.
    assert requests.get(f"{server.url}/security/app-passwords", cookies={c["name"]: c["value"] for c in browser.get_cookies()},
                        allow_redirects=False, timeout=30).headers["Location"] == "/security/devices"

    # Another app, by hand: the settings and the password, and a QR code of the settings alone.
    browser.get(f"{server.url}/security/devices#by-hand")
    browser.find_element(By.ID, "name").send_keys("Chat client")
    submitting(browser, lambda: browser.find_element(By.XPATH, "//button[normalize-space()='Generate new password']").click())
    wait_until(lambda: "/security/app-passwords/new/" in browser.current_url, 30, "the new password")
    other = browser.find_element(By.ID, "app-password").get_attribute("data-password")
    settings = read_qr(browser.find_element(By.CSS_SELECTOR, "#settings-qr svg"))
    assert f"Username: {USER}" in settings and "port 993" in settings
    assert other not in settings and other not in settings.replace(" ", ""), "never the password"

    # An iPhone: a one-time setup link, shown as a QR code; the profile it serves works once.
    browser.get(f"{server.url}/security/devices")
    submitting(browser, lambda: browser.find_element(By.PARTIAL_LINK_TEXT, "iPhone, iPad or Mac").click())
    assert browser.find_element(By.TAG_NAME, "h1").text == "Set up iPhone, iPad or Mac"
    assert browser.find_element(By.ID, "name").get_attribute("value") == "iPhone"
    assert "iOS will show it as Unverified" in browser.find_element(By.ID, "profile-signing").text, "unsigned in tests"
    assert_labelled(browser)
    submitting(browser, lambda: browser.find_element(By.XPATH, "//button[normalize-space()='Make a setup link']").click())
    wait_until(lambda: "/security/devices/setup/" in browser.current_url, 30, "the setup link")
    assert "Valid for 10 minutes, works once." in browser.find_element(By.ID, "link-validity").text
    link = read_qr(browser.find_element(By.CSS_SELECTOR, "#setup-qr svg"))
    assert re.fullmatch(re.escape(server.url) + r"/setup/[A-Za-z0-9_-]{43}", link), link
    assert browser.find_element(By.ID, "setup-download").get_attribute("href") == link
    assert re.search(r"iPhone\s+asked from 127\.0\.0\.1; waiting, expires in \d+ minutes", browser.find_element(By.ID, "setup-links").text)
    browser.execute_script("window.scrollTo(0, 0)")
    shot(browser, "devices")
    assert os.path.exists(os.path.join(SCREENSHOTS, "devices.png"))

    first = requests.get(link, timeout=30)
    assert first.status_code == 200 and first.headers["Content-Type"] == "application/x-apple-aspen-config"
    profile = plistlib.loads(first.content)  # unsigned in tests; a signed one is DER CMS around this
    mail = next(p for p in profile["PayloadContent"] if p["PayloadType"] == "com.apple.mail.managed")
    assert mail["IncomingMailServerUsername"] == USER and mail["IncomingPassword"] == mail["OutgoingPassword"]
    assert server.verify(mail["IncomingMailServerUsername"], mail["IncomingPassword"], client_ip=CLIENT_IP).status_code == 200
    assert requests.get(link, timeout=30).status_code == 410, "the link works once"
    browser.refresh()
    assert link.rsplit("/", 1)[1] not in browser.page_source, "the link is shown once"
    links = browser.find_element(By.ID, "setup-links").text
    assert re.search(r"iPhone\s+Installed profile downloaded at \d\d:\d\d from 127\.0\.0\.1 \(asked from 127\.0\.0\.1\)", links), links
    browser.get(f"{server.url}/security/devices")
    assert "iPhone" in [n.text for n in browser.find_elements(By.CSS_SELECTOR, "table.apps .name")]

    # Leave the browser signed out for the next test.
    submitting(browser, lambda: browser.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click())
