"""README.md and docs/*.md: every relative link resolves, and the README stays a short map.

A link resolves when its file or folder exists (relative to the file that holds the link,
inside the repository) and its `#anchor`, if any, is a heading of the target markdown file,
slugged as GitHub does: lowercase, punctuation but `-` and `_` dropped, each space a `-`,
a repeated slug followed by `-1`, `-2`, ... Links inside code (spans and fenced blocks) are
text, not links. The checker is tested on a tree made for it, so it is known to fail.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAP_HEADING = "Documentation"  # the README section that lists every doc
MAX_README_LINES = 260

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
_REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
_HTML_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:|^//")
_LINE_ANCHOR = re.compile(r"^L\d+(?:-L\d+)?$")


def _lines_outside_fences(text: str):
    """(line number, line) of every line that is not inside a fenced code block."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        opening = _FENCE.match(line)
        if fence is None:
            if opening:
                fence = opening.group(1)
                continue
            yield number, line
        elif opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence) \
                and not line.strip().lstrip(fence[0]):
            fence = None


def headings(text: str) -> list[str]:
    """The text of every ATX (`## x`) and setext (`x` over `---`) heading, in order."""
    found, previous = [], None
    for _, line in _lines_outside_fences(text):
        atx = _ATX.match(line)
        if atx:
            found.append(atx.group(2) or "")
            previous = None
            continue
        if previous is not None and _SETEXT.match(line):
            found.append(previous.strip())
            previous = None
            continue
        plain = line.strip() and not re.match(r"^ {0,3}([-*+>|]|\d+[.)])", line)
        previous = line if plain else None
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading (github-slugger's rule), without the duplicate suffix."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    kept = (c for c in text
            if c in "-_ " or c.isalnum() or unicodedata.category(c).startswith("M"))
    return "".join(kept).replace(" ", "-")


def anchors(text: str) -> list[str]:
    """Every heading's anchor, repeated slugs numbered as GitHub numbers them."""
    seen: dict[str, int] = {}
    result = []
    for heading in headings(text):
        base = anchor = slug(heading)
        while anchor in seen:
            seen[base] += 1
            anchor = f"{base}-{seen[base]}"
        seen[anchor] = 0
        result.append(anchor)
    return result


