"""The page's quality tools in a real browser: duplicate groups side by side (listed, then
marked), ZLaP classify, the quality state, and building the query bank and calibrating."""

import pytest
from test_serve_browser import ARTIFACTS, browser, page  # noqa: F401 - the shared fixtures
from test_serve_curate_zeroshot import build_duplicates_collection

from jointspace.query import Collection

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


def test_read_only_page_shows_the_quality_state_and_disables_writes(page):  # noqa: F811
    gap = page.evaluate("fetch('/api/collections').then((r) => r.json())")["collections"][0][
        "modality_gap"]
    assert f"modality gap {gap:.3f}" in page.inner_text("#col-info")
    page.click("#quality summary")
    state = page.inner_text("#qs-state")
    assert "Query bank: none" in state and "not calibrated yet" in state
    for button in ("#bank-build", "#cal-run", "#dup-mark"):
        assert page.is_disabled(button), button
    assert "read-only" in page.get_attribute("#bank-build", "title")
    assert page.problems == []


@pytest.fixture
def admin_page(browser, start_server, writable_collection, tmp_path, tokens):  # noqa: F811
    """The page as an admin over two writable collections: shapes (captioned) and dups."""
    (tmp_path / "dups").mkdir()
    dups = build_duplicates_collection(tmp_path / "dups")
    url = start_server([f"shapes={writable_collection}", f"dups={dups}"],
                       tokens_file=tokens["file"])
    pg = browser.new_page(viewport={"width": 1280, "height": 1000})
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.goto(url + "/")
    pg.wait_for_selector("#token-box:not([hidden])")  # 401: the page asks for a token
    pg.fill("#token", tokens["admin"])
    pg.press("#token", "Enter")
    pg.wait_for_selector("#collection option", state="attached")
    yield pg, dups
    pg.close()


def test_admin_builds_the_bank_calibrates_and_marks_duplicates(admin_page):
    pg, dups = admin_page
    pg.click("#quality summary")
    pg.wait_for_selector("#bank-build:enabled")
    with pg.expect_response(lambda r: r.url.endswith("/bank")) as resp:
        pg.click("#bank-build")
    assert resp.value.json()["source"] == "captions"
    pg.wait_for_function("() => document.querySelector('#qs-state').textContent"
                         ".includes('30 text queries')")
    assert "Query bank: 30 queries" in pg.inner_text("#bank-out")
    pg.fill("#bank-texts", "a purple kite\n\n tax forms ")
    pg.check("#bank-append")
    with pg.expect_response(lambda r: r.url.endswith("/bank")) as resp:
        pg.click("#bank-build")
    assert resp.value.request.post_data_json == {"texts": ["a purple kite", "tax forms"],
                                                  "append": True}
    pg.wait_for_function("() => document.querySelector('#qs-state').textContent"
                         ".includes('32 text queries')")
    pg.fill("#cal-miss", "0.1")
    with pg.expect_response(lambda r: r.url.endswith("/calibrate")) as resp:
        pg.click("#cal-run")
    assert resp.value.ok and resp.value.request.post_data_json == {"miss": 0.1}
    pg.wait_for_function("() => document.querySelector('#qs-state').textContent"
                         ".includes('cut-offs image')")
    assert "Calibrated on 30 items (miss 0.1)" in pg.inner_text("#bank-out")

    pg.click("#options summary")  # the bank now serves Hubness searches
    pg.select_option("#hubness", "qbnorm")
    pg.fill("#q", "a red circle")
    with pg.expect_response(lambda r: r.url.endswith("/search")) as resp:
        pg.press("#q", "Enter")
    assert resp.value.status == 200 and resp.value.json()["query"]["hubness"] == "qbnorm"
    pg.fill("#q", "")

    pg.select_option("#collection", "dups")
    pg.wait_for_function("() => document.querySelector('#col-info').textContent"
                         ".startsWith('5 images')")
    assert pg.inner_text("#bank-out") == ""  # the other collection's result is gone
    pg.fill("#dup-threshold", "0.9")
    pg.select_option("#dup-keep", "first")
    assert pg.is_disabled("#dup-mark")  # nothing listed yet
    with pg.expect_response(lambda r: "/duplicates?" in r.url) as resp:
        pg.click("#dup-form button[type=submit]")
    assert "keep=first" in resp.value.url and resp.value.json()["keep_rule"] == "first"
    pg.wait_for_selector("#dup-mark:enabled")
    kept = resp.value.json()["groups"]
    assert all(g["keep"] == min(g["ids"]) for g in kept)  # first: the lowest id
    with pg.expect_response(lambda r: r.url.endswith("/duplicates")
                            and r.request.method == "POST") as resp:
        pg.click("#dup-mark")
    assert resp.value.json()["marked"] == 2
    pg.wait_for_function("() => document.querySelector('#dup-summary').textContent"
                         ".startsWith('Marked 2 item(s)')")
    assert pg.is_disabled("#dup-mark")  # list again before marking again
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "quality-bank-duplicates.png"), full_page=True)
    with Collection.open(dups, readonly=True) as col:
        marked = [i for g in kept for i in g["ids"]
                  if col.get(i).metadata.get("duplicate_of") == g["keep"]]
    assert len(marked) == 2 and pg.errors == []
