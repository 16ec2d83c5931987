"""A real JupyterLab, started as ``make lab`` starts it, driven by a real headless Chromium.

Skipped, with the reason, where Selenium, Chromium or its driver cannot be found;
never passed silently. Screenshots of what was checked go to ``build/browser/``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "browser"
BIN = Path(sys.executable).parent


@dataclass
class JupyterLab:
    url: str
    token: str
    root: Path
    home: Path  # REDISLAB_HOME of every kernel: the labs the notebooks start live here

    def page(self, path: str = "lab") -> str:
        return f"{self.url}/{path}?token={self.token}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _chromium() -> tuple[str, str] | None:
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")
                    if shutil.which(b)), None)  # fmt: skip
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def lab_servers(home: Path) -> list[int]:
    """Pids of server processes running in a lab directory under ``home``."""
    pids = []
    for p in psutil.process_iter(["pid", "name"]):
        try:
            if p.cwd().startswith(str(home)) and p.pid != os.getpid():
                pids.append(p.pid)
        except (psutil.Error, OSError):
            continue
    return pids


@pytest.fixture(scope="session")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    root = tmp_path_factory.mktemp("jupyter")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    home = root / "redislab-home"
    token = secrets.token_hex(16)
    port = _free_port()
    # render every cell (JupyterLab 4 windows long notebooks: off-screen cells go stale)
    # and start the notebook's kernel without asking (on a loaded machine JupyterLab may
    # otherwise show "Select Kernel" and wait for a click); no news pop-up over the page
    settings = root / "lab-settings" / "@jupyterlab"
    (settings / "notebook-extension").mkdir(parents=True)
    (settings / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        '{"windowingMode": "none", "autoStartDefaultKernel": true}'
    )
    (settings / "apputils-extension").mkdir(parents=True)
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}'
    )
    # Every run is a first start on a fresh machine (issue 23 failed only then): no Jupyter
    # configuration, data (runtime files, notebook signatures) or IPython profile from an
    # earlier run, and no matplotlib cache, as in a new user's home.
    fresh = {var: str(root / "fresh" / sub) for var, sub in (
        ("JUPYTER_CONFIG_DIR", "jupyter-config"), ("JUPYTER_DATA_DIR", "jupyter-data"),
        ("JUPYTER_RUNTIME_DIR", "jupyter-data/runtime"), ("IPYTHONDIR", "ipython"),
        ("MPLCONFIGDIR", "matplotlib"))}  # fmt: skip
    env = {**os.environ, "REDISLAB_HOME": str(home), "REDISLAB_PROGRESS": "0",
           "JUPYTERLAB_SETTINGS_DIR": str(root / "lab-settings"), **fresh}  # fmt: skip
    env.pop("REDISLAB_CLAIMS_DIR", None)
    # expose_app_in_browser: window.jupyterapp, the hook JupyterLab's own UI tests (galata)
    # use, so the test can ask the notebook's session whether its kernel is ready
    argv = [str(BIN / "jupyter"), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
            f"--ServerApp.token={token}", f"--notebook-dir={root / 'notebooks'}",
            "--ServerApp.open_browser=False", "--LabApp.expose_app_in_browser=True",
            f"--LabApp.workspaces_dir={root / 'workspaces'}"]  # fmt: skip
    if os.geteuid() == 0:
        argv.append("--allow-root")  # as `make lab` does for root
    log = (root / "jupyter.log").open("wb")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"JupyterLab did not start:\n{(root / 'jupyter.log').read_text()}")
            time.sleep(0.2)
    try:
        yield JupyterLab(url=url, token=token, root=root / "notebooks", home=home)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    found = _chromium()
    if found is None:
        pytest.skip("no Chromium and chromedriver found (Debian: apt-get install chromium "
                    "chromium-driver)")  # fmt: skip
    binary, driver_path = found
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1500,1100", "--disable-gpu"):  # fmt: skip
        options.add_argument(arg)
    drv = webdriver.Chrome(service=Service(driver_path), options=options)
    drv.set_page_load_timeout(60)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for stale in SHOTS.glob("failed-*.png"):  # a failure screenshot is of this run only
        stale.unlink()
    try:
        yield drv
    finally:
        drv.quit()
