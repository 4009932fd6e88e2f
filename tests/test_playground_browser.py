"""The playground in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) driven by Selenium against ``python -m bot playground``.

Skipped, saying why, only when no browser can be found; ``.ci/run`` installs one.
The screenshot lands in ``tests/artifacts/playground.png``.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
NIK = "6311015505900003"  # Balangan (63.11.01), a woman born 15-05-1990: a valid test NIK
WAIT = 20.0


def _find(names: tuple[str, ...], fixed: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return next((path for path in fixed if os.access(path, os.X_OK)), None)


def browser_paths() -> tuple[str, str] | str:
    """(chromium, chromedriver), or why the browser test cannot run."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    chromium = _find(("chromium", "chromium-browser"), ("/usr/bin/chromium",))
    driver = _find(("chromedriver",), ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"))
    if chromium is None or driver is None:
        missing = " and ".join(
            name for name, path in (("chromium", chromium), ("chromedriver", driver)) if not path
        )
        return (
            f"no headless browser: {missing} not found "
            "(install Debian's packages: apt-get install chromium chromium-driver)"
        )
    return chromium, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def playground_url(tmp_path: Path) -> Iterator[str]:
    """``python -m bot playground`` on a free port, in an empty folder; stopped with SIGTERM."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
    env.update(PLAYGROUND_PORT=str(port), LOG_LEVEL="WARNING")
    log_path = tmp_path / "playground.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "playground"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        stdout = proc.stdout
        assert stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            try:
                line = lines.get(timeout=60)
            except queue.Empty:
                line = ""
            assert line.startswith("Playground: "), log_path.read_text()
            yield line.removeprefix("Playground: ").strip()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            stdout.close()
    assert proc.returncode == 0, log_path.read_text()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    found = browser_paths()
    if isinstance(found, str):
        pytest.skip(found)
    chromium, chromedriver = found
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.add_argument("--window-size=600,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        # A phone's screen: 412 CSS pixels wide.
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 412, "height": 860, "deviceScaleFactor": 1, "mobile": True},
        )
        yield driver
    finally:
        driver.quit()


class Page:
    """The playground page as a person sees it."""

    def __init__(self, driver: Any) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.by = By
        self.wait = WebDriverWait(driver, WAIT)

    def until(self, condition: Callable[[], Any], what: str) -> Any:
        try:
            return self.wait.until(lambda _d: condition())
        except Exception as exc:
            raise AssertionError(f"{what}; the chat shows:\n{self.transcript()}") from exc

    def css(self, selector: str) -> list[Any]:
        return list(self.driver.find_elements(self.by.CSS_SELECTOR, selector))

    def one(self, selector: str) -> Any:
        return self.driver.find_element(self.by.CSS_SELECTOR, selector)

    def bot_texts(self) -> list[str]:
        return [str(e.text) for e in self.css(".msg.in .bubble")]

    def user_texts(self) -> list[str]:
        return [str(e.text) for e in self.css(".msg.out .bubble")]

    def transcript(self) -> str:
        lines = []
        for message in self.css(".msg"):
            who = "user" if "out" in (message.get_attribute("class") or "") else "bot"
            lines.append(f"{who}: {message.text}")
        return "\n".join(lines) or "(empty)"

    def count_bot(self) -> int:
        return len(self.css(".msg.in"))

    def await_reply(self, before: int, what: str) -> str:
        """Wait for a new bot message and for the page to stop waiting ("mengetik…")."""
        self.until(lambda: self.count_bot() > before, what)
        self.until(lambda: self.one("#status").text == "bot", f"{what} (status back to 'bot')")
        return self.bot_texts()[-1]

    def type(self, text: str) -> str:
        from selenium.webdriver.common.keys import Keys

        before = self.count_bot()
        box = self.one("#text")
        box.send_keys(text)
        box.send_keys(Keys.ENTER)
        self.until(
            lambda: any(t.startswith(text) for t in self.user_texts()[-1:]),
            f"the page shows what was typed: {text!r}",
        )
        return self.await_reply(before, f"a reply to {text!r}")

    def press(self, callback_data: str) -> None:
        buttons = self.css(f'.inline-keyboard button[data-callback="{callback_data}"]')
        assert buttons, f"no button {callback_data!r}; the chat shows:\n{self.transcript()}"
        buttons[-1].click()

    def has_button(self, callback_data: str) -> bool:
        return bool(self.css(f'.inline-keyboard button[data-callback="{callback_data}"]'))

    def persona(self, key: str) -> None:
        self.one(f'#personas button[data-persona="{key}"]').click()
        self.until(
            lambda: (
                self.one(f'#personas button[data-persona="{key}"]').get_attribute("aria-selected")
                == "true"
            ),
            f"persona {key} selected",
        )


def test_a_newcomer_chats_with_the_real_bot_in_the_browser(playground_url, browser):
    page = Page(browser)
    browser.get(playground_url)

    # The four personas, the worker first; an empty chat with Telegram's START button.
    page.until(lambda: len(page.css("#personas button")) == 4, "persona tabs shown")
    labels = [b.get_attribute("aria-label") for b in page.css("#personas button")]
    assert labels == [
        "Pekerja (Siti)",
        "Pekerja 2 (Budi)",
        "Fasilitator (Rahmat)",
        "Admin (Dinas)",
    ]
    assert page.one('#personas button[aria-selected="true"]').get_attribute("data-persona") == (
        "worker"
    )
    assert page.one("#empty").is_displayed()

    # /start from the command menu ("/" menu button, filled by setMyCommands).
    page.until(lambda: page.one("#menu-button").is_displayed(), "the Menu button appears")
    page.one("#menu-button").click()
    page.until(lambda: page.css('#command-list [data-command="start"]'), "the command list")
    page.one('#command-list [data-command="start"]').click()
    greeting = page.await_reply(0, "the greeting")
    assert greeting.startswith("Halo!")
    assert page.user_texts()[0].startswith("/start")
    assert page.has_button("help")
    assert page.has_button("lang")
    assert page.one(".msg.in .inline-keyboard").is_displayed()

    # A menu button: help, whose bold title arrives as an entity and is shown in <b>.
    before = page.count_bot()
    page.press("help")
    page.await_reply(before, "the help text")
    bold = page.css(".msg.in .text b")
    assert bold
    assert "<b>" not in page.bot_texts()[-1]

    if page.has_button("reg:start"):
        _register_a_few_steps(page)

    # A second worker, in English: pressing a button edits the question in place.
    page.persona("worker2")
    page.until(lambda: not page.css(".msg"), "the second worker's chat is empty")
    page.type("/bahasa")
    question_id = page.css(".msg.in")[-1].get_attribute("data-id")
    before = page.count_bot()
    page.press("lang:en")
    page.until(lambda: page.count_bot() > before, "the menu again, in English")
    edited = page.one(f'.msg.in[data-id="{question_id}"]')
    assert "Language set to English." in edited.text
    assert edited.find_elements(page.by.CSS_SELECTOR, ".edited")
    assert page.has_button("help")
    # What a user types is shown as typed, never interpreted as markup.
    page.type("<i>tidak</i> <script>miring</script>")
    mine = page.css(".msg.out")[-1]
    assert mine.text.startswith("<i>tidak</i> <script>miring</script>")
    assert not mine.find_elements(page.by.CSS_SELECTOR, "i, script")
    # Unexpected input from the attach menu: a sticker gets an answer, never silence.
    before = page.count_bot()
    page.one("#attach-button").click()
    page.one('[data-attach="sticker"]').click()
    page.until(lambda: page.css('.msg.out[data-kind="sticker"]'), "the sticker is shown")
    assert page.await_reply(before, "an answer to the sticker")

    # Back to the first worker: her chat is still there.
    page.persona("worker")
    page.until(lambda: page.count_bot() >= 2, "the first worker's chat again")
    assert page.bot_texts()[0].startswith("Halo!")
    assert not page.css("#personas button.unread")

    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "playground.png"))

    # Reset: confirm, and every chat is empty again.
    page.one("#reset").click()
    page.until(lambda: _accept_alert(browser), "the reset confirmation")
    page.until(lambda: not page.css(".msg"), "the chat is empty after the reset")
    assert page.one("#empty").is_displayed()

    errors = [
        entry
        for entry in browser.get_log("browser")
        if entry["level"] == "SEVERE" and "favicon" not in entry["message"]
    ]
    assert errors == []


def _register_a_few_steps(page: Page) -> None:
    """Registration (when the feature is there): consent, NIK, name."""
    before = page.count_bot()
    page.press("reg:start")
    page.await_reply(before, "the consent question")
    page.until(lambda: page.has_button("reg:consent:yes"), "the consent buttons")
    before = page.count_bot()
    page.press("reg:consent:yes")
    page.await_reply(before, "the first question after consent")
    reply = page.type(NIK)
    # The bot never shows the whole NIK back; the page shows what the bot sent.
    assert NIK not in "\n".join(page.bot_texts())
    assert "0003" in "\n".join(page.bot_texts()[-2:]) or reply
    page.type("Siti Aminah")
    assert "Siti Aminah" in "\n".join(page.bot_texts()[-3:])


def _accept_alert(driver: Any) -> bool:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        driver.switch_to.alert.accept()
    except NoAlertPresentException:
        return False
    return True
