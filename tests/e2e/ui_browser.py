"""Headless Chromium (Debian's /usr/bin/chromium and /usr/bin/chromedriver, from scripts/setup) driving Airflow's UI.

Airflow shows plugin pages in an iframe of its own layout, so page actions switch into that frame and back.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


class Browser:
    def __init__(self, base_url: str, screenshots: Path) -> None:
        self.base_url = base_url
        self.screenshots = screenshots
        screenshots.mkdir(parents=True, exist_ok=True)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,900"):
            options.add_argument(argument)
        # Both paths given: Selenium Manager has nothing to look up or download.
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.wait = WebDriverWait(self.driver, 20)

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is not None:
            self.shot("failure")
        self.driver.quit()

    def shot(self, name: str) -> Path:
        path = self.screenshots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    # -- Airflow's own pages -------------------------------------------------------------------------------------

    def log_in(self, user: str, password: str) -> None:
        """Through the real login page (SimpleAuthManager's), which sets the UI's `_token` cookie."""
        self.driver.get(f"{self.base_url}/auth/login?next=/")
        self.wait.until(ec.presence_of_element_located((By.NAME, "username"))).send_keys(user)
        self.driver.find_element(By.NAME, "password").send_keys(password)
        self.driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.wait.until(lambda d: "/auth/" not in d.current_url)

    def open_from_menu(self, menu: str, item: str) -> None:
        """Click a nav menu of the Airflow UI, then one of its items; the plugin page opens in the UI's iframe."""
        self.driver.switch_to.default_content()
        button = f"//button[@aria-label={_quoted(menu)}]"
        self.wait.until(ec.element_to_be_clickable((By.XPATH, button))).click()
        entry = f"//*[@role='menuitem'][normalize-space()={_quoted(item)}]"
        self.wait.until(ec.element_to_be_clickable((By.XPATH, entry))).click()
        self.wait.until(ec.frame_to_be_available_and_switch_to_it((By.TAG_NAME, "iframe")))
        self.wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "main h1")))

    # -- our pages (inside the iframe) ---------------------------------------------------------------------------

    def _submit_and_wait(self, button: WebElement) -> None:
        """Submit a form; the frame loads a new page (a redirect back, or the page with errors)."""
        old = self.driver.find_element(By.TAG_NAME, "html")
        button.click()
        self.wait.until(ec.staleness_of(old))
        self.wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "main h1")))

    def upload(self, survey: str, file: Path) -> None:
        form = self.driver.find_element(By.CSS_SELECTOR, "form[action$='/sources/upload']")
        field = form.find_element(By.NAME, "survey")
        field.clear()
        field.send_keys(survey)
        form.find_element(By.NAME, "file").send_keys(str(file))
        self._submit_and_wait(form.find_element(By.CSS_SELECTOR, "button[type=submit]"))

    def notice(self) -> str:
        return str(self.driver.find_element(By.CSS_SELECTOR, ".notice").text)

    def problems(self) -> list[list[str]]:
        rows = self.driver.find_elements(By.CSS_SELECTOR, ".error tr.problem")
        return [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows]

    def listed_sources(self) -> list[str]:
        rows = self.driver.find_elements(By.CSS_SELECTOR, "#sources tbody tr[data-source]")
        return [str(row.get_attribute("data-source")) for row in rows]

    def _source_row(self, source_id: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, f"#sources tr[data-source={_quoted(source_id)}]")

    def source_status(self, source_id: str) -> str:
        return str(self._source_row(source_id).find_element(By.CSS_SELECTOR, ".badge").text)

    def toggle(self, source_id: str) -> None:
        """Press the row's Disable (or Enable) button."""
        self._submit_and_wait(self._source_row(source_id).find_element(By.CSS_SELECTOR, "button"))

    def listed_runs(self) -> list[str]:
        rows = self.driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr[data-run]")
        return [str(row.get_attribute("data-run")) for row in rows]

    def open_run(self, run_key: str) -> None:
        link = self.driver.find_element(By.CSS_SELECTOR, f"#runs tr[data-run='{run_key}'] a")
        self._submit_and_wait(link)
        self.wait.until(ec.presence_of_element_located((By.ID, "events")))

    def follow_task_link(self) -> str:
        """Click the run's task instance link: the Airflow UI itself (not this frame) shows the task instance."""
        self.driver.find_element(By.CSS_SELECTOR, "dl.facts a[data-airflow-link]").click()
        self.driver.switch_to.default_content()
        self.wait.until(lambda d: "/plugin/" not in d.current_url)
        self.wait.until(ec.invisibility_of_element_located((By.TAG_NAME, "iframe")))
        return str(self.driver.current_url)

    def open_docs(self) -> tuple[str, list[str]]:
        """/beampipe/docs as such (Swagger UI from our own files, under our CSP): its title and operations."""
        self.driver.get(f"{self.base_url}/beampipe/docs")
        title = self.wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".swagger-ui .info .title")))
        self.wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock-summary-path")))
        paths = self.driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
        return str(title.text), [str(p.get_attribute("data-path")) for p in paths]


def _quoted(text: str) -> str:
    """A string literal for XPath and CSS attribute selectors (our test values have no quotes)."""
    assert '"' not in text
    return f'"{text}"'
