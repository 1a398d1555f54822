"""One name rule for datasets, subjects, clips and objects: readers, store and metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydantic
import pytest

from data_catalog.layout import Layout, safe
from intermimic.errors import InputError, ReadError, UnsafeNameError
from intermimic.motion.clip import ClipMeta
from intermimic.motion.formats import get_format
from intermimic.motion.formats.interact_pt import parse_name
from intermimic.motion.load import read_clip
from intermimic.motion.names import MAX_NAME_CHARS, check_name, is_plain_name, safe_text
from intermimic.motion.synthetic import synthetic_clip

BAD = [
    "\x7f",
    "a\x7f",
    "sub2\u2028",
    "a\u2028b",
    "a/b",
    "a\\b",
    "/abs",
    "..",
    "a..b",
    "\x00",
    "a\x00b",
    "-rf",
    "sub2\n",  # re.match with "$" let a trailing newline through
    "a\tb",
    "a b",
    "",
    ".hidden",
    "_lead",
    "é",
    "sub\u0662",  # a non-ASCII digit
    "a" * (MAX_NAME_CHARS + 1),
]
GOOD = ["sub2", "sub2_largetable_000", "a.b-c_d", "0", "A" * MAX_NAME_CHARS]


@pytest.mark.parametrize("name", BAD)
def test_unsafe_names_rejected_everywhere(name: str) -> None:
    assert not is_plain_name(name)
    with pytest.raises(UnsafeNameError):
        check_name(name, "subject")
    with pytest.raises(UnsafeNameError):
        safe(name, "subject")  # the store's layout uses the same rule
    with pytest.raises(UnsafeNameError):
        Layout("/tmp/store").subject_dir("d", name)
    with pytest.raises(pydantic.ValidationError):
        ClipMeta(dataset="d", subject=name, clip_id="c", object_name="o")


@pytest.mark.parametrize("name", GOOD)
def test_plain_names_accepted(name: str) -> None:
    assert check_name(name, "clip") == name == safe(name, "clip")
    assert ClipMeta(dataset="d", subject=name, clip_id=name, object_name=name).subject == name


def test_message_escapes_the_name() -> None:
    with pytest.raises(UnsafeNameError, match=r"subject 'a\\x7f' is not a plain name"):
        check_name("a\x7f", "subject")
    assert safe_text("a\x7fb\u2028c\udcff\n") == "a\\x7fb\\u2028c\\xff\\n"


@pytest.mark.parametrize(
    "stem", ["sub2_box_001\n", "sub2_bo\x7fx_001", "-rf_box_001", "sub2_box_001\u2028", "sub2_box_"]
)
def test_interact_file_names_fullmatch(stem: str) -> None:
    with pytest.raises(ReadError):
        parse_name(Path(f"{stem}.pt"))


@pytest.mark.parametrize("key", ["subject", "object_name", "clip_id"])
@pytest.mark.parametrize("value", ["sub2\u2028", "a\x7f", "../x", "-x", "x\n"])
def test_npz_names_checked_by_the_reader(tmp_path: Path, key: str, value: str) -> None:
    get_format("npz").write(synthetic_clip(), tmp_path / "a.npz")
    arrays = dict(np.load(tmp_path / "a.npz"))
    arrays[key] = np.array(value)
    np.savez(tmp_path / "b.npz", **arrays)
    with pytest.raises(InputError, match="not a plain name"):
        read_clip(tmp_path / "b.npz")
