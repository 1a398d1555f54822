"""The Unitree G1 with three-finger hands as an :class:`~intermimic.humanoid.embodiment.
Embodiment` (29 body DOF + 2 x 7 hand DOF = 43 hinges).

The URDF and its STL meshes are read from a configured path (:class:`G1Settings`:
``$INTERMIMIC_G1_URDF``, default ``<shared data>/robots/g1/g1_29dof_with_hand.urdf``);
nothing of it is committed. :meth:`G1Embodiment.build_spec` loads it with
``MjSpec.from_file`` (mesh folder set to the URDF's own; visual duplicates of the
collision meshes dropped; static links kept as bodies), gives the pelvis a free joint,
adds two massless toe frames (``left_toe``, ``right_toe``) at the front of the feet, one
PD position actuator per hinge in joint order with the gains of its group
(:class:`G1Gains`: legs 500/50, waist and arms 300/30, wrists 200/20, hands 100/10) and
the URDF's effort limits, and excludes collisions between links that touch at rest.

The reference is SMPL-X motion of a person about 1.25 x the robot's size: positions are
scaled by :attr:`G1Embodiment.height_ratio` (standing pelvis heights, robot over the
mean adult). 21 key bodies follow SMPL-X bodies (:data:`KEY_BODY_MAP`: pelvis, torso,
head, hips, knees, ankles, toes, shoulders, elbows, wrists, thumb and index tips);
every body has an SMPL-X counterpart for its contact label (:data:`BODY_MAP`). Body
orientations are compared through rest offsets measured in a common pose: the robot at
zero angles (arms down, forearms forward) and the SMPL-X humanoid with the same arm pose.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import mujoco
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from intermimic.humanoid.builder import build_model, exclude_rest_overlaps
from intermimic.humanoid.embodiment_base import I64, Embodiment, EmbodimentError
from intermimic.humanoid.skeleton_model import Gains
from intermimic.humanoid.smplx_offsets import default_skeleton
from intermimic.motion.clip import HOIClip
from intermimic.motion.kinematics import KinematicTree, fk
from intermimic.motion.quat import quat_conj, quat_mul
from intermimic.motion.skeleton import SMPLX_BODY_NAMES
from intermimic.paths import PROJECT_ROOT, shared_data_dir

F64 = NDArray[np.float64]

URDF_ENV_VAR = "INTERMIMIC_G1_URDF"
URDF_NAME = "g1_29dof_with_hand.urdf"

# Every body the environment reads -> the SMPL-X body it follows (contact labels; the
# key bodies below also their reference pose). Order: the model's (depth first).
_SIDE_MAP = {
    "hip_pitch_link": "Hip", "hip_roll_link": "Hip", "hip_yaw_link": "Hip",
    "knee_link": "Knee", "ankle_pitch_link": "Ankle", "ankle_roll_link": "Ankle",
    "toe": "Toe",
}  # fmt: skip
_ARM_MAP = {
    "shoulder_pitch_link": "Shoulder", "shoulder_roll_link": "Shoulder",
    "shoulder_yaw_link": "Shoulder", "elbow_link": "Elbow", "wrist_roll_link": "Elbow",
    "wrist_pitch_link": "Wrist", "wrist_yaw_link": "Wrist", "hand_palm_link": "Wrist",
    "hand_thumb_0_link": "Thumb1", "hand_thumb_1_link": "Thumb2",
    "hand_thumb_2_link": "Thumb3", "hand_thumb_tip_link": "Thumb3",
    "hand_middle_0_link": "Middle1", "hand_middle_1_link": "Middle2",
    "hand_middle_tip_link": "Middle3",
    "hand_index_0_link": "Index1", "hand_index_1_link": "Index2",
    "hand_index_tip_link": "Index3",
}  # fmt: skip


def _body_map() -> dict[str, str]:
    out = {"pelvis": "Pelvis", "pelvis_contour_link": "Pelvis"}
    for side, s in (("left", "L"), ("right", "R")):
        for k, v in _SIDE_MAP.items():
            out[f"{side}_{k}"] = f"{s}_{v}"
    out |= {
        "waist_yaw_link": "Torso", "waist_roll_link": "Torso", "torso_link": "Torso",
        "head_link": "Head", "mid360_link": "Head",
    }  # fmt: skip
    for side, s in (("left", "L"), ("right", "R")):
        for k, v in _ARM_MAP.items():
            out[f"{side}_{k}"] = f"{s}_{v}"
    return out


BODY_MAP: dict[str, str] = _body_map()

#: The key-body map: robot body -> SMPL-X body whose (scaled) pose it tracks. Body
#: origins that sit where the SMPL-X joint is (mid360_link is the head's sensor).
KEY_BODY_MAP: dict[str, str] = {
    "pelvis": "Pelvis", "torso_link": "Torso", "mid360_link": "Head",
    **{
        f"{side}_{k}": f"{s}_{v}"
        for side, s in (("left", "L"), ("right", "R"))
        for k, v in (
            ("hip_roll_link", "Hip"), ("knee_link", "Knee"), ("ankle_roll_link", "Ankle"),
            ("toe", "Toe"), ("shoulder_roll_link", "Shoulder"), ("elbow_link", "Elbow"),
            ("wrist_yaw_link", "Wrist"), ("hand_thumb_tip_link", "Thumb3"),
            ("hand_index_tip_link", "Index3"),
        )
    },
}  # fmt: skip

#: Toe frames added to the feet (ankle-roll frame, m): the front of the sole.
TOE_OFFSET = (0.13, 0.0, -0.03)


def default_urdf() -> Path:
    """``$INTERMIMIC_G1_URDF``, else the shared data's ``robots/g1`` URDF."""
    env = os.environ.get(URDF_ENV_VAR)
    if env:
        return Path(env)
    root = shared_data_dir() or PROJECT_ROOT.parent / "shared" / "data"
    return root / "robots" / "g1" / URDF_NAME


