"""``interact-pt``: InterAct's ``.pt`` clip files, as used by InterMimic.

Each file is one ``torch.save``d float tensor ``[T, 591]`` at 30 fps, z up, metres.
Quaternions in the file are x y z w. The file name is ``SUBJECT_OBJECT_TAKE.pt``
(``sub2_largetable_003.pt``): the subject, the object and the clip id come from it.

Files are loaded with ``torch.load(..., weights_only=True)``: a pickle that would run code
is refused, never executed.

Finger positions. In the sample (and InterAct's processing of OMOMO in general) the 30
finger columns of the position block 162:318 hold SMPL-X joints 22 onwards: the first
three are the jaw and the eyes, and every finger column holds the previous finger, so
the right thumb is missing. Orientations (383:591) are in the right order. The reader
detects the shift from the data (the ``L_Index1`` column moves rigidly with the head,
not with the wrist) and repairs it: fingers are shifted back and the right thumb is
rebuilt from the subject's own left-thumb bones, mirrored, along the right hand's
orientations. Clips without the shift are read as they are.
"""

from __future__ import annotations

import io
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from intermimic.errors import ReadError
from intermimic.motion.clip import HOIClip
from intermimic.motion.formats.bounded import plain
from intermimic.motion.formats.registry import ClipFormat, Decoded, register_format
from intermimic.motion.limits import check_archive, check_array, current_limits
from intermimic.motion.names import printable
from intermimic.motion.quat import quat_conj, quat_rotate, wxyz_to_xyzw, xyzw_to_wxyz
from intermimic.motion.skeleton import SMPLX_BODY_NAMES, SMPLX_PARENTS

WIDTH = 591
N_BODIES = 52
FPS = 30.0

# Column layout of the tensor (see ../shared/data/README.md).
ROOT_POS = slice(0, 3)
ROOT_QUAT = slice(3, 7)
JOINT_ROTVEC = slice(9, 162)
BODY_POS = slice(162, 318)
OBJ_POS = slice(318, 321)
OBJ_QUAT = slice(321, 325)
OBJ_CONTACT = 330
CONTACT = slice(331, 383)
BODY_QUAT = slice(383, 591)

_FINGERS = [
    i
    for i, n in enumerate(SMPLX_BODY_NAMES)
    if n[2:-1] in ("Index", "Middle", "Pinky", "Ring", "Thumb")
]
_HEAD = SMPLX_BODY_NAMES.index("Head")
_L_WRIST = SMPLX_BODY_NAMES.index("L_Wrist")
_L_INDEX1 = SMPLX_BODY_NAMES.index("L_Index1")
_L_THUMB = [SMPLX_BODY_NAMES.index(f"L_Thumb{i}") for i in (1, 2, 3)]
_R_THUMB = [SMPLX_BODY_NAMES.index(f"R_Thumb{i}") for i in (1, 2, 3)]
_MIRROR = np.array([1.0, -1.0, 1.0])  # left <-> right across the sagittal (x-z) plane


def _in_frame(body_pos: np.ndarray, body_quat: np.ndarray, b: int, ref: int) -> np.ndarray:
    """Body ``b``'s position in body ``ref``'s frame, per frame ``[T, 3]`` (float64)."""
    d = body_pos[:, b].astype(np.float64) - body_pos[:, ref]
    return quat_rotate(quat_conj(body_quat[:, ref].astype(np.float64)), d)


def fingers_shifted(body_pos: np.ndarray, body_quat: np.ndarray) -> bool:
    """True when the ``L_Index1`` column rides with the head rather than the left wrist."""
    if len(body_pos) < 2 or not np.isfinite(body_pos).all():
        return False
    head = _in_frame(body_pos, body_quat, _L_INDEX1, _HEAD).std(axis=0).max()
    wrist = _in_frame(body_pos, body_quat, _L_INDEX1, _L_WRIST).std(axis=0).max()
    return bool(head < wrist)


