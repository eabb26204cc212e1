"""Stage 3: themed studio backgrounds (data-file themes, deterministic procedural rendering).

The ``ai`` option (Freepik image generation from ``Theme.prompt``) lives in
:mod:`plinth.vendors.freepik.backgrounds` and is imported on demand, not here.
"""

from plinth.imaging.backgrounds.model import (
    LinearGradient,
    Margins,
    Noise,
    RadialGradient,
    Shadow,
    SolidFill,
    StudioSweep,
    Theme,
    Vignette,
)
from plinth.imaging.backgrounds.renderer import render_background
from plinth.imaging.backgrounds.themes import (
    list_themes,
    load_theme,
    load_theme_file,
    parse_theme,
)

__all__ = [
    "LinearGradient",
    "Margins",
    "Noise",
    "RadialGradient",
    "Shadow",
    "SolidFill",
    "StudioSweep",
    "Theme",
    "Vignette",
    "list_themes",
    "load_theme",
    "load_theme_file",
    "parse_theme",
    "render_background",
]
