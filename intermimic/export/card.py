"""The data card (``README.md``) written into every export folder.

It says where the data comes from (version id, raw datasets, teachers, code version),
what is in the files (schema of the format), how good it is (metrics table), and how to
load it in five lines, so that a folder handed to another project explains itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from intermimic.export.clips import EXPORT_FIELDS, ExportClip
from intermimic.export.npz import SCHEMA as NPZ_SCHEMA

FORMATS: tuple[str, ...] = ("zarr3", "zarr2", "interact-pt", "npz")

_LOAD = {
    "zarr3": """import zarr  # zarr-python >= 3
g = zarr.open_group("{out}/data.zarr", mode="r")
clip = g.attrs["clips"][0]               # dataset, subject, clip_id, start, length, info
s, n = clip["start"], clip["length"]
body_pos = g["body_pos"][s:s + n]        # [T, 52, 3] m, world frame, z up""",
    "zarr2": """import zarr  # zarr-python 2 (or 3)
g = zarr.open_consolidated("{out}/data.zarr", mode="r")
clip = g.attrs["clips"][0]               # dataset, subject, clip_id, start, length, info
s, n = clip["start"], clip["length"]
body_pos = g["body_pos"][s:s + n]        # [T, 52, 3] m, world frame, z up""",
    "interact-pt": """import torch
x = torch.load("{out}/{first}", weights_only=True)  # [T, 591] float32, 30 fps
root_pos, root_quat_xyzw = x[:, 0:3], x[:, 3:7]
body_pos = x[:, 162:318].reshape(-1, 52, 3)        # m, world frame, z up
body_quat_xyzw = x[:, 383:591].reshape(-1, 52, 4)  # or intermimic.motion.load.read_clip""",
    "npz": """import numpy as np
m = np.load("{out}/{first}")                      # no pickle needed
fps = float(m["fps"][0])
joint_pos, joint_vel = m["joint_pos"], m["joint_vel"]  # [T, 153] rad, rad/s
body_pos_w, body_quat_w = m["body_pos_w"], m["body_quat_w"]  # [T,52,3] m; [T,52,4] wxyz""",
}

_INTERACT_COLUMNS = [
    ("0:3", "root (pelvis) position, m"),
    ("3:7", "root orientation, quaternion x y z w"),
    ("7:9", "unused (0)"),
    ("9:162", "51 joints x 3: local rotation as a rotation vector (rad)"),
    ("162:318", "52 bodies x 3: global body positions, m (SMPL-X order, fingers not shifted)"),
    ("318:321", "object position, m"),
    ("321:325", "object orientation, quaternion x y z w"),
    ("325:330", "unused (0)"),
    ("330", "object-in-contact flag (0/1)"),
    ("331:383", "per-body contact label: +1 expected, 0 unknown, -1 must not touch"),
    ("383:591", "52 bodies x 4: global body orientations, quaternion x y z w"),
]


def _num(v: Any, spec: str = ".3g") -> str:
    return "-" if v is None else format(float(v), spec)


