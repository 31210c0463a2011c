"""End to end in headless Chromium (Playwright, Debian's browser) against a real uvicorn server:
a visitor registers, searches, fills a cart, checks out, follows and cancels the order; another
customer cannot open it; repeated wrong passwords are throttled. Screenshots of every page go
to reports/screenshots/ (test artifacts)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.shop import EMAILS, PASSWORD, LiveServer, ShopIds, copy_store, live_server, make_app

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "reports" / "screenshots"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]

pytestmark = pytest.mark.browser


@pytest.fixture
def server(shop_template: tuple[Path, ShopIds], tmp_path: Path) -> Iterator[LiveServer]:
    template, _ = shop_template
    db = copy_store(template, tmp_path / "e2e.db")
    with live_server(make_app(db)) as running:
        yield running
    db.dispose()


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver"
        if os.environ.get("CI", "").lower() in {"true", "1"}:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        yield launched
        launched.close()


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def watch_console(page, problems: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Collect CSP violations and script errors: pages must run clean under the policy."""
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))


def test_shopper_journey(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    base = server.url
    problems: list[str] = []
    shopper = browser.new_context(viewport={"width": 1280, "height": 900})
    shopper.set_default_timeout(20_000)
    page = shopper.new_page()
    watch_console(page, problems)

    page.goto(base + "/")
    assert page.locator("h1").first.inner_text() == "Everything for the office and the home"
    shot(page, "01-home")

    page.click("text=Register")
    page.fill("#name", "Vera Visitor")
    page.fill("#email", "vera@example.com")
    page.fill("#password", "Sunny-window-7")
    page.fill("#password_confirm", "Sunny-window-7")
    page.click("button:has-text('Create account')")
    page.wait_for_selector("text=Welcome, Vera Visitor!")
    shot(page, "02-registered")

    page.fill("#site-search", "bookcase")
    page.press("#site-search", "Enter")
    page.wait_for_selector("[data-testid=result-count]")
    assert page.inner_text("[data-testid=result-count]") == "2 products"
    shot(page, "03-search")

    page.click("text=Oak Bookcase")
    page.wait_for_selector("text=Availability by location")
    shot(page, "04-product")
    page.click("button:has-text('Add to cart')")
    page.wait_for_selector("text=Added 1 × Oak Bookcase to your cart.")

    page.fill("#site-search", "binders")
    page.press("#site-search", "Enter")
    page.click("text=Ring Binder")
    page.fill("#qty", "2")
    page.click("button:has-text('Add to cart')")
    page.wait_for_selector("[data-testid=cart-count]")
    assert page.inner_text("[data-testid=cart-count]") == "3"

    page.click(".cart-link")
    assert page.inner_text("[data-testid=cart-total]") == "$158.98"
    shot(page, "05-cart")
    page.click("text=Check out")
    page.wait_for_selector("text=Ship from")
    shot(page, "06-checkout")
    page.click("button:has-text('Place order')")
    page.wait_for_selector("[data-testid=order-status]")
    assert page.inner_text("[data-testid=order-status]") == "Pending"
    assert "Thank you! Your order" in page.content()
    order_url = page.url
    shot(page, "07-order")

    page.click("text=Orders")
    assert page.locator(f"a[href='{order_url.removeprefix(base)}']").count() == 1
    shot(page, "08-orders")

    page.goto(order_url)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Cancel order')")
    page.wait_for_selector("text=is cancelled")
    assert page.inner_text("[data-testid=order-status]") == "Cancelled"
    shot(page, "09-cancelled")
    assert problems == [], problems
    shopper.close()

    # Another customer cannot open the first one's order.
    other = browser.new_context()
    other.set_default_timeout(20_000)
    page = other.new_page()
    page.goto(base + "/account/login")
    page.fill("#email", EMAILS["customer_b"])
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("text=Sign out")
    response = page.goto(order_url)
    assert response is not None and response.status == 404
    assert "We could not find that page" in page.content()
    shot(page, "10-other-customers-order")
    other.close()


def test_wrong_passwords_are_throttled_in_the_browser(server: LiveServer, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context()
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto(server.url + "/account/login")
    for attempt in range(6):
        page.fill("#email", EMAILS["customer_a"])
        page.fill("#password", f"Not-the-password-{attempt}")
        with page.expect_navigation():
            page.click("button:has-text('Sign in')")
    message = page.inner_text("[data-testid=login-error]")
    assert "Too many failed sign-ins" in message
    shot(page, "11-throttled")
    context.close()
