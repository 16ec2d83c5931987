"""What a person sees in JupyterLab: the notebook list, 00-start-here run to the end in the
browser, its topology widget starting a lab, the live dashboard of 09.03 and the capacity
planner of 10.04 reacting to one interaction each, and nothing left running afterwards."""

from __future__ import annotations

import json
import time
import urllib.request
import warnings
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


def _poll(check: Callable[[], Any], timeout: float) -> tuple[Any, Exception | None]:
    """``check()`` every 0.25 s until it is truthy or ``timeout`` passes: (result, last error)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            got = check()
            if got:
                return got, None
        except Exception as exc:  # the page is still changing
            last = exc
        time.sleep(0.25)
    return None, last


def _wait(browser: Any, what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    got, last = _poll(check, timeout)
    if got:
        return got
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


SESSION_JS = """
const app = window.jupyterapp;  // --LabApp.expose_app_in_browser (conftest.py)
if (!app) { return {no_app: true}; }
const panel = app.shell.currentWidget;
if (!panel || !panel.context || !panel.sessionContext || panel.context.path !== arguments[0]) {
  return {panel: false};
}
const session = panel.sessionContext;
const kernel = session.session ? session.session.kernel : null;
return {
  panel: true,
  content_loaded: panel.context.isReady,
  session_ready: session.isReady,
  kernel: kernel ? kernel.id : null,
  status: session.kernelDisplayStatus,
  pending_input: session.pendingInput,
  run_all_enabled: app.commands.isEnabled("notebook:run-all-cells"),
};
"""
"""What JupyterLab itself says of the notebook in front: its content loaded, its session
initialised, its kernel and that kernel's status as the kernel reports it."""


def _session_state(browser: Any, notebook: str) -> dict[str, Any]:
    state = browser.execute_script(SESSION_JS, notebook) or {}
    if state.get("no_app"):
        pytest.fail("window.jupyterapp is not there: JupyterLab was not started with "
                    "--LabApp.expose_app_in_browser=True (tests/browser/conftest.py)")  # fmt: skip
    return dict(state)


def _ready_kernel(browser: Any, jupyterlab: JupyterLab, notebook: str) -> str | None:
    """The id of ``notebook``'s kernel once a Run All would reach it, else None.

    Not the toolbar's execution indicator: JupyterLab renders it ``data-status="idle"`` as
    soon as the panel opens, before the notebook's content has loaded, before any session
    or kernel exists. A Run All dispatched then is lost: its cells are run on a placeholder,
    or the command starts a kernel of its own while the session's initialisation starts
    another, and the one the cells were queued on is shut down (seen on cold starts, two
    "Kernel started" in the server's log, cells back to "[ ]:"). So wait until the content
    is loaded, the session initialised, its kernel connected and idle (``kernelDisplayStatus``
    is the kernel's own status once connected), and the server agrees: one session for the
    notebook, with that kernel, idle.
    """
    state = _session_state(browser, notebook)
    if not (state.get("content_loaded") and state.get("session_ready") and state.get("kernel")
            and state.get("status") == "idle" and state.get("run_all_enabled")
            and not state.get("pending_input")):  # fmt: skip
        return None
    sessions = [s for s in _api(jupyterlab, "sessions") if s["path"] == notebook]
    kernels = [(s["kernel"]["id"], s["kernel"]["execution_state"]) for s in sessions]
    return state["kernel"] if kernels == [(state["kernel"], "idle")] else None


def _prompts(browser: Any) -> list[str]:
    return [
        e.text.strip() for e in _by_css(browser, f"{CURRENT} .jp-CodeCell .jp-InputArea-prompt")
    ]


