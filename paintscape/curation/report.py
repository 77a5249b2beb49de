"""The files ``paintscape curate`` writes: subset lists, findings.json, contact_sheet.png, removed.html."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from paintscape.curation.measure import load_pair
from paintscape.data.contact_sheet import contact_sheet
from paintscape.io_atomic import atomic_save_image, atomic_write_text
from paintscape.labels import colorize

THUMBNAIL_SIZE = (96, 128)  # (height, width) of the pictures in removed.html and the contact sheet


def write_subset(path: Path, names: list[str], header: str) -> None:
    lines = [f"# {line}" for line in header.splitlines()] + list(names)
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_findings(path: Path, findings: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(findings, indent=1, sort_keys=False) + "\n")


def _reason_tile(reasons: list[str], name: str, size: tuple[int, int]) -> np.ndarray:
    """A white tile with the name and the reasons written on it, wrapped to the tile width."""
    H, W = size
    tile = Image.new("RGB", (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(tile)
    font = ImageFont.load_default()
    chars = max(8, W // 6)
    lines = [name]
    for reason in reasons:
        words, line = reason.split(), ""
        for word in words:
            if len(line) + len(word) + 1 > chars:
                lines.append(line)
                line = "  " + word
            else:
                line = f"{line} {word}".strip() if not line.startswith("  ") else f"{line} {word}"
        lines.append(line)
    for i, line in enumerate(lines[: H // 11]):
        draw.text((3, 2 + 11 * i), line, fill=(160, 0, 0) if i else (0, 0, 0), font=font)
    return np.asarray(tile)


def pick_for_sheet(removed: list[tuple[str, list[str]]], limit: int) -> list[tuple[str, list[str]]]:
    """Up to ``limit`` removed pairs, taken round-robin over their first flag so every kind shows."""
    by_flag: dict[str, list[tuple[str, list[str]]]] = {}
    for name, flags in removed:
        by_flag.setdefault(flags[0] if flags else "", []).append((name, flags))
    picked: list[tuple[str, list[str]]] = []
    queues = list(by_flag.values())
    while len(picked) < limit and any(queues):
        for queue in queues:
            if queue and len(picked) < limit:
                picked.append(queue.pop(0))
    return picked


def _data_uri(array: np.ndarray, fmt: str) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **({"quality": 80} if fmt == "JPEG" else {}))
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def write_removed_report(
    out_dir: Path,
    root: Path,
    removed: list[dict[str, Any]],
    sheet_rows: int,
    tile_width: int,
    max_html_pictures: int = 3000,
) -> None:
    """``contact_sheet.png`` (label | photo | reason, a sample) and ``removed.html`` (every removed pair).

    ``removed`` items: ``{"name", "flags", "reasons", "selection"}`` where selection is ``"I"`` (removed
    from both subsets) or ``"II"`` (only from Selection II).
    """
    pictures: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def picture(name: str) -> tuple[np.ndarray, np.ndarray] | None:
        if name not in pictures:
            try:
                photo, label = load_pair(root, name, THUMBNAIL_SIZE, check_sizes=False)  # show a mismatched pair too
            except (OSError, ValueError):
                return None
            pictures[name] = (colorize(label), photo)
        return pictures[name]

    chosen = pick_for_sheet([(r["name"], r["flags"]) for r in removed], sheet_rows)
    reasons_of = {r["name"]: r["reasons"] for r in removed}
    rows = []
    for name, _ in chosen:
        pair = picture(name)
        blank = np.full((*THUMBNAIL_SIZE, 3), 200, np.uint8)
        label, photo = pair if pair is not None else (blank, blank)
        rows.append([label, photo, _reason_tile(reasons_of[name], name, THUMBNAIL_SIZE)])
    if rows:
        atomic_save_image(
            out_dir / "contact_sheet.png", contact_sheet(rows, ["label", "photo", "reason"], tile_width=tile_width)
        )
    else:
        atomic_save_image(out_dir / "contact_sheet.png", Image.new("RGB", (tile_width, 16), (255, 255, 255)))

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>paintscape curate: removed pairs</title>",
        "<style>body{font-family:sans-serif}td{vertical-align:top;padding:2px 6px}"
        "tr:nth-child(even){background:#f4f4f4}img{image-rendering:pixelated}</style></head><body>",
        f"<h1>Removed pairs ({len(removed)})</h1><p>Dataset: {html.escape(str(root))}. "
        "Selection I drops label failures and label/photo disagreement; Selection II also drops "
        "badly exposed photos and thins near-duplicate layouts.</p>",
        "<table><tr><th>name</th><th>label</th><th>photo</th><th>removed from</th><th>reasons</th></tr>",
    ]
    for i, item in enumerate(removed):
        cells = ["", ""]
        if i < max_html_pictures:
            pair = picture(item["name"])
            if pair is not None:
                cells = [f"<img src='{_data_uri(pair[0], 'PNG')}'>", f"<img src='{_data_uri(pair[1], 'JPEG')}'>"]
            pictures.pop(item["name"], None)
        reasons = "<br>".join(html.escape(r) for r in item["reasons"])
        scope = "I and II" if item["selection"] == "I" else "II"
        parts.append(
            f"<tr><td>{html.escape(item['name'])}</td><td>{cells[0]}</td><td>{cells[1]}</td><td>{scope}</td><td>{reasons}</td></tr>"
        )
    parts.append("</table></body></html>")
    atomic_write_text(out_dir / "removed.html", "\n".join(parts) + "\n")