class G1Gains(BaseModel):
    """PD gains by joint group (N m/rad, N m s/rad)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    legs: Gains = Gains(kp=500, kd=50)
    waist: Gains = Gains(kp=300, kd=30)
    arms: Gains = Gains(kp=300, kd=30)
    wrists: Gains = Gains(kp=200, kd=20)
    hands: Gains = Gains(kp=100, kd=10)

    def of(self, joint: str) -> Gains:
        """The gains of a joint by its name's group."""
        if "_hand_" in joint:
            return self.hands
        if "wrist" in joint:
            return self.wrists
        if "waist" in joint:
            return self.waist
        if any(w in joint for w in ("shoulder", "elbow")):
            return self.arms
        if any(w in joint for w in ("hip", "knee", "ankle")):
            return self.legs
        raise EmbodimentError(f"G1 joint {joint!r} belongs to no gain group")


class G1Settings(BaseModel):
    """Where the G1 comes from and how it is simulated."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    urdf: str | None = Field(
        None, description="URDF path; None: $INTERMIMIC_G1_URDF or shared data"
    )
    gains: G1Gains = G1Gains()
    armature: float = Field(
        0.02, ge=0, description="rotor inertia per hinge (kg m^2): keeps the light finger "
        "links stable under PD at 120 Hz, as for the SMPL-X humanoid"
    )  # fmt: skip
    effort_limits: bool = Field(True, description="clamp actuator torques to the URDF's efforts")
    exclude_rest_overlaps: bool = True
    height_ratio: float | None = Field(
        None, gt=0, description="reference scale; None: robot / mean-adult standing pelvis height"
    )
    friction: tuple[float, float, float] = (1.0, 0.005, 0.0001)

    def urdf_path(self) -> Path:
        return Path(self.urdf) if self.urdf else default_urdf()


@functools.lru_cache(maxsize=4)
def _urdf_spec(path: str) -> mujoco.MjSpec:
    p = Path(path)
    if not p.is_file():
        raise EmbodimentError(
            f"G1 URDF not found: {p} (set ${URDF_ENV_VAR} or the shared data folder)"
        )
    spec = mujoco.MjSpec.from_file(str(p))
    spec.meshdir = str(p.resolve().parent)  # the URDF names meshes as meshes/<name>.STL
    spec.compiler.fusestatic = False  # keep the static frames: palms, head sensor
    spec.compiler.discardvisual = True  # the visual meshes duplicate the collision ones
    return spec


class G1Embodiment(Embodiment):
    """The Unitree G1 with hands (see the module docstring)."""

    name = "g1"
    left_hand = tuple(
        f"left_{k}" for k in ("wrist_yaw_link", *(k for k in _ARM_MAP if k.startswith("hand")))
    )
    right_hand = tuple(n.replace("left_", "right_", 1) for n in left_hand)
    feet = ("left_ankle_pitch_link", "left_ankle_roll_link", "left_toe",
            "right_ankle_pitch_link", "right_ankle_roll_link", "right_toe")  # fmt: skip
    key_bodies = (
        "left_ankle_roll_link", "right_ankle_roll_link", "left_wrist_yaw_link",
        "right_wrist_yaw_link", "mid360_link",
    )  # fmt: skip

    def __init__(self, settings: G1Settings | None = None) -> None:
        self.settings = settings or G1Settings()
        self._model: mujoco.MjModel | None = None
        self._stand_height: float | None = None
        self._offsets: F64 | None = None
        model = self.model()
        order = [model.body(i).name for i in range(1, model.nbody)]
        self.body_names = tuple(n for n in order if n in BODY_MAP)
        self.smplx_bodies = tuple(BODY_MAP[n] for n in self.body_names)
        self.tracked_bodies = tuple(n for n in self.body_names if n in KEY_BODY_MAP)
        self._joints = tuple(
            model.joint(j).name
            for j in range(model.njnt)
            if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE
        )
        self.check()

    # ---- model ----------------------------------------------------------------------------
    def build_spec(self) -> mujoco.MjSpec:
        s = self.settings
        spec = _urdf_spec(str(s.urdf_path())).copy()
        spec.modelname = "g1"
        spec.compiler.degree = False
        pelvis = spec.body("pelvis")
        if pelvis is None:
            raise EmbodimentError(f"{s.urdf_path()}: no 'pelvis' link")
        pelvis.add_freejoint().name = "pelvis"
        for side in ("left", "right"):
            toe = spec.body(f"{side}_ankle_roll_link").add_body()
            toe.name = f"{side}_toe"
            toe.pos = np.array(TOE_OFFSET)
        for geom in spec.geoms:
            geom.friction = np.asarray(s.friction)
            geom.condim = 3
        hinges = [j for j in spec.joints if j.type == mujoco.mjtJoint.mjJNT_HINGE]
        kp, kd = [], []
        for j in hinges:
            g = s.gains.of(j.name)
            j.armature = s.armature
            act = spec.add_actuator()
            act.name = j.name
            act.target = j.name
            act.trntype = mujoco.mjtTrn.mjTRN_JOINT
            act.set_to_position(kp=float(g.kp), kv=float(g.kd))
            if not s.effort_limits:
                j.actfrclimited = mujoco.mjtLimited.mjLIMITED_FALSE
            kp.append(g.kp)
            kd.append(g.kd)
        spec.add_numeric(name="pd_kp", data=kp, size=len(kp))
        spec.add_numeric(name="pd_kd", data=kd, size=len(kd))
        if s.exclude_rest_overlaps:
            exclude_rest_overlaps(spec)
        return spec

    def model(self) -> mujoco.MjModel:
        """The compiled robot alone (cached)."""
        if self._model is None:
            self._model = _compiled(self)
        return self._model

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self._joints

    # ---- reference ------------------------------------------------------------------------
    @property
    def stand_height(self) -> float:
        """Pelvis height (m) with the feet on the ground at zero joint angles."""
        if self._stand_height is None:
            self._stand_height = _stand_height(self.model())
        return self._stand_height

    @property
    def height_ratio(self) -> float:
        if self.settings.height_ratio is not None:
            return float(self.settings.height_ratio)
        return self.stand_height / _smplx_stand_height()

    def rest_offsets(self) -> F64:
        if self._offsets is None:
            m = self.model()
            d = mujoco.MjData(m)
            mujoco.mj_kinematics(m, d)
            ids = np.array([m.body(n).id for n in self.body_names])
            robot = d.xquat[ids]
            _, smplx = fk(_smplx_tree(), calibration_qpos())
            self._offsets = np.asarray(
                quat_mul(quat_conj(smplx[self.smplx_index]), robot), np.float64
            )
        offsets: F64 = self._offsets
        return offsets

    def reference_tree(self, model: mujoco.MjModel, body_ids: I64) -> KinematicTree:
        return _smplx_tree()

    def reference_qpos(self, clip: HOIClip) -> F64:
        """The robot standing at zero angles, on the reference's scaled root path, turned
        to its heading: where training starts; the policy learns the rest."""
        t = clip.n_frames
        out = np.zeros((t, 7 + len(self._joints)))
        out[:, :2] = self.height_ratio * np.asarray(clip.root_pos, np.float64)[:, :2]
        out[:, 2] = self.stand_height
        q = np.asarray(clip.root_quat, np.float64)
        w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
        yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
        out[:, 3] = np.cos(yaw / 2)
        out[:, 6] = np.sin(yaw / 2)
        return out


_COMPILED: dict[str, mujoco.MjModel] = {}


def _compiled(emb: G1Embodiment) -> mujoco.MjModel:
    """The robot compiled once per process and settings (mesh loading takes seconds)."""
    key = emb.settings.model_dump_json() + str(emb.settings.urdf_path().resolve())
    if key not in _COMPILED:
        _COMPILED[key] = emb.build_spec().compile()
    return _COMPILED[key]


def _stand_height(model: mujoco.MjModel, clearance: float = 1e-3) -> float:
    """Pelvis height at zero angles with the lowest geom ``clearance`` above z = 0."""
    return _stand_height_named(model, "pelvis") + clearance


@functools.lru_cache(maxsize=1)
def _smplx_tree() -> KinematicTree:
    sk = default_skeleton()
    return KinematicTree.from_arrays(np.asarray(sk.parents), sk.offsets())


@functools.lru_cache(maxsize=1)
def _smplx_stand_height() -> float:
    """The mean adult's standing pelvis height (m): lowest foot geom on the ground."""
    return _stand_height_named(build_model(), "Pelvis")