def links(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every link and image outside code."""
    found = []
    for number, line in _lines_outside_fences(text):
        line = _CODE_SPAN.sub("", line)
        targets = [m.group(1) for m in _INLINE_LINK.finditer(line)]
        targets += [m.group(1) for m in _REF_DEF.finditer(line)]
        targets += [m.group(1) for m in _HTML_LINK.finditer(line)]
        found += [(number, t[1:-1] if t.startswith("<") else t) for t in targets]
    return found


def _is_markdown(path: Path) -> bool:
    return path.suffix.lower() in (".md", ".markdown")


def resolve(source: Path, target: str, root: Path) -> tuple[Path | None, str]:
    """(the file or folder a relative link names, its anchor); (None, "") for a URL."""
    if _SCHEME.match(target):
        return None, ""
    path, _, anchor = target.partition("#")
    path = unquote(path)
    if not path:
        return source, unquote(anchor)
    base = root if path.startswith("/") else source.parent
    return (base / path.lstrip("/")).resolve(), unquote(anchor)


def link_problems(files, root: Path) -> list[str]:
    """One line per broken relative link in the markdown files: the file, line, link, why."""
    root = root.resolve()
    problems, anchor_cache = [], {}
    for source in files:
        source = Path(source).resolve()
        for number, target in links(source.read_text(encoding="utf-8")):
            path, anchor = resolve(source, target, root)
            if path is None:
                continue
            where = f"{source.relative_to(root)}:{number}: ({target})"
            if not path.is_relative_to(root):
                problems.append(f"{where} points outside the repository")
            elif not path.exists():
                problems.append(f"{where} {path.relative_to(root)} does not exist")
            elif anchor and _is_markdown(path) and path.is_file():
                if path not in anchor_cache:
                    anchor_cache[path] = anchors(path.read_text(encoding="utf-8"))
                if anchor not in anchor_cache[path]:
                    problems.append(f"{where} no heading of {path.relative_to(root)} has the "
                                    f"anchor #{anchor}")
            elif anchor and not (path.is_file() and _LINE_ANCHOR.match(anchor)):
                problems.append(f"{where} #{anchor} cannot be checked on a non-markdown target")
    return problems


def section(text: str, title: str) -> str:
    """The lines under the heading `title` (any level) up to the next heading of its level or above."""
    outside = {number for number, _ in _lines_outside_fences(text)}
    kept, inside, level = [], False, 0
    for number, line in enumerate(text.splitlines(), 1):
        atx = _ATX.match(line) if number in outside else None
        if atx and inside and len(atx.group(1)) <= level:
            break
        if inside:
            kept.append(line)
        elif atx and (atx.group(2) or "").strip() == title:
            inside, level = True, len(atx.group(1))
    return "\n".join(kept)


def map_problems(readme: Path, docs: Path, root: Path) -> list[str]:
    """Each docs/*.md that the README's map section does not link to; the map missing."""
    text = readme.read_text(encoding="utf-8")
    if MAP_HEADING not in headings(text):
        return [f"{readme.name} has no '{MAP_HEADING}' section (the map of docs/)"]
    linked = {resolve(readme.resolve(), target, root.resolve())[0]
              for _, target in links(section(text, MAP_HEADING))}
    return [f"{doc.relative_to(root)} is not linked from {readme.name}'s '{MAP_HEADING}' section"
            for doc in sorted(docs.glob("*.md")) if doc.resolve() not in linked]


# The repository's own files.

def test_every_relative_link_in_readme_and_docs_resolves():
    files = [README, *sorted(DOCS.glob("*.md"))]
    assert len(files) > 1, "no docs/*.md"
    assert sum(len(links(f.read_text())) for f in files) > 20  # the links are found at all
    problems = link_problems(files, ROOT)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_every_doc_is_in_the_readme_map():
    problems = map_problems(README, DOCS, ROOT)
    assert not problems, "\n".join(problems)


def test_readme_is_short():
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_README_LINES, (f"README.md has {lines} lines (at most {MAX_README_LINES}): "
                                       f"move a section to docs/ and link it from the map")


# The checker, on a tree made for it.

@pytest.mark.parametrize("heading, expected", [
    ("Reproducibility and data safety", "reproducibility-and-data-safety"),
    ("CI: results regenerated, never typed", "ci-results-regenerated-never-typed"),
    ("Without torch: `har export` and the slim install",
     "without-torch-har-export-and-the-slim-install"),
    ("Your own videos: `folder`", "your-own-videos-folder"),
    ("`td_{scratch}` and snake_case", "td_scratch-and-snake_case"),
    ("Über 95% ± 1 (two-stage)", "über-95--1-two-stage"),
    ("See [the docs](docs/x.md) now", "see-the-docs-now"),
    ("  Trailing hashes  ", "trailing-hashes"),
])
def test_slug_is_githubs(heading, expected):
    assert slug(heading) == expected


def test_repeated_headings_are_numbered_and_code_blocks_have_none():
    text = ("# Setup\n\n## Setup\n\ntext\n\n## Setup-1\n\n### Setup ###\n\n"
            "```bash\n# not a heading\n```\n\nSetext one\n==========\n\n- item\n---\n")
    assert anchors(text) == ["setup", "setup-1", "setup-1-1", "setup-2", "setext-one"]


def _tree(root: Path) -> Path:
    (root / "docs").mkdir(parents=True)
    (root / "har").mkdir()
    (root / "har" / "video.py").write_text("")
    (root / "docs" / "guide.md").write_text(
        "# Guide\n\n## Install it\n\n## Install it\n\n"
        "[ok, other file's anchor](../README.md#usage)\n"
        "[ok, code one level up](../har/video.py) and [ok, line](../har/video.py#L3)\n"
        "[ok, repeated heading](#install-it-1) [ok, folder](../har)\n"
        "[broken, no such file](../har/audio.py)\n"
        "[broken, path as seen from the root](har/video.py)\n"
        "[broken, same-file anchor](#install)\n"
        "[broken, other file's anchor](../README.md#use)\n"
        "[broken, outside](../../elsewhere.md)\n"
        "[broken, anchor on code](../har/video.py#read_frames)\n"
        "![broken image](missing.png)\n"
        "[ref]: ./nothing.md\n"
        "`[in code](nowhere.md)` and https://example.org and [web](https://example.org/x#y)\n"
        "```\n[in a fence](nowhere.md)\n```\n")
    (root / "README.md").write_text(
        "# Project\n\n## Usage\n\n[ok](docs/guide.md#install-it) [ok](#project)\n"
        "[broken](docs/guide.md#install-it-2) [broken](<docs/gui de.md>)\n"
        "<a href=\"docs/absent.md\">broken, html</a>\n\n## Documentation\n\n"
        "- [docs/guide.md](docs/guide.md): the guide\n")
    return root


def test_the_checker_reports_each_broken_link_and_nothing_else(tmp_path):
    root = _tree(tmp_path / "repo")
    problems = link_problems([root / "README.md", root / "docs" / "guide.md"], root)
    reported = {p.split(": (", 1)[1].split(")", 1)[0] for p in problems}
    assert reported == {
        "docs/guide.md#install-it-2", "docs/gui de.md", "docs/absent.md",
        "../har/audio.py", "har/video.py", "#install", "../README.md#use",
        "../../elsewhere.md", "../har/video.py#read_frames", "missing.png", "./nothing.md",
    }, "\n".join(problems)
    assert len(problems) == len(reported)
    assert any(p.startswith("docs/guide.md:12: (#install) no heading of docs/guide.md")
               for p in problems), problems


def test_the_map_check_reports_a_doc_left_out_of_the_map(tmp_path):
    root = _tree(tmp_path / "repo")
    assert map_problems(root / "README.md", root / "docs", root) == []
    (root / "docs" / "orphan.md").write_text("# Orphan\n")
    # Linked from elsewhere in the README, but not from the map: still reported.
    readme = root / "README.md"
    readme.write_text(readme.read_text().replace("## Usage\n", "## Usage\n\n[o](docs/orphan.md)\n"))
    assert map_problems(readme, root / "docs", root) == [
        "docs/orphan.md is not linked from README.md's 'Documentation' section"]
    readme.write_text("# Project\n")
    assert map_problems(readme, root / "docs", root) == [
        "README.md has no 'Documentation' section (the map of docs/)"]
