"""The workbench in a real browser: an editor changes a pack, another admin reviews and
activates it, a reader can only look; axe-core checks every page on the way.

Each step asserts what is on the page (texts, marks, controls), not only that it loaded.
Screenshots at 1280x800 go to build/screenshots/.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from browserkit import AXE, SHOTS, Site

PACK = "amazon-seller-performance"
MISSPELT = ("{metric: order_defect_rate, gte: 1%}", "{metric: order_defect_rat, gte: 1%}")
STRICTER = (
    "{metric: late_shipment_rate_30d, gte: 4%}",
    "{metric: late_shipment_rate_30d, gte: 3%}",
)
CURRENT = "2026.12.1"  # the shipped amazon pack
NEW_VERSION = (f"version: {CURRENT}", "version: 2099.1.0")

pytestmark = pytest.mark.slow


class Person:
    """One browser context (its own cookies): sign in, visit, check, screenshot."""

    def __init__(self, browser: Any, site: Site, axe: str, who: str) -> None:
        from playwright.sync_api import expect  # noqa: PLC0415 - only these tests

        self.expect = expect
        self.site, self.axe, self.who = site, axe, who
        self.context = browser.new_context(viewport={"width": 1280, "height": 800})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.goto(f"{site.url}/packs")
        self.expect(self.page).to_have_url(re.compile(r"/signin\?next=/packs$"))
        self.check("signin")
        self.page.fill("#key", site.keys[who])
        self.page.click("button[type=submit]")
        self.expect(self.page).to_have_url(f"{site.url}/packs")
        self.expect(self.page.locator(".role")).to_have_text(who)

    def check(self, name: str) -> None:
        """No script error, no serious or critical accessibility violation; a screenshot."""
        assert self.errors == [], self.errors
        self.page.evaluate(self.axe)
        violations = self.page.evaluate(
            """async () => {
                const result = await axe.run(document, {resultTypes: ["violations"]});
                return result.violations
                    .filter(v => v.impact === "serious" || v.impact === "critical")
                    .map(v => `${v.id} (${v.impact}): ${v.help}: ` +
                              v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", "));
            }"""
        )
        assert violations == [], f"{name}: {violations}"
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"))

    def editor_text(self, old: str, new: str) -> None:
        """Replace ``old`` by ``new`` in the editor, as typing would (the change event fires)."""
        script = (
            "([a, b]) => { const e = ace.edit('editor');"
            " e.setValue(e.getValue().replace(a, b), -1); }"
        )
        self.page.evaluate(script, [old, new])

    def close(self) -> None:
        """Close the browser context."""
        self.context.close()


def test_edit_review_approve_activate(browser: Any, site: Site, axe_source: str) -> None:
    assert AXE.exists()
    editor = Person(browser, site, axe_source, "editor")
    page, expect = editor.page, editor.expect
    editor.check("packs")

    # the pack as people read it
    page.click(f"a[href='/packs/{PACK}/versions/{CURRENT}']")
    expect(page.locator("h1")).to_have_text("Amazon seller performance (current published targets)")
    rule = page.locator("#rule-odr-over-target")
    expect(rule).to_contain_text("order_defect_rate >= 1%")
    expect(rule).to_contain_text("Minimum orders")
    ladder = page.locator("#rule-cancel-rate-over-target table.ladder")
    expect(ladder).to_contain_text("2nd firing")
    editor.check("pack")

    # edit a copy: a misspelt metric is shown at its line, with the suggestion
    page.click("text=Edit a copy")
    expect(page.locator("#check-state")).to_contain_text("valid: amazon-seller-performance")
    editor.editor_text(*MISSPELT)
    expect(page.locator("#check-state")).to_contain_text("error")
    problem = page.locator("#problems li.error")
    expect(problem).to_contain_text("'order_defect_rat' is not a metric use of this pack")
    expect(problem).to_contain_text("did you mean 'order_defect_rate'?")
    line = int(problem.locator("a").get_attribute("data-line") or "0")
    text = page.evaluate("() => ace.edit('editor').getValue()")
    assert "order_defect_rat," in text.splitlines()[line - 1]
    problem.locator("a").click()  # the editor goes to the line, marked in its gutter
    expect(page.locator(".ace_gutter-cell.ace_error")).to_have_count(1)
    expect(page.locator(".ace_gutter-cell.ace_error")).to_contain_text(str(line))
    editor.check("editor-error")

    # fix it, make the change, run the fixtures, save a draft
    editor.editor_text(MISSPELT[1], MISSPELT[0])
    editor.editor_text(*STRICTER)
    editor.editor_text(*NEW_VERSION)
    expect(page.locator("#check-state")).to_contain_text(
        "valid: amazon-seller-performance 2099.1.0"
    )
    expect(page.locator("#problems li.error")).to_have_count(0)
    page.click("#run-fixtures")
    expect(page.locator("#fixtures p")).to_contain_text(re.compile(r"\d+ of \d+ cases passed"))
    expect(page.locator("#fixtures td.failed").first).to_contain_text("expected")
    editor.check("editor-fixtures")
    page.click("#save")
    expect(page).to_have_url(f"{site.url}/packs/{PACK}/versions/2099.1.0")
    expect(page.locator(".lead .state")).to_have_text("draft")
    expect(page.locator("#rule-late-shipment-30d")).to_contain_text("late_shipment_rate_30d >= 3%")
    editor.close()

    # another admin reviews: the diff, the impact, a histogram, the fixtures; approves, activates
    admin = Person(browser, site, axe_source, "admin")
    page = admin.page
    page.click(f"a[href='/packs/{PACK}/versions/2099.1.0/review']")
    expect(
        page.locator("text=late_shipment_rate_30d >= 4% -> late_shipment_rate_30d >= 3%")
    ).to_be_visible()
    matrix = page.locator("table.matrix")
    expect(matrix).to_be_visible(timeout=60_000)  # the page refreshes until the replay is done
    cells = [int(c.replace(",", "")) for c in matrix.locator("td").all_inner_texts()]
    replayed = page.locator(
        "text=/The latest decision of each of the [0-9,]+ sellers/"
    ).inner_text()
    sellers = int(re.search(r"each of the ([0-9,]+) sellers", replayed).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert sum(cells) == sellers > 500  # every seller decided in the store, in one cell
    assert sum(cells[i] for i in (3, 6, 7)) == 0  # a stricter pack improves nobody
    expect(
        page.locator("text=/[1-9][0-9,]* sellers' status or enforced actions change/")
    ).to_be_visible()
    histogram = page.locator(
        "img[alt='Distribution of late_shipment_rate_30d with the old and new thresholds']"
    )
    expect(histogram).to_be_visible()
    assert histogram.evaluate("img => img.naturalWidth") > 300
    expect(page.locator("img[alt^='Sellers late-shipment-30d fires on']")).to_be_visible()
    expect(page.locator("#fixture-summary")).to_contain_text("fixture cases pass")
    changed = page.locator("table.changed tbody th a").first.inner_text()
    expect(page.locator("#activate")).to_be_disabled()
    admin.check("review")
    page.fill("#comment", "Stricter 30-day late shipment target, reviewed with ops")
    page.click("#approve")
    expect(page.locator("p.ok")).to_have_text("Done: approved.")
    expect(
        page.locator("text=Stricter 30-day late shipment target, reviewed with ops")
    ).to_be_visible()
    expect(page.locator("#activate")).to_be_enabled()
    page.click("#activate")
    expect(page.locator("p.ok")).to_have_text("Done: activated.")
    expect(page.locator(".lead .state")).to_have_text("active")
    admin.check("review-activated")

    # a seller whose decision changes, evaluated under the new version a week later
    auth = {"Authorization": f"Bearer {site.keys['admin']}"}
    stored = page.request.get(
        f"{site.url}/v1/sellers/{changed}/decisions?pack={PACK}&limit=1", headers=auth
    ).json()["decisions"][0]
    facts = {k: v for k, v in stored["decision"]["facts"].items() if v is not None}
    body = {"pack": f"{PACK}@2099.1.0", "as_of": "2026-11-08",
            "sellers": [{"seller_id": changed, "facts": facts}]}  # fmt: skip
    answer = page.request.post(f"{site.url}/v1/evaluations", data=body, headers=auth)
    assert answer.status == 200, answer.text()
    new_status = answer.json()["decisions"][0]["status"]
    page.goto(f"{site.url}/sellers")
    page.fill("input[type=search]", changed)
    page.keyboard.press("Enter")
    expect(page.locator(f"a[href='/sellers/{changed}']")).to_be_visible()
    admin.check("sellers")
    page.click(f"a[href='/sellers/{changed}']")
    expect(page.locator("h1")).to_have_text(f"Seller {changed}")
    card = page.locator("section.card", has=page.locator(f"h2:has-text('{PACK}')")).first
    expect(card.locator("h2 .status")).to_have_text(new_status)
    expect(card).to_contain_text("as of 2026-11-08 with version 2099.1.0")
    timeline = card.locator("table", has=page.locator("caption", has_text="by as_of date"))
    expect(timeline.locator("tbody tr")).to_have_count(2)
    expect(timeline.locator("tbody tr").first).to_contain_text("2026-11-08")
    expect(timeline.locator("tbody tr").nth(1)).to_contain_text(CURRENT)
    admin.check("seller")
    page.goto(f"{site.url}/decisions")
    expect(page.locator("h1")).to_contain_text("Decisions")
    admin.check("decisions")
    admin.close()


def test_a_reader_only_looks_and_forged_requests_are_refused(
    browser: Any, site: Site, axe_source: str
) -> None:
    reader = Person(browser, site, axe_source, "reader")
    page, expect = reader.page, reader.expect
    expect(page.locator("text=Edit a copy")).to_have_count(0)
    page.goto(f"{site.url}/packs/{PACK}/versions/{CURRENT}")
    expect(page.locator("text=Edit a copy")).to_have_count(0)
    page.goto(f"{site.url}/packs/aliexpress-service-score/versions/2026.12.1")
    expect(page.locator(".card").first).to_contain_text(
        "Graded on the mean of its daily scores over 1 calendar month (facts: service_score)"
    )
    reader.check("pack-daily-score")
    page.goto(f"{site.url}/packs/{PACK}/edit")
    expect(page.locator("h1")).to_have_text("Not possible")
    expect(page.locator(".error")).to_contain_text("needs the editor role")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    target = f"{site.url}/packs/{PACK}/versions/2026.11.0/approve"
    forged = page.request.post(target, form={"comment": "x", "csrf": csrf or ""})
    assert forged.status == 403
    assert "needs the admin role" in forged.text()
    reader.check("forbidden")
    reader.close()

    admin = Person(browser, site, axe_source, "admin")
    no_token = admin.page.request.post(target, form={"comment": "x"})
    assert no_token.status == 403
    cross = admin.page.request.post(
        target,
        form={
            "comment": "x",
            "csrf": admin.page.locator("input[name=csrf]").first.get_attribute("value") or "",
        },
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status == 403
    assert "another site" in cross.text()
    admin.close()