def _schema(fmt: str) -> list[str]:
    if fmt in ("zarr3", "zarr2"):
        rows = [
            "Folder `data.zarr/`: one Zarr group (format "
            + ("3" if fmt == "zarr3" else "2")
            + ", consolidated metadata). Every array is time first, all clips one after "
            "the other; the group attribute `clips` gives each clip's `start` and `length` "
            "and its record (`info`: success, tracking errors, physical figures, lineage). "
            "Attributes name every field's unit, frame and quaternion order.",
            "",
            "| array | shape | dtype | unit | frame | meaning |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for name, spec in EXPORT_FIELDS.items():
            shape = ", ".join(["T", *map(str, spec.tail)])
            q = f" (quaternion {spec.quaternion_order})" if spec.quaternion_order else ""
            rows.append(
                f"| `{name}` | [{shape}] | {spec.dtype} | {spec.unit} | {spec.frame} "
                f"| {spec.description}{q} |"
            )
        rows.append("")
        rows.append("B = 52 SMPL-X bodies (names in the group attribute `body_names`), J = 51.")
        return rows
    if fmt == "interact-pt":
        rows = [
            "One `SUBJECT_OBJECT_TAKE.pt` file per clip: a `torch.save`d float32 tensor "
            "`[T, 591]`, 30 fps, z up, metres, InterAct's layout (what InterMimic trains on). "
            "Load with `torch.load(path, weights_only=True)`. Velocities are not stored.",
            "",
            "| columns | content |",
            "| --- | --- |",
        ]
        return rows + [f"| {c} | {what} |" for c, what in _INTERACT_COLUMNS]
    rows = [
        "One `<clip_id>.npz` per clip, keys as in the motion files of mjlab's tracking task "
        "plus the object and contacts; world frame, z up, SI units, quaternions w x y z. "
        "Joint angles are each joint's local rotation as intrinsic XYZ Euler angles, the "
        "three hinges (x, y, z) of each body of the humanoid.",
        "",
        "| key | shape | dtype | content |",
        "| --- | --- | --- | --- |",
    ]
    return rows + [
        f"| `{k}` | [{shape[1:-1]}] | {dtype} | {what} |" for k, shape, dtype, what in NPZ_SCHEMA
    ]


def data_card(
    manifest: Mapping[str, Any],
    fmt: str,
    clips: Sequence[ExportClip],
    files: Mapping[str, str],
    skipped: Mapping[str, str],
    out_name: str,
    exported_at: str,
) -> str:
    """The card's markdown for an export of ``clips`` of the version ``manifest``."""
    m = manifest
    first = next(iter(sorted(files)), "CLIP")
    ok = sum(ec.success for ec in clips)
    lines = [
        f"# Refined HOI data, version `{m['version']}` ({fmt})",
        "",
        "Human-object interaction motion physically refined by per-subject teacher policies "
        "(InterMimic, arXiv 2502.20390) in MuJoCo, exported by the `intermimic` pipeline.",
        "",
        "## Provenance",
        "",
        f"- version: `{m['version']}` (content hash of raw clip hashes, teacher checkpoint "
        f"hashes, settings and code version), created {m['created_at']}",
        f"- exported: {exported_at}, format `{fmt}`, {len(clips)} clip(s) of "
        f"{len({ec.clip.meta.subject for ec in clips})} subject(s)",
        f"- code: {m['code_version']}",
        f"- raw datasets: {', '.join(sorted({c['raw_dataset'] for c in m['clips']}))}",
        "- teachers (dataset/subject: checkpoint sha256):",
        *[
            f"  - {t['dataset']}/{t['subject']}: `{t['sha256'][:16]}...`"
            for t in m["lineage"]["teachers"]
        ],
        "- each clip's raw MoCap hash, teacher hash and refined hash are in "
        + ("the `clips` attribute" if fmt.startswith("zarr") else "`export.json`"),
        "",
        "## Conventions",
        "",
        "SI units, z up, world frame, 30 frames per second; quaternions w x y z except in "
        "InterAct `.pt` files (x y z w, as InterAct writes them). Contact labels per body: "
        "+1 contact expected, 0 unknown, -1 must not touch.",
        "",
        "## Schema",
        "",
        *_schema(fmt),
        "",
        "## Metrics",
        "",
        f"Success (tracked to the clip's last frame): {ok} of {len(clips)} exported clips. "
        "E_h: mean key-body position error, E_o: mean object-point error against the MoCap "
        "reference (cm). Physical figures: penetration depth (m), share of frames where the "
        "object floats unsupported, foot skating speed (m/s); raw MoCap over the same "
        "frames versus refined.",
        "",
        "| clip | frames | success | E_h cm | E_o cm | penetration obj raw / refined "
        "| floating raw / refined | foot skate raw / refined |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for ec in clips[:200]:
        i = ec.info
        r, a = i.get("figures_raw") or {}, i.get("figures_refined") or {}

        def pair(f: str, r: dict[str, Any] = r, a: dict[str, Any] = a) -> str:
            return f"{_num(r.get(f))} / {_num(a.get(f))}"

        lines.append(
            f"| {ec.clip.meta.subject}/{ec.clip.meta.clip_id} | {ec.clip.n_frames} "
            f"| {'yes' if ec.success else 'no'} | {_num(i.get('e_h_cm'), '.1f')} "
            f"| {_num(i.get('e_o_cm'), '.1f')} | {pair('penetration_object_max')} "
            f"| {pair('floating_fraction')} | {pair('foot_skate_speed_mean')} |"
        )
    if len(clips) > 200:
        lines.append(f"| ... {len(clips) - 200} more | | | | | | | |")
    if skipped:
        lines += ["", "Left out of this format:", ""]
        lines += [f"- {k}: {why}" for k, why in sorted(skipped.items())]
    lines += [
        "",
        "## Load it",
        "",
        "```python",
        _LOAD[fmt].format(out=out_name, first=first),
        "```",
        "",
    ]
    return "\n".join(lines)
