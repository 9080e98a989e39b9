"""An Omniglot-like set of handwriting-ish characters rendered from fonts.

Every character is one class; characters are grouped into scripts
("alphabets"). A sample is the character drawn black on white with a small
random distortion (font variant, stroke width, rotation, scale, shear,
translation, a smooth elastic warp and a slight blur), so that each class has
many different samples. Samples are deterministic: sample ``k`` of character
``c`` depends only on ``(seed, ord(c), k)``, never on which other classes are
rendered with it.

Two font sources:

* ``DEJAVU_SCRIPTS`` use twelve DejaVu fonts: the system's (Debian/Ubuntu
  ``fonts-dejavu-core`` + ``fonts-dejavu-extra``), else the copy inside
  matplotlib when it is installed. These are the default set.
* ``NOTO_SCRIPTS`` use the Noto fonts (Debian's ``fonts-noto-core``,
  ``/usr/share/fonts/truetype/noto``) when they are installed, adding
  scripts that DejaVu lacks.

:mod:`tfgen.data.fonts` finds the files (``$TFGEN_FONT_DIR`` names more folders).

Only characters present in a font's cmap are used, so there are no tofu boxes.
"""

from __future__ import annotations

import functools
import unicodedata

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from tfgen.data import fonts
from tfgen.errors import InputError

NOTO_DIR = "/usr/share/fonts/truetype/noto"
DEFAULT_SIZE = 64  # native side of a rendered sample, pixels
DEFAULT_SAMPLES_PER_CLASS = 20
_SUPERSAMPLE = 2  # draw and warp at 2x, then average down: smooth edges

# script -> code point ranges (inclusive) of its letters. Only letters
# (categories Lu, Ll, Lo) that the fonts cover become classes.
DEJAVU_SCRIPTS = {
    "latin": [(0x41, 0x5A), (0x61, 0x7A)],
    "greek": [(0x391, 0x3A9), (0x3B1, 0x3C9)],
    "cyrillic": [(0x410, 0x44F)],
    "armenian": [(0x531, 0x556), (0x561, 0x586)],
    "hebrew": [(0x5D0, 0x5EA)],
    "arabic": [(0x621, 0x64A)],
    "georgian": [(0x10D0, 0x10F0)],
    "ogham": [(0x1681, 0x169A)],
    "tifinagh": [(0x2D30, 0x2D67)],
    "nko": [(0x7CA, 0x7EA)],
    "lao": [(0xE81, 0xEAE)],
    "old_italic": [(0x10300, 0x1031E)],
    "lisu": [(0xA4D0, 0xA4F7)],
    "canadian_syllabics": [(0x1401, 0x144F)],
}

# script -> (Noto family suffix, ranges, step). step 8 for Ethiopic keeps one
# vowel order per consonant instead of 8 near-identical variants.
NOTO_SCRIPTS = {
    "runic": ("Runic", [(0x16A0, 0x16EA)], 1),
    "ethiopic": ("Ethiopic", [(0x1200, 0x1357)], 8),
    "cherokee": ("Cherokee", [(0x13A0, 0x13F4)], 1),
    "coptic": ("Coptic", [(0x2C80, 0x2CE3)], 2),  # upper case only
    "glagolitic": ("Glagolitic", [(0x2C00, 0x2C2E)], 1),
    "gothic": ("Gothic", [(0x10330, 0x1034A)], 1),
    "devanagari": ("Devanagari", [(0x905, 0x939)], 1),
    "bengali": ("Bengali", [(0x985, 0x9B9)], 1),
    "gujarati": ("Gujarati", [(0xA85, 0xAB9)], 1),
    "gurmukhi": ("Gurmukhi", [(0xA05, 0xA39)], 1),
    "oriya": ("Oriya", [(0xB05, 0xB39)], 1),
    "tamil": ("Tamil", [(0xB85, 0xBB9)], 1),
    "telugu": ("Telugu", [(0xC05, 0xC39)], 1),
    "kannada": ("Kannada", [(0xC85, 0xCB9)], 1),
    "malayalam": ("Malayalam", [(0xD05, 0xD3A)], 1),
    "sinhala": ("Sinhala", [(0xD85, 0xDC6)], 1),
    "tibetan": ("Tibetan", [(0xF40, 0xF6C)], 1),
    "myanmar": ("Myanmar", [(0x1000, 0x102A)], 1),
    "khmer": ("Khmer", [(0x1780, 0x17B3)], 1),
    "thai": ("Thai", [(0xE01, 0xE2E)], 1),
    "balinese": ("Balinese", [(0x1B05, 0x1B33)], 1),
    "syriac": ("Syriac", [(0x710, 0x72F)], 1),
    "mongolian": ("Mongolian", [(0x1820, 0x1878)], 1),
    "thaana": ("Thaana", [(0x780, 0x7A5)], 1),
    "ol_chiki": ("OlChiki", [(0x1C5A, 0x1C7D)], 1),
    "deseret": ("Deseret", [(0x10400, 0x10427)], 1),  # upper case only
    "avestan": ("Avestan", [(0x10B00, 0x10B35)], 1),
    "phoenician": ("Phoenician", [(0x10900, 0x10915)], 1),
    "old_turkic": ("OldTurkic", [(0x10C00, 0x10C48)], 1),
    "adlam": ("Adlam", [(0x1E900, 0x1E921)], 1),  # upper case only
    "osage": ("Osage", [(0x104B0, 0x104D3)], 1),  # upper case only
    "bamum": ("Bamum", [(0xA6A0, 0xA6E5)], 1),
    "javanese": ("Javanese", [(0xA984, 0xA9B2)], 1),
    "samaritan": ("Samaritan", [(0x800, 0x815)], 1),
}