def repair_finger_positions(body_pos: np.ndarray, body_quat: np.ndarray) -> np.ndarray:
    """Undo the one-finger shift of the position block (see the module docstring)."""
    fixed = body_pos.copy()
    fixed[:, _FINGERS[:-3]] = body_pos[:, _FINGERS[3:]]
    for left, right in zip(_L_THUMB, _R_THUMB, strict=True):
        off = np.median(_in_frame(fixed, body_quat, left, SMPLX_PARENTS[left]), axis=0) * _MIRROR
        parent = SMPLX_PARENTS[right]
        q = body_quat[:, parent].astype(np.float64)
        fixed[:, right] = fixed[:, parent] + quat_rotate(q, np.broadcast_to(off, (len(q), 3)))
    return fixed


NAME_RE = re.compile(
    r"(?P<subject>[A-Za-z0-9][A-Za-z0-9-]*)_(?P<object>[A-Za-z0-9][A-Za-z0-9_-]*?)_(?P<take>[0-9]+)"
)


def parse_name(path: Path) -> dict[str, str]:
    """``sub2_largetable_003.pt`` -> subject ``sub2``, object ``largetable``, clip id = stem.

    The whole stem must match (``fullmatch``), and each part is a plain name
    (:func:`~intermimic.motion.names.check_name`)."""
    stem = path.name[: -len(".pt")] if path.name.endswith(".pt") else path.stem
    m = NAME_RE.fullmatch(stem)
    if not m:
        raise ReadError(
            f"file name {printable(path.name)} does not parse as SUBJECT_OBJECT_TAKE.pt "
            "(for example sub2_largetable_003.pt)",
            path,
        )
    names = {"subject": m["subject"], "object_name": m["object"], "clip_id": stem}
    for what, value in names.items():
        plain(value, what, path)
    return names


def _first_line(exc: BaseException) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    line = text.splitlines()[0] if text else ""
    line = line.split(". This is an internal")[0]  # miniz's advice is noise to our users
    return f"{type(exc).__name__}: {line[:160]}"


