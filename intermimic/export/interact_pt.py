"""``interact-pt`` export: one InterAct ``.pt`` tensor per clip, for InterMimic/Isaac Gym.

Each file is a ``torch.save``d float32 tensor ``[T, 591]`` in InterAct's column layout
(quaternions x y z w, converted in :mod:`intermimic.motion.quat` only), named
``SUBJECT_OBJECT_TAKE.pt`` so that InterMimic's loaders and our own reader
(:mod:`intermimic.motion.formats.interact_pt`) take subject, object and take from it.
Velocities are not part of the format; InterMimic recomputes them.

Finger positions are written in the *correct* SMPL-X order: our reader recognises that
layout as already right (it only repairs files whose ``L_Index1`` column rides with the
head). A clip on which that test would misfire (hands frozen to the head) is left out
and named in the export's manifest rather than written in a form that reads back wrong.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from intermimic.export.clips import ExportClip
from intermimic.export.errors import ExportError
from intermimic.motion.formats.interact_pt import (
    FPS,
    N_BODIES,
    NAME_RE,
    encode,
    fingers_shifted,
)

SUFFIX = ".pt"


def file_stem(ec: ExportClip, take: int) -> str:
    """The clip id when it already reads as SUBJECT_OBJECT_TAKE of this clip, else one built
    from the subject, object and ``take`` (InterAct's subject names hold no ``_``)."""
    m = ec.clip.meta
    found = NAME_RE.match(m.clip_id)
    if found and found["subject"] == m.subject and found["object"] == m.object_name:
        return m.clip_id
    subject = m.subject.replace("_", "-")
    return f"{subject}_{m.object_name}_{take:03d}"


def tensor_bytes(ec: ExportClip) -> bytes:
    """The ``torch.save`` bytes of one clip's ``[T, 591]`` float32 tensor."""
    import torch  # deferred: torch is heavy and only these paths need it

    x = encode(ec.clip)
    buf = io.BytesIO()
    torch.save(torch.from_numpy(np.ascontiguousarray(x)), buf)
    return buf.getvalue()


def write_interact_pt(clips: Sequence[ExportClip], out: Path) -> dict[str, dict[str, str]]:
    """Write every clip into the folder ``out``.

    Returns ``{"files": {file name: "dataset/subject/clip"}, "skipped": {clip: why}}``.
    """
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for take, ec in enumerate(clips):
        c = ec.clip
        name = "/".join(ec.key)
        if c.n_bodies != N_BODIES:
            skipped[name] = f"interact-pt holds {N_BODIES} bodies, the clip has {c.n_bodies}"
            continue
        if abs(c.meta.fps - FPS) > 1e-6:
            skipped[name] = f"interact-pt is {FPS:g} fps, the clip is {c.meta.fps:g}"
            continue
        if fingers_shifted(c.body_pos, c.body_quat):
            skipped[name] = (
                "its finger positions would read as InterAct's one-finger shift "
                "(L_Index1 moves with the head); written it would not read back the same"
            )
            continue
        fname = file_stem(ec, take) + SUFFIX
        if fname in files:
            raise ExportError(
                f"{out}: clips {files[fname]} and {name} would both be written as {fname}; "
                "export fewer subjects at a time"
            )
        (out / fname).write_bytes(tensor_bytes(ec))
        files[fname] = name
    return {"files": files, "skipped": skipped}
