"""A minimal humanoid MjSpec with the SMPL-X body tree, for scene tests.

Every body is a small sphere at its origin (radius ``BODY_RADIUS``) with three hinges
x, y, z; the pelvis has a free joint. Offsets come from the synthetic skeleton, so in the
zero pose the toes sit :data:`TOE_DROP` below the pelvis. A floor plane is included, as
humanoid MJCF files often have one, to check that the scene replaces it.
"""

from __future__ import annotations

import mujoco
import numpy as np

from intermimic.motion.skeleton import SMPLX_BODY_NAMES, SMPLX_PARENTS
from intermimic.motion.synthetic import OFFSETS

BODY_RADIUS = 0.03


def toy_humanoid_spec() -> mujoco.MjSpec:
    spec = mujoco.MjSpec()
    spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[5, 5, 0.1])
    bodies: list[mujoco.MjsBody] = []
    for i, name in enumerate(SMPLX_BODY_NAMES):
        parent = spec.worldbody if SMPLX_PARENTS[i] < 0 else bodies[SMPLX_PARENTS[i]]
        body = parent.add_body(name=name, pos=OFFSETS[i] if i else [0, 0, 0])
        if i == 0:
            body.add_freejoint(name=name)
        else:
            for k, axis in enumerate("xyz"):
                body.add_joint(
                    name=f"{name}_{axis}", type=mujoco.mjtJoint.mjJNT_HINGE, axis=np.eye(3)[k]
                )
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[BODY_RADIUS, 0, 0])
        bodies.append(body)
    return spec


def _toe_drop() -> float:
    i = SMPLX_BODY_NAMES.index("L_Toe")
    z = 0.0
    while i > 0:
        z += OFFSETS[i][2]
        i = SMPLX_PARENTS[i]
    return -z


TOE_DROP = _toe_drop()  # m below the pelvis, zero pose
