"""The simulated scene: humanoid + one object + ground plane, composed with ``MjSpec``.

:func:`build_scene` takes any humanoid ``MjSpec`` whose bodies carry the 52 SMPL-X
body names of :data:`intermimic.motion.skeleton.SMPLX_BODY_NAMES` (the project's
builder, or an MJCF file loaded with ``MjSpec.from_file``), adds an object body with a
free joint and a ground plane, and compiles. :class:`Scene` records the indices the
rest of the code needs: body ids in SMPL-X order, key bodies, hands, feet, geoms per
body, and the qpos / dof addresses of the humanoid and of the object.

Friction. Each geom carries its material's coefficients: humanoid 1.0
(``HumanoidSettings.friction``; Isaac Gym's default shape friction, which the release's
MJCF leaves alone), object 0.6 (:data:`intermimic.objects.model.DEFAULT_FRICTION`), ground
0.9 (:attr:`SceneSettings.ground_friction`). Two touching shapes in PhysX (the release)
use the average of their frictions; MuJoCo uses the larger, unless the geoms' ``priority``
differ (then the higher one's friction) or an explicit ``<contact><pair>`` sets it. With
``SceneSettings.friction_combine = "average"`` (the default) :func:`build_scene` gives
every pair PhysX's average, at the cost of a handful of explicit pairs:

* humanoid-object: the object's collision geoms get priority :data:`OBJECT_PRIORITY` and
  friction (object + humanoid) / 2 = 0.8;
* humanoid-ground: the ground gets priority :data:`GROUND_PRIORITY` and friction
  (ground + humanoid) / 2 = 0.95;
* object-ground: one explicit pair per object collision part with
  (object + ground) / 2 = 0.75 (it overrides the ground's priority for those pairs).

So ``model.geom_friction`` of the object and the ground holds pair values, not the
materials; :func:`pair_friction` gives the coefficient MuJoCo uses for any two geoms. The
humanoid's colliding geoms must share one friction (they do for the SMPL-X humanoid, the
reference MJCF and the G1). A priority also hands the higher geom's ``condim``, ``solref``
and ``solimp`` to the pair instead of mixing them; condim (3) and solimp are MuJoCo's
defaults on every geom here. The ground's solref is :attr:`SceneSettings.ground_solref`,
which the ground's priority hands to every humanoid contact with it; the object's
collision geoms carry :attr:`SceneSettings.object_solref`, which the object's priority
hands to every humanoid-object contact (the grip); both are MuJoCo's default unless
changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import mujoco
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from intermimic.errors import InputError
from intermimic.humanoid.embodiment import SMPLX_KEY_BODIES, Embodiment, SmplxEmbodiment
from intermimic.objects.model import OBJECT_CONAFFINITY, OBJECT_CONTYPE, SimObject, add_object

PHYSICS_DT = 1.0 / 120.0
GROUND_NAME = "ground"
# Collision bits (see intermimic.objects.model): the ground takes the objects' bits, so it
# collides with the humanoid (contype 2) and the objects, as in InterMimic.
GROUND_CONTYPE = OBJECT_CONTYPE
GROUND_CONAFFINITY = OBJECT_CONAFFINITY
# Geom priorities of the "average" friction rule (module docstring): humanoid geoms keep
# MuJoCo's default 0, so a humanoid contact takes the object's or the ground's friction,
# which then hold the averages with the humanoid's.
OBJECT_PRIORITY = 1
GROUND_PRIORITY = 2
# Rolling and torsional coefficients of the ground material (MuJoCo's defaults; PhysX's
# plane has none). Unused by condim-3 contacts.
GROUND_TORSION_FRICTION = 0.005
GROUND_ROLLING_FRICTION = 0.0001

# Bodies whose positions early termination, the body-position reward and the
# interaction graph look at: InterMimic's 21 key bodies (legs, spine, head, arms; not
# the pelvis, hands' fingers), the SMPL-X embodiment's key bodies.
KEY_BODY_NAMES: tuple[str, ...] = SMPLX_KEY_BODIES
_FINGERS = ("Index", "Middle", "Pinky", "Ring", "Thumb")
LEFT_HAND_NAMES: tuple[str, ...] = ("L_Wrist", *(f"L_{f}{i}" for f in _FINGERS for i in (1, 2, 3)))
RIGHT_HAND_NAMES: tuple[str, ...] = ("R_Wrist", *(f"R_{f}{i}" for f in _FINGERS for i in (1, 2, 3)))
HAND_BODY_NAMES: tuple[str, ...] = LEFT_HAND_NAMES + RIGHT_HAND_NAMES
FOOT_BODY_NAMES: tuple[str, ...] = ("L_Ankle", "L_Toe", "R_Ankle", "R_Toe")


class SceneError(InputError):
    """The humanoid spec does not have the body tree the scene expects."""


class SceneSettings(BaseModel):
    """Physics and ground settings of the scene."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timestep: float = Field(default=PHYSICS_DT, gt=0, description="physics step (s); 120 Hz")
    ground_friction: float = Field(
        default=0.9,
        ge=0,
        description="sliding friction of the ground material (InterMimic's plane: 0.9)",
    )
    friction_combine: Literal["average", "max"] = Field(
        default="average",
        description="friction of two touching geoms: 'average' of their materials, as PhysX "
        "(InterMimic) does, realised with geom priorities and object-ground contact pairs "
        "(module docstring); 'max': MuJoCo's own rule, the larger of the two",
    )
    ground_size: float = Field(
        default=50.0, gt=0, description="half extent of the ground plane (m)"
    )
    ground_solref: tuple[float, float] = Field(
        default=(0.02, 1.0),
        description="MuJoCo solref (time constant s, damping ratio) of ground contacts: "
        "with friction_combine='average' the ground's priority hands it to every "
        "humanoid-ground contact, and the object-ground pairs state it. MuJoCo's default "
        "(0.02, 1). A soft ground lets a landing foot sink: at 120 Hz MuJoCo allows no "
        "time constant below 2 steps (16.7 ms), and a foot standing still sinks 0.9 cm, "
        "one landing at 1-2 m/s 1.8-2.3 cm; at 240 Hz with 0.0085 s, 0.1 and 0.3-0.5 cm "
        "(measured 2026-12-02). Both negative is MuJoCo's direct format (-stiffness, "
        "-damping), which no step-count floor applies to (TeacherSettings.ground_stiffness)",
    )

    object_solref: tuple[float, float] = Field(
        default=(0.02, 1.0),
        description="MuJoCo solref of the object's collision geoms. With "
        "friction_combine='average' the object's priority hands it to every humanoid-object "
        "contact (the hands' grip), while object-ground pairs state the ground's; with "
        "'max' MuJoCo mixes it with the humanoid geom's. MuJoCo's default (0.02, 1). A soft "
        "grip lets a carried object move against the hands that squeeze it (see "
        "TeacherSettings.object_timeconst)",
    )

    @field_validator("ground_solref", "object_solref")
    @classmethod
    def _positive_solref(cls, v: tuple[float, float], info: ValidationInfo) -> tuple[float, float]:
        # MuJoCo reads (timeconst, dampratio) when both are positive and (-stiffness,
        # -damping) when both are negative; a mixed or zero pair means neither
        if not ((v[0] > 0 and v[1] > 0) or (v[0] < 0 and v[1] < 0)):
            raise ValueError(
                f"{info.field_name} needs a positive time constant and ratio, or MuJoCo's "
                f"direct format (-stiffness, -damping), both negative; got {v}"
            )
        return v

    friction_cone: Literal["pyramidal", "elliptic"] = Field(
        default="pyramidal",
        description="MuJoCo's friction cone (option cone): 'pyramidal', MuJoCo's default, "
        "or 'elliptic', the true Coulomb cone, on which impratio acts",
    )
    impratio: float = Field(
        default=1.0,
        gt=0,
        description="MuJoCo's ratio of frictional to normal constraint impedance (option "
        "impratio): MuJoCo's soft friction lets a contact below its friction limit creep "
        "(a standing foot slides slowly); above 1, with the elliptic cone, friction holds "
        "harder. 1 is MuJoCo's default",
    )

    offscreen_width: int = Field(default=1920, gt=0, description="largest render width (pixels)")
    offscreen_height: int = Field(default=1080, gt=0, description="largest render height (pixels)")


