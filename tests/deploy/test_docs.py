"""Issue 17: docs a newcomer finishes. The README stays short, every relative link in README.md and
docs/*.md leads to a file and heading that exist, and every public name has its entry in docs/api.md.

Markdown only: no network, no server, no import of the package.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import flask_google_signin

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
API = DOCS / "api.md"
MAX_README_WORDS = 2000

# The package's top level after issue 17's re-cut: each needs a heading or an entry in docs/api.md.
# Every name the package exports, and the extension's methods.
PUBLIC_NAMES = [*flask_google_signin.__all__, "init_app", "session_exempt"]

FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# [text](target) and ![alt](target), the target up to whitespace or ")"; an optional "title" after it.
INLINE_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (a link or a heading in a code block is neither)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lowercase, every character that is not a letter,
    a digit, `_`, `-` or a space dropped, spaces turned into `-`."""
    text = CODE_SPAN.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = re.sub(r"[*~]", "", text)  # emphasis; `_` stays, as GitHub keeps it
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor in a file, numbered as GitHub numbers repeated ones (`-1`, `-2`, ...)."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    lines = prose_lines(path.read_text())
    for line in lines:
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        found.update(HTML_ANCHOR.findall(line))
    return found


def links(path: Path) -> list[str]:
    """Every link target in a file's prose, inline code spans left out. A link's text may run over
    two lines, so inline links are looked for in the whole prose at once."""
    lines = prose_lines(path.read_text())
    definitions = [match.group(1) for line in lines if (match := REFERENCE_DEFINITION.match(line))]
    prose = "\n".join(line for line in lines if not REFERENCE_DEFINITION.match(line))
    return INLINE_LINK.findall(CODE_SPAN.sub("", prose)) + definitions


def relative_links() -> list[tuple[Path, str]]:
    """(file, target) for every link that is not to another site or an e-mail address."""
    found = []
    for path in markdown_files():
        for target in links(path):
            if urlsplit(target).scheme or target.startswith("//"):
                continue  # https://..., mailto:..., an absolute address: not ours to check offline
            found.append((path, target))
    return found


def link_id(item: tuple[Path, str]) -> str:
    return f"{item[0].relative_to(ROOT)}->{item[1]}"


# --------------------------------------------------------------------------- the checker itself


def test_slugs_follow_githubs_rules():
    assert slug("Add Google sign-in to your Flask app") == "add-google-sign-in-to-your-flask-app"
    assert slug("Google Calendar: asking for more") == "google-calendar-asking-for-more"
    assert slug("Redis: TLS, Sentinel, Cluster") == "redis-tls-sentinel-cluster"
    assert slug("What `GoogleSignIn(app)` adds to your app") == "what-googlesigninapp-adds-to-your-app"
    assert slug("`__version__`") == "__version__"
    assert slug("The extension's settings") == "the-extensions-settings"
    assert slug("Faster pages (issue 12) — 2026-12-01 21:22–22:19") == "faster-pages-issue-12--2026-12-01-21222219"


def test_links_and_anchors_are_found_outside_code_only(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\nSee [a](other.md#part), ![b](img/x.png) and `[not](a-link.md)`,\n"
                    "[over\ntwo](two.md).\n\n"
                    "```md\n[in code](nowhere.md)\n## Not a heading\n```\n\n## Title\n\n[ref]: defined.md\n")
    assert links(page) == ["other.md#part", "img/x.png", "two.md", "defined.md"]
    assert anchors(page) == {"title", "title-1"}


# --------------------------------------------------------------------------- the documentation


def test_readme_is_under_2000_words():
    words = len(README.read_text().split())  # as `wc -w` counts: runs of non-whitespace
    assert words < MAX_README_WORDS, f"README.md has {words} words; move detail into docs/"


def test_there_are_relative_links_to_check():
    assert len(relative_links()) > 50


@pytest.mark.parametrize("item", relative_links(), ids=link_id)
def test_relative_link_resolves(item):
    path, target = item
    parts = urlsplit(target)
    if parts.path:
        destination = (path.parent / unquote(parts.path)).resolve()
        assert destination.exists(), f"{path.relative_to(ROOT)}: {target} points at no file"
        assert destination.is_relative_to(ROOT), f"{path.relative_to(ROOT)}: {target} leaves the repository"
    else:
        destination = path  # "#part": a heading of this same file
    if parts.fragment:
        where = f"{path.relative_to(ROOT)}: {target}"
        assert destination.suffix == ".md", f"{where}: an anchor in a file that is not Markdown"
        assert unquote(parts.fragment) in anchors(destination), \
            f"{where}: no heading #{parts.fragment} in {destination.relative_to(ROOT)}"


def test_every_file_in_docs_is_linked_from_the_readme():
    targets = {urlsplit(target).path for target in links(README)}
    for path in sorted(DOCS.glob("*.md")):
        assert f"docs/{path.name}" in targets, f"README.md links nowhere to docs/{path.name}"


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_every_public_name_is_in_the_api_reference(name):
    text = API.read_text()
    headings = [match.group(2) for line in prose_lines(text) if (match := HEADING.match(line))]
    in_heading = any(re.search(rf"`{re.escape(name)}[`(]", heading) for heading in headings)
    in_entry = re.search(rf"(def |class |^){re.escape(name)}\b", text, re.MULTILINE) is not None
    assert in_heading or in_entry, f"docs/api.md has no heading or entry for {name}"
