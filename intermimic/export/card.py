"""The data card (``README.md``) written into every export folder.

A stranger holding only the export folder should be able to use it from the card alone:
where the data comes from (version id, raw datasets, teachers, code version) and under
which licences and citations; what is in the files (schema of the format, named axes);
the humanoid the joint angles replay on (an MJCF per subject in ``humanoid/`` and its
bone offsets) and the objects (meshes in ``objects/``, or their names and sha256); how
velocities were computed; per clip, how many frames were refined of how many, whether
the teacher reached the clip's end, and the physical artifact figures of the raw MoCap
and the refined motion where the store has them; what was left out and why; and how to
load it in five lines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from intermimic.export.clips import EXPORT_FIELDS, ExportClip, field_dimensions, velocity_source
from intermimic.export.npz import SCHEMA as NPZ_SCHEMA

FORMATS: tuple[str, ...] = ("zarr3", "zarr2", "interact-pt", "npz")
#: Rows of the per-clip table (a card stays readable; export.json lists every clip).
MAX_ROWS = 200

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
x = torch.load("{out}/{first}", weights_only=True){skip}  # {rows}
root_pos, root_quat_xyzw = x[:, 0:3], x[:, 3:7]
body_pos = x[:, 162:318].reshape(-1, 52, 3)        # m, world frame, z up
body_quat_xyzw = x[:, 383:591].reshape(-1, 52, 4)  # or intermimic.motion.load.read_clip""",
    "npz": """import numpy as np
m = np.load("{out}/{first}")                      # no pickle needed
fps = float(m["fps"][0])
joint_pos, joint_vel = m["joint_pos"], m["joint_vel"]  # [T, 153] rad, rad/s
body_pos_w, body_quat_w = m["body_pos_w"], m["body_quat_w"]  # [T,52,3] m; [T,52,4] wxyz""",
}

_XARRAY = """import xarray as xr
ds = xr.open_zarr("{out}/data.zarr")     # dims: frame, body, joint, xyz, quat, clip_id
clip = ds.isel(frame=ds.clip_index.values == 0)       # the frames of the first clip
hip_z = clip.body_pos.sel(body="L_Hip", xyz="z")      # [T] m
ds.clip_start.sel(clip_id=str(ds.clip_id[0].values))  # where it starts along frame"""

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

# Sources this pipeline knows, by raw dataset name (prefix): name, citation, terms.
_DATASETS = {
    "omomo": (
        "OMOMO",
        "Jiaman Li, Jiajun Wu, C. Karen Liu. *Object Motion Guided Human Motion "
        "Synthesis*. ACM Transactions on Graphics (SIGGRAPH Asia), 2023. arXiv:2309.16237",
        "the OMOMO dataset's own terms of use (https://github.com/lijiaman/omomo_release): "
        "this motion is derived from it; obtain and use OMOMO under those terms. The "
        "sample files this pipeline was developed on are InterAct's processing of OMOMO "
        "(Sirui Xu et al., *InterAct: Advancing Large-Scale Versatile 3D Human-Object "
        "Interaction Generation*, CVPR 2025) as published with InterMimic's release",
    ),
}
_INTERMIMIC = (
    "Sirui Xu, Hung Yu Ling, Yu-Xiong Wang, Liang-Yan Gui. *InterMimic: Towards Universal "
    "Whole-Body Control for Physics-Based Human-Object Interactions*. CVPR 2025. "
    "arXiv:2502.20390. Code: https://github.com/Sirui-Xu/InterMimic (MIT licence, "
    "Copyright (c) 2025 Sirui Xu)"
)
_SMPLX = (
    "Georgios Pavlakos, Vasileios Choutas, Nima Ghorbani, Timo Bolkart, Ahmed A. A. Osman, "
    "Dimitrios Tzionas, Michael J. Black. *Expressive Body Capture: 3D Hands, Face, and "
    "Body from a Single Image*. CVPR 2019"
)


def _num(v: Any, spec: str = ".3g") -> str:
    return "-" if v is None else format(float(v), spec)


