"""The glyphs' fonts are found without matplotlib (tfgen.data.fonts).

The references: matplotlib's own copy of DejaVu (when installed) for what the
system fonts must give, and font trees made in tmp_path for the search order.
"""

import os

import numpy as np
import pytest

from tfgen.data import fonts, glyphs

SYSTEM_DEJAVU = "/usr/share/fonts/truetype/dejavu"
HAS_SYSTEM_DEJAVU = all(os.path.isfile(os.path.join(SYSTEM_DEJAVU, n)) for n in fonts.DEJAVU_FILES)
MPL_DIR = fonts.matplotlib_font_dir()
DEBIAN_NOTO = glyphs.NOTO_DIR


@pytest.fixture(autouse=True)
def fresh_lookups():
    fonts.clear_caches()
    yield
    fonts.clear_caches()


@pytest.fixture
def no_fonts_anywhere(monkeypatch, tmp_path):
    """No system, user or matplotlib fonts: only what a test puts in $TFGEN_FONT_DIR."""
    monkeypatch.setattr(fonts, "DEJAVU_SYSTEM_DIRS", ())
    monkeypatch.setattr(fonts, "NOTO_SYSTEM_DIRS", ())
    monkeypatch.setattr(fonts, "matplotlib_font_dir", lambda: None)
    monkeypatch.setattr(glyphs, "NOTO_DIR", str(tmp_path / "no_noto"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("XDG_DATA_HOME", "LOCALAPPDATA", "WINDIR", fonts.FONT_DIR_ENV):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _fake_fonts(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"not a real font")


def test_the_twelve_dejavu_files_are_matplotlibs_set_without_display():
    assert len(fonts.DEJAVU_FILES) == 12 and list(fonts.DEJAVU_FILES) == sorted(fonts.DEJAVU_FILES)
    if MPL_DIR is None:
        pytest.skip("matplotlib is not installed")
    shipped = sorted(n for n in os.listdir(MPL_DIR) if n.startswith("DejaVu") and "Display" not in n)
    assert list(fonts.DEJAVU_FILES) == shipped


def test_matplotlib_font_dir_is_where_matplotlib_keeps_them(monkeypatch):
    if MPL_DIR is None:
        pytest.skip("matplotlib is not installed")
    import matplotlib  # the earlier lookup, by import

    assert os.path.samefile(MPL_DIR, os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf"))
    real_find_spec = fonts.importlib.util.find_spec
    monkeypatch.setattr(
        fonts.importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real_find_spec(name, *a)
    )
    assert fonts.matplotlib_font_dir() is None  # not installed: no fallback, no error


@pytest.mark.skipif(not HAS_SYSTEM_DEJAVU, reason="fonts-dejavu-core/-extra are not installed")
def test_dejavu_found_in_the_system_without_matplotlib(monkeypatch):
    monkeypatch.setattr(fonts, "matplotlib_font_dir", lambda: None)
    paths = glyphs._fonts_for("greek")
    assert [os.path.basename(p) for p in paths] == list(fonts.DEJAVU_FILES)
    assert all(os.path.isfile(p) and "matplotlib" not in p for p in paths)


@pytest.mark.skipif(not HAS_SYSTEM_DEJAVU or MPL_DIR is None, reason="needs system DejaVu and matplotlib")
def test_system_dejavu_gives_the_same_classes_and_nearly_the_same_images_as_matplotlibs(monkeypatch):
    system = fonts.dejavu_fonts()
    bundled = [os.path.join(MPL_DIR, name) for name in fonts.DEJAVU_FILES]
    assert not any(path.startswith(MPL_DIR) for path in system)  # the system's are preferred
    # The same letters of every script are covered: the same classes either way.
    letters = {code for ranges in glyphs.DEJAVU_SCRIPTS.values() for a, b in ranges for code in range(a, b + 1)}
    for ours, theirs in zip(system, bundled):
        assert glyphs._cmap(ours) & letters == glyphs._cmap(theirs) & letters, ours
    # Samples drawn with either build differ on a few pixels by a few grey levels
    # (DejaVu 2.37 against matplotlib's older copy).
    classes = [(s, c) for s in glyphs.DEJAVU_SCRIPTS for c in glyphs.script_characters(s)[::4]]
    with_system = glyphs.render_glyphs(classes, samples_per_class=1, size=32)
    monkeypatch.setattr(fonts, "dejavu_fonts", lambda: list(bundled))
    assert glyphs._fonts_for("greek") == bundled
    with_bundled = glyphs.render_glyphs(classes, samples_per_class=1, size=32)
    difference = np.abs(with_system.astype(int) - with_bundled.astype(int))
    assert (difference > 0).mean() < 1e-3 and difference.mean() < 1e-2, (difference.max(), (difference > 0).mean())


def test_font_dir_env_comes_first_and_is_searched_with_subfolders(no_fonts_anywhere, monkeypatch):
    tmp = no_fonts_anywhere
    names = list(fonts.DEJAVU_FILES)
    _fake_fonts(tmp / "mine" / "sans", [n for n in names if "Serif" not in n])
    _fake_fonts(tmp / "mine" / "serif", [n for n in names if "Serif" in n])
    _fake_fonts(tmp / "system", names)
    monkeypatch.setattr(fonts, "DEJAVU_SYSTEM_DIRS", (str(tmp / "system"),))
    monkeypatch.setenv(fonts.FONT_DIR_ENV, os.pathsep.join([str(tmp / "empty"), str(tmp / "mine")]))
    paths = fonts.dejavu_fonts()
    assert [os.path.basename(p) for p in paths] == names  # sorted by name, whatever the folders
    assert all(p.startswith(str(tmp / "mine")) for p in paths)
    monkeypatch.delenv(fonts.FONT_DIR_ENV)
    assert all(p.startswith(str(tmp / "system")) for p in fonts.dejavu_fonts())


def test_user_font_folders_are_searched(no_fonts_anywhere):
    tmp = no_fonts_anywhere
    _fake_fonts(tmp / "home" / ".local" / "share" / "fonts" / "dejavu", fonts.DEJAVU_FILES)
    paths = fonts.dejavu_fonts()
    assert len(paths) == 12 and all(p.startswith(str(tmp / "home")) for p in paths)


def test_an_incomplete_set_falls_back_to_matplotlib_whole_not_mixed(no_fonts_anywhere, monkeypatch):
    tmp = no_fonts_anywhere
    core = [n for n in fonts.DEJAVU_FILES if "Oblique" not in n and "Italic" not in n]  # fonts-dejavu-core alone
    assert len(core) == 6
    _fake_fonts(tmp / "system", core)
    _fake_fonts(tmp / "mpl", fonts.DEJAVU_FILES)
    monkeypatch.setattr(fonts, "DEJAVU_SYSTEM_DIRS", (str(tmp / "system"),))
    monkeypatch.setattr(fonts, "matplotlib_font_dir", lambda: str(tmp / "mpl"))
    assert fonts.dejavu_fonts() == [str(tmp / "mpl" / n) for n in fonts.DEJAVU_FILES]


def test_no_dejavu_anywhere_says_what_is_missing_and_how_to_install(no_fonts_anywhere, monkeypatch):
    tmp = no_fonts_anywhere
    _fake_fonts(tmp / "system", ["DejaVuSans.ttf"])
    monkeypatch.setattr(fonts, "DEJAVU_SYSTEM_DIRS", (str(tmp / "system"),))
    with pytest.raises(ValueError) as info:
        glyphs.script_characters.__wrapped__("greek")  # not the cached answer
    message = str(info.value)
    assert "lack 11 of the 12" in message and "DejaVuSerif-BoldItalic.ttf" in message
    assert "apt-get install fonts-dejavu-core fonts-dejavu-extra" in message
    assert "pip install matplotlib" in message and fonts.FONT_DIR_ENV in message


@pytest.mark.skipif(not os.path.isdir(DEBIAN_NOTO), reason="fonts-noto-core is not installed")
def test_noto_found_through_the_font_dir_env(no_fonts_anywhere, monkeypatch):
    tmp = no_fonts_anywhere
    assert not glyphs.noto_available()  # Debian's folder hidden by the fixture
    with pytest.raises(ValueError, match="apt-get install fonts-noto-core"):
        glyphs.require_noto("runic")
    runic = fonts.noto_fonts("Runic", [DEBIAN_NOTO])
    assert runic, "NotoSansRunic is part of fonts-noto-core"
    mine = tmp / "fonts" / "noto"
    mine.mkdir(parents=True)
    for path in runic:
        os.symlink(path, mine / os.path.basename(path))
    monkeypatch.setenv(fonts.FONT_DIR_ENV, str(tmp / "fonts"))
    assert glyphs.noto_available()
    assert glyphs._fonts_for("runic") == [str(mine / os.path.basename(p)) for p in runic]
    assert glyphs.script_characters.__wrapped__("runic")[0] == "ᚠ"