@dataclass(frozen=True, eq=False)
class Scene:
    """A compiled scene and the indices into it.

    Body arrays hold MuJoCo body ids; ``humanoid_body_ids[i]`` is SMPL-X body ``i``.
    ``humanoid_qpos_adr`` is ``[7 + 3*51]``: the free joint's 7 qpos (pos, quat w x y z)
    then each body's hinge angles in body order, so ``qpos[humanoid_qpos_adr] = q`` writes
    a ``[160]`` humanoid pose. ``humanoid_dof_adr`` is ``[6 + 3*51]``.
    """

    spec: mujoco.MjSpec
    model: mujoco.MjModel
    humanoid_body_ids: NDArray[np.int64]
    key_body_ids: NDArray[np.int64]
    hand_body_ids: NDArray[np.int64]
    left_hand_body_ids: NDArray[np.int64]
    right_hand_body_ids: NDArray[np.int64]
    foot_body_ids: NDArray[np.int64]
    humanoid_qpos_adr: NDArray[np.int64]
    humanoid_dof_adr: NDArray[np.int64]
    humanoid_geom_ids: NDArray[np.int64]
    geoms_per_body: tuple[NDArray[np.int64], ...]
    ground_geom_id: int
    object: SimObject | None = None
    object_body_id: int = -1
    object_qpos_adr: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    object_dof_adr: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    object_geom_ids: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    embodiment: Embodiment = field(default_factory=lambda: SmplxEmbodiment())
    """The simulated body (:mod:`intermimic.humanoid.embodiment`); its ``body_names``
    give the order of ``humanoid_body_ids`` and of every per-body array."""

    @property
    def has_object(self) -> bool:
        return self.object_body_id >= 0

    def make_data(self) -> mujoco.MjData:
        """A fresh ``MjData`` for this model."""
        return mujoco.MjData(self.model)

    def set_state(
        self,
        data: mujoco.MjData,
        humanoid_qpos: NDArray[np.floating],
        obj_pos: NDArray[np.floating] | None = None,
        obj_quat: NDArray[np.floating] | None = None,
    ) -> None:
        """Write a humanoid pose ``[160]`` and an object pose (``[3]``, ``[4]`` w x y z)."""
        data.qpos[self.humanoid_qpos_adr] = humanoid_qpos
        if self.has_object and obj_pos is not None:
            data.qpos[self.object_qpos_adr[:3]] = obj_pos
        if self.has_object and obj_quat is not None:
            data.qpos[self.object_qpos_adr[3:]] = obj_quat