def matplotlib_font_dir() -> str | None:
    """matplotlib's bundled font folder (a DejaVu fallback), None without matplotlib."""
    return fonts.matplotlib_font_dir()


def noto_available() -> bool:
    return fonts.has_noto(fonts.noto_dirs(NOTO_DIR))


@functools.lru_cache(maxsize=None)
def _cmap(path: str) -> frozenset:
    from fontTools.ttLib import TTFont

    return frozenset(TTFont(path, lazy=True).getBestCmap())


def require_noto(selection: str) -> None:
    if not noto_available():
        raise InputError(
            f"The glyphs {selection!r} are rendered with the Noto fonts, which are not "
            f"installed (looked in {NOTO_DIR}, the other distributions' Noto folders, the user's "
            f"font folders and ${fonts.FONT_DIR_ENV}). Install them with "
            "`apt-get install fonts-noto-core`, or pick a DejaVu script: "
            f"{', '.join(DEJAVU_SCRIPTS)}."
        )


def _fonts_for(script: str) -> list[str]:
    """The font files of a script: several weights/styles = stroke variety."""
    if script in DEJAVU_SCRIPTS:
        # "DejaVuSans-Bold.ttf", ... (sorted by name) but not the 47-glyph "DejaVuSansDisplay".
        return fonts.dejavu_fonts()
    require_noto(script)
    return fonts.noto_fonts(NOTO_SCRIPTS[script][0], fonts.noto_dirs(NOTO_DIR))


def available_scripts() -> list[str]:
    """Script names usable here: all DejaVu ones, Noto ones when installed."""
    return list(DEJAVU_SCRIPTS) + (list(NOTO_SCRIPTS) if noto_available() else [])


@functools.lru_cache(maxsize=None)
def script_characters(script: str) -> tuple[str, ...]:
    """The letters of ``script`` that at least one of its fonts can draw."""
    if script in DEJAVU_SCRIPTS:
        ranges, step = DEJAVU_SCRIPTS[script], 1
    elif script in NOTO_SCRIPTS:
        _, ranges, step = NOTO_SCRIPTS[script]
    else:
        raise InputError(
            f"Unknown glyph script. Received: script={script!r}. "
            f"Known scripts: {', '.join(list(DEJAVU_SCRIPTS) + list(NOTO_SCRIPTS))}."
        )
    covered = frozenset().union(*(_cmap(path) for path in _fonts_for(script)))
    return tuple(
        chr(code)
        for start, stop in ranges
        for code in range(start, stop + 1, step)
        if unicodedata.category(chr(code)) in ("Lu", "Ll", "Lo") and code in covered
    )


