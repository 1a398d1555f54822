"""Validation rules on constructed arrays: each rule fires, with a message naming the file."""

from __future__ import annotations

import numpy as np
import pytest

from intermimic.errors import ValidationError
from intermimic.motion.synthetic import synthetic_clip
from intermimic.motion.validate import validate_arrays

PATH = "/data/x/s1_box_000.pt"


def arrays() -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in synthetic_clip(n_frames=10).arrays().items()}


def test_valid_clip_passes_unchanged() -> None:
    a = arrays()
    out = validate_arrays(a, PATH)
    for k in a:
        np.testing.assert_array_equal(out[k], a[k])


def test_small_quaternion_error_is_renormalised() -> None:
    a = arrays()
    a["obj_quat"][3] *= 1.0008
    out = validate_arrays(a, PATH)
    assert abs(np.linalg.norm(out["obj_quat"][3]) - 1) < 1e-6


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda a: a.pop("obj_pos"), "missing field.*obj_pos"),
        (
            lambda a: a.__setitem__("root_pos", a["root_pos"][:, :2]),
            r"root_pos has shape \[10, 2\]",
        ),
        (lambda a: a.__setitem__("root_pos", a["root_pos"][:, :, None]), "root_pos has rank 3"),
        (
            lambda a: a.__setitem__("body_pos", a["body_pos"].astype(np.int32)),
            "integer dtype int32",
        ),
        (lambda a: a.__setitem__("obj_pos", a["obj_pos"][:9]), "obj_pos has 9 frames"),
        (lambda a: a["body_quat"].__setitem__((4, 2), [0, 0, 0, 0]), "body_quat.*frame 4, norm 0"),
        (
            lambda a: a["root_quat"].__setitem__(2, [0.5, 0.5, 0.5, 0.6]),
            "root_quat.*by more than 0.001",
        ),
        (lambda a: a["joint_rotvec"].__setitem__((7, 3, 1), np.nan), "joint_rotvec.*NaN.*frame 7"),
        (lambda a: a["obj_pos"].__setitem__((5, 0), -np.inf), "obj_pos.*Inf.*frame 5"),
        (lambda a: a["contact"].__setitem__((6, 0), 2), r"contact has label\(s\) \[2.0\].*frame 6"),
        (lambda a: a["obj_contact"].__setitem__(1, -1), "obj_contact has label"),
        (
            lambda a: a.__setitem__("root_pos", a["root_pos"].astype(str)),
            "expected a numeric array",
        ),
    ],
)
def test_each_rule(edit: object, message: str) -> None:
    a = arrays()
    edit(a)  # type: ignore[operator]
    with pytest.raises(ValidationError, match=message) as info:
        validate_arrays(a, PATH)
    assert str(info.value).startswith(PATH)


def test_too_few_frames() -> None:
    a = {k: v[:1] for k, v in arrays().items()}
    with pytest.raises(ValidationError, match="1 frame"):
        validate_arrays(a, PATH)
    validate_arrays({k: v[:3] for k, v in arrays().items()}, PATH, min_frames=3)


def test_float_labels_accepted_and_cast() -> None:
    a = arrays()
    a["contact"] = a["contact"].astype(np.float32)
    out = validate_arrays(a, PATH)
    assert out["contact"].dtype == np.int8
