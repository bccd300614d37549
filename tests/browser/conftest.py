"""Fixtures for the browser tests: a real Postern server and headless Chromium."""
import os
import subprocess
import tempfile

import pytest
import sys
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers import free_port, totp, wait_until  # noqa: E402,F401 (re-exported to the tests)
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCREENSHOTS = os.environ.get("POSTERN_SCREENSHOTS", os.path.join(ROOT, ".test-run", "screenshots"))








class Server:
    def __init__(self, binary):
        self.port = free_port()
        self.auth_port = free_port()
        self.data = tempfile.mkdtemp(prefix="postern-browser-")
        self.url = f"http://localhost:{self.port}"
        self.auth_url = f"http://127.0.0.1:{self.auth_port}"
        env = dict(os.environ, POSTERN_SCRYPT_LOG_N="12", POSTERN_LOG_LEVEL="warning")
        self.log = open(os.path.join(self.data, "server.log"), "w")
        self.process = subprocess.Popen(
            [binary, "serve", "--data", self.data, "--listen", f"127.0.0.1:{self.port}",
             "--auth-listen", f"127.0.0.1:{self.auth_port}", "--public-url", self.url],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)

        def healthy():
            try:
                return requests.get(f"{self.auth_url}/healthz", timeout=1).ok and requests.get(f"{self.url}/healthz", timeout=1).ok
            except requests.RequestException:
                return False
        wait_until(healthy, 120, "the server to start")

    def verify(self, username, password, protocol="imap", client_ip="192.0.2.44"):
        return requests.post(f"{self.auth_url}/v1/verify", json={
            "username": username, "password": password, "protocol": protocol, "client_ip": client_ip}, timeout=30)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


@pytest.fixture(scope="session")
def server():
    binary = os.environ.get("POSTERN_BINARY", os.path.join(ROOT, ".build", "debug", "postern"))
    s = Server(binary)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1000", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
    driver.set_page_load_timeout(60)
    os.makedirs(SCREENSHOTS, exist_ok=True)
    yield driver
    driver.quit()
