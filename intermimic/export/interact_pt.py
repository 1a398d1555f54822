"""``interact-pt`` export: one InterAct ``.pt`` tensor per clip, for InterMimic/Isaac Gym.

Each file is a ``torch.save``d float32 tensor ``[T, 591]`` in InterAct's column layout
(quaternions x y z w, converted in :mod:`intermimic.motion.quat` only), named
``SUBJECT_OBJECT_TAKE.pt`` so that InterMimic's loaders and our own reader
(:mod:`intermimic.motion.formats.interact_pt`) take subject, object and take from it.
Velocities are not part of the format; InterMimic recomputes them.

InterMimic-compatible (the default, ``intermimic_compatible=True``), as its loaders read
refined files (``intermimic_all.py`` in InterMimic's release):

* **Row 0 is a placeholder** (zeros), as in InterMimic's own refined files: its loaders
  skip it (``_load_motion(..., startk=1)``) in both the raw and the refined file of a
  pair and take the episode length from the refined file. Row ``i >= 1`` is frame ``i``
  of the clip, so a clip refined from an InterAct file lines up row for row with that
  raw file (the same name, the same length when the teacher reached the clip's end);
  frame 0, which the loader never reads, is not written. Our reader reads such a file
  with ``IngestSettings(trim_invalid_leading_frames=True)`` (frames ``1..T-1``).
* **Names it parses right**: the subject is the file name's first ``_``-separated part
  and its number ``int(subject[3:])``, so subjects must read ``sub<N>``; the object is
  ``name.split('_')[-2]``, so object names must hold no ``_``. A clip whose names do not
  pass is refused (:func:`check_intermimic_names` raises :class:`ExportError` naming
  them; :func:`write_interact_pt` records the reject and writes the rest).

With ``intermimic_compatible=False`` every frame is written from row 0 and names are only
made file-safe (our reader reads those files back as they were).

Finger positions are written in the *correct* SMPL-X order: our reader recognises that
layout as already right (it only repairs files whose ``L_Index1`` column rides with the
head). A clip on which that test would misfire (hands frozen to the head) is left out
and named in the export's manifest rather than written in a form that reads back wrong.
"""

from __future__ import annotations

import io
import re
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
#: Subjects InterMimic's loaders parse: ``sub`` then the subject's number.
INTERMIMIC_SUBJECT = re.compile(r"sub[0-9]+")


def file_stem(ec: ExportClip, take: int) -> str:
    """The clip id when it reads as SUBJECT_OBJECT_TAKE of this clip, else one built from
    the subject, object and ``take`` (InterAct's subject names hold no ``_``)."""
    m = ec.clip.meta
    found = NAME_RE.fullmatch(m.clip_id)
    if found and found["subject"] == m.subject and found["object"] == m.object_name:
        return m.clip_id
    subject = m.subject.replace("_", "-")
    return f"{subject}_{m.object_name}_{take:03d}"


def intermimic_reads(stem: str) -> tuple[str, str]:
    """(subject, object) as InterMimic's loaders parse the file name ``stem + ".pt"``:
    ``stem.split('_')[0]`` and ``name.split('_')[-2]``."""
    parts = f"{stem}{SUFFIX}".split("_")
    return parts[0], parts[-2] if len(parts) > 1 else ""


def intermimic_name_problems(subject: str, object_name: str, stem: str) -> list[str]:
    """What InterMimic's loaders would get wrong about a clip written as ``stem``.pt."""
    problems = []
    read_subject, read_object = intermimic_reads(stem)
    if not INTERMIMIC_SUBJECT.fullmatch(subject):
        problems.append(
            f"subject {subject!r} is not of the form sub<N>: InterMimic takes the subject "
            "as the file name's first '_'-separated part and its number as "
            "int(subject[3:]) (sub2 -> 2)"
        )
    elif read_subject != subject:
        problems.append(f"InterMimic would read the subject of {stem}.pt as {read_subject!r}")
    if read_object != object_name:
        problems.append(
            f"object {object_name!r}: InterMimic takes the object as name.split('_')[-2] "
            f"and would read {read_object!r} from {stem}.pt (object names must hold no '_')"
        )
    return problems


def check_intermimic_names(ec: ExportClip, stem: str) -> None:
    """Raise :class:`ExportError` naming the clip and its names when InterMimic's loaders
    would crash on or misread the file ``stem``.pt (see the module docstring)."""
    m = ec.clip.meta
    if problems := intermimic_name_problems(m.subject, m.object_name, stem):
        raise ExportError(
            f"{'/'.join(ec.key)}: not InterMimic-compatible: {'; '.join(problems)}; "
            "rename it, or export with intermimic_compatible=false"
        )


def interact_matrix(ec: ExportClip, intermimic_compatible: bool = True) -> np.ndarray:
    """The ``[T, 591]`` float32 matrix of one clip; row 0 zeros when compatible."""
    x = encode(ec.clip)
    if intermimic_compatible:
        x[0] = 0.0  # the placeholder row InterMimic's loaders skip
    return x


def tensor_bytes(ec: ExportClip, intermimic_compatible: bool = True) -> bytes:
    """The ``torch.save`` bytes of one clip's ``[T, 591]`` float32 tensor."""
    import torch  # deferred: torch is heavy and only these paths need it

    x = interact_matrix(ec, intermimic_compatible)
    buf = io.BytesIO()
    torch.save(torch.from_numpy(np.ascontiguousarray(x)), buf)
    return buf.getvalue()


def write_interact_pt(
    clips: Sequence[ExportClip], out: Path, *, intermimic_compatible: bool = True
) -> dict[str, dict[str, str]]:
    """Write every clip into the folder ``out`` (see the module docstring).

    Returns ``{"files": {file name: "dataset/subject/clip"}, "skipped": {clip: why}}``:
    clips that cannot be written (wrong body count or rate, finger layout, names
    InterMimic would misread when compatible) are recorded, the rest written.
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
        stem = file_stem(ec, take)
        if intermimic_compatible:
            try:
                check_intermimic_names(ec, stem)
            except ExportError as exc:
                skipped[name] = str(exc).removeprefix(f"{name}: ")
                continue
        fname = stem + SUFFIX
        if fname in files:
            raise ExportError(
                f"{out}: clips {files[fname]} and {name} would both be written as {fname}; "
                "export fewer subjects at a time"
            )
        (out / fname).write_bytes(tensor_bytes(ec, intermimic_compatible))
        files[fname] = name
    return {"files": files, "skipped": skipped}
