"""The page in a real browser: Debian chromium driven by Playwright against a live server.

Screenshots go to test-artifacts/ (gitignored): look at them after a UI change.
"""

from pathlib import Path

import pytest
from serve_helpers import shape_image

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (make browser-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, read_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    problems = []
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: problems.append(str(e)))
    pg.problems = problems
    pg.goto(read_server + "/")
    pg.wait_for_selector("#collection option", state="attached")  # collections load async
    # hash:64 is not semantic, so balancing images against texts reorders by noise: these tests
    # check the page over plain cosine order (test_quality_controls turns it on)
    pg.evaluate("document.getElementById('balance').value = 'off'")
    yield pg
    context.close()


def wait_idle(pg):
    pg.wait_for_selector("#progress", state="hidden")


def test_text_and_image_search(page, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    assert page.locator("#collection option").all_inner_texts() == ["demo (30)"]
    assert "24 images, 6 texts" in page.inner_text("#col-info")
    assert page.is_visible("#empty")

    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("a red circle")
    page.keyboard.press("Enter")
    page.wait_for_selector(".card")
    wait_idle(page)
    cards = page.locator(".card")
    assert cards.count() == 24
    assert "a red circle on a white background" in cards.first.inner_text()
    assert page.is_hidden("#empty") and "24 results (more available)" in page.inner_text("#status")
    page.screenshot(path=str(ARTIFACTS / "serve-ui-text.png"), full_page=False)

    picture = tmp_path / "query.png"
    shape_image("green", "triangle", seed=14).save(picture)
    with page.expect_response(lambda r: r.url.endswith("/search")):
        page.set_input_files("#file", str(picture))
    wait_idle(page)
    assert page.is_visible("#chip-row") and page.inner_text("#chip-label") == "query.png"
    first = cards.first
    assert "a green triangle" in first.inner_text()
    page.wait_for_function("() => document.querySelector('.card img.thumb').complete")
    thumb = first.locator("img.thumb")
    assert thumb.evaluate("img => img.naturalWidth") > 0  # the thumbnail really loaded
    page.screenshot(path=str(ARTIFACTS / "serve-ui-image.png"), full_page=False)

    # load more appends the next page
    page.click("#more")
    wait_idle(page)
    assert cards.count() == 30 and page.is_hidden("#more")
    assert page.problems == []


def test_details_keyboard_and_more_like_this(page):
    page.fill("#q", "a blue square")
    page.press("#q", "Enter")
    page.wait_for_selector(".card")
    wait_idle(page)
    page.locator(".card").first.focus()
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.index") == "1"
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")
    page.wait_for_selector("#details[open]")
    assert page.inner_text("#d-title") == "Text #" + page.inner_text("#d-meta dd >> nth=0")
    page.keyboard.press("Escape")
    page.wait_for_selector("#details", state="hidden")
    assert page.evaluate("document.activeElement.dataset.index") == "0"  # focus came back

    image_card = page.locator(".card", has=page.locator("img.thumb")).first
    image_card.click()
    page.wait_for_selector("#details[open] .d-media img")
    liked = page.inner_text("#d-meta dd >> nth=0")
    page.screenshot(path=str(ARTIFACTS / "serve-ui-details.png"))
    with page.expect_response(lambda r: r.url.endswith("/search")):
        page.keyboard.press("m")
    wait_idle(page)
    assert page.inner_text("#chip-label").startswith(f"like #{liked}")
    ids = [c.get_attribute("aria-label") for c in page.locator(".card").all()]
    assert ids and page.input_value("#q") == ""
    assert "#like=" in page.url or "like=" in page.url
    assert page.problems == []


def test_hybrid_toggle_sends_hybrid(page):
    page.click("#options summary")
    page.check("#hybrid")
    page.fill("#q", "tax law")
    with page.expect_request(lambda r: r.url.endswith("/search")) as req:
        page.press("#q", "Enter")
    assert 'name="hybrid"' in (req.value.post_data or "")
    wait_idle(page)
    assert "tax law" in page.locator(".card").first.inner_text()


def test_error_state_is_visible(page):
    page.click("#options summary")
    page.fill("#where", "year >>= 2")
    page.fill("#q", "circle")
    page.press("#q", "Enter")
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error-msg")  # the API's message, shown as is
    page.click("#error-close")
    assert page.is_hidden("#error")


def test_phone_width(browser, read_server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True)
    pg = context.new_page()
    pg.goto(read_server + "/#q=diamond")
    pg.wait_for_selector(".card")
    wait_idle(pg)
    assert pg.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    boxes = [c.bounding_box() for c in pg.locator(".card").all()[:2]]
    assert boxes[0]["y"] == boxes[1]["y"] and boxes[0]["width"] < 195  # two columns
    pg.screenshot(path=str(ARTIFACTS / "serve-ui-phone.png"))
    context.close()


def test_quality_controls(page):
    page.click("#options summary")
    page.select_option("#balance", "on")
    page.fill("#q", "a red circle")
    with page.expect_response(lambda r: r.url.endswith("/search")) as resp:
        page.press("#q", "Enter")
    assert resp.value.json()["query"]["balance"] == "on"
    page.wait_for_selector(".card")
    wait_idle(page)
    kinds = [t.split("\n")[0] for t in page.locator(".card").all_inner_texts()[:10]]
    assert any("IMAGE" in k for k in kinds)  # plain order puts the caption text first
    # the response to the search that asked for the cut-off (not one still in flight before it)
    with page.expect_response(lambda r: r.url.endswith("/search")
                              and "min_score" in (r.request.post_data or "")) as resp:
        page.check("#min-score")
    assert all("relevance" in h for h in resp.value.json()["results"])
    wait_idle(page)
    status = page.inner_text("#status")
    assert "No good match" in status or "result" in status
    assert not page.problems
