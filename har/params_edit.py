"""params.yaml edited in place by a preset, as a round-trip document (ruamel.yaml), so every
key the preset leaves alone keeps its comments, order, style and blank lines. The merge rule
is har.presets.apply_rule, passed in (`apply_in_place` has none of its own): this module sets
one key at a time on the document, with the comments that belong to each side."""

from __future__ import annotations

import io
from collections.abc import Callable

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedBase, CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.tokens import CommentToken


def apply_in_place(params_text: str, preset_text: str, rule: Callable) -> str:
    """params.yaml's text with the preset's text applied by `rule` (har.presets.apply_rule),
    comments and layout kept."""
    rt = _round_trip()
    doc = rt.load(params_text)
    empty = CommentedSeq()
    empty.fa.set_flow_style()  # reported: []
    rule(doc, rt.load(preset_text) or CommentedMap(), _replace, CommentedMap(reported=empty))
    out = io.StringIO()
    rt.dump(doc, out)
    return "".join(_wrap_flow(line) for line in out.getvalue().splitlines(True))


# Round-trip editing. ruamel.yaml keeps a comment in its collection's `ca.items[key]`: slot 2
# of a mapping entry (slot 0 of a sequence item) holds the comment at the end of the entry's
# line, followed by the comment and blank lines after it, up to the next key (those
# introduce the next key, though ruamel files them under the previous entry's last leaf);
# slot 3 holds the comment lines between a key and its block value's first entry.


class _Representer(RoundTripRepresenter):
    """Writes None as `null`, as params.yaml spells it (ruamel's round trip writes nothing)."""

    def represent_none(self, data):
        return self.represent_scalar("tag:yaml.org,2002:null", "null")


_Representer.add_representer(type(None), _Representer.represent_none)


def _round_trip() -> YAML:
    rt = YAML()  # round trip
    rt.Representer = _Representer
    rt.indent(mapping=2, sequence=4, offset=2)  # params.yaml's and the presets' layout
    rt.preserve_quotes = True
    # ruamel would break a long flow mapping before a value and leave trailing spaces: it
    # writes each on one line, and _wrap_flow breaks them as the files do.
    rt.width = 4096
    return rt


def _wrap_flow(line: str, width: int = 96) -> str:
    """A line ending in a flow mapping or sequence longer than `width`, broken after the
    collection's top-level commas, continuations aligned after its opening bracket (as
    params.yaml and the presets write them; at 96 columns their wrapped mappings come out as
    they are written). An item too long for any line stays where it is. Lines with a
    comment, and everything else, are returned as they are."""
    if len(line.rstrip("\n")) <= width:
        return line
    body = line.rstrip("\n")
    start, depth, quote, cuts, last = None, 0, None, [], ""
    i = 0
    while i < len(body):
        ch = body[i]
        if quote:
            if quote == '"' and ch == "\\":
                i += 1
            elif ch == quote:
                if quote == "'" and body[i + 1:i + 2] == "'":
                    i += 1
                else:
                    quote = None
        elif ch in "'\"" and last in ("", "{", "[", ",", ":", "-", "?"):
            quote = ch
        elif ch == "#" and body[i - 1:i] in (" ", ""):
            return line  # a comment: left alone
        elif ch in "{[":
            start = i if start is None else start
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0 and body[i + 1:].strip():
                return line  # not the line's last value
        elif ch == "," and depth == 1:
            cuts.append(i + 1)
        if ch != " ":
            last = ch
        i += 1
    if start is None or depth != 0 or quote or not cuts:
        return line
    indent = " " * (start + 1)
    bounds = [0, *cuts, len(body)]
    parts = [body[a:b] for a, b in zip(bounds, bounds[1:])]
    lines, current = [], parts[0]
    for part in parts[1:]:
        item = part.lstrip(" ")
        if len(current) + len(part) > width and (len(indent) + len(item) <= width or len(current) > width):
            lines.append(current)
            current = indent + item
        else:
            current += part
    lines.append(current)
    return "\n".join(lines) + line[len(body):]


def _replace(doc: CommentedMap, preset: CommentedMap, key) -> None:
    """doc[key] = preset[key], with the comments that belong to each side."""
    tail = _tail(doc, key) if key in doc else ""  # introduces doc's next key: stays in place
    eol = _eol(preset, key) or (_eol(doc, key) if key in doc else None)
    doc[key] = value = preset[key]
    slots = doc.ca.items.setdefault(key, [None, None, None, None])
    if _is_block(value):
        slots[2] = eol
        slots[3] = preset.ca.items.get(key, [None] * 4)[3]  # the preset's comment above its entries
        _set_tail(doc, key, tail)
    else:
        text = (eol.value if eol else "\n") + tail
        slots[2] = _token(text, like=eol) if text != "\n" else None
        slots[3] = None
        if isinstance(value, CommentedBase):  # a flow collection: its comment is the slot's
            value.ca.comment = None
            value.ca.end = []


def _is_block(value) -> bool:
    return isinstance(value, (CommentedMap, CommentedSeq)) and len(value) > 0 and not value.fa.flow_style()


def _slot(collection) -> int:
    return 2 if isinstance(collection, CommentedMap) else 0


def _eol(collection, key) -> CommentToken | None:
    """The comment at the end of the entry's first line (its text only, up to the newline)."""
    token = collection.ca.items.get(key, [None] * 4)[_slot(collection)]
    if token is None or not token.value.startswith("#"):
        return None
    return _token(token.value.partition("\n")[0] + "\n", like=token)


def _path(collection, key) -> list:
    """The (collection, key) pairs down to the entry whose line ends collection[key]."""
    path = [(collection, key)]
    while _is_block(collection[key]):
        collection = collection[key]
        key = next(reversed(collection)) if isinstance(collection, CommentedMap) else len(collection) - 1
        path.append((collection, key))
    return path


def _tail(collection, key) -> str:
    """The comment and blank lines after collection[key], up to the next key."""
    tail = ""
    for c, k in _path(collection, key):
        if isinstance(c[k], CommentedBase):  # comments at the end of the document
            tail += "".join(_indented(t) for t in c[k].ca.end)
    c, k = _path(collection, key)[-1]
    token = c.ca.items.get(k, [None] * 4)[_slot(c)]
    return (token.value.partition("\n")[2] if token else "") + tail


def _set_tail(collection, key, tail: str) -> None:
    """Make `tail` the lines after collection[key] (the preset's own ones there are dropped)."""
    path = _path(collection, key)
    for c, k in path:
        if isinstance(c[k], CommentedBase):
            c[k].ca.end = []
    c, k = path[-1]
    slots = c.ca.items.setdefault(k, [None, None, None, None])
    token = slots[_slot(c)]
    first = token.value.partition("\n")[0] if token else ""
    text = first + "\n" + tail
    slots[_slot(c)] = _token(text, like=token) if text != "\n" else None


def _indented(token: CommentToken) -> str:
    value = token.value
    return " " * token.column + value if value.startswith("#") else value


def _token(text: str, like: CommentToken | None) -> CommentToken:
    """A comment token with `text`, in the column of `like` (a comment at a line's end is written there)."""
    return CommentToken(text, CommentMark(like.column if like is not None else 0))
