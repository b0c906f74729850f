"""The gallery page in a real browser (headless Chromium, Playwright) against the project's stack on the
embedded AWS: the page served by the distribution, tokens from the development issuer, uploads through the
HTTP API's presigned POSTs into the real pipeline.

Needs Debian's Chromium (`apt-get install chromium`; another binary with `CHROMIUM=/path`) and the `browser`
extra (`playwright`); skipped, with the reason, without them. `GALLERY_SCREENSHOT=docs/gallery.png` also
writes the README's screenshot there (it always goes to the test's tmp directory).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pipeline.cli import samples
from pipeline.errors import REASONS
from tests.conftest import ROOT

try:
    from playwright.sync_api import Browser, FilePayload, Page, expect, sync_playwright
except ImportError:
    pytest.skip("the `browser` extra (playwright) is not installed", allow_module_level=True)

if TYPE_CHECKING:
    from embedded_aws.stack import DeployedStack, EmbeddedAws

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    pytest.skip(
        f"no Chromium at {CHROMIUM} (apt-get install chromium, or CHROMIUM=/path)", allow_module_level=True
    )

pytestmark = pytest.mark.stack

#: Headless in a container as root, and quiet on a closed network: without the background-networking flags
#: Chromium's own calls home are refused and slow the start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Upload, validation, thumbnails and publish on a loaded 2-core machine.
OUTCOME_MS = 120_000
STACK = "gallery"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def gallery_stack(aws: EmbeddedAws, browser: Browser) -> Iterator[DeployedStack]:
    """The project's template with the upload API, trusting the embedded AWS's development issuer."""
    deployed = aws.deploy(
        ROOT / "template.yaml",
        STACK,
        {"JwtIssuer": aws.oidc_issuer, "DevTokenUrl": f"{aws.oidc_issuer}/token"},
    )
    yield deployed
    aws.delete(STACK)


@pytest.fixture
def page(browser: Browser, gallery_stack: DeployedStack) -> Iterator[Page]:
    """A fresh page (its own session storage) on the gallery; fails the test on any script error."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    opened = context.new_page()
    script_errors: list[str] = []
    opened.on("pageerror", lambda error: script_errors.append(str(error)))
    opened.goto(f"{gallery_stack.outputs['PublicBaseUrl']}/")
    yield opened
    context.close()
    assert not script_errors, f"the page threw: {script_errors}"


def _drop(page: Page, name: str, data: bytes, mime: str) -> None:
    """Drop a file on the drop zone, as a drag from the desktop would."""
    transfer = page.evaluate_handle(
        """([name, b64, mime]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: mime }));
            return transfer;
        }""",
        [name, base64.b64encode(data).decode(), mime],
    )
    page.get_by_test_id("drop-zone").dispatch_event("drop", {"dataTransfer": transfer})


def _sign_in(page: Page, name: str) -> None:
    page.get_by_test_id("sign-in-name").fill(name)
    page.get_by_test_id("sign-in-name").press("Enter")
    expect(page.get_by_test_id("signed-in-as")).to_have_text(name)


def _loaded(page: Page, selector: str) -> None:
    """Wait until every image matching `selector` has loaded pixels (not a broken link)."""
    page.wait_for_function(
        """(selector) => {
            const images = [...document.querySelectorAll(selector)];
            return images.length > 0 && images.every((i) => i.complete && i.naturalWidth > 0);
        }""",
        arg=selector,
        timeout=30_000,
    )


