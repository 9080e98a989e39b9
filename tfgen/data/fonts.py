"""Finding the font files that the ``glyphs`` dataset draws (:mod:`tfgen.data.glyphs`).

No font is bundled with tfgen and none is downloaded; the files are looked
for, in this order, in

1. the folders listed in ``$TFGEN_FONT_DIR`` (``os.pathsep``-separated),
   searched with their subfolders;
2. the usual font folders: the distributions' own (Debian/Ubuntu
   ``/usr/share/fonts/truetype/dejavu`` and ``.../noto``, Arch, Fedora,
   Alpine, FreeBSD) and the user's (``~/.local/share/fonts``, ``~/.fonts``,
   ``~/Library/Fonts``, ``/Library/Fonts``, Windows' ``Fonts`` folders);
3. for DejaVu only, the copy that matplotlib ships (``mpl-data/fonts/ttf``)
   when matplotlib is installed (found without importing it): the fallback
   for machines without DejaVu fonts (macOS, Windows), ``pip install matplotlib``.

DejaVu. The 14 default scripts use the twelve files of ``DEJAVU_FILES``
(Sans, Sans Mono and Serif, each regular, bold, oblique/italic and both);
the font of a sample is drawn from this sorted list, so the set is fixed:
other DejaVu files (Condensed, ExtraLight) are never added. All twelve
come from one of the three places above (never some from matplotlib's build
and some from the system's).
On Debian/Ubuntu the twelve come from ``fonts-dejavu-core`` and
``fonts-dejavu-extra``. Builds differ slightly: Debian's DejaVu 2.37 and
matplotlib's copy cover the same letters of every script, and ~2% of
(character, font) drawings differ by one grey level on a few pixels.

Noto (34 more scripts): the ``NotoSans<Family>-*.ttf`` and
``NotoSerif<Family>-*.ttf`` files, first of each name in the order above
(Debian: ``apt-get install fonts-noto-core``).
"""

from __future__ import annotations

import functools
import glob
import importlib.util
import os

from tfgen.errors import InputError

FONT_DIR_ENV = "TFGEN_FONT_DIR"

# The DejaVu files the glyphs are drawn with: matplotlib's set without the
# 47-glyph "Display" fonts (tfgen's earlier source), so every source gives
# the same list.
DEJAVU_FILES = tuple(
    sorted(
        f"DejaVu{family}{style}.ttf"
        for family, styles in (
            ("Sans", ("", "-Bold", "-Oblique", "-BoldOblique")),
            ("SansMono", ("", "-Bold", "-Oblique", "-BoldOblique")),
            ("Serif", ("", "-Bold", "-Italic", "-BoldItalic")),
        )
        for style in styles
    )
)

# Where distributions put them (glob patterns).
DEJAVU_SYSTEM_DIRS = (
    "/usr/share/fonts/truetype/dejavu",  # Debian, Ubuntu (fonts-dejavu-core, -extra)
    "/usr/share/fonts/TTF",  # Arch (ttf-dejavu)
    "/usr/share/fonts/dejavu*",  # Fedora (dejavu-sans-fonts, ...), Alpine, Gentoo
    "/usr/local/share/fonts/dejavu*",  # FreeBSD
)
NOTO_SYSTEM_DIRS = (
    "/usr/share/fonts/noto",  # Arch, Alpine
    "/usr/share/fonts/google-noto*",  # Fedora
    "/usr/share/fonts/opentype/noto",
    "/usr/local/share/fonts/noto",
)


def user_font_dirs() -> list[str]:
    """The user's (and macOS / Windows system) font folders."""
    home = os.path.expanduser("~")
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share")
    dirs = [
        os.path.join(data_home, "fonts"),
        os.path.join(home, ".fonts"),
        os.path.join(home, "Library", "Fonts"),  # macOS
        "/Library/Fonts",
        "/System/Library/Fonts/Supplemental",
    ]
    if os.environ.get("LOCALAPPDATA"):  # Windows
        dirs.append(os.path.join(os.environ["LOCALAPPDATA"], "Microsoft", "Windows", "Fonts"))
    if os.environ.get("WINDIR"):
        dirs.append(os.path.join(os.environ["WINDIR"], "Fonts"))
    return dirs


def env_font_dirs() -> list[str]:
    """The folders of ``$TFGEN_FONT_DIR``."""
    value = os.environ.get(FONT_DIR_ENV, "")
    return [os.path.expanduser(d) for d in value.split(os.pathsep) if d.strip()]


def _expand(patterns) -> list[str]:
    dirs = []
    for pattern in patterns:
        dirs.extend(sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern])
    return [d for d in dict.fromkeys(os.path.abspath(d) for d in dirs) if os.path.isdir(d)]