@functools.lru_cache(maxsize=None)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _draw_character(char: str, font_path: str, canvas: int, stroke: int) -> np.ndarray:
    """Ink coverage in [0, 1] of ``char`` centred on a ``canvas`` square."""
    image = Image.new("L", (canvas, canvas), 0)
    font = _font(font_path, int(canvas * 0.7))
    left, top, right, bottom = font.getbbox(char, stroke_width=stroke)
    # Centre the ink box; shrink the font when the glyph is too big to fit.
    extent = max(right - left, bottom - top)
    if extent > 0.85 * canvas:
        font = _font(font_path, int(canvas * 0.7 * 0.85 * canvas / extent))
        left, top, right, bottom = font.getbbox(char, stroke_width=stroke)
    origin = ((canvas - (right - left)) / 2 - left, (canvas - (bottom - top)) / 2 - top)
    draw = ImageDraw.Draw(image)
    draw.text(origin, char, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
    return np.asarray(image, dtype=np.float32) / 255.0


@functools.lru_cache(maxsize=None)
def _cubic_upsampler(size: int) -> np.ndarray:
    """[size, 4] matrix M with M @ C @ M.T == ndimage.zoom(C, size / 4, order=3)."""
    return ndimage.zoom(np.eye(4), (size / 4, 1), order=3, mode="nearest")


def _distort(ink: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Random affine + smooth elastic warp + blur of a supersampled ink image.

    Samples the warped ``ink`` [S*size, S*size] on a [size, size] grid: a
    Gaussian prefilter does the antialiasing of that S-times reduction.
    """
    canvas = ink.shape[0]
    angle = np.deg2rad(rng.uniform(-12.0, 12.0))
    scale = rng.uniform(0.8, 1.1) * np.array([1.0, rng.uniform(0.9, 1.1)])
    shear = rng.uniform(-0.2, 0.2)
    shift = rng.uniform(-0.08, 0.08, size=2) * canvas
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    forward = rotation @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag(scale)  # (row, col)
    # Output pixel p (in canvas units) reads ink at  forward^-1 (p - c - shift) + c.
    step = canvas / size
    axis = (np.arange(size) + 0.5) * step - 0.5  # output pixel centres on the canvas
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij")).reshape(2, -1)
    centre = (canvas - 1) / 2.0
    coords = np.linalg.inv(forward) @ (grid - centre - shift[:, None]) + centre
    # Elastic: a coarse 4x4 random displacement field, smoothly upsampled.
    coarse = rng.normal(0.0, 0.015 * canvas, size=(2, 4, 4))
    upsample = _cubic_upsampler(size)
    coords = coords.reshape(2, size, size) + upsample @ coarse @ upsample.T
    blur = rng.uniform(0.0, 0.6) * step  # a slightly soft pen, sometimes
    sigma = np.hypot(0.5 * step, blur)  # + the antialiasing prefilter
    return ndimage.map_coordinates(ndimage.gaussian_filter(ink, sigma), coords, order=1, cval=0.0)


def render_character(
    char: str, *, fonts: list[str], size: int, rng: np.random.Generator
) -> np.ndarray:
    """One distorted sample of ``char``: uint8 [size, size], black on white."""
    font_path = fonts[int(rng.integers(len(fonts)))]
    # Extra outline width = a thicker pen; less on bold fonts, which would fill in.
    stroke = int(rng.integers(0, 2 if "Bold" in font_path else 3))
    ink = _distort(_draw_character(char, font_path, size * _SUPERSAMPLE, stroke), size, rng)
    return np.round(255.0 * (1.0 - np.clip(ink, 0.0, 1.0))).astype(np.uint8)


def script_of(char: str) -> str:
    for script in list(DEJAVU_SCRIPTS) + list(NOTO_SCRIPTS):
        if script in available_scripts() and char in script_characters(script):
            return script
    raise InputError(
        f"No glyph class for the character {char!r} (U+{ord(char):04X}). Use a letter "
        f"of one of the scripts {', '.join(available_scripts())}."
    )


def render_glyphs(
    classes: list[tuple[str, str]],
    *,
    samples_per_class: int = DEFAULT_SAMPLES_PER_CLASS,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
) -> np.ndarray:
    """Render ``samples_per_class`` samples of each ``(script, char)`` class.

    Returns uint8 grey images [len(classes) * samples_per_class, size, size],
    class-major (all samples of class 0 first).
    """
    images = np.empty((len(classes) * samples_per_class, size, size), np.uint8)
    for index, (script, char) in enumerate(classes):
        # Fonts that really contain the character: a fallback font would
        # draw a tofu box instead.
        fonts = [path for path in _fonts_for(script) if ord(char) in _cmap(path)]
        for sample in range(samples_per_class):
            rng = np.random.default_rng([seed, ord(char), sample])
            images[index * samples_per_class + sample] = render_character(
                char, fonts=fonts, size=size, rng=rng
            )
    return images
