"""Make the sample product photos under ``samples/`` (committed; rerun to regenerate).

They are made by the project, so their licence is the project's own: a procedural bottle and a
printed carton (``bench/synthetic_products.py``) set on a studio sweep with a contact shadow
by Plinth's own renderer and compositor, then saved as a supplier would send them (JPEG, 1600 px).
They exist so the README's command-line examples run as written; they are not benchmark data.

    uv run python -m scripts.make_samples
"""

from __future__ import annotations

from pathlib import Path

from bench.synthetic_products import bottle, box
from plinth.imaging.backgrounds import load_theme, render_background
from plinth.imaging.composite import composite
from plinth.imaging.decode import encode_jpeg

SIZE = (1600, 1600)
SAMPLES = {
    "bottle.jpg": (bottle, "default"),
    "carton.jpg": (box, "cool_grey_studio"),
}


def main() -> None:
    out = Path(__file__).resolve().parent.parent / "samples"
    out.mkdir(exist_ok=True)
    for name, (make, theme_name) in SAMPLES.items():
        theme = load_theme(theme_name)
        photo = composite(make(), render_background(theme, 0, SIZE), theme)
        (out / name).write_bytes(encode_jpeg(photo))
        print(f"wrote samples/{name}")


if __name__ == "__main__":
    main()