def _run_started(browser: Any, notebook: str, kernel: str, timeout: float) -> str | None:
    """After Run All: None once a cell has run on ``kernel`` (an execution count shows),
    else why the dispatch was lost (nothing queued within 30 s, or the queued cells dropped).
    Cells queued ("[*]:") wait behind the first: that may take a while on a cold machine;
    still queued and none run after ``timeout``: fail."""
    start = time.monotonic()
    queued = False
    while time.monotonic() - start < timeout:
        prompts = _prompts(browser)
        if any(p[1:-2].isdigit() for p in prompts):  # "[1]:"
            return None
        if "[*]:" in prompts:
            queued = True
        elif queued:
            now = _session_state(browser, notebook).get("kernel")
            return f"its queued cells were dropped (kernel {kernel}, now {now})"
        elif time.monotonic() - start > 30:
            return "no cell was queued within 30 s"
        time.sleep(0.25)
    shot = _shot(browser, "failed-run-all-queued-" + notebook.split("-")[0])
    pytest.fail(f"{notebook}: cells queued by Run All, none run within {timeout:.0f} s (session: "
                f"{_session_state(browser, notebook)}; screenshot: {shot})")  # fmt: skip


def _run_all(
    browser: Any,
    jupyterlab: JupyterLab,
    notebook: str,
    timeout: float = 300,
    after_first_dispatch: Callable[[], None] | None = None,
) -> None:
    """Open ``notebook`` in JupyterLab; once its kernel is ready, Run -> Run All Cells; check
    that the run started (a cell's execution count shows), else dispatch it once more (only
    when nothing is queued, so no cell runs twice); wait until every cell ran.
    ``after_first_dispatch`` lets a test disturb the first run."""
    browser.get(jupyterlab.page(f"lab/tree/{notebook}") + "&reset")  # no tabs restored
    lost = []
    for attempt in (1, 2):
        kernel = _wait(
            browser,
            f"{notebook} loaded, its session's kernel connected and idle",
            lambda: _ready_kernel(browser, jupyterlab, notebook),
            timeout=180,  # a first kernel start on a loaded machine
        )
        _menu(browser, "Run", "Run All Cells")
        if attempt == 1 and after_first_dispatch is not None:
            after_first_dispatch()
        why = _run_started(browser, notebook, kernel, timeout)
        if why is None:
            break
        lost.append(f"Run All {attempt}: {why}")
    else:
        shot = _shot(browser, "failed-run-all-" + notebook.split("-")[0])
        pytest.fail(f"{notebook}: Run All Cells ran no cell, twice: {lost} (last state: "
                    f"{_session_state(browser, notebook)}; screenshot: {shot})")  # fmt: skip
    if lost:  # once the kernel is ready this should not happen: say so in the report
        warnings.warn(f"{notebook}: {lost[0]}; the second Run All started", stacklevel=1)

    def finished() -> bool:
        texts = _prompts(browser)
        busy = _by_css(browser, f'{CURRENT} .jp-Notebook-ExecutionIndicator[data-status="busy"]')
        return (
            bool(texts) and not busy and all(p.strip() not in ("[*]:", "[ ]:", "") for p in texts)
        )

    _wait(browser, f"every cell of {notebook} executed", finished, timeout=timeout)


