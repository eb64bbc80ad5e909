"""Draw the app icons (web app manifest, notifications) from the logo in static/img/favicon.svg.

Pillow cannot read SVG, so the logo's two shapes are drawn here in its own 64-unit grid: a
rounded square (rx 16) in #5865f2, and the white "U" (two 8-wide bars from y 16 to 36 joined by
a half ring of radii 6 and 14 around (32, 36)). Drawn 4x larger and scaled down for smooth
edges. The maskable icon keeps the "U" inside the 80 % safe zone on a full-bleed square.

    .venv/bin/python scripts/make_icons.py    # rewrites static/img/icons/*.png
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

BLURPLE = (0x58, 0x65, 0xF2, 255)
WHITE = (255, 255, 255, 255)
SIZES = (48, 72, 96, 128, 192, 256, 384, 512)
OUT = Path(__file__).resolve().parent.parent / "static" / "img" / "icons"
SUPER = 4


def draw_u(draw: ImageDraw.ImageDraw, unit: float, dx: float = 0, dy: float = 0) -> None:
    def box(x0: float, y0: float, x1: float, y1: float) -> list[float]:
        return [dx + x0 * unit, dy + y0 * unit, dx + x1 * unit, dy + y1 * unit]

    draw.rectangle(box(18, 16, 26, 36), fill=WHITE)
    draw.rectangle(box(38, 16, 46, 36), fill=WHITE)
    draw.pieslice(box(18, 22, 46, 50), 0, 180, fill=WHITE)
    draw.pieslice(box(26, 30, 38, 42), 0, 180, fill=BLURPLE)
    draw.rectangle(box(26, 16, 38, 36), fill=BLURPLE)


def icon(size: int, maskable: bool = False) -> Image.Image:
    big = size * SUPER
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if maskable:
        draw.rectangle([0, 0, big, big], fill=BLURPLE)
        scale = 0.8  # the safe zone: a circle of 80 % of the size
        unit = big * scale / 64
        offset = big * (1 - scale) / 2
        draw_u(draw, unit, offset, offset)
    else:
        unit = big / 64
        draw.rounded_rectangle([0, 0, big - 1, big - 1], radius=16 * unit, fill=BLURPLE)
        draw_u(draw, unit)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        icon(size).save(OUT / f"icon-{size}.png", optimize=True)
    icon(512, maskable=True).save(OUT / "maskable-512.png", optimize=True)
    icon(180, maskable=True).save(OUT / "apple-touch-icon.png", optimize=True)


if __name__ == "__main__":
    main()
