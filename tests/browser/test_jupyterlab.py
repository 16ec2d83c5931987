"""What a person sees in JupyterLab: the notebook list, 00-start-here run to the end in the
browser, its topology widget starting a lab, and nothing left running afterwards."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, SHOTS, JupyterLab, lab_servers

pytestmark = pytest.mark.browser

CURRENT = ".jp-NotebookPanel:not(.lm-mod-hidden)"
"""The notebook tab in front (JupyterLab keeps the others in the DOM, hidden)."""

NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))


def _shot(browser: Any, name: str) -> Path:
    path = SHOTS / f"{name}.png"
    browser.save_screenshot(str(path))
    return path


def _wait(browser: Any, what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            got = check()
            if got:
                return got
        except Exception as exc:  # the page is still changing
            last = exc
        time.sleep(0.25)
    shot = _shot(browser, "failed-" + "".join(c if c.isalnum() else "-" for c in what)[:60])
    pytest.fail(f"{what}: not seen within {timeout:.0f} s (screenshot: {shot}; last: {last!r})")


def _by_css(browser: Any, css: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(browser.find_elements(By.CSS_SELECTOR, css))


def _menu(browser: Any, top: str, item: str) -> None:
    from selenium.webdriver.common.by import By

    bar = _wait(
        browser,
        f"menu {top}",
        lambda: [e for e in _by_css(browser, ".lm-MenuBar-itemLabel") if e.text == top],
    )
    bar[0].click()
    entry = _wait(
        browser,
        f"menu item {item}",
        lambda: browser.find_elements(
            By.XPATH, f"//div[contains(@class,'lm-Menu-itemLabel') and text()='{item}']"
        ),
    )
    entry[0].click()


def _errors(browser: Any) -> list[str]:
    """Error outputs (tracebacks), not the warnings and progress bars that also use stderr."""
    stderr = '[data-mime-type="application/vnd.jupyter.stderr"]'
    return [e.text for e in _by_css(browser, stderr) if "Traceback" in e.text or "Error" in e.text]


def _run_all(
    browser: Any,
    jupyterlab: JupyterLab,
    notebook: str,
    timeout: float = 300,
    *,
    keep_labs: bool = False,
) -> None:
    """Open ``notebook`` in JupyterLab, Run -> Run All Cells, wait until every cell ran.

    ``keep_labs``: run every cell above the last one (which stops the labs), so that a
    widget can still talk to its lab; the test then runs the last cell itself.
    """
    browser.get(jupyterlab.page(f"lab/tree/{notebook}"))
    _wait(
        browser,
        f"{notebook} and an idle kernel",
        lambda: (
            _by_css(browser, f"{CURRENT} .jp-Notebook .jp-Cell")
            and _by_css(browser, f'{CURRENT} .jp-Notebook-ExecutionIndicator[data-status="idle"]')
        ),
        timeout=90,
    )
    if keep_labs:
        _select_last_cell(browser)
        _menu(browser, "Run", "Run All Above Selected Cell")
    else:
        _menu(browser, "Run", "Run All Cells")

    def finished() -> bool:
        prompts = [e.text for e in _by_css(browser, f"{CURRENT} .jp-CodeCell .jp-InputArea-prompt")]
        busy = _by_css(browser, f'{CURRENT} .jp-Notebook-ExecutionIndicator[data-status="busy"]')
        return (
            bool(prompts)
            and not busy
            and all(p.strip() not in ("[*]:", "[ ]:", "") for p in prompts)
        )

    _wait(browser, f"every cell of {notebook} executed", finished, timeout=timeout)


def _select_last_cell(browser: Any) -> Any:
    """Scroll to the last code cell and click into its editor (it becomes the active cell)."""
    from selenium.webdriver.common.by import By

    last = _by_css(browser, f"{CURRENT} .jp-Notebook .jp-CodeCell")[-1]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", last)
    editor = last.find_element(By.CSS_SELECTOR, ".jp-InputArea-editor")
    _wait(browser, "the last cell's editor", lambda: editor.is_displayed(), timeout=10)
    editor.click()
    return last


def _run_last_cell(browser: Any) -> None:
    """Run the notebook's last cell (it stops the labs) and wait for it to finish."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    last = _select_last_cell(browser)
    browser.switch_to.active_element.send_keys(Keys.SHIFT, Keys.ENTER)
    prompt = last.find_element(By.CSS_SELECTOR, ".jp-InputArea-prompt")
    _wait(browser, "the last cell", lambda: prompt.text.strip() not in ("[*]:", "[ ]:", ""), 90)


def test_the_notebook_list_shows_every_notebook(browser: Any, jupyterlab: JupyterLab) -> None:
    browser.get(jupyterlab.page("lab"))
    listed = _wait(
        browser,
        "the file browser listing",
        lambda: (
            {e.text for e in _by_css(browser, ".jp-DirListing-itemText")} >= set(NOTEBOOKS)
            and {e.text for e in _by_css(browser, ".jp-DirListing-itemText")}
        ),
    )
    _shot(browser, "01-notebook-list")
    assert set(NOTEBOOKS) <= listed


def test_start_here_runs_in_the_browser_and_its_widget_starts_a_lab(
    browser: Any, jupyterlab: JupyterLab
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    _run_all(browser, jupyterlab, "00-start-here.ipynb")
    _shot(browser, "02-start-here-run")
    errors = _errors(browser)
    assert not errors, f"error output in the browser: {errors[0][:500]}"

    # the topology widget: choose "replicated", press start, see that lab's node table
    select = _wait(
        browser, "the topology dropdown", lambda: _by_css(browser, ".widget-dropdown select")
    )
    select[0].location_once_scrolled_into_view  # noqa: B018 (scrolls the widget into view)
    Select(select[0]).select_by_visible_text("replicated")
    button = [b for b in _by_css(browser, "button.jupyter-button") if b.text == "start"]
    assert button, "the start button is not rendered"
    button[0].click()
    table = _wait(
        browser,
        "the started lab's node table",
        lambda: [t for t in _by_css(browser, ".widget-output table") if "replica-2" in t.text],
        timeout=60,
    )
    _shot(browser, "03-widget-started-a-lab")
    assert "primary" in table[0].text and "replica-1" in table[0].text

    # run the last cell again (it stops every lab, the widget's too), then shut the kernel down
    cells = _by_css(browser, f"{CURRENT} .jp-Notebook .jp-CodeCell")
    before = cells[-1].text
    cells[-1].find_element(By.CSS_SELECTOR, ".jp-InputArea-prompt").click()
    browser.switch_to.active_element.send_keys(Keys.SHIFT, Keys.ENTER)
    _wait(
        browser,
        "the last cell stopping the labs again",
        lambda: "labs stopped" in cells[-1].text and cells[-1].text != before,
        timeout=60,
    )
    _shot(browser, "04-labs-stopped")
    _menu(browser, "Kernel", "Shut Down Kernel")
    _wait(browser, "no server left running", lambda: not lab_servers(jupyterlab.home), timeout=30)