def _strip_ground(spec: mujoco.MjSpec) -> None:
    # A humanoid MJCF often brings its own floor (the reference file does); the scene
    # owns the ground so its friction and name are known.
    for geom in list(spec.worldbody.geoms):
        if geom.type == mujoco.mjtGeom.mjGEOM_PLANE:
            spec.delete(geom)


def _add_ground(spec: mujoco.MjSpec, s: SceneSettings) -> None:
    tex = spec.add_texture(
        name="scene_grid",
        type=mujoco.mjtTexture.mjTEXTURE_2D,
        builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
        rgb1=[0.82, 0.84, 0.86],
        rgb2=[0.62, 0.65, 0.68],
        width=256,
        height=256,
    )
    mat = spec.add_material(name="scene_ground", texrepeat=[2 * s.ground_size] * 2, reflectance=0.1)
    mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = tex.name
    spec.worldbody.add_geom(
        name=GROUND_NAME,
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[s.ground_size, s.ground_size, 0.1],
        friction=[s.ground_friction, GROUND_TORSION_FRICTION, GROUND_ROLLING_FRICTION],
        solref=list(s.ground_solref),
        contype=GROUND_CONTYPE,
        conaffinity=GROUND_CONAFFINITY,
        condim=3,
        material="scene_ground",
        rgba=[1.0, 1.0, 1.0, 1.0],  # let the texture's colours through
    )
    if not list(spec.worldbody.lights):
        spec.worldbody.add_light(
            name="scene_sun", pos=[0, 0, 4], dir=[0.2, 0.3, -1], castshadow=True
        )


