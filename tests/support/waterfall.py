"""One trace as a waterfall picture (SVG): a row per span, indented under its parent, its bar
placed on the trace's time line, its service told by its colour."""

from __future__ import annotations

from html import escape

from tests.support.otlp import ReceivedSpan

_ROW = 26
_LABEL_WIDTH = 380
_CHART_WIDTH = 520
_INDENT = 16
_TOP = 56
_COLOURS = {"gateway": "#3b6fb6", "order_service": "#2f9e6e", "auth_service": "#c0792c"}
_OTHER_COLOUR = "#777777"


def in_tree_order(spans: list[ReceivedSpan]) -> list[tuple[int, ReceivedSpan]]:
    """(depth, span), each span after its parent and its siblings by start time."""
    children: dict[str | None, list[ReceivedSpan]] = {}
    for span in spans:
        children.setdefault(span.parent_span_id, []).append(span)
    ordered: list[tuple[int, ReceivedSpan]] = []

    def visit(span: ReceivedSpan, depth: int) -> None:
        ordered.append((depth, span))
        for child in sorted(children.get(span.span_id, []), key=lambda s: s.start_ns):
            visit(child, depth + 1)

    for root in sorted((s for s in spans if s.is_root), key=lambda s: s.start_ns):
        visit(root, 0)
    return ordered


def _label(span: ReceivedSpan) -> str:
    statement = span.attributes.get("db.statement")
    if isinstance(statement, str):
        first_line = " ".join(statement.split())
        return first_line if len(first_line) <= 44 else first_line[:43] + "…"
    return span.name


def render_waterfall(spans: list[ReceivedSpan], title: str) -> str:
    """The SVG document of one trace's spans."""
    rows = in_tree_order(spans)
    start = min(span.start_ns for span in spans)
    total_ns = max(max(span.end_ns for span in spans) - start, 1)
    width = _LABEL_WIDTH + _CHART_WIDTH + 90
    height = _TOP + _ROW * len(rows) + 36
    scale = _CHART_WIDTH / total_ns
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="12" y="24" font-size="15" font-weight="bold">{escape(title)}</text>',
        f'<text x="12" y="44" fill="#555555">trace {spans[0].trace_id} · '
        f"{total_ns / 1e6:.1f} ms · {len(spans)} spans</text>",
    ]
    for index, (depth, span) in enumerate(rows):
        y = _TOP + index * _ROW
        colour = _COLOURS.get(span.service, _OTHER_COLOUR)
        x = _LABEL_WIDTH + (span.start_ns - start) * scale
        bar = max((span.end_ns - span.start_ns) * scale, 1.5)
        kind = "" if span.kind == "INTERNAL" else f" [{span.kind.lower()}]"
        label = f"{span.service} · {_label(span)}{kind}"
        if index % 2:
            parts.append(f'<rect x="0" y="{y}" width="{width}" height="{_ROW}" fill="#f5f6f8"/>')
        parts += [
            f'<text x="{12 + depth * _INDENT}" y="{y + 17}">{escape(label)}</text>',
            f'<rect x="{x:.1f}" y="{y + 6}" width="{bar:.1f}" height="{_ROW - 12}"'
            f' rx="2" fill="{colour}"/>',
            f'<text x="{x + bar + 6:.1f}" y="{y + 17}" fill="#555555">'
            f"{(span.end_ns - span.start_ns) / 1e6:.2f} ms</text>",
        ]
    legend_y = height - 14
    for offset, (service, colour) in enumerate(_COLOURS.items()):
        x = 12 + offset * 150
        parts += [
            f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{colour}"/>',
            f'<text x="{x + 18}" y="{legend_y}">{service}</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
