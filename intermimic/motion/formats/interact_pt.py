"""``interact-pt``: InterAct's ``.pt`` clip files, as used by InterMimic.

Each file is one ``torch.save``d float tensor ``[T, 591]`` at 30 fps, z up, metres.
Quaternions in the file are x y z w. The file name is ``SUBJECT_OBJECT_TAKE.pt``
(``sub2_largetable_003.pt``): the subject, the object and the clip id come from it.

Files are loaded with ``torch.load(..., weights_only=True)``: a pickle that would run code
is refused, never executed.
"""

from __future__ import annotations

import io
import pickle
import re
from pathlib import Path

import numpy as np

from intermimic.errors import ReadError
from intermimic.motion.clip import HOIClip
from intermimic.motion.formats.registry import ClipFormat, Decoded, register_format
from intermimic.motion.quat import wxyz_to_xyzw, xyzw_to_wxyz

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

NAME_RE = re.compile(
    r"^(?P<subject>[A-Za-z0-9-]+)_(?P<object>[A-Za-z0-9][A-Za-z0-9_-]*?)_(?P<take>\d+)$"
)


def parse_name(path: Path) -> dict[str, str]:
    """``sub2_largetable_003.pt`` -> subject ``sub2``, object ``largetable``, clip id = stem."""
    stem = path.name[: -len(".pt")] if path.name.endswith(".pt") else path.stem
    m = NAME_RE.match(stem)
    if not m:
        raise ReadError(
            f"file name {path.name!r} does not parse as SUBJECT_OBJECT_TAKE.pt "
            "(for example sub2_largetable_003.pt)",
            path,
        )
    return {"subject": m["subject"], "object_name": m["object"], "clip_id": stem}


def _first_line(exc: BaseException) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    line = text.splitlines()[0] if text else ""
    line = line.split(". This is an internal")[0]  # miniz's advice is noise to our users
    return f"{type(exc).__name__}: {line[:160]}"


def _load_tensor(data: bytes, path: Path) -> np.ndarray:
    import torch

    if not data:
        raise ReadError("empty file (0 bytes)", path)
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
        arrays = {
            "root_pos": x[:, ROOT_POS],
            "root_quat": xyzw_to_wxyz(x[:, ROOT_QUAT]),
            "joint_rotvec": x[:, JOINT_ROTVEC].reshape(n, N_BODIES - 1, 3),
            "body_pos": x[:, BODY_POS].reshape(n, N_BODIES, 3),
            "body_quat": xyzw_to_wxyz(x[:, BODY_QUAT].reshape(n, N_BODIES, 4)),
            "obj_pos": x[:, OBJ_POS],
            "obj_quat": xyzw_to_wxyz(x[:, OBJ_QUAT]),
            "contact": x[:, CONTACT],
            "obj_contact": x[:, OBJ_CONTACT],
        }
        return Decoded(meta={**names, "fps": FPS}, arrays=arrays)

    def write(self, clip: HOIClip, path: Path) -> None:
        """Write ``clip`` as an InterAct tensor (float32, x y z w quaternions, unused columns 0)."""
        import torch

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