def test_given_a_signed_in_user_when_they_drop_a_photo_then_it_publishes_with_its_versions_on_any_width(
    page: Page, tmp_path: Path
) -> None:
    # Given the gallery, signed in as ada with a development token
    expect(page.get_by_test_id("upload-form")).to_be_hidden()
    _sign_in(page, "ada")

    # When she drops a photo, titles it and uploads it
    _drop(page, "lake.jpg", samples.photo_jpeg(1600, 1200, seed=13, gps=False), "image/jpeg")
    expect(page.get_by_test_id("file-name")).to_contain_text("lake.jpg")
    page.get_by_test_id("upload-title").fill("Lake at dawn")
    page.get_by_test_id("upload-author").fill("Ada")
    page.get_by_test_id("upload-collection").fill("holidays")
    page.get_by_test_id("upload-submit").click()

    # Then the page says it was published, and its card appears with srcset thumbnails that load
    outcome = page.get_by_test_id("outcome-published")
    expect(outcome).to_contain_text("Published “Lake at dawn”, version 1", timeout=OUTCOME_MS)
    expect(page.locator('[data-testid="collection"][data-name="holidays"]')).to_have_attribute(
        "aria-pressed", "true"
    )
    card = page.get_by_test_id("card").filter(has_text="Lake at dawn")
    expect(card.locator("img")).to_have_attribute("srcset", re.compile(r"^\S+ \d+w(, \S+ \d+w)*$"))
    expect(card.get_by_test_id("card-meta")).to_have_text("by Ada · 1 version")
    _loaded(page, '[data-testid="card"] img')
    shot = tmp_path / "gallery.png"
    page.screenshot(path=shot, full_page=True)
    if target := os.environ.get("GALLERY_SCREENSHOT"):
        (ROOT / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, ROOT / target)

    # When she opens it by keyboard
    card.locator("button").focus()
    page.keyboard.press("Enter")

    # Then the dialog shows the large image and its one version with a thumbnail and when it was recorded
    dialog = page.get_by_test_id("item-dialog")
    expect(dialog).to_be_visible()
    expect(page.get_by_test_id("item-title")).to_have_text("Lake at dawn")
    expect(page.get_by_test_id("version")).to_have_count(1)
    expect(page.get_by_test_id("version").locator("time")).to_have_attribute(
        "datetime", re.compile(r"^\d{4}-")
    )
    _loaded(page, '#item-image, [data-testid="version"] img')

    # When she uploads a new version from the dialog through the file picker
    page.get_by_test_id("new-version").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("new-version-of")).to_contain_text("Lake at dawn")
    with page.expect_file_chooser() as chooser:
        page.get_by_test_id("choose-file").click()
    second: FilePayload = {
        "name": "lake-2.jpg",
        "mimeType": "image/jpeg",
        "buffer": samples.photo_jpeg(1200, 900, seed=14),
    }
    chooser.value.set_files(second)
    page.get_by_test_id("upload-submit").click()

    # Then version 2 publishes and the item lists both versions, newest first
    expect(outcome).to_contain_text("version 2", timeout=OUTCOME_MS)
    expect(card.get_by_test_id("card-meta")).to_have_text("by Ada · 2 versions")
    card.locator("button").click()
    expect(page.get_by_test_id("version")).to_have_count(2)
    expect(page.get_by_test_id("version").first).to_have_attribute("data-version", "2")
    _loaded(page, '[data-testid="version"] img')
    page.screenshot(path=tmp_path / "versions.png")

    # And Escape closes the dialog, giving focus back to the card
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(card.locator("button")).to_be_focused()

    # And on a 390 px wide phone the grid has one or two columns and nothing scrolls sideways
    page.set_viewport_size({"width": 390, "height": 844})
    expect(card).to_be_visible()
    page.screenshot(path=tmp_path / "phone.png", full_page=True)
    columns = page.evaluate(
        "getComputedStyle(document.querySelector('[data-testid=grid]')).gridTemplateColumns.split(' ').length"
    )
    assert columns in (1, 2)
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") == 0


def test_given_a_signed_in_user_when_a_file_is_not_an_image_then_the_page_shows_the_refusal(
    page: Page,
) -> None:
    # Given the gallery, signed in
    _sign_in(page, "grace")

    # When she uploads plain text named .jpg
    _drop(page, "notes.jpg", samples.text_named_jpg(), "image/jpeg")
    page.get_by_test_id("upload-title").fill("Not a picture")
    page.get_by_test_id("upload-submit").click()

    # Then the page shows it was refused, with the reason's sentence, and nothing is listed for it
    refused = page.get_by_test_id("outcome-refused")
    expect(refused).to_have_text(f"Refused: {REASONS['unsupported_type']}", timeout=OUTCOME_MS)
    expect(refused).to_have_attribute("data-reason", "unsupported_type")
    expect(page.get_by_test_id("status")).to_contain_text("Refused")
    expect(page.get_by_test_id("card").filter(has_text="Not a picture")).to_have_count(0)
