"""The operator console in a real browser (Debian's headless chromium via Selenium), over a store
filled by a real run of the simulators: log in, find a dossier by IMO, read its timeline, retry a
dead letter as an operator, be refused it as a viewer; no pushed name or document number on any page.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from tests.browser.console_support import (
    OPERATOR,
    PASSWORD,
    VIEWER,
    Filled,
    browser,
    filled_console,
    require_browser,
    screenshot_dir,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    require_browser()
    with filled_console(tmp_path_factory.mktemp("console") / "adapter.db") as filled:
        yield filled


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshot_dir(tmp_path_factory.mktemp("shots"))


@pytest.fixture(scope="module")
def pages() -> list[str]:
    """Every page's HTML the tests saw, for the personal-data check (run last)."""
    return []


@pytest.fixture
def driver(shots: Path) -> Iterator[webdriver.Chrome]:
    with browser(shots) as driver:
        yield driver


def log_in(driver: webdriver.Chrome, filled: Filled, name: str) -> None:
    driver.get(filled.url + "/")
    assert driver.current_url.endswith("/login")  # nothing without logging in
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    click(driver, driver.find_element(By.ID, "login"))
    assert driver.find_element(By.ID, "who").text.startswith(name)


def click(driver: webdriver.Chrome, element: WebElement) -> None:
    """Click a link or a submit button and wait for the next page (a click returns before it loads)."""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    wait_for_next_page(driver, page)


def wait_for_next_page(driver: webdriver.Chrome, page: WebElement) -> None:
    """Until `page` (the old page's root) is gone and the new one is loaded. chromedriver reports a
    node of a replaced document as stale or, caught mid-navigation, as "Node with given id does
    not belong to the document"; either means the old page is gone."""

    def gone(_driver: webdriver.Chrome) -> bool:
        try:
            page.is_enabled()
        except (StaleElementReferenceException, WebDriverException):
            return True
        return False

    WebDriverWait(driver, 10).until(gone)
    WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")


def keep(driver: webdriver.Chrome, pages: list[str], shots: Path, name: str) -> None:
    pages.append(driver.page_source)
    driver.save_screenshot(str(shots / f"{name}.png"))


def test_operator_finds_a_dossier_by_imo_and_reads_its_timeline(
    driver: webdriver.Chrome, filled: Filled, pages: list[str], shots: Path
) -> None:
    """Searching by a cleared dossier's IMO lists it; its page shows it cleared, with a clearance
    number and its General Declaration received, its submission and the 23 Result in the timeline."""
    log_in(driver, filled, OPERATOR)
    keep(driver, pages, shots, "overview")
    states = driver.find_element(By.ID, "states").text
    assert "cleared" in states
    assert "dead" in states
    reference = filled.cleared[0]
    imo = filled.imo[reference]
    driver.get(filled.url + "/dossiers")
    driver.find_element(By.ID, "q").send_keys(imo)
    click(driver, driver.find_element(By.ID, "search"))
    keep(driver, pages, shots, "dossiers")
    rows = driver.find_elements(By.CSS_SELECTOR, "#dossiers tr")[1:]
    assert rows
    assert all(imo in row.text for row in rows)
    click(driver, driver.find_element(By.LINK_TEXT, reference))
    keep(driver, pages, shots, "dossier")
    assert driver.find_element(By.ID, "state").text.startswith("cleared")
    assert driver.find_element(By.ID, "imo").text == imo
    assert driver.find_element(By.ID, "clearance").text != ""
    timeline = driver.find_element(By.ID, "timeline").text
    for expected in ("General Declaration (50) 01", "SubmitDeclaration", "submitted -> cleared", "Result 23"):
        assert expected in timeline
    assert "sent to the NSW" in timeline


def test_a_rejected_dossier_shows_its_problem_codes(
    driver: webdriver.Chrome, filled: Filled, pages: list[str], shots: Path
) -> None:
    """The dossier the portal rejected shows the rule code and where in the NSW document it points."""
    log_in(driver, filled, OPERATOR)
    driver.get(f"{filled.url}/dossiers/{filled.rejected}/1")
    keep(driver, pages, shots, "dossier-rejected")
    assert driver.find_element(By.ID, "state").text.startswith("rejected")
    problems = driver.find_element(By.ID, "problems").text
    assert "/Envelope/Body/Content/CrewLists" in problems


