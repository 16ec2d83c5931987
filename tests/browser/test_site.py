"""The course site (``redislab site`` / ``make report``) walked in the browser: the home
page loads, every link resolves, every notebook page has its plots, each with alt text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from redislab.site import build_site

from .conftest import ROOT, SHOTS

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    # one notebook keeps the test short; `make report` builds the same site for all
    build_site([ROOT / "notebooks" / "00-start-here.ipynb"], out, readme=ROOT / "README.md",
               progress=False)  # fmt: skip
    return out


def test_home_links_resolve_and_pages_have_their_plots(browser: Any, site: Path) -> None:
    from selenium.webdriver.common.by import By

    pages = json.loads((site / "site.json").read_text())
    assert pages and not any(p["error"] for p in pages), pages
    # every page counts the claims its notebook recorded (tests/test_site.py: relative --out)
    assert all(0 < p["held"] == p["claims"] for p in pages), pages
    browser.get((site / "index.html").as_uri())
    assert "redislab" in browser.title
    browser.save_screenshot(str(SHOTS / "05-site-home.png"))
    to_visit = [a.get_attribute("href") for a in browser.find_elements(By.TAG_NAME, "a")]
    seen = set()
    while to_visit:
        href = to_visit.pop()
        href = (href or "").split("#")[0]
        if not href.startswith("file:") or href in seen:
            continue
        seen.add(href)
        target = Path(urlparse(href).path)
        assert target.exists(), f"broken link to {target}"
        browser.get(href)
        if "/notebooks/" in href:
            name = target.stem
            want = next(p["images"] for p in pages if p["name"] == name)
            imgs = browser.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output img")
            assert len(imgs) == want > 0, f"{name}: {len(imgs)} plots shown, {want} made"
            alts = [i.get_attribute("alt") or "" for i in imgs]
            assert all(a.startswith("Plot measured in") for a in alts), alts
            assert all(i.get_attribute("naturalWidth") != "0" for i in imgs), "a plot did not load"
            browser.save_screenshot(str(SHOTS / f"06-site-{name}.png"))
            to_visit += [a.get_attribute("href") for a in browser.find_elements(By.TAG_NAME, "a")]
    assert any(s.endswith("claims.html") for s in seen)
    assert sum("/notebooks/" in s for s in seen) == len(pages)