def _without_last_cell(jupyterlab: JupyterLab, notebook: str) -> str:
    """Serve a copy of ``notebook`` without its last code cell (the one that stops its labs).

    Run All then leaves the notebook's lab up for its widget; the test ends by shutting
    the kernel down, which takes the lab's servers with it (they die with their parent).
    """
    nb = json.loads((ROOT / "notebooks" / notebook).read_text())
    last = max(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code")
    assert "lab.stop()" in "".join(nb["cells"][last]["source"]), (
        f"{notebook}: the last code cell no longer stops the lab; update this test"
    )
    del nb["cells"][last]
    copy = notebook.replace(".ipynb", ".browser.ipynb")
    (jupyterlab.root / copy).write_text(json.dumps(nb, indent=1))
    return copy


def _api(jupyterlab: JupyterLab, path: str, method: str = "GET") -> Any:
    request = urllib.request.Request(
        f"{jupyterlab.url}/api/{path}",
        method=method,
        headers={"Authorization": f"token {jupyterlab.token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        body = answer.read()
    return json.loads(body) if body else None


def _shut_down_kernel(browser: Any, jupyterlab: JupyterLab, notebook: str) -> None:
    """Shut the notebook's kernel down (JupyterLab's REST API, as its Kernel menu does), then
    check that no server of the labs it started is left; kill and fail if one is."""
    import psutil

    running = lab_servers(jupyterlab.home)
    assert running, f"{notebook}: no server of its lab was running before the shutdown"
    sessions = [s for s in _api(jupyterlab, "sessions") if s["path"].endswith(notebook)]
    assert sessions, f"no kernel session for {notebook}"
    for session in sessions:
        _api(jupyterlab, f"kernels/{session['kernel']['id']}", method="DELETE")
    deadline = time.monotonic() + 30
    while lab_servers(jupyterlab.home) and time.monotonic() < deadline:
        time.sleep(0.25)
    left = lab_servers(jupyterlab.home)
    if left:
        shot = _shot(browser, "failed-servers-left-" + notebook.split("-")[0])
        described = []
        for pid in left:
            try:
                proc = psutil.Process(pid)
                described.append(f"{pid} {' '.join(proc.cmdline())}")
                proc.kill()
            except psutil.Error:
                continue
        pytest.fail(
            f"{notebook}: servers survived the kernel shutdown (killed now): {described} "
            f"(screenshot: {shot})"
        )


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


def test_dashboard_starts_and_stops_sampling_from_its_button(
    browser: Any, jupyterlab: JupyterLab
) -> None:
    """09.03: the dashboard renders; pressing its toggle starts sampling (the status line
    counts new samples, the plot is redrawn), pressing it again stops."""
    from selenium.webdriver.common.by import By

    notebook = _without_last_cell(jupyterlab, "09.03-monitoring-dashboard.ipynb")
    try:
        _run_all(browser, jupyterlab, notebook)
        errors = _errors(browser)
        assert not errors, f"error output in the browser: {errors[0][:500]}"
        # the notebook shows the same dashboard twice (live in 1, the static frame in 3)
        box = _wait(browser, "the dashboard",
                    lambda: [b for b in _by_css(browser, f"{CURRENT} .redislab-dashboard")
                             if b.is_displayed()])[0]  # fmt: skip
        toggle = box.find_element(By.CSS_SELECTOR, ".redislab-dashboard-toggle")
        status = box.find_element(By.CSS_SELECTOR, ".redislab-dashboard-status")
        plot = box.find_element(By.CSS_SELECTOR, "img.redislab-dashboard-plot")
        browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", toggle)
        _wait(browser, "the dashboard's first frame", lambda: plot.get_attribute("src"))
        assert "stopped" in status.text and toggle.text.strip() == "Start", status.text
        before = _samples(status.text)
        first_plot = plot.get_attribute("src")
        _shot(browser, "07-dashboard-stopped")

        toggle.click()
        _wait(browser, "the toggle saying Stop", lambda: toggle.text.strip() == "Stop", timeout=20)
        _wait(browser, "the status line counting new samples while running",
              lambda: "running" in status.text and _samples(status.text) > before,
              timeout=60)  # fmt: skip
        _wait(browser, "the plot redrawn", lambda: plot.get_attribute("src") != first_plot, 30)
        _shot(browser, "08-dashboard-running")

        toggle.click()
        _wait(browser, "the status line saying stopped again",
              lambda: "stopped" in status.text and toggle.text.strip() == "Start",
              timeout=60)  # fmt: skip
        _shot(browser, "09-dashboard-stopped-again")
        after = _samples(status.text)
        time.sleep(2.0)  # stopped means stopped: no sample is added any more
        assert _samples(status.text) == after > before, (before, after, status.text)
    finally:
        _shut_down_kernel(browser, jupyterlab, notebook)


def _samples(status: str) -> int:
    """The sample count of the dashboard's status line ("running · 120 samples · ...")."""
    import re

    found = re.search(r"(\d+) samples", status)
    assert found, f"no sample count in the status line {status!r}"
    return int(found.group(1))


def test_planner_replans_when_an_input_changes(browser: Any, jupyterlab: JupyterLab) -> None:
    """10.04: the planner renders; typing new reads/s and pressing Plan prints a new plan
    for those figures, naming a topology."""
    from selenium.webdriver.common.keys import Keys

    notebook = _without_last_cell(jupyterlab, "10.04-design-capacity-planner.ipynb")
    try:
        _run_all(browser, jupyterlab, notebook)
        errors = _errors(browser)
        assert not errors, f"error output in the browser: {errors[0][:500]}"
        planner = f"{CURRENT} .redislab-planner"
        output = _wait(browser, "the planner's output",
                       lambda: [o for o in _by_css(browser, f"{planner} .redislab-planner-output")
                                if "topology" in o.text])[0]  # fmt: skip
        reads = _by_css(browser, f"{planner} .redislab-planner-reads-per-s input")[0]
        writes = _by_css(browser, f"{planner} .redislab-planner-writes-per-s input")[0]
        run = _by_css(browser, f"{planner} button.redislab-planner-run")[0]
        browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", reads)
        first = output.text
        _shot(browser, "10-planner-before")

        asked = 1000 + float(writes.get_attribute("value"))
        assert f"{asked:,.0f} ops/s asked" not in first, first
        reads.send_keys(Keys.CONTROL, "a")
        reads.send_keys("1000", Keys.TAB)
        run.click()
        _wait(browser, f"a plan for {asked:,.0f} ops/s",
              lambda: f"{asked:,.0f} ops/s asked" in output.text, timeout=60)  # fmt: skip
        _shot(browser, "11-planner-after")
        text = output.text
        assert text != first
        topology = next(line for line in text.splitlines() if line.startswith("topology"))
        assert any(t in topology for t in ("standalone", "Sentinel", "cluster")), topology
    finally:
        _shut_down_kernel(browser, jupyterlab, notebook)


def test_a_run_all_whose_queued_cells_are_dropped_is_dispatched_again(
    browser: Any, jupyterlab: JupyterLab
) -> None:
    """Issue 23's lost Run All, forced: the cells are queued ("[*]:"), then the session's
    kernel is changed under them, as the session's initialisation did on a cold start when
    Run All had already started a kernel (two "Kernel started", the first shut down). The
    cells go back to "[ ]:", the new kernel is idle: the old check, "a prompt is not [ ]:",
    had already passed and waited 300 s. Now the run is seen lost and dispatched again,
    and every cell runs once."""
    cells = ["import time\ntime.sleep(3)", "x = 1", "x + 1"]
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": f"cell-{i}",
                     "metadata": {}, "outputs": [], "source": src}
                    for i, src in enumerate(cells)],
          "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                      "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}  # fmt: skip
    notebook = "run-all-dropped.browser.ipynb"
    (jupyterlab.root / notebook).write_text(json.dumps(nb))

    def change_kernel_under_the_queued_cells() -> None:
        _wait(browser, "the cells queued", lambda: "[*]:" in _prompts(browser), timeout=30)
        browser.execute_script(
            "window.jupyterapp.shell.currentWidget.sessionContext.changeKernel({name: 'python3'})"
        )

    try:
        with pytest.warns(UserWarning, match="its queued cells were dropped"):
            _run_all(browser, jupyterlab, notebook, timeout=120,
                     after_first_dispatch=change_kernel_under_the_queued_cells)  # fmt: skip
        assert _prompts(browser) == ["[1]:", "[2]:", "[3]:"]  # each cell once, on one kernel
    finally:
        for session in _api(jupyterlab, "sessions"):
            if session["path"] == notebook:
                _api(jupyterlab, f"kernels/{session['kernel']['id']}", method="DELETE")