def _check_archive(data: bytes, path: Path) -> None:
    """A torch zip archive whose members unpack within the limits.

    The legacy (pre-1.6, non-zip) format is not read: its loader allocates every storage
    at the size the pickle declares before reading a byte of it, so a tiny file could
    ask for any amount of memory.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            check_archive(zf, path)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise ReadError(
            "not a readable torch file (truncated or damaged, or the legacy pre-1.6 "
            f"format, which is not read): not a zip archive ({exc})",
            path,
        ) from None


def check_tensor_bounds(t: Any, path: Path) -> None:
    """Check a loaded tensor's declared frames, strides and storage before it is copied.

    ``torch.load`` gives a view over the storage the file holds; the view may claim far
    more values than the storage has (a zero-stride ``expand``, overlapping strides).
    Materialising it (``.contiguous()``, ``.numpy()`` then slicing) would allocate the
    claimed size, so such tensors are rejected, and the float32 copy must fit
    ``max_array_bytes``.
    """
    lim = current_limits()
    shape = tuple(int(d) for d in t.shape)
    n = shape[0]
    if n > lim.max_frames:
        raise ReadError(
            f"tensor declares {n} frames {list(shape)}, more than the limit "
            f"max_frames={lim.max_frames}",
            path,
        )
    if t.numel() > 1 and any(st == 0 and d > 1 for st, d in zip(t.stride(), shape, strict=True)):
        raise ReadError(
            f"tensor {list(shape)} has a zero stride {list(t.stride())} (an expanded "
            "view of fewer stored values), refused",
            path,
        )
    stored = t.untyped_storage().nbytes()
    claimed = t.numel() * t.element_size()
    if claimed > stored:
        raise ReadError(
            f"tensor {list(shape)} claims {claimed} bytes of values but the file stores "
            f"{stored} (overlapping strides {list(t.stride())}), refused",
            path,
        )
    check_array("tensor", shape, np.dtype(np.float32), path, lim)


def _load_tensor(data: bytes, path: Path) -> np.ndarray:
    import torch  # deferred: torch is heavy and only these paths need it

    if not data:
        raise ReadError("empty file (0 bytes)", path)
    _check_archive(data, path)
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        what = f"it asks for {found[1]}" if found else _first_line(exc)
        raise ReadError(
            "refused to unpickle: the file holds objects other than plain tensors, which "
            f"weights_only loading does not run ({what})",
            path,
        ) from None
    except Exception as exc:  # torch raises RuntimeError/EOFError/... for damaged archives
        raise ReadError(
            f"not a readable torch file (truncated or damaged?): {_first_line(exc)}", path
        ) from None
    if not isinstance(obj, torch.Tensor):
        raise ReadError(f"expected one tensor [T, {WIDTH}], found {type(obj).__name__}", path)
    t = obj.detach()
    if t.dim() != 2:
        raise ReadError(f"tensor has rank {t.dim()} {list(t.shape)}, expected 2 [T, {WIDTH}]", path)
    if t.shape[1] != WIDTH:
        raise ReadError(f"tensor has width {t.shape[1]}, expected {WIDTH}", path)
    if not t.is_floating_point():
        raise ReadError(f"tensor has dtype {t.dtype}, expected floating point", path)
    check_tensor_bounds(t, path)
    return t.to(torch.float32).numpy()


class InterActPt(ClipFormat):
    name = "interact-pt"
    suffixes = (".pt",)

    def identify(self, path: Path) -> dict[str, str]:
        return parse_name(path)

    def decode(self, data: bytes, path: Path) -> Decoded:
        names = parse_name(path)
        x = _load_tensor(data, path)
        n = x.shape[0]
        body_pos = x[:, BODY_POS].reshape(n, N_BODIES, 3)
        body_quat = xyzw_to_wxyz(x[:, BODY_QUAT].reshape(n, N_BODIES, 4))
        extra = {}
        if fingers_shifted(body_pos, body_quat):
            body_pos = repair_finger_positions(body_pos, body_quat).astype(np.float32)
            extra["repaired"] = "finger positions shifted back; right thumb rebuilt"
        arrays = {
            "root_pos": x[:, ROOT_POS],
            "root_quat": xyzw_to_wxyz(x[:, ROOT_QUAT]),
            "joint_rotvec": x[:, JOINT_ROTVEC].reshape(n, N_BODIES - 1, 3),
            "body_pos": body_pos,
            "body_quat": body_quat,
            "obj_pos": x[:, OBJ_POS],
            "obj_quat": xyzw_to_wxyz(x[:, OBJ_QUAT]),
            "contact": x[:, CONTACT],
            "obj_contact": x[:, OBJ_CONTACT],
        }
        return Decoded(meta={**names, "fps": FPS}, arrays=arrays, extra=extra)

    def write(self, clip: HOIClip, path: Path) -> None:
        """Write ``clip`` as an InterAct tensor (float32, x y z w quaternions, unused columns 0)."""
        import torch  # deferred: torch is heavy and only these paths need it

        if clip.n_bodies != N_BODIES:
            raise ValueError(f"interact-pt holds {N_BODIES} bodies, clip has {clip.n_bodies}")
        x = encode(clip)
        buf = io.BytesIO()
        torch.save(torch.from_numpy(x), buf)
        path.write_bytes(buf.getvalue())


def encode(clip: HOIClip) -> np.ndarray:
    """The ``[T, 591]`` float32 matrix of a clip in InterAct's column layout."""
    n = clip.n_frames
    x = np.zeros((n, WIDTH), dtype=np.float32)
    x[:, ROOT_POS] = clip.root_pos
    x[:, ROOT_QUAT] = wxyz_to_xyzw(clip.root_quat)
    x[:, JOINT_ROTVEC] = clip.joint_rotvec.reshape(n, -1)
    x[:, BODY_POS] = clip.body_pos.reshape(n, -1)
    x[:, BODY_QUAT] = wxyz_to_xyzw(clip.body_quat).reshape(n, -1)
    x[:, OBJ_POS] = clip.obj_pos
    x[:, OBJ_QUAT] = wxyz_to_xyzw(clip.obj_quat)
    x[:, OBJ_CONTACT] = clip.obj_contact
    x[:, CONTACT] = clip.contact
    return x


register_format(InterActPt())
