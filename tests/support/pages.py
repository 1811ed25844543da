"""What a docs page is allowed, and what it loads: for the tests of every service's `/docs`."""

from __future__ import annotations

from html.parser import HTMLParser

# The policy the docs page is served with, as the README states it.
DOCS_PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class PageParts(HTMLParser):
    """What a page loads (`src`, `href`), and what it carries inline."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.inline_scripts: list[str] = []
        self.inline_styles: list[str] = []
        self.openapi_urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.loads += [value for name in ("src", "href") if (value := attributes.get(name))]
        if "style" in attributes or tag == "style":
            self.inline_styles.append(tag)
        if url := attributes.get("data-openapi-url"):
            self.openapi_urls.append(url)
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


def parts_of(page: str) -> PageParts:
    parts = PageParts()
    parts.feed(page)
    return parts