@functools.lru_cache(maxsize=64)
def _files_under(folder: str) -> tuple[tuple[str, str], ...]:
    """(name, path) of every file under ``folder``, subfolders included, in a
    fixed order (the folder's own files first, then its subfolders sorted)."""
    found = []
    for root, subdirs, names in os.walk(folder):
        subdirs.sort()
        found.extend((name, os.path.join(root, name)) for name in sorted(names))
    return tuple(found)


def _first_of_each(dirs: list[str], wanted) -> dict[str, str]:
    """name -> path of the first file of that name in ``dirs`` (in order)
    for which ``wanted(name)`` holds."""
    paths: dict[str, str] = {}
    for folder in dirs:
        for name, path in _files_under(folder):
            if name not in paths and wanted(name):
                paths[name] = path
    return paths


def matplotlib_font_dir() -> str | None:
    """matplotlib's bundled font folder, when matplotlib is installed (not imported)."""
    try:
        spec = importlib.util.find_spec("matplotlib")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = os.path.join(list(spec.submodule_search_locations)[0], "mpl-data", "fonts", "ttf")
    return folder if os.path.isdir(folder) else None


def dejavu_sources() -> list[tuple[str, list[str]]]:
    """(description, folders) of the places DejaVu is looked for, in order."""
    sources = []
    if env_font_dirs():
        sources.append((f"${FONT_DIR_ENV}", _expand(env_font_dirs())))
    sources.append(("the system's font folders", _expand([*DEJAVU_SYSTEM_DIRS, *user_font_dirs()])))
    mpl = matplotlib_font_dir()
    if mpl is not None:
        sources.append(("matplotlib's bundled fonts", [mpl]))
    return sources


def dejavu_fonts() -> list[str]:
    """The paths of the twelve ``DEJAVU_FILES``, sorted by file name, all from
    the first place (``dejavu_sources``) that has every one of them.

    Raises:
        InputError: no place has them all; says which are missing and how
            to install them.
    """
    return list(_dejavu_fonts(os.environ.get(FONT_DIR_ENV, ""), matplotlib_font_dir()))


@functools.lru_cache(maxsize=8)
def _dejavu_fonts(env_value: str, mpl_dir: str | None) -> tuple[str, ...]:
    del env_value, mpl_dir  # the cache key: a changed source is looked up again
    wanted = set(DEJAVU_FILES)
    looked = []
    for description, dirs in dejavu_sources():
        paths = _first_of_each(dirs, wanted.__contains__)
        if len(paths) == len(DEJAVU_FILES):
            return tuple(paths[name] for name in DEJAVU_FILES)
        missing = [name for name in DEJAVU_FILES if name not in paths]
        looked.append(
            f"{description} ({', '.join(dirs) or 'none of them exists'}) lack {len(missing)} of "
            f"the {len(DEJAVU_FILES)}: {', '.join(missing)}"
        )
    raise InputError(
        "The glyphs' DejaVu scripts need the DejaVu fonts "
        f"{', '.join(DEJAVU_FILES)}. Looked in: {'; '.join(looked)}. Install them with "
        "`apt-get install fonts-dejavu-core fonts-dejavu-extra` (Debian, Ubuntu; "
        "`dnf install dejavu-sans-fonts dejavu-sans-mono-fonts dejavu-serif-fonts` on Fedora), "
        "or `pip install matplotlib` (which ships them), or put the files in a folder "
        f"named by ${FONT_DIR_ENV}."
    )


def noto_dirs(debian_dir: str) -> list[str]:
    """The existing folders where Noto fonts are looked for, in order:
    ``$TFGEN_FONT_DIR``, ``debian_dir`` (Debian's fonts-noto-core), the other
    distributions' Noto folders and the user's font folders."""
    return _expand([*env_font_dirs(), debian_dir, *NOTO_SYSTEM_DIRS, *user_font_dirs()])


def noto_fonts(family: str, dirs: list[str]) -> list[str]:
    """``NotoSans<family>-*.ttf`` and ``NotoSerif<family>-*.ttf`` in ``dirs``
    (first of each name), sorted by file name."""
    prefixes = (f"NotoSans{family}-", f"NotoSerif{family}-")
    paths = _first_of_each(dirs, lambda name: name.startswith(prefixes) and name.endswith(".ttf"))
    return [paths[name] for name in sorted(paths)]


def has_noto(dirs: list[str]) -> bool:
    """Whether ``dirs`` hold any Noto Sans / Serif TrueType font."""
    return bool(_first_of_each(dirs, lambda name: name.startswith("NotoS") and name.endswith(".ttf")))


def clear_caches() -> None:
    """Forget the folders' contents (after fonts were installed or removed)."""
    _files_under.cache_clear()
    _dejavu_fonts.cache_clear()
