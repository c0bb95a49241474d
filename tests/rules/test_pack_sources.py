"""Every rule of every shipped pack is sourced, or marked unconfirmed (issue 17).

The convention, checked here on the packs and their READMEs:

- In ``pack.yaml`` every rule and every score has a ``source`` with a ``url``.
- A rule or score is **unconfirmed** when its ``source.note`` starts with
  ``UNCONFIRMED:`` (the rest says why). A score grade with ``confirmed: false``
  carries a ``note``.
- The pack's ``README.md`` has a top-level bullet (``- `` at the start of a
  line, continued by indented lines) naming the rule id in backticks:

  - for a sourced rule, that bullet holds the rule's ``source.url`` and at
    least one quoted passage of four words or more (``"..."`` or curly
    quotes), copied exactly from the page;
  - for an unconfirmed rule, the bullet says ``unconfirmed`` and what was
    ``searched``; a README that calls a rule ``**unconfirmed`` while the pack
    does not mark it is an error too.

- Every URL under ``metadata.sources`` appears in the README too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from sellerpolicy.rules import CompiledPack, load_pack, shipped_packs
from sellerpolicy.rules.model import SourceRef

UNCONFIRMED = "UNCONFIRMED:"
_QUOTE = re.compile(r"\"([^\"]+)\"|\u201c([^\u201d]+)\u201d")
_QUOTE_WORDS = 4


@dataclass(frozen=True)
class Cited:
    """A rule or a score: what the README must account for."""

    id: str
    source: SourceRef | None


def is_unconfirmed(source: SourceRef | None) -> bool:
    """True when the pack marks this source unconfirmed (``note: "UNCONFIRMED: ..."``)."""
    return source is not None and (source.note or "").startswith(UNCONFIRMED)


def readme_bullets(text: str) -> list[str]:
    """Top-level bullets of a Markdown text, each joined into one line."""
    bullets: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("- "):
            current = [line[2:].strip()]
            bullets.append("")
        elif current is not None and line[:1].isspace() and line.strip():
            current.append(line.strip())
        else:
            current = None
            continue
        bullets[-1] = " ".join(current)
    return bullets


def mentions(text: str, url: str) -> bool:
    """True when ``url`` appears in ``text`` as a whole address (not as a prefix of one)."""
    return re.search(re.escape(url) + r"(?![^\s>)\]])", text) is not None


def quotes(bullet: str) -> list[str]:
    """The quoted passages of a bullet of four words or more."""
    found = (a or b for a, b in _QUOTE.findall(bullet))
    return [q for q in found if len(q.split()) >= _QUOTE_WORDS]


def cited_items(pack: CompiledPack) -> list[Cited]:
    """Every rule and every score of ``pack``."""
    return [Cited(r.id, r.source) for r in pack.rules] + [
        Cited(s.id, s.source) for s in pack.scores
    ]


def source_problems(pack: CompiledPack, readme: str) -> list[str]:
    """What keeps ``pack`` and its README from following the convention (empty: none)."""
    problems: list[str] = []
    bullets = readme_bullets(readme)
    for item in cited_items(pack):
        if item.source is None:
            problems.append(f"{item.id}: no source in the pack")
            continue
        naming = [b for b in bullets if f"`{item.id}`" in b]
        if is_unconfirmed(item.source):
            if not any("unconfirmed" in b.lower() and "searched" in b.lower() for b in naming):
                problems.append(
                    f"{item.id}: unconfirmed, but no README bullet naming it says"
                    " 'unconfirmed' and what was 'searched'"
                )
            continue
        if any("**unconfirmed" in b.lower() for b in naming):
            problems.append(
                f"{item.id}: the README calls it **unconfirmed** but its source.note"
                f" does not start with {UNCONFIRMED!r}"
            )
        if not any(mentions(b, item.source.url) and quotes(b) for b in naming):
            problems.append(
                f"{item.id}: no README bullet naming it with its source url"
                f" ({item.source.url}) and a quoted passage"
            )
    for score in pack.scores:
        problems.extend(
            f"{score.id}: grade {g.grade} is unconfirmed without a note"
            for g in score.grades
            if not g.confirmed and not (g.note or "").strip()
        )
    problems.extend(
        f"metadata source {s.url} is not in the README"
        for s in pack.sources
        if not mentions(readme, s.url)
    )
    return problems


@pytest.mark.parametrize("path", shipped_packs(), ids=lambda p: p.parent.name)
def test_every_rule_is_sourced_or_unconfirmed(path: Path) -> None:
    pack = load_pack(path)
    readme = (path.parent / "README.md").read_text(encoding="utf-8")
    assert source_problems(pack, readme) == []


def test_every_shipped_pack_is_checked() -> None:
    names = {p.parent.name for p in shipped_packs()}
    assert names >= {"amazon", "amazon-2015", "ebay", "walmart", "aliexpress"}
    assert all((p.parent / "README.md").is_file() for p in shipped_packs())


# ---------------------------------------------------------------------------
# The checker itself fails where it should: a small pack and README, broken.

_URL = "https://example.com/policy/odr"
_PACK = """\
apiVersion: sellerpolicy/v1
kind: PolicyPack
metadata:
  id: small-pack
  title: Small pack
  marketplace: example
  version: "1"
  effective_from: 2026-01-01
  sources:
    - {url: https://example.com/policy, checked: 2026-11-01}
spec:
  metrics:
    - metric: order_defect_rate
      window: 60d
  rules:
    - id: odr-high
      title: ODR high
      when: {metric: order_defect_rate, gte: 1%}
      actions: [warn]
      severity: high
      explanation: ODR {value:.2%}.
SOURCE
  status:
    warn: at_risk
"""
_SOURCE = f"      source: {{url: {_URL}, checked: 2026-12-01}}\n"
_UNCONFIRMED = f'      source: {{url: {_URL}, checked: 2026-12-01, note: "UNCONFIRMED: no page"}}\n'
_SOURCED_README = f"""\
# small-pack

Program page: <https://example.com/policy>.

- `odr-high`: ODR page, <{_URL}>:
  "Maintain an ODR under 1% to keep selling." (checked 2026-12-01)
"""


def _pack(tmp_path: Path, source: str) -> CompiledPack:
    path = tmp_path / "pack.yaml"
    path.write_text(_PACK.replace("SOURCE\n", source), encoding="utf-8")
    return load_pack(path)


def test_a_sourced_rule_passes(tmp_path: Path) -> None:
    assert source_problems(_pack(tmp_path, _SOURCE), _SOURCED_README) == []


def test_a_rule_without_source_fails(tmp_path: Path) -> None:
    assert source_problems(_pack(tmp_path, ""), _SOURCED_README) == [
        "odr-high: no source in the pack"
    ]


@pytest.mark.parametrize(
    "readme",
    [
        _SOURCED_README.replace('"Maintain an ODR under 1% to keep selling."', "under 1%"),
        _SOURCED_README.replace('"Maintain an ODR under 1% to keep selling."', '"under 1%"'),
        _SOURCED_README.replace(f"<{_URL}>", "<https://example.com/other>"),
        _SOURCED_README.replace("`odr-high`", "ODR"),
        _SOURCED_README.replace("\n  ", "\n\n"),  # the quote is no longer in the bullet
    ],
    ids=["no-quote", "quote-too-short", "other-url", "rule-not-named", "quote-outside"],
)
def test_a_sourced_rule_without_url_and_quote_in_its_bullet_fails(
    tmp_path: Path, readme: str
) -> None:
    found = source_problems(_pack(tmp_path, _SOURCE), readme)
    assert found == [
        f"odr-high: no README bullet naming it with its source url ({_URL}) and a quoted passage"
    ]


def test_an_unconfirmed_rule_must_say_what_was_searched(tmp_path: Path) -> None:
    pack = _pack(tmp_path, _UNCONFIRMED)
    assert is_unconfirmed(pack.rules[0].source)
    ok = _SOURCED_README + "- `odr-high`: **unconfirmed.** Searched: the help pages for 'ODR'.\n"
    assert source_problems(pack, ok) == []
    found = source_problems(pack, _SOURCED_README)
    assert found == [
        "odr-high: unconfirmed, but no README bullet naming it says 'unconfirmed'"
        " and what was 'searched'"
    ]


def test_a_readme_calling_a_confirmed_rule_unconfirmed_fails(tmp_path: Path) -> None:
    readme = _SOURCED_README.replace("ODR page,", "**unconfirmed.** ODR page,")
    found = source_problems(_pack(tmp_path, _SOURCE), readme)
    assert found == [
        "odr-high: the README calls it **unconfirmed** but its source.note"
        " does not start with 'UNCONFIRMED:'"
    ]


def test_a_metadata_source_missing_from_the_readme_fails(tmp_path: Path) -> None:
    readme = _SOURCED_README.replace("<https://example.com/policy>", "the program page")
    found = source_problems(_pack(tmp_path, _SOURCE), readme)
    assert found == ["metadata source https://example.com/policy is not in the README"]


def test_readme_bullets_join_continuation_lines() -> None:
    text = 'intro\n- a `x`\n  "b c d e"\n- second\n\n  not a continuation\ntext\n'
    assert readme_bullets(text) == ['a `x` "b c d e"', "second"]
