"""The chat page in a real browser: headless Chromium (Debian's chromium and chromium-driver,
driven by selenium) books a table end to end through /chat against a real `memchat serve`,
without an empty message, and the why panel draws what the model looked at. Skipped, saying
why, where no browser is installed (.ci/run installs one)."""

import shutil
import subprocess

import pytest

from conftest import BOOKING, free_port, serving

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser():
    if not (CHROMIUM and DRIVER):
        pytest.skip("no headless browser: apt-get install chromium chromium-driver (.ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def served(small, tmp_path):
    with serving(small, tmp_path / "b.db", "--auth-token", "s3cret") as url:
        yield url


def _bot_texts(driver):
    return [e.text for e in driver.find_elements("css selector", "#log .bot")]


def test_a_booking_through_the_chat_page_in_chromium(browser, served):
    from selenium.webdriver.support.ui import WebDriverWait

    url = served
    browser.get(f"{url}/chat?token=s3cret")
    wait = WebDriverWait(browser, 30)

    def say(text, replies):
        before = len(_bot_texts(browser))
        box = browser.find_element("id", "text")
        box.send_keys(text)
        browser.find_element("id", "send").click()
        wait.until(lambda d: len(_bot_texts(d)) >= before + replies)
        return _bot_texts(browser)[before:]

    assert say("hi", 1) == ["hello what can i help you with today"]
    said = say(BOOKING, 2)  # "i'm on it", then the option: the page never sends an empty message
    wait.until(lambda d: any(t.startswith("what do you think of this option") for t in _bot_texts(d)))
    assert said[0] == "i'm on it" and not any("api_call" in t for t in _bot_texts(browser))
    say("let's do it", 1)
    assert any("great let me do the reservation" in t for t in _bot_texts(browser))
    # the why panel draws the attention of a bot message, hop by hop
    browser.find_elements("css selector", "#log .bot")[1].click()
    wait.until(lambda d: d.find_elements("css selector", "#why .bar"))
    headings = [h.text for h in browser.find_elements("css selector", "#why h3")]
    assert headings[0].startswith("hop 1") and headings[-1] == "best candidates"
    # a reload goes on with the same conversation
    shown = _bot_texts(browser)
    browser.refresh()
    wait.until(lambda d: len(_bot_texts(d)) == len(shown))
    assert _bot_texts(browser) == shown


WEBCHAT_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>webchat</title></head>
<body><div id="webchat"></div><script src="index.js"></script><script>
WebChat.default({socketUrl: "%s", socketPath: "/socket.io/", embedded: true, initPayload: "hi",
                 customData: {language: "en"}, params: {storage: "session"}}, document.getElementById("webchat"));
</script></body></html>"""


@pytest.fixture(scope="session")
def webchat_js(tmp_path_factory):
    """rasa-webchat's browser bundle, from the npm registry (or $MEMCHAT_WEBCHAT, a path to it)."""
    import os
    from pathlib import Path

    given = os.environ.get("MEMCHAT_WEBCHAT")
    if given:
        return Path(given)
    npm = shutil.which("npm")
    if not npm:
        pytest.skip("no npm to install rasa-webchat from the npm registry")
    folder = tmp_path_factory.mktemp("webchat")
    done = subprocess.run(
        [npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", "rasa-webchat@1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    js = folder / "node_modules" / "rasa-webchat" / "lib" / "index.js"
    if done.returncode != 0 or not js.exists():
        pytest.skip(f"npm could not install rasa-webchat: {done.stderr.strip().splitlines()[-1:]}")
    return js


def test_a_booking_through_rasa_webchat_in_chromium(browser, small, tmp_path, webchat_js):
    """rasa-webchat from npm, unchanged, on a page of another origin, over memchat's socket.io channel."""
    import sys

    web = free_port()
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(webchat_js, site / "index.js")
    static = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(web), "--bind", "127.0.0.1", "--directory", str(site)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with serving(small, tmp_path / "w.db", "--cors", "*") as url:
            (site / "index.html").write_text(WEBCHAT_PAGE % url)
            _book_through_webchat(browser, f"http://127.0.0.1:{web}/index.html")
    finally:
        static.terminate()


def _book_through_webchat(browser, page: str) -> None:
    """Open the page, let the widget greet (its initPayload), book, accept."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(page)
    wait = WebDriverWait(browser, 40)

    def bot_texts():
        return [e.text for e in browser.find_elements("css selector", ".rw-response")]

    wait.until(lambda d: "hello what can i help you with today" in bot_texts())  # initPayload "hi"

    def say(text, until):
        box = wait.until(lambda d: d.find_element("css selector", ".rw-new-message"))
        box.send_keys(text)
        browser.find_element("css selector", ".rw-send").click()
        wait.until(lambda d: any(t.startswith(until) for t in bot_texts()))

    say(BOOKING, "what do you think of this option")  # "i'm on it", then the option: no empty message
    assert "i'm on it" in bot_texts() and not any("api_call" in t for t in bot_texts())
    say("let's do it", "great let me do the reservation")
