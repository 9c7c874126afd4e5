"""The page's quality tools in a real browser: duplicate groups side by side, ZLaP classify."""

import pytest
from test_serve_browser import ARTIFACTS, browser  # noqa: F401 - the shared browser fixture
from test_serve_curate_zeroshot import build_duplicates_collection

pytestmark = pytest.mark.browser


@pytest.fixture
def dup_server(start_server, tmp_path):
    return start_server([build_duplicates_collection(tmp_path)]), tmp_path / "photos"


def test_duplicate_groups_side_by_side_and_classify(browser, dup_server):  # noqa: F811
    url, photos = dup_server
    pg = browser.new_page(viewport={"width": 1280, "height": 1000})
    problems = []
    pg.on("pageerror", lambda e: problems.append(str(e)))
    pg.goto(url + "/")
    pg.wait_for_selector("#collection option", state="attached")
    pg.click("#quality summary")
    pg.fill("#dup-threshold", "0.9")
    pg.click("#dup-form button")
    pg.wait_for_selector(".dup-group")
    groups = pg.locator(".dup-group")
    assert groups.count() == 2
    for g in range(2):
        items = groups.nth(g).locator(".dup-item")
        assert items.count() == 2 and groups.nth(g).locator(".dup-item.kept").count() == 1
        a, b = items.nth(0).bounding_box(), items.nth(1).bounding_box()
        assert abs(a["y"] - b["y"]) < 1 and b["x"] > a["x"] + a["width"] - 1  # side by side
    pg.wait_for_function("() => [...document.querySelectorAll('.dup-item img')]"
                         ".every((i) => i.complete && i.naturalWidth > 0)")
    pg.fill("#zs-labels", "red circle, blue square, green star")
    pg.set_input_files("#zs-file", str(photos / "2.png"))
    pg.check("#zs-transductive")
    pg.click("#zs-form button")
    pg.wait_for_function("() => document.querySelectorAll('#zs-out li').length === 3 && "
                         "!document.querySelector('#zs-out').textContent.includes('…')")
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "quality-tools.png"), full_page=True)
    assert problems == []
    pg.close()
