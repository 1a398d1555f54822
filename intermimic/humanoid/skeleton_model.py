"""Typed description of a humanoid: bodies, bone offsets, collision geoms, joint ranges.

A :class:`SkeletonModel` is plain data (SI units: metres, radians, kg/m^3). The builder
(:mod:`intermimic.humanoid.builder`) turns it into a MuJoCo ``MjSpec``; the fitter
(:mod:`intermimic.humanoid.fit`) makes subject-specific copies of it. PD gains and the
other simulation choices are settings (:class:`HumanoidSettings`), not skeleton data.

Conventions
-----------
* ``bodies`` are listed in depth-first pre-order, root first: MuJoCo numbers bodies in
  that order, and the qpos layout (root, then three hinges per body in body order)
  depends on it. :meth:`SkeletonModel.validate` enforces it.
* ``offset`` is the body origin in its parent's frame (the rest pose has every body
  frame aligned with the world, as in the SMPL-X humanoid).
* Every non-root body has three hinges about its own x, y, z axes, in that order, so its
  local rotation is ``Rx(a) Ry(b) Rz(c)`` (intrinsic XYZ Euler angles).
* Geom coordinates (``fromto``, ``pos``) are in the owning body's frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from intermimic.humanoid.errors import (
    BoneLengthError,
    CyclicSkeletonError,
    MissingParentError,
    SkeletonError,
    UnknownBodyError,
)

Vec3 = tuple[float, float, float]
Range = tuple[float, float]
GeomType = Literal["capsule", "box", "sphere"]
HandsMode = Literal["full", "body"]
"""``full``: finger hinges simulated; ``body``: fingers welded (see :class:`HumanoidSettings`)."""

FINGER_WORDS = ("Index", "Middle", "Pinky", "Ring", "Thumb")


def is_finger(name: str) -> bool:
    """True for the 30 finger bodies (``L_Index1`` ... ``R_Thumb3``)."""
    return any(w in name for w in FINGER_WORDS)


@dataclass(frozen=True)
class GeomSpec:
    """One collision/mass geom of a body.

    ``size``: capsule ``(radius,)``, sphere ``(radius,)``, box ``(hx, hy, hz)`` half sizes.
    ``fromto``: capsule axis end points ``(x0, y0, z0, x1, y1, z1)`` in the body frame.
    ``pos``: sphere/box centre in the body frame. ``density`` in kg/m^3.
    """

    type: GeomType
    size: tuple[float, ...]
    density: float
    fromto: tuple[float, float, float, float, float, float] | None = None
    pos: Vec3 = (0.0, 0.0, 0.0)
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    name: str | None = None

    def check(self, body: str) -> None:
        expected = {"capsule": 1, "sphere": 1, "box": 3}[self.type]
        if len(self.size) != expected:
            raise SkeletonError(
                f"body {body!r}: {self.type} geom needs {expected} size value(s), got {self.size}"
            )
        if not all(math.isfinite(s) and s > 0 for s in self.size):
            raise SkeletonError(f"body {body!r}: geom sizes must be positive, got {self.size}")
        if not (math.isfinite(self.density) and self.density > 0):
            raise SkeletonError(f"body {body!r}: geom density must be positive, got {self.density}")
        if self.type == "capsule":
            if self.fromto is None or len(self.fromto) != 6:
                raise SkeletonError(f"body {body!r}: capsule geom needs a 6-value fromto")
            a, b = np.asarray(self.fromto[:3]), np.asarray(self.fromto[3:])
            if not np.all(np.isfinite(self.fromto)) or np.linalg.norm(b - a) <= 0:
                raise SkeletonError(f"body {body!r}: capsule fromto has zero length or NaN")


@dataclass(frozen=True)
class BodySpec:
    """One body: name, parent name (None for the root), offset in the parent frame (m),
    geoms, and the (lower, upper) range in radians of its x, y, z hinges."""

    name: str
    parent: str | None
    offset: Vec3
    geoms: tuple[GeomSpec, ...]
    joint_range: tuple[Range, Range, Range] | None = None


@dataclass(frozen=True)
class BoneLimits:
    """What counts as an absurd bone: shorter than ``min_length`` or longer than the max.

    The reference humanoid's shortest bone is 19 mm (a fingertip), its longest 0.41 m
    (shin); these bounds only catch broken input, not unusual people.
    """

    min_length: float = 1e-3
    max_length: float = 1.5
    max_finger_length: float = 0.2


@dataclass(frozen=True)
class SkeletonModel:
    """A humanoid's kinematic tree and geoms. See the module docstring for conventions."""

    bodies: tuple[BodySpec, ...]
    name: str = "smplx_humanoid"
    limits: BoneLimits = field(default_factory=BoneLimits)

    def __post_init__(self) -> None:
        self.validate()

    # ---- lookups -------------------------------------------------------------------
    @property
    def body_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.bodies)

    @property
    def n_bodies(self) -> int:
        return len(self.bodies)

    def index(self, name: str) -> int:
        """Position of body ``name`` in the body order; raises UnknownBodyError."""
        for i, b in enumerate(self.bodies):
            if b.name == name:
                return i
        raise UnknownBodyError(f"unknown body {name!r} in skeleton {self.name!r}")

    def body(self, name: str) -> BodySpec:
        return self.bodies[self.index(name)]

    @property
    def parents(self) -> tuple[int, ...]:
        """Parent index per body, -1 for the root."""
        idx = {b.name: i for i, b in enumerate(self.bodies)}
        return tuple(-1 if b.parent is None else idx[b.parent] for b in self.bodies)

    def offsets(self) -> NDArray[np.float64]:
        """``[B, 3]`` body offsets in the parent frame (row 0, the root, is ignored)."""
        return np.array([b.offset for b in self.bodies], dtype=np.float64)

    def bone_lengths(self) -> NDArray[np.float64]:
        """``[B]`` |offset| per body; 0 for the root."""
        out = np.linalg.norm(self.offsets(), axis=1)
        out[0] = 0.0
        return out

    def children(self, name: str) -> tuple[str, ...]:
        return tuple(b.name for b in self.bodies if b.parent == name)

    # ---- edits ---------------------------------------------------------------------
    def replace_bodies(self, changes: Mapping[str, BodySpec]) -> SkeletonModel:
        """A copy with the named bodies replaced (validated again)."""
        for n in changes:
            self.index(n)
        return replace(self, bodies=tuple(changes.get(b.name, b) for b in self.bodies))

    # ---- validation ----------------------------------------------------------------
    def validate(self) -> None:
        """Raise a :class:`SkeletonError` subclass naming the first broken rule."""
        if not self.bodies:
            raise SkeletonError(f"skeleton {self.name!r} has no bodies")
        names = [b.name for b in self.bodies]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SkeletonError(f"duplicate body names: {', '.join(dupes)}")
        roots = [b.name for b in self.bodies if b.parent is None]
        if len(roots) != 1:
            raise MissingParentError(
                f"skeleton must have exactly one root (a body without parent), found {roots}"
            )
        if self.bodies[0].parent is not None:
            raise SkeletonError(f"the root {roots[0]!r} must be the first body")
        known = set(names)
        for b in self.bodies:
            if b.parent is not None and b.parent not in known:
                raise MissingParentError(
                    f"body {b.name!r} names parent {b.parent!r}, which is not a body"
                )
        parent_of = {b.name: b.parent for b in self.bodies}
        for b in self.bodies:
            seen = {b.name}
            p = b.parent
            while p is not None:
                if p in seen:
                    raise CyclicSkeletonError(f"parent chain from {b.name!r} loops through {p!r}")
                seen.add(p)
                p = parent_of[p]
        order = _depth_first(names, parent_of)
        if order != names:
            raise SkeletonError(
                "bodies must be listed in depth-first pre-order (MuJoCo numbers them so); "
                f"expected {order}"
            )
        for b in self.bodies:
            for g in b.geoms:
                g.check(b.name)
            if b.parent is None:
                continue
            if b.joint_range is not None:
                for lo, hi in b.joint_range:
                    if not lo < hi:
                        raise SkeletonError(f"body {b.name!r}: joint range {lo}..{hi} is empty")
            _check_bone(b.name, b.offset, self.limits)


