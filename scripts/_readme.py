"""The one way the scripts regenerate a README block: replace what lies between two markers."""


def replace_block(readme, start, end, body):
    """Rewrite the file ``readme`` with ``body`` between the lines ``start`` and ``end`` (markers kept)."""
    text = readme.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{readme.name}: the markers {start} / {end} are missing")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{body}\n{end}{tail}")
