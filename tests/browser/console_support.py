"""A console over a store filled by a real run of the simulators, and a headless Debian chromium.

The run: both simulators and the adapter (tests/support/e2e.py's pieces), the portal in
an outage for its first seconds with a one-second retry budget, so that the first dossiers become
real dead letters; then dossiers that are cleared, and one the portal rejects (a watchlisted
crew document). The console is the daemon's own app (`nsw_adapter.console.serve.console_app`)
over that store, on a loopback port.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from lxml import etree
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from nsw_adapter.console.auth import hash_password
from nsw_adapter.console.config import ConsoleUser
from nsw_adapter.console.serve import console_app
from nsw_adapter.simulators import PortalSimulator
from nsw_adapter.simulators.http import BackgroundServer
from nsw_adapter.simulators.nsw import NswSimulator
from nsw_adapter.stack import AdapterStack, fast_settings
from tests.support.e2e import cargo, personal_data

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SKIP_BROWSER = "NSW_ADAPTER_TEST_SKIP_BROWSER"
#: Where the tests save each page's screenshot (`make screenshots` sets docs/screenshots).
SCREENSHOTS = "NSW_ADAPTER_SCREENSHOTS"
OPERATOR, VIEWER, PASSWORD = "olga", "victor", "console-test-password"
OUTAGE_SECONDS = 6


@dataclass
class Filled:
    """The console's address, and what the run put in its store."""

    url: str
    cleared: list[str]  # references
    rejected: str
    dead: list[str]
    imo: dict[str, str]  # reference -> IMO number
    secrets: set[str]  # every name and document number pushed
    nsw_state: dict[str, object]


def require_browser() -> None:
    """Chromium and its driver are Debian's (make test installs them: scripts/system-tools)."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if not missing:
        return
    if os.environ.get(SKIP_BROWSER) == "1":
        pytest.skip(f"{SKIP_BROWSER}=1 and {', '.join(missing)} missing")
    pytest.fail(f"{', '.join(missing)} missing: `make tools` installs Debian's chromium and chromium-driver")


@contextmanager
def browser(screenshots: Path) -> Iterator[webdriver.Chrome]:
    """Headless chromium through the system chromedriver (no driver or browser downloaded)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1100", "--lang=en-US", "--no-first-run"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(20)
    screenshots.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot_dir(tmp: Path) -> Path:
    chosen = os.environ.get(SCREENSHOTS)
    return Path(chosen) if chosen else tmp / "screenshots"


def _passport(files: list[tuple[str, bytes]]) -> str:
    crew = next(data for name, data in files if name.startswith("51"))
    number = etree.fromstring(crew).findtext("Body/Content/CrewLists/CrewList[2]/PassportNumber")
    assert number
    return number.strip()


def _imo(files: list[tuple[str, bytes]]) -> str:
    gd = next(data for name, data in files if name.startswith("50"))
    return (etree.fromstring(gd).findtext("Body/Content/GeneralDeclaration/IMONumber") or "").strip()


def _results(state: dict[str, object], reference: str) -> dict[str, object]:
    dossiers = state["dossiers"]
    assert isinstance(dossiers, dict)
    results = dossiers.get(reference, {}).get("results", {})
    assert isinstance(results, dict)
    return results


@contextmanager
def filled_console(store_path: Path) -> Iterator[Filled]:
    """Simulators, adapter and console; dossiers pushed until some are dead letters and the rest final."""
    dead_files = cargo(3, start=500, prefix="HPH-2026-D")  # one retried, one discarded, one kept
    good_files = cargo(4, start=600, prefix="HPH-2026-C")
    watched_files = cargo(1, start=700, prefix="HPH-2026-R")
    watched = _passport(watched_files[0])
    store_url = f"sqlite:///{store_path}"
    with (
        PortalSimulator(
            decision_delay=0.3, faults=f"outage=0-{OUTAGE_SECONDS}", watchlist={watched}
        ) as portal,
        NswSimulator(seed=5, backoff_max=0.5) as nsw,
    ):
        outage_started = time.monotonic()  # the portal's outage window runs from its start
        hashed = hash_password(PASSWORD)
        settings = fast_settings(store_url, portal.url, nsw.url, in_process_retry_seconds=0.2)
        settings = settings.model_copy(
            update={
                "portal": settings.portal.model_copy(update={"retry_budget_seconds": 1.0}),
                "console": settings.console.model_copy(
                    update={
                        "enabled": True,
                        "users": [
                            ConsoleUser(name=OPERATOR, password_hash=hashed, role="operator"),
                            ConsoleUser(name=VIEWER, password_hash=hashed, role="viewer"),
                        ],
                    }
                ),
            }
        )
        with AdapterStack(settings) as stack:
            nsw.agency_url = stack.intake_url
            dead = [nsw.push_dossier(files) for files in dead_files]
            deadline = time.monotonic() + 30
            while len(stack.store.dead_letters()) < len(dead):
                assert time.monotonic() < deadline, "the outage made no dead letters"
                time.sleep(0.1)
            time.sleep(max(0.0, OUTAGE_SECONDS + 0.5 - (time.monotonic() - outage_started)))
            cleared = [nsw.push_dossier(files) for files in good_files]
            rejected = nsw.push_dossier(watched_files[0])
            state = nsw.wait_until(
                lambda s: all("23" in _results(s, r) for r in cleared) and "22" in _results(s, rejected),
                timeout=60,
                interval=0.2,
            )
            assert stack.worker is not None

            async def make() -> web.Application:
                return console_app(settings, stack.store, stack.worker)

            server = BackgroundServer(make, host="127.0.0.1", port=0, name="console")
            server.start()
            try:
                every = dead_files + good_files + watched_files
                references = dead + cleared + [rejected]
                yield Filled(
                    url=f"http://127.0.0.1:{server.port}",
                    cleared=cleared,
                    rejected=rejected,
                    dead=dead,
                    imo={ref: _imo(files) for ref, files in zip(references, every, strict=True)},
                    secrets=personal_data(every),
                    nsw_state=state,
                )
            finally:
                server.stop()