def build_scene(
    humanoid: mujoco.MjSpec,
    obj: SimObject | None = None,
    settings: SceneSettings | None = None,
    embodiment: Embodiment | None = None,
) -> Scene:
    """Compose humanoid + object + ground into one compiled :class:`Scene`.

    ``humanoid`` is copied, not changed. ``embodiment`` (default: the SMPL-X humanoid)
    names its bodies and actuated hinges: its root body must have a free joint, and for
    the SMPL-X humanoid every body carries three hinge joints (x, y, z order).
    Another embodiment's spec is :meth:`Embodiment.build_spec` (see
    :func:`embodiment_scene`).
    """
    s = settings or SceneSettings()
    emb = embodiment or SmplxEmbodiment()
    missing = [n for n in emb.body_names if humanoid.body(n) is None]
    if missing:
        raise SceneError(
            f"humanoid lacks {len(missing)} of the {emb.name} bodies: {', '.join(missing[:8])}"
            + (" ..." if len(missing) > 8 else "")
        )
    spec = humanoid.copy()
    _strip_ground(spec)
    # Read before the ground and the object join the spec: every geom left is the humanoid's.
    humanoid_friction = _humanoid_friction(spec) if s.friction_combine == "average" else None
    _add_ground(spec, s)
    spec.option.timestep = s.timestep
    spec.option.cone = (
        mujoco.mjtCone.mjCONE_ELLIPTIC
        if s.friction_cone == "elliptic"
        else mujoco.mjtCone.mjCONE_PYRAMIDAL
    )
    spec.option.impratio = s.impratio
    spec.visual.global_.offwidth = max(spec.visual.global_.offwidth, s.offscreen_width)
    spec.visual.global_.offheight = max(spec.visual.global_.offheight, s.offscreen_height)
    if obj is not None:
        body = add_object(spec, obj, body_name=obj.name)
        for part in body.geoms:
            if _collides(part):
                part.solref = list(s.object_solref)
    if s.friction_combine == "average":
        _average_frictions(spec, humanoid_friction, obj.name if obj is not None else None)
    try:
        model = spec.compile()
    except ValueError as exc:
        raise SceneError(f"scene does not compile: {exc}") from None
    return _index(spec, model, obj, emb)


def _collides(geom: mujoco.MjsGeom) -> bool:
    return bool(geom.contype or geom.conaffinity)


def _humanoid_friction(spec: mujoco.MjSpec) -> NDArray[np.float64] | None:
    """The one ``[3]`` friction of the humanoid's colliding geoms (None: it has none)."""
    frictions = np.array([g.friction for g in spec.geoms if _collides(g)], dtype=np.float64)
    if frictions.size == 0:
        return None
    if not np.allclose(frictions, frictions[0], rtol=0.0, atol=1e-12):
        values = sorted({float(f) for f in frictions[:, 0]})
        raise SceneError(
            "SceneSettings.friction_combine='average' needs one friction on every colliding "
            f"humanoid geom; this humanoid has {values[:6]} (sliding) and may differ in the "
            "torsional/rolling values: give its geoms one value, or use friction_combine='max'"
        )
    return frictions[0]


def _average_frictions(
    spec: mujoco.MjSpec, humanoid: NDArray[np.float64] | None, object_body: str | None
) -> None:
    """Give each pair of materials its average friction (module docstring)."""
    ground = spec.geom(GROUND_NAME)
    parts = [g for g in spec.body(object_body).geoms if _collides(g)] if object_body else []
    ground_material = np.array(ground.friction, dtype=np.float64)
    for part in parts:
        # A dynamic pair's margin and gap are the sums of the two geoms' (MuJoCo 4); an
        # explicit pair uses only its own, so it states them (both 0 here) and the
        # ground's solref (SceneSettings.ground_solref); its solimp is the default.
        both = np.array(part.friction, dtype=np.float64) + ground_material
        spec.add_pair(
            name=f"{part.name}_{GROUND_NAME}",
            geomname1=part.name,
            geomname2=GROUND_NAME,
            condim=max(part.condim, ground.condim),
            friction=[both[0] / 2, both[0] / 2, both[1] / 2, both[2] / 2, both[2] / 2],
            margin=part.margin + ground.margin,
            gap=part.gap + ground.gap,
            solref=ground.solref,
        )
    if humanoid is None:
        return  # no humanoid geom collides: nothing to mix with
    for part in parts:
        part.friction = 0.5 * (np.array(part.friction, dtype=np.float64) + humanoid)
        part.priority = OBJECT_PRIORITY
    ground.friction = 0.5 * (ground_material + humanoid)
    ground.priority = GROUND_PRIORITY


