"""The humanoid an export's joint angles replay on: one MJCF per subject, bone offsets.

An exported clip holds both joint angles (``joint_rotvec``; the npz's ``joint_pos``) and
the bodies' world poses. To turn the angles back into poses a reader needs the bone
offsets they were made with: the refining teacher's humanoid (the mean adult, or the
subject's fitted skeleton when the teacher was trained on it). Refined motion comes
from a rigid-body simulation, so each bone's offset in its parent's frame is constant
in the data: :func:`subject_humanoids` measures it per subject from the exported body
poses (:func:`intermimic.humanoid.fit_skeleton`, bones that do not hold still keep the
mean adult's direction at the typical scale) and builds that humanoid
(:func:`intermimic.humanoid.build_spec`: free root, hinges ``<body>_x``, ``_y``, ``_z``
per body, PD gains in the numeric fields ``pd_kp``/``pd_kd``).

:func:`write_humanoids` writes ``humanoid/<subject>.xml`` and ``humanoid/bone_offsets.json``
into an export and measures how well replaying every clip's joint angles on the written
model reproduces its body positions (``replay_error_mm``): the forward kinematics a
reader would run, ``qpos = [root_pos, root_quat (w x y z), hinge angles]`` with the
hinge angles the intrinsic XYZ Euler angles of ``joint_rotvec``.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from intermimic.export.clips import ExportClip
from intermimic.humanoid import SkeletonError, build_spec, default_skeleton, fit_skeleton
from intermimic.humanoid.skeleton_model import SkeletonModel
from intermimic.motion.kinematics import clip_to_qpos, fk
from intermimic.motion.skeleton import SMPLX_BODY_NAMES

FOLDER = "humanoid"
OFFSETS_FILE = "bone_offsets.json"


@dataclass(frozen=True)
class SubjectHumanoid:
    """One subject's humanoid: the skeleton, how its offsets were found, the MJCF."""

    subject: str
    skeleton: SkeletonModel
    measured: bool
    """Offsets measured from the exported motion (False: the mean adult's)."""
    fallback: tuple[str, ...]
    """Bodies whose offset did not hold still in the data (mean adult direction, scaled)."""
    note: str
    xml: str

    @property
    def offsets(self) -> dict[str, dict[str, Any]]:
        """body -> parent and offset (m) in the parent's frame, root first."""
        return {
            b.name: {"parent": b.parent, "offset_m": [round(float(v), 6) for v in b.offset]}
            for b in self.skeleton.bodies
        }


def _model_xml(skeleton: SkeletonModel) -> str:
    spec = build_spec(skeleton)
    spec.compile()  # to_xml needs a compiled spec
    return str(spec.to_xml())


def subject_humanoids(clips: Sequence[ExportClip]) -> dict[str, SubjectHumanoid]:
    """The humanoid of each subject of ``clips`` (SMPL-X bodies only; others left out)."""
    by_subject: dict[str, list[ExportClip]] = defaultdict(list)
    for ec in clips:
        if ec.clip.n_bodies == len(SMPLX_BODY_NAMES):
            by_subject[ec.clip.meta.subject].append(ec)
    out: dict[str, SubjectHumanoid] = {}
    for subject, ecs in sorted(by_subject.items()):
        try:
            fitted = fit_skeleton([ec.clip for ec in ecs], name=f"smplx_humanoid_{subject}")
            skeleton, measured, fallback = fitted.skeleton, True, tuple(fitted.fallback)
            note = "bone offsets measured from the exported body poses"
            if fallback:
                note += f"; {len(fallback)} bone(s) did not hold still: mean-adult direction"
        except (SkeletonError, ValueError) as exc:
            skeleton, measured, fallback = default_skeleton(), False, ()
            note = f"the mean adult (offsets could not be measured: {exc})"
        out[subject] = SubjectHumanoid(
            subject, skeleton, measured, fallback, note, _model_xml(skeleton)
        )
    return out


def replay_error_mm(model: mujoco.MjModel, clips: Sequence[ExportClip]) -> float:
    """Largest distance (mm) between the bodies of ``clips`` and their joint angles
    replayed on ``model`` by forward kinematics."""
    worst = 0.0
    for ec in clips:
        pos, _ = fk(model, clip_to_qpos(ec.clip))
        err = np.linalg.norm(pos - np.asarray(ec.clip.body_pos, np.float64), axis=-1)
        worst = max(worst, float(np.nanmax(err)) if err.size else 0.0)
    return 1000.0 * worst


def write_humanoids(clips: Sequence[ExportClip], folder: Path) -> dict[str, dict[str, Any]]:
    """Write ``humanoid/<subject>.xml`` and ``humanoid/bone_offsets.json`` under ``folder``.

    Returns subject -> ``file``, ``sha256``, ``measured``, ``fallback``, ``note``,
    ``replay_error_mm`` and ``bodies`` (body -> parent, offset; see
    :attr:`SubjectHumanoid.offsets`); empty when no clip has SMPL-X bodies (nothing
    written then).
    """
    humanoids = subject_humanoids(clips)
    if not humanoids:
        return {}
    (folder / FOLDER).mkdir(parents=True, exist_ok=True)
    record: dict[str, dict[str, Any]] = {}
    offsets: dict[str, Any] = {}
    for subject, h in humanoids.items():
        rel = f"{FOLDER}/{subject}.xml"
        data = h.xml.encode()
        (folder / rel).write_bytes(data)
        model = mujoco.MjModel.from_xml_string(h.xml)
        mine = [ec for ec in clips if ec.clip.meta.subject == subject]
        record[subject] = {
            "file": rel,
            "sha256": hashlib.sha256(data).hexdigest(),
            "measured": h.measured,
            "fallback": list(h.fallback),
            "note": h.note,
            "replay_error_mm": round(replay_error_mm(model, mine), 3),
            "bodies": h.offsets,
        }
        offsets[subject] = {"model": rel, **record[subject]}
    doc = {
        "description": "per subject: each body's parent and its origin in the parent's "
        "frame (m) at zero joint angles; the root's offset is unused (free joint)",
        "subjects": offsets,
    }
    (folder / FOLDER / OFFSETS_FILE).write_text(json.dumps(doc, indent=1) + "\n")
    return record
