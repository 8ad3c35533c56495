"""The clinic's accent colour, made safe and readable for the pages.

Pure. ``theme_style`` turns the configured hex colour into the one inline ``<style>``
the pages carry (CSS custom properties); ``style_hash`` is that style's CSP source.
The colour is checked again here so that nothing but a hex colour can reach markup.
"""

from __future__ import annotations

import base64
import hashlib
import re

HEX_RE = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
DEFAULT_ACCENT = "#1f6f8b"
WHITE = (255, 255, 255)
INK = (17, 17, 17)

RGB = tuple[int, int, int]


def rgb(color: str) -> RGB:
    digits = color[1:]
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def luminance(colour: RGB) -> float:
    """Relative luminance (WCAG 2.x)."""

    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: RGB, b: RGB) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def to_hex(colour: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def text_shade(colour: RGB) -> RGB:
    """The colour, darkened just enough for 4.5:1 text on white (WCAG AA)."""
    shade = colour
    for step in range(11):
        shade = (
            round(colour[0] * (1 - step / 10)),
            round(colour[1] * (1 - step / 10)),
            round(colour[2] * (1 - step / 10)),
        )
        if contrast(shade, WHITE) >= 4.5:
            break
    return shade


def theme_style(accent_color: str) -> str:
    """The CSS custom properties for one accent colour.

    ``--accent`` fills buttons, ``--on-accent`` is the text on them (white or
    near-black, whichever contrasts more), ``--accent-text`` colours links, focus
    rings and borders on white. Anything but a hex colour gets the default accent.
    """
    accent = rgb(accent_color if HEX_RE.fullmatch(accent_color) else DEFAULT_ACCENT)
    on_accent = WHITE if contrast(accent, WHITE) >= contrast(accent, INK) else INK
    return (
        f":root{{--accent:{to_hex(accent)};--on-accent:{to_hex(on_accent)};"
        f"--accent-text:{to_hex(text_shade(accent))}}}"
    )


def style_hash(accent_color: str) -> str:
    """The CSP source (``'sha256-...'``) allowing the inline theme ``<style>``."""
    digest = hashlib.sha256(theme_style(accent_color).encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"