def test_operator_retries_a_dead_letter(
    driver: webdriver.Chrome, filled: Filled, pages: list[str], shots: Path
) -> None:
    """An operator's Retry takes the dead letter off the list, and the dossier then goes through."""
    log_in(driver, filled, OPERATOR)
    driver.get(filled.url + "/dead-letters")
    keep(driver, pages, shots, "dead-letters")
    listed = driver.find_element(By.ID, "dead-letters").text
    assert all(reference in listed for reference in filled.dead)
    first = driver.find_elements(By.CSS_SELECTOR, "#dead-letters tr")[1]
    reference = next(r for r in filled.dead if r in first.text)
    click(driver, first.find_element(By.CSS_SELECTOR, "button.retry"))
    assert driver.find_element(By.ID, "notice").text == "Sent back to be tried again."
    assert reference not in driver.find_element(By.ID, "dead-letters").text
    keep(driver, pages, shots, "dead-letters-retried")


def test_operator_discards_a_dead_letter_with_a_reason(
    driver: webdriver.Chrome, filled: Filled, pages: list[str], shots: Path
) -> None:
    """Discard needs a reason; the letter leaves the list and the dossier's timeline shows it discarded."""
    log_in(driver, filled, OPERATOR)
    driver.get(filled.url + "/dead-letters")
    row = driver.find_elements(By.CSS_SELECTOR, "#dead-letters tr")[1]
    reference = next(r for r in filled.dead if r in row.text)
    row.find_element(By.NAME, "reason").send_keys("voyage abandoned, agreed with the agent")
    click(driver, row.find_element(By.CSS_SELECTOR, "button.discard"))
    assert driver.find_element(By.ID, "notice").text == "Discarded."
    assert reference not in driver.find_element(By.ID, "dead-letters").text
    driver.get(f"{filled.url}/dossiers/{reference}/1")
    keep(driver, pages, shots, "dossier-discarded")
    assert driver.find_element(By.ID, "state").text.startswith("discarded")
    assert "dead letter discarded by an operator" in driver.find_element(By.ID, "timeline").text


def test_viewer_is_refused_a_retry(
    driver: webdriver.Chrome, filled: Filled, pages: list[str], shots: Path
) -> None:
    """A viewer sees no Retry button, and a retry posted with the viewer's own session and CSRF token
    is refused (403) and leaves the dead letter where it was."""
    log_in(driver, filled, VIEWER)
    driver.get(filled.url + "/dead-letters")
    assert driver.find_elements(By.CSS_SELECTOR, "button.retry") == []
    row = driver.find_elements(By.CSS_SELECTOR, "#dead-letters tr")[1]
    kind, number = row.get_attribute("id").split("-")[1:]  # type: ignore[union-attr]
    # The form an operator would have, built in the viewer's page (the server must refuse it).
    page = driver.find_element(By.TAG_NAME, "html")
    driver.execute_script(
        """
        const form = document.createElement('form');
        form.method = 'post'; form.action = arguments[0];
        const token = document.querySelector('input[name=csrf]').cloneNode();
        form.appendChild(token); document.body.appendChild(form); form.submit();
        """,
        f"/dead-letters/{kind}/{number}/retry",
    )
    wait_for_next_page(driver, page)
    assert "Only operators may retry or discard." in driver.find_element(By.ID, "error").text
    keep(driver, pages, shots, "viewer-refused")
    driver.get(filled.url + "/dead-letters")
    assert driver.find_element(By.ID, f"letter-{kind}-{number}")


def test_statistics_page_and_csv(
    driver: webdriver.Chrome, filled: Filled, pages: list[str], shots: Path
) -> None:
    """The statistics page counts the run's cleared dossiers and its one rejection; its CSV says so."""
    log_in(driver, filled, VIEWER)
    # The report counts dossiers by their expected arrival or departure (the fixtures' are in 2026).
    driver.get(filled.url + "/statistics?from=2026-01-01&to=2026-12-31")
    keep(driver, pages, shots, "statistics")
    table = driver.find_element(By.ID, "statistics").text
    assert table.count("\n") >= 1
    link = driver.find_element(By.ID, "csv").get_attribute("href")
    assert link
    cookies = {c["name"]: c["value"] for c in driver.get_cookies()}
    csv = requests.get(link, cookies=cookies, timeout=10)
    assert csv.status_code == 200
    assert csv.headers["Content-Type"].startswith("text/csv")
    header, *rows = csv.text.strip().splitlines()
    columns = header.split(",")
    cleared = sum(int(row.split(",")[columns.index("cleared")]) for row in rows)
    rejected = sum(int(row.split(",")[columns.index("rejected")]) for row in rows)
    assert cleared >= len(filled.cleared)
    assert rejected == 1
    pages.append(csv.text)


def test_no_pushed_name_or_document_number_on_any_page(filled: Filled, pages: list[str]) -> None:
    """Every page the tests saw (and the CSV) holds none of the names and document numbers pushed."""
    assert len(pages) >= 8
    assert len(filled.secrets) > 20
    seen = "\n".join(pages)
    assert sorted(s for s in filled.secrets if s in seen) == []