def _stand_height_named(model: mujoco.MjModel, root: str) -> float:
    d = mujoco.MjData(model)
    mujoco.mj_kinematics(model, d)
    lowest = np.inf
    for g in range(model.ngeom):
        if model.geom_bodyid[g] == 0:
            continue
        mesh = int(model.geom_dataid[g])
        if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH and mesh >= 0:
            a, n = int(model.mesh_vertadr[mesh]), int(model.mesh_vertnum[mesh])
            corners = model.mesh_vert[a : a + n]  # mesh vertices, geom frame
        else:  # the corners of the geom's bounding box (centre, half sizes; geom frame)
            c, h = model.geom_aabb[g, :3], model.geom_aabb[g, 3:]
            corners = c + h * np.array(np.meshgrid(*[[-1, 1]] * 3)).reshape(3, -1).T
        world = d.geom_xpos[g] + corners @ d.geom_xmat[g].reshape(3, 3).T
        lowest = min(lowest, float(world[:, 2].min()))
    return float(d.xpos[model.body(root).id][2] - lowest)


def calibration_qpos() -> F64:
    """``[160]`` the SMPL-X humanoid in the G1's zero pose: upper arms down, forearms
    forward (everything else at rest)."""
    q = np.zeros(7 + 3 * (len(SMPLX_BODY_NAMES) - 1))
    q[3] = 1.0

    def hinge(body: str, axis: int, angle: float) -> None:
        q[7 + 3 * (SMPLX_BODY_NAMES.index(body) - 1) + axis] = angle

    hinge("L_Shoulder", 0, -np.pi / 2)
    hinge("R_Shoulder", 0, np.pi / 2)
    hinge("L_Elbow", 2, -np.pi / 2)
    hinge("R_Elbow", 2, np.pi / 2)
    return q
