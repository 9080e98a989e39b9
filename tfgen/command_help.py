"""What ``tfgen COMMAND --help`` prints: a command's flags in titled groups,
each with its help and its default, laid out for the terminal.

Pure Python (absl's flag objects and the config dataclasses): printing help
never imports TensorFlow. absl's own flags (its logging, test and TPU flags)
are never shown; ``--helpfull`` is the same help.
"""

from __future__ import annotations

import re
import shutil
import textwrap

INDENT = 6  # where a flag's help starts, under its name


def _width():
    return max(60, min(100, shutil.get_terminal_size((100, 24)).columns))


def _value_hint(flag):
    kind = type(flag).__name__
    if kind == "BooleanFlag":
        return ""
    if kind == "EnumFlag":
        return "=" + "|".join(flag.parser.enum_values)
    return "=" + {"IntegerParser": "INT", "FloatParser": "FLOAT"}.get(type(flag.parser).__name__, "VALUE")


def _show_default(value):
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def flag_entry(flag, help_text=None, default=None, *, has_default=False) -> str:
    """``--name=VALUE`` on one line, its help (and default) wrapped under it."""
    name = f"--[no]{flag.name}" if type(flag).__name__ == "BooleanFlag" else f"--{flag.name}"
    text = " ".join((help_text if help_text is not None else flag.help or "").split())
    text = re.sub(r"^<[^>]*>: ", "", text)  # absl's enum prefix: the choices are on the name's line
    if has_default and default is not None and default != "":
        text += f" (default: {_show_default(default)})"
    body = textwrap.fill(text, _width(), initial_indent=" " * INDENT, subsequent_indent=" " * INDENT)
    return f"  {name}{_value_hint(flag)}\n{body}" if text else f"  {name}{_value_hint(flag)}"


def render(usage, description, sections, *, footer="", examples=()) -> str:
    """``usage``, ``description``, then each ``(title, [entry, ...])`` of
    ``sections`` that has entries, the ``examples`` lines, then ``footer``."""
    width = _width()
    parts = [usage, ""]
    for paragraph in description.strip().split("\n\n"):
        if paragraph.strip():
            parts += [textwrap.fill(" ".join(paragraph.split()), width), ""]
    for title, entries in sections:
        if entries:
            parts += [f"{title}:", *entries, ""]
    if examples:
        parts += ["examples:", *examples, ""]
    if footer:
        parts += [textwrap.fill(" ".join(footer.split()), width)]
    return "\n".join(parts).rstrip() + "\n"


def module_flags_help(usage, docstring, flag_values, module_name, *, groups=(), footer="") -> str:
    """Help for a command whose flags are defined in ``module_name``, its
    ``docstring``'s first paragraph above them and its examples below:
    ``groups`` of ``(title, [flag name, ...])`` first, the rest under
    "options", then the shared ``--verbose``."""
    own = {flag.name: flag for flag in flag_values.get_flags_for_module(module_name)}
    placed = set()
    sections = []
    for title, names in groups:
        present = [flag_values[name] for name in names if name in flag_values]  # also flags defined elsewhere
        placed.update(flag.name for flag in present)
        sections.append((title, [flag_entry(flag, has_default=True, default=flag.default) for flag in present]))
    rest = sorted(name for name in own if name not in placed)
    sections.append(("options" if not groups else "other options",
                     [flag_entry(own[name], has_default=True, default=own[name].default) for name in rest]))  # fmt: skip
    if "verbose" in flag_values:
        sections.append(("messages", [flag_entry(flag_values["verbose"])]))
    return render(usage, docstring_summary(docstring), sections, footer=footer,
                  examples=docstring_examples(docstring))  # fmt: skip


def docstring_examples(docstring) -> list[str]:
    """The indented lines of a command's docstring (its example commands), as written."""
    return [line.rstrip() for line in (docstring or "").splitlines() if line.startswith("    ") and line.strip()]


def docstring_summary(docstring) -> str:
    """The first paragraph of a command's docstring (its examples follow)."""
    return (docstring or "").strip().split("\n\n")[0]