def pair_friction(model: mujoco.MjModel, geom1: int, geom2: int) -> float:
    """The sliding friction MuJoCo gives a contact of ``geom1`` and ``geom2``: an explicit
    pair's, else the higher-priority geom's, else the larger of the two geoms'."""
    for k in range(model.npair):
        if {int(model.pair_geom1[k]), int(model.pair_geom2[k])} == {geom1, geom2}:
            return float(model.pair_friction[k, 0])
    p1, p2 = int(model.geom_priority[geom1]), int(model.geom_priority[geom2])
    if p1 != p2:
        return float(model.geom_friction[geom1 if p1 > p2 else geom2, 0])
    return float(max(model.geom_friction[geom1, 0], model.geom_friction[geom2, 0]))


def embodiment_scene(
    embodiment: Embodiment, obj: SimObject | None = None, settings: SceneSettings | None = None
) -> Scene:
    """``build_scene(embodiment.build_spec(), obj, settings, embodiment)``."""
    return build_scene(embodiment.build_spec(), obj, settings, embodiment)


def _ids(model: mujoco.MjModel, names: tuple[str, ...]) -> NDArray[np.int64]:
    out = []
    for n in names:
        i = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, n)
        if i < 0:
            raise SceneError(f"humanoid has no body named {n!r}")
        out.append(i)
    return np.asarray(out, np.int64)


def _index(
    spec: mujoco.MjSpec, model: mujoco.MjModel, obj: SimObject | None, emb: Embodiment
) -> Scene:
    body_ids = _ids(model, emb.body_names)
    root = int(body_ids[0])
    if (
        model.body_jntnum[root] != 1
        or model.jnt_type[model.body_jntadr[root]] != mujoco.mjtJoint.mjJNT_FREE
    ):
        raise SceneError(
            f"humanoid root body {emb.body_names[0]!r} must have exactly one free joint"
        )
    qpos_adr = list(
        range(
            model.jnt_qposadr[model.body_jntadr[root]],
            model.jnt_qposadr[model.body_jntadr[root]] + 7,
        )
    )
    dof_adr = list(
        range(
            model.jnt_dofadr[model.body_jntadr[root]], model.jnt_dofadr[model.body_jntadr[root]] + 6
        )
    )
    for jname in emb.joint_names:
        j = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, jname)
        if j < 0 or model.jnt_type[j] != mujoco.mjtJoint.mjJNT_HINGE:
            body = jname.rsplit("_", 1)[0]
            nj = int(model.body_jntnum[model.body(body).id]) if spec.body(body) else 0
            raise SceneError(
                f"humanoid has no hinge joint {jname!r} (body {body!r}, which has {nj} "
                "joints; the SMPL-X humanoid needs three hinges per body)"
            )
        qpos_adr.append(int(model.jnt_qposadr[j]))
        dof_adr.append(int(model.jnt_dofadr[j]))
    geoms_per_body = tuple(
        np.flatnonzero(model.geom_bodyid == b).astype(np.int64) for b in body_ids
    )
    ground = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, GROUND_NAME)
    kwargs: dict[str, object] = {}
    if obj is not None:
        ob = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, obj.name)
        j = int(model.body_jntadr[ob])
        kwargs = {
            "object": obj,
            "object_body_id": int(ob),
            "object_qpos_adr": np.arange(
                model.jnt_qposadr[j], model.jnt_qposadr[j] + 7, dtype=np.int64
            ),
            "object_dof_adr": np.arange(
                model.jnt_dofadr[j], model.jnt_dofadr[j] + 6, dtype=np.int64
            ),
            "object_geom_ids": np.flatnonzero(model.geom_bodyid == ob).astype(np.int64),
        }
    return Scene(
        spec=spec,
        model=model,
        humanoid_body_ids=body_ids,
        key_body_ids=_ids(model, emb.key_bodies),
        hand_body_ids=_ids(model, emb.left_hand + emb.right_hand),
        left_hand_body_ids=_ids(model, emb.left_hand),
        right_hand_body_ids=_ids(model, emb.right_hand),
        foot_body_ids=_ids(model, emb.feet),
        humanoid_qpos_adr=np.asarray(qpos_adr, np.int64),
        humanoid_dof_adr=np.asarray(dof_adr, np.int64),
        humanoid_geom_ids=np.concatenate(geoms_per_body),
        geoms_per_body=geoms_per_body,
        ground_geom_id=int(ground),
        embodiment=emb,
        **kwargs,  # type: ignore[arg-type]
    )