def _depth_first(names: Sequence[str], parent_of: Mapping[str, str | None]) -> list[str]:
    kids: dict[str | None, list[str]] = {}
    for n in names:
        kids.setdefault(parent_of[n], []).append(n)
    out: list[str] = []
    stack = list(reversed(kids.get(None, [])))
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(reversed(kids.get(n, [])))
    return out


def _check_bone(name: str, offset: Iterable[float], limits: BoneLimits) -> None:
    v = np.asarray(tuple(offset), dtype=np.float64)
    if v.shape != (3,) or not np.all(np.isfinite(v)):
        raise BoneLengthError(f"body {name!r}: offset must be 3 finite numbers, got {v}")
    length = float(np.linalg.norm(v))
    top = limits.max_finger_length if is_finger(name) else limits.max_length
    if length < limits.min_length:
        raise BoneLengthError(
            f"body {name!r}: bone length {length:.4g} m is below {limits.min_length} m (zero?)"
        )
    if length > top:
        raise BoneLengthError(f"body {name!r}: bone length {length:.4g} m exceeds {top} m")


# ---- settings (PD gains, contacts, sites) ----------------------------------------------


class Gains(BaseModel):
    """PD gains of one hinge: torque = kp * (target - q) - kd * qdot (N m/rad, N m s/rad)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kp: float = Field(ge=0)
    kd: float = Field(ge=0)


class PDSettings(BaseModel):
    """PD gains by body group (InterMimic's values) plus per-body overrides.

    Groups: legs (hip, knee, ankle), toes, torso (torso, spine, chest), upper (neck, head,
    thorax, shoulder, elbow), wrist, fingers.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    legs: Gains = Gains(kp=800, kd=80)
    toes: Gains = Gains(kp=500, kd=50)
    torso: Gains = Gains(kp=1000, kd=100)
    upper: Gains = Gains(kp=500, kd=50)
    wrist: Gains = Gains(kp=300, kd=30)
    fingers: Gains = Gains(kp=100, kd=10)
    armature: float = Field(default=0.02, ge=0)
    overrides: dict[str, Gains] = Field(default_factory=dict)

    @staticmethod
    def group_of(name: str) -> str:
        """The gain group of a body name; raises UnknownBodyError for a name in no group."""
        if is_finger(name):
            return "fingers"
        groups = {
            "legs": ("Hip", "Knee", "Ankle"),
            "toes": ("Toe",),
            "torso": ("Torso", "Spine", "Chest"),
            "upper": ("Neck", "Head", "Thorax", "Shoulder", "Elbow"),
            "wrist": ("Wrist",),
        }
        base = name.split("_", 1)[-1]
        for group, words in groups.items():
            if base in words:
                return group
        raise UnknownBodyError(f"body {name!r} belongs to no PD gain group")

    def gains(self, name: str) -> Gains:
        if name in self.overrides:
            return self.overrides[name]
        return getattr(self, self.group_of(name))  # type: ignore[no-any-return]

    def arrays(self, body_names: Sequence[str]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(kp, kd)``, each ``[3 * (B - 1)]`` in hinge order (bodies 1.., then x, y, z)."""
        unknown = sorted(set(self.overrides) - set(body_names))
        if unknown:
            raise UnknownBodyError(f"PD overrides name unknown bodies: {', '.join(unknown)}")
        g = [self.gains(n) for n in body_names[1:]]
        kp = np.repeat([x.kp for x in g], 3).astype(np.float64)
        kd = np.repeat([x.kd for x in g], 3).astype(np.float64)
        return kp, kd


DEFAULT_KEY_BODIES: tuple[str, ...] = (
    "Pelvis", "Head",
    "L_Knee", "R_Knee", "L_Ankle", "R_Ankle", "L_Toe", "R_Toe",
    "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist",
)  # fmt: skip


class HumanoidSettings(BaseModel):
    """How the builder turns a skeleton into a MuJoCo model.

    ``actuators``: ``"motor"`` (default; one gear-1 motor per hinge, the environment
    computes the PD torque itself from ``pd`` and writes ``ctrl``) or ``"position"``
    (MuJoCo position actuators with ``kp`` and ``kv = kd``: the PD runs inside MuJoCo,
    ``ctrl`` is the target angle). Either way the gains are also stored in the compiled
    model as numeric fields ``pd_kp`` and ``pd_kd`` (``[nu]``, hinge order) so a model
    file carries them. Joint ``stiffness``/``damping`` stay 0: in MuJoCo those are
    passive springs to the zero pose, not a PD to a target.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    pd: PDSettings = PDSettings()
    actuators: Literal["motor", "position"] = "motor"
    key_bodies: tuple[str, ...] = DEFAULT_KEY_BODIES
    floor: bool = True
    timestep: float = Field(default=1.0 / 120.0, gt=0)
    joint_limited: bool = True
    # Collision bits of the humanoid's geoms (MuJoCo: geoms a, b collide when
    # contype_a & conaffinity_b or contype_b & conaffinity_a). contype 2 / conaffinity 1:
    # humanoid geoms never collide with each other (2 & 1 = 0), as in InterMimic, whose
    # humanoid shapes share one Isaac Gym collision filter; they still collide with the
    # ground and objects, whose conaffinity 3 includes bit 2 (intermimic.sim.scene,
    # intermimic.objects.model). contype 1 / conaffinity 1 turns self-collision on.
    contype: int = Field(
        default=2, ge=0, description="humanoid geom contype; 2: no self-collision (InterMimic)"
    )
    conaffinity: int = Field(default=1, ge=0, description="humanoid geom conaffinity")
    condim: int = Field(default=3, ge=1)
    margin: float = Field(default=0.001, ge=0, description="m; contact margin of body geoms")
    hand_margin: float = Field(
        default=0.005,
        ge=0,
        description="m; contact margin of the wrist and finger geoms. The capsule fingers "
        "are thinner than the captured hand (skin, soft tissue): a grip the MoCap shows "
        "within a few mm of the object, as InterAct's 5 mm contact rule labels it, would "
        "otherwise never touch in simulation (project choice)",
    )
    friction: tuple[float, float, float] = (1.0, 0.005, 0.0001)
    # With self-collision on (contype & conaffinity != 0), bodies whose geoms already
    # touch in the rest pose (torso and chest capsules, say) would push each other apart
    # with kilonewtons forever; their pairs are excluded. Moot (skipped) without it.
    exclude_rest_overlaps: bool = True
    hands: HandsMode = Field(
        default="full",
        description="'full': every body has three hinges (153 for SMPL-X); 'body': the 30 "
        "finger bodies keep their geoms but no joints, welded to their parents at "
        "finger_pose (63 hinges; the physics runs about 3x faster)",
    )
    finger_pose: tuple[float, ...] | None = Field(
        default=None,
        description="hands='body': the welded fingers' hinge angles (rad; finger bodies in "
        "skeleton order, x y z each: 90 values for SMPL-X). None: all 0, the flat hand the "
        "OMOMO/InterAct captures show (their finger angles are all 0)",
    )