def _schema(fmt: str, intermimic_compatible: bool) -> list[str]:
    if fmt in ("zarr3", "zarr2"):
        dims = (
            "`dimension_names` of each array"
            if fmt == "zarr3"
            else "the `_ARRAY_DIMENSIONS` attribute of each array"
        )
        rows = [
            "Folder `data.zarr/`: one Zarr group (format "
            + ("3" if fmt == "zarr3" else "2")
            + ", consolidated metadata). Every array is time first, all clips one after "
            "the other; the group attribute `clips` gives each clip's `start` and `length` "
            "and its record (`info`: success, tracking errors, physical figures, lineage). "
            "Attributes name every field's unit (`unit`, `units`), frame and quaternion "
            f"order. Every axis is named ({dims}), one name per meaning, and labelled by "
            "coordinate arrays, so `xarray.open_zarr` opens it as a Dataset:",
            "",
            "| dimension | size | coordinate(s) |",
            "| --- | --- | --- |",
            "| `frame` | all clips' frames | `clip_index` (which clip, position along "
            "`clip_id`), `frame_in_clip` |",
            "| `clip_id` | clips | `clip_id`, `clip_dataset`, `clip_subject`, `clip_object`, "
            "`clip_start`, `clip_length`, `clip_success` |",
            "| `body` | B = 52 | body names (`Pelvis` first) |",
            "| `joint` | J = 51 | joint j drives body j + 1: named by that body |",
            "| `xyz` | 3 | `x`, `y`, `z` |",
            "| `quat` | 4 | `w`, `x`, `y`, `z` |",
            "",
            "| array | dimensions | dtype | unit | frame | meaning |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for name, spec in EXPORT_FIELDS.items():
            shape = ", ".join(field_dimensions(spec))
            q = f" (quaternion {spec.quaternion_order})" if spec.quaternion_order else ""
            rows.append(
                f"| `{name}` | [{shape}] | {spec.dtype} | {spec.unit} | {spec.frame} "
                f"| {spec.description}{q} |"
            )
        return rows
    if fmt == "interact-pt":
        rows = [
            "One `SUBJECT_OBJECT_TAKE.pt` file per clip: a `torch.save`d float32 tensor "
            "`[T, 591]`, 30 fps, z up, metres, InterAct's layout (what InterMimic trains on). "
            "Load with `torch.load(path, weights_only=True)`. Velocities are not stored.",
            "",
        ]
        if intermimic_compatible:
            rows += [
                "InterMimic-compatible: **row 0 is a placeholder** (zeros), as in "
                "InterMimic's own refined files; its loaders skip row 0 of the raw and the "
                "refined file alike (`startk=1`) and take the episode length from the "
                "refined file. Row i >= 1 is frame i of the clip, so a clip refined from an "
                "InterAct file lines up row for row with the raw file of the same name "
                "(same length when the teacher reached the clip's end). Subjects are "
                "`sub<N>` (InterMimic parses `int(subject[3:])`) and object names hold no "
                "`_` (it reads the object as `name.split('_')[-2]`); clips that are not "
                "were refused and are listed under *Left out*. To read a file with this "
                "project: `intermimic ingest --set trim_invalid_leading_frames=true`.",
                "",
            ]
        else:
            rows += ["Every row is a frame (no placeholder row; not InterMimic's layout).", ""]
        rows += ["| columns | content |", "| --- | --- |"]
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


def _licence(manifest: Mapping[str, Any], smplx: bool) -> list[str]:
    raw = sorted({c["raw_dataset"] for c in manifest["clips"]})
    lines = [
        "This export has no licence of its own beyond its sources': the motion is derived "
        "from the raw MoCap below and inherits its terms. Cite the sources when you use it.",
        "",
    ]
    for ds in raw:
        known = next((v for k, v in _DATASETS.items() if ds.lower().startswith(k)), None)
        if known:
            name, cite, terms = known
            lines.append(f"- raw dataset `{ds}` ({name}): {terms}. Cite: {cite}.")
        else:
            lines.append(
                f"- raw dataset `{ds}`: not a dataset this pipeline knows; its owner's terms "
                "apply (ask them)."
            )
    lines.append(
        f"- method: InterMimic, reimplemented in MuJoCo by this pipeline (no InterMimic code "
        f"is part of this export). Cite: {_INTERMIMIC}."
    )
    if smplx:
        lines.append(
            "- body model: the 52 bodies, their names, order and the humanoid's skeleton "
            "follow SMPL-X (the mean-adult bone offsets come from the SMPL-X humanoid "
            "InterMimic published). No SMPL-X model file (shape space, blend shapes, mesh) "
            "is included. The SMPL-X model itself is licensed for non-commercial scientific "
            "research only (https://smpl-x.is.tue.mpg.de/modellicense.html): if you use it "
            f"with this data, its licence applies. Cite: {_SMPLX}."
        )
    lines.append("- the `intermimic` pipeline that made this export: MIT licence.")
    return lines


def _humanoid(humanoids: Mapping[str, Mapping[str, Any]]) -> list[str]:
    if not humanoids:
        return ["No humanoid model: the clips' bodies are not the SMPL-X humanoid's."]
    lines = [
        "The joint angles replay on the humanoid whose bone offsets the motion was made "
        "with. One MuJoCo MJCF per subject is in `humanoid/`, its offsets in "
        "`humanoid/bone_offsets.json` (each body's parent and its origin in the parent's "
        "frame at zero angles, m). Model layout: body 0 the pelvis with a free joint, then "
        "three hinges `<body>_x`, `<body>_y`, `<body>_z` per body about its own axes, one "
        "actuator per hinge, PD gains in the numeric fields `pd_kp`, `pd_kd`. "
        "Replay: `qpos = [root_pos, root_quat (w x y z), hinge angles]`, the hinge angles "
        "being each joint's rotation (`joint_rotvec`) as intrinsic XYZ Euler angles "
        "(the npz's `joint_pos`); `mujoco.mj_kinematics` then gives every body's pose.",
        "",
        "| subject | model | sha256 | offsets | replay error (max, mm) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for subject, h in sorted(humanoids.items()):
        lines.append(
            f"| {subject} | `{h['file']}` | `{h['sha256'][:16]}...` | {h['note']} "
            f"| {_num(h.get('replay_error_mm'), '.3f')} |"
        )
    offsets = {s: h.get("bodies") or {} for s, h in humanoids.items()}
    subjects = sorted(offsets)[:3]
    if subjects:
        first = offsets[subjects[0]]
        lines += [
            "",
            "Bone offsets (m, x y z in the parent's frame)"
            + (f" of {', '.join(subjects)}" if len(offsets) > 3 else "")
            + "; every subject's are in `humanoid/bone_offsets.json`:",
            "",
            "| body | parent | " + " | ".join(subjects) + " |",
            "| --- | --- | " + " | ".join("---" for _ in subjects) + " |",
        ]
        for body, b in first.items():
            cells = []
            for s in subjects:
                o = offsets[s].get(body, {}).get("offset_m")
                # + 0.0 turns the -0.0 that rounding leaves into 0.0
                xyz = " ".join(f"{round(v, 4) + 0.0:+.4f}" for v in o or ())
                cells.append(xyz if o and b["parent"] else "-")
            lines.append(f"| {body} | {b['parent'] or '-'} | " + " | ".join(cells) + " |")
    return lines


def _objects(objects: Mapping[str, Mapping[str, Any]]) -> list[str]:
    if not objects:
        return ["No object records."]
    lines = [
        "Object poses (`obj_pos`, `obj_quat`) are of each object's mesh frame (metres, z up). "
        "Meshes, their 1024 surface points (`sample_points.npy`, object frame) and URDFs, "
        "where the objects folder had them:",
        "",
        "| object | file | sha256 | bytes | in this export |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, rec in sorted(objects.items()):
        files = rec.get("files") or {}
        if not files:
            lines.append(f"| {name} | - | - | - | no: {rec.get('note') or 'not found'} |")
        for fname, f in sorted(files.items()):
            where = f"`{f['path']}`" if f.get("path") else "no (named and hashed only)"
            lines.append(f"| {name} | {fname} | `{f['sha256']}` | {f['bytes']} | {where} |")
    return lines


_VELOCITY_TEXT = {
    "simulation": "the refining simulator's world-frame body velocities at each recorded "
    "frame (MuJoCo: linear velocity of each body's origin, angular velocity; the object "
    "likewise), recorded with the rollout",
    "finite differences": "finite differences of the poses at 30 fps: central differences "
    "of positions (one-sided at a clip's ends); angular velocity from the rotation between "
    "neighbouring orientations, `q[t+1] q[t]^-1` as a rotation vector times fps, averaged "
    "over the two steps around a frame",
}


def _velocities(sources: Sequence[str], fmt: str) -> list[str]:
    counts = Counter(sources)
    lines = ["World-frame velocities (`body_linvel`, `body_angvel`, `obj_linvel`, `obj_angvel`):"]
    lines += [f"- {n} clip(s): {_VELOCITY_TEXT[src]}" for src, n in sorted(counts.items())]
    if fmt == "npz":
        lines.append(
            "- `joint_vel`: central differences (`numpy.gradient`) of the hinge angles "
            "`joint_pos`, unwrapped over time, times fps."
        )
    if fmt == "interact-pt":
        lines.append("- not stored in InterAct `.pt` files (InterMimic recomputes them).")
    return lines


def _left_out(
    left_out: Mapping[str, str], skipped: Mapping[str, str], include_partial: bool
) -> list[str]:
    total = len(left_out) + len(skipped)
    if not total:
        return ["Nothing: every clip of the selection is in this export."]
    lines = [f"{total} clip(s) of the selection are not in this export:", ""]
    partial = [k for k, why in left_out.items() if why.startswith("partial")]
    if partial:
        lines.append(
            f"- {len(partial)} partial: the teacher did not reach the clip's end, so the "
            "refined motion stops early (export them with `--include-partial`, stage "
            "setting `include_partial=true`)"
        )
    other = len(left_out) - len(partial)
    if other:
        lines.append(f"- {other} not selected (see below)")
    if skipped:
        lines.append(f"- {len(skipped)} not writable in this format (reasons below)")
    lines += ["", "| clip | why |", "| --- | --- |"]
    lines += [f"| {k} | {why} |" for k, why in sorted({**left_out, **skipped}.items())]
    return lines


def data_card(
    manifest: Mapping[str, Any],
    fmt: str,
    clips: Sequence[ExportClip],
    files: Mapping[str, str],
    skipped: Mapping[str, str],
    out_name: str,
    exported_at: str,
    *,
    left_out: Mapping[str, str] | None = None,
    humanoids: Mapping[str, Mapping[str, Any]] | None = None,
    objects: Mapping[str, Mapping[str, Any]] | None = None,
    include_partial: bool = False,
    intermimic_compatible: bool = True,
) -> str:
    """The card's markdown for an export of ``clips`` of the version ``manifest``.

    ``files``: what the format wrote; ``skipped``: clips the format could not write,
    ``left_out``: clips of the selection not exported (partial ones), each with why;
    ``humanoids``: :func:`~intermimic.export.humanoid.write_humanoids`' record (with
    each subject's bone offsets); ``objects``:
    :func:`~intermimic.export.objects.export_objects`' record.
    """
    m = manifest
    left_out = left_out or {}
    written = set(files.values())
    shown = [ec for ec in clips if "/".join(ec.key) in written or fmt.startswith("zarr")]
    first = next(iter(sorted(files)), "CLIP")
    ok = sum(ec.success for ec in shown)
    smplx = any(ec.clip.n_bodies == 52 for ec in clips)
    partial_in = len(shown) - ok
    vel = {"/".join(ec.key): velocity_source(ec) for ec in shown}
    lines = [
        f"# Refined HOI data, version `{m['version']}` ({fmt})",
        "",
        "Human-object interaction motion physically refined by per-subject teacher policies "
        "(InterMimic, arXiv 2502.20390) in MuJoCo, exported by the `intermimic` pipeline. "
        "This card and the files beside it are all you need: `export.json` holds the same "
        "records as data.",
        "",
        "## Contents",
        "",
        f"- {len(shown)} clip(s) of {len({ec.clip.meta.subject for ec in shown})} subject(s), "
        f"{sum(ec.refined_frames for ec in shown)} frames, format `{fmt}` "
        f"({'`data.zarr/`' if fmt.startswith('zarr') else f'{len(files)} file(s)'})",
        f"- clips refined to their end: {ok} of {len(shown)}"
        + (
            f" (**{partial_in} partial clip(s) included on request**: their motion stops "
            "where the teacher fell; the `success` column says which)"
            if partial_in
            else ""
        ),
        f"- left out: {len(left_out) + len(skipped)} (see *Left out*)",
        "- `humanoid/`: the humanoid model (MJCF) per subject and its bone offsets"
        if humanoids
        else "- no humanoid model (not SMPL-X bodies)",
        "- `objects/`: object meshes"
        if any(f.get("path") for r in (objects or {}).values() for f in r["files"].values())
        else "- objects named and hashed only (see *Objects*)",
        "",
        "## Provenance",
        "",
        f"- version: `{m['version']}` (content hash of raw clip hashes, teacher checkpoint "
        f"hashes, settings and code version), created {m['created_at']}",
        f"- exported: {exported_at}, format `{fmt}`",
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
        "## Licence and citation",
        "",
        *_licence(m, smplx),
        "",
        "## Conventions",
        "",
        "SI units, z up, world frame, 30 frames per second; quaternions w x y z except in "
        "InterAct `.pt` files (x y z w, as InterAct writes them). Contact labels per body: "
        "+1 contact expected, 0 unknown, -1 must not touch.",
        "",
        "## Humanoid",
        "",
        *_humanoid(humanoids or {}),
        "",
        "## Objects",
        "",
        *_objects(objects or {}),
        "",
        "## Velocities",
        "",
        *_velocities(list(vel.values()), fmt),
        "",
        "## Schema",
        "",
        *_schema(fmt, intermimic_compatible),
        "",
        "## Clips",
        "",
        "Refined frames: frames of refined motion in this export; clip frames: frames of "
        "the raw clip it refines. Success: the teacher tracked the clip to its last frame "
        "(reached the clip's end). E_h: mean key-body position error, E_o: mean "
        "object-point error against the MoCap reference (cm). Physical figures: "
        "penetration depth (m), share of frames where the object floats unsupported, foot "
        "skating speed (m/s); raw MoCap over the same frames versus refined ('-': the store "
        "has no figure).",
        "",
        "| clip | refined frames | clip frames | success | velocities | E_h cm | E_o cm "
        "| penetration obj raw / refined | floating raw / refined "
        "| foot skate raw / refined |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for ec in shown[:MAX_ROWS]:
        i = ec.info
        r, a = i.get("figures_raw") or {}, i.get("figures_refined") or {}

        def pair(f: str, r: dict[str, Any] = r, a: dict[str, Any] = a) -> str:
            return f"{_num(r.get(f))} / {_num(a.get(f))}"

        raw_n = ec.clip_frames
        lines.append(
            f"| {ec.clip.meta.subject}/{ec.clip.meta.clip_id} | {ec.refined_frames} "
            f"| {'-' if raw_n is None else raw_n} | {'yes' if ec.success else '**no**'} "
            f"| {'sim' if vel['/'.join(ec.key)] == 'simulation' else 'fd'} "
            f"| {_num(i.get('e_h_cm'), '.1f')} "
            f"| {_num(i.get('e_o_cm'), '.1f')} | {pair('penetration_object_max')} "
            f"| {pair('floating_fraction')} | {pair('foot_skate_speed_mean')} |"
        )
    if len(shown) > MAX_ROWS:
        lines.append(f"| ... {len(shown) - MAX_ROWS} more (in export.json) | | | | | | | | | |")
    lines += [
        "",
        "## Left out",
        "",
        *_left_out(left_out, skipped, include_partial),
        "",
        "## Load it",
        "",
        "```python",
        _LOAD[fmt].format(
            out=out_name,
            first=first,
            skip="[1:]" if intermimic_compatible else "",
            rows="row 0 is a placeholder: [T-1, 591]" if intermimic_compatible else "[T, 591]",
        ),
        "```",
        "",
    ]
    if fmt.startswith("zarr"):
        lines += ["With xarray (`pip install xarray`):", "", "```python"]
        lines += [_XARRAY.format(out=out_name), "```", ""]
    return "\n".join(lines)
