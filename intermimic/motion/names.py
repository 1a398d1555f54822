"""Plain names: the one rule for dataset, subject, clip, object (and store) names.

A plain name is safe as a single path component and as text in a terminal or a table:
it starts with an ASCII letter or digit, continues with ASCII letters, digits, ``_``,
``-`` or ``.``, holds no ``..``, and is at most :data:`MAX_NAME_CHARS` long. The rule is
applied with ``fullmatch``, so no trailing newline, control character (``\\x00``,
``\\x7f``), line separator (``\\u2028``), path separator or leading ``-`` gets through.
Every reader, the store's layout and the CLI check names with :func:`check_name`.
"""

from __future__ import annotations

import re

from intermimic.errors import UnsafeNameError

MAX_NAME_CHARS = 128
#: The whole name must match (use ``fullmatch``; ``match`` would let ``"a\\n"`` through).
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def name_problem(value: object) -> str | None:
    """Why ``value`` is not a plain name, or None when it is one."""
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not a string"
    if not value:
        return "is empty"
    if len(value) > MAX_NAME_CHARS:
        return f"is {len(value)} characters long, at most {MAX_NAME_CHARS} allowed"
    if PLAIN_NAME.fullmatch(value) is None:
        return (
            "is not a plain name (ASCII letters, digits, '_', '-', '.', starting with a "
            "letter or digit; no path separators, spaces or control characters)"
        )
    if ".." in value:
        return "is not a plain name (no '..')"
    return None


def is_plain_name(value: object) -> bool:
    return name_problem(value) is None


def check_name(value: str, what: str) -> str:
    """``value`` if it is a plain name, else :class:`~intermimic.errors.UnsafeNameError`."""
    problem = name_problem(value)
    if problem is not None:
        raise UnsafeNameError(f"{what} {printable(value)} {problem}")
    return value


def printable(value: object, limit: int = 200) -> str:
    """``repr``-like text of ``value`` safe to print: control characters, separators and
    undecodable bytes (surrogates) escaped, at most ``limit`` characters."""
    text = value if isinstance(value, str) else str(value)
    out = repr(text) if isinstance(value, str) else text
    out = out.encode("utf-8", "backslashreplace").decode("utf-8")
    return out if len(out) <= limit else out[: limit - 1] + "…"


def safe_text(value: str) -> str:
    """``value`` with non-printable characters and undecodable bytes escaped (no quotes):
    for paths and reasons that go into tables and terminals."""
    out = []
    for ch in value:
        if ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF:
            out.append(ch)
        elif 0xDC80 <= ord(ch) <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)
