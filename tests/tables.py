"""Read markdown tables back into cells, so tests compare values, not column padding."""


def markdown_rows(text: str) -> list[list[str]]:
    """The cells of every table row in `text` (header rows included, separator rows not)."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not (line.startswith("|") and line.endswith("|")):
            continue
        cells = [c.strip() for c in line[1:-1].split("|")]
        if all(set(c) <= set("-: ") and c for c in cells):
            continue  # |---|:---|
        rows.append(cells)
    return rows
