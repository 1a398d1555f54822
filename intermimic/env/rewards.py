"""Tracking rewards, one function per term; the reward is their product.

Every term is ``exp(-k * error)`` in ``(0, 1]``: 1 for perfect tracking, and the
product of terms means a policy cannot trade one error for another (a humanoid that
tracks its body but drops the object scores low). Coefficients ``k`` are
:class:`~intermimic.env.settings.RewardSettings`, in two groups:

* embodiment-aware (the humanoid's joints and bodies): :func:`body_pos_reward`,
  :func:`body_rot_reward`, :func:`energy_reward`;
* embodiment-agnostic (object motion and contact): :func:`obj_pos_reward`,
  :func:`obj_rot_reward`, :func:`obj_vel_reward`, :func:`obj_energy_reward`,
  :func:`ig_reward`, :func:`hand_contact_reward`, :func:`body_contact_reward`,
  :func:`penalised_contact_reward`, :func:`contact_energy_reward`.

The contact terms, the body weights and the energy terms follow InterMimic's released
task code (docs/fidelity.md); the hand term is the one not of the form ``exp(-k e)``:
``0.5 (1 + exp(-k e))`` per required hand, so it never drops below 1/4.

Shapes: ``N`` worlds, ``B`` bodies, ``K`` interaction-graph bodies, ``P`` object points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from intermimic.env.geometry import quat_angle
from intermimic.env.settings import RewardSettings

F64 = NDArray[np.float64]

EMBODIMENT_AWARE_TERMS: tuple[str, ...] = ("body_pos", "body_rot", "energy")
EMBODIMENT_AGNOSTIC_TERMS: tuple[str, ...] = (
    "obj_pos",
    "obj_rot",
    "obj_vel",
    "obj_energy",
    "interaction_graph",
    "hand_contact",
    "body_contact",
    "penalised_contact",
    "contact_energy",
)
TERMS: tuple[str, ...] = EMBODIMENT_AWARE_TERMS + EMBODIMENT_AGNOSTIC_TERMS


@dataclass(frozen=True)
class Comparison:
    """Simulated versus reference quantities of one policy step, world frame, SI units.

    ``body_pos_*`` ``[N,Bp,3]`` and ``body_weight`` ``[N,Bp]`` (position weight of each
    body from its reference distance to the object) for the body-position term;
    ``body_quat_*`` ``[N,Br,4]`` and ``body_rot_weight`` ``[N,Br]`` for the rotation
    term; ``key_pos_*`` ``[N,K,3]``, ``points_*`` ``[N,P,3]`` object surface points,
    ``obj_quat_*`` ``[N,4]``, ``obj_linvel_*`` ``[N,3]``, ``ig_*`` ``[N,K,Q,3]``
    interaction graphs, ``touch`` ``[N,B]`` simulated body-object contact, ``labels``
    ``[N,B]`` the reference's contact labels (+1 required, 0 unknown, -1 forbidden),
    ``joint_acc`` ``[N,J]`` hinge accelerations (rad/s^2), ``obj_lin_acc`` and
    ``obj_ang_acc`` ``[N,3]`` the object's (m/s^2, rad/s^2), ``contact_force`` ``[N]``
    the humanoid's summed contact normal forces (N). The last four default to zero
    (energy terms 1) and ``body_rot_weight`` to None (uniform).
    """

    body_pos_sim: F64
    body_pos_ref: F64
    body_quat_sim: F64
    body_quat_ref: F64
    body_weight: F64
    key_pos_sim: F64
    key_pos_ref: F64
    points_sim: F64
    points_ref: F64
    obj_quat_sim: F64
    obj_quat_ref: F64
    obj_linvel_sim: F64
    obj_linvel_ref: F64
    ig_sim: F64
    ig_ref: F64
    touch: NDArray[np.bool_]
    labels: NDArray[np.int8]
    joint_acc: F64
    body_rot_weight: F64 | None = None
    obj_lin_acc: F64 | None = None
    obj_ang_acc: F64 | None = None
    contact_force: F64 | None = None


def _sqnorm(d: NDArray[np.floating]) -> F64:
    return np.einsum("...i,...i->...", d, d)


# ---- embodiment-aware ----------------------------------------------------------------


def closeness_weights(
    ref_dist: NDArray[np.floating],
    scale: float,
    floor: float,
    full: NDArray[np.int64] | None = None,
) -> F64:
    """``floor + exp(-d / scale)`` per body ``[N,B]`` from each reference body's distance
    to the object ``d`` (m): bodies near the object matter more (hands on a box);
    ``floor`` keeps far bodies tracked. Columns ``full`` (the feet) weigh 1 whatever
    their distance. Released InterMimic: scale 0.2 m, floor 0, ankles and toes 1."""
    w = floor + np.exp(-np.asarray(ref_dist, np.float64) / scale)
    if full is not None and len(full):
        w[..., full] = 1.0
    return w


def far_weights(ref_dist: NDArray[np.floating], scale: float) -> F64:
    """``1 - exp(-d / scale)`` per body ``[N,B]``: the rotation weights of InterMimic,
    near 0 for bodies at the object (a gripping hand may turn), 1 far from it."""
    return 1.0 - np.exp(-np.asarray(ref_dist, np.float64) / scale)


def body_pos_reward(
    sim: NDArray[np.floating],
    ref: NDArray[np.floating],
    k: float,
    weights: NDArray[np.floating] | None = None,
) -> F64:
    """``exp(-k * mean_b w_b |dp_b|^2)``; ``sim``, ``ref`` ``[N,B,3]`` (m), ``weights``
    ``[N,B]`` (1 when None). The mean is over bodies, not normalised by the weights (as
    released): bodies far from the object add little."""
    e = _sqnorm(sim - ref)
    if weights is not None:
        e = weights * e
    return np.exp(-k * e.mean(axis=-1))


def body_rot_reward(
    sim_quat: NDArray[np.floating],
    ref_quat: NDArray[np.floating],
    k: float,
    weights: NDArray[np.floating] | None = None,
) -> F64:
    """``exp(-k * mean_b w_b angle_b)``, angle (rad) between simulated and reference body
    orientations ``[N,B,4]``, ``weights`` ``[N,B]`` (1 when None)."""
    a = quat_angle(sim_quat, ref_quat)
    if weights is not None:
        a = weights * a
    return np.exp(-k * a.mean(axis=-1))


def energy_reward(joint_acc: NDArray[np.floating], k: float) -> F64:
    """``exp(-k * mean_j acc_j^2)`` over hinge accelerations ``[N,J]`` (rad/s^2)."""
    a = np.asarray(joint_acc, np.float64)
    return np.exp(-k * (a * a).mean(axis=-1))


# ---- embodiment-agnostic -------------------------------------------------------------


def obj_pos_reward(sim_pts: NDArray[np.floating], ref_pts: NDArray[np.floating], k: float) -> F64:
    """``exp(-k * mean_p |dx_p|^2)`` over object surface points ``[N,P,3]`` (m): position
    and orientation errors both move the points, as they move the contact surfaces."""
    return np.exp(-k * _sqnorm(sim_pts - ref_pts).mean(axis=-1))


def obj_rot_reward(sim_quat: NDArray[np.floating], ref_quat: NDArray[np.floating], k: float) -> F64:
    """``exp(-k * angle)``, angle (rad) between object orientations ``[N,4]``."""
    return np.exp(-k * quat_angle(sim_quat, ref_quat))


def obj_vel_reward(sim_vel: NDArray[np.floating], ref_vel: NDArray[np.floating], k: float) -> F64:
    """``exp(-k * mean_i dv_i^2)`` on the object's linear velocity ``[N,3]`` (m/s), the
    mean over x, y, z (as released: ``|dv|^2 / 3``)."""
    d = np.asarray(sim_vel, np.float64) - np.asarray(ref_vel, np.float64)
    return np.exp(-k * (d * d).mean(axis=-1))


def obj_energy_reward(
    lin_acc: NDArray[np.floating], ang_acc: NDArray[np.floating], k: float
) -> F64:
    """``exp(-k * mean_i a_i^2) * exp(-k * mean_i alpha_i^2)`` on the object's linear
    ``[N,3]`` (m/s^2) and angular ``[N,3]`` (rad/s^2) accelerations: no jolts."""
    a = np.asarray(lin_acc, np.float64)
    w = np.asarray(ang_acc, np.float64)
    return np.exp(-k * (a * a).mean(axis=-1)) * np.exp(-k * (w * w).mean(axis=-1))


def contact_energy_reward(force: NDArray[np.floating], k: float) -> F64:
    """``exp(-k * F^2)``, ``F`` ``[N]`` the humanoid's summed contact forces (N): no
    violent impacts."""
    f = np.asarray(force, np.float64)
    return np.exp(-k * f * f)


def ig_weights(ref_ig: NDArray[np.floating], scale: float, floor: float) -> F64:
    """``[N,K,Q]`` weights of the graph's edges: ``floor + exp(-|d_ref| / scale)``, so short
    reference edges (a hand on the object) dominate the interaction-graph error."""
    return floor + np.exp(-np.sqrt(_sqnorm(ref_ig)) / scale)


def ig_reward(
    sim_ig: NDArray[np.floating],
    ref_ig: NDArray[np.floating],
    k: float,
    weights: NDArray[np.floating] | None = None,
) -> F64:
    """``exp(-k * weighted mean |d_sim - d_ref|^2)`` over graph edges ``[N,K,Q,3]`` (m)."""
    e = _sqnorm(sim_ig - ref_ig).reshape(sim_ig.shape[0], -1)
    if weights is None:
        return np.exp(-k * e.mean(axis=-1))
    w = weights.reshape(e.shape)
    return np.exp(-k * (w * e).sum(axis=-1) / w.sum(axis=-1))


def hand_required_and_touching(
    touch: NDArray[np.bool_],
    labels: NDArray[np.integer],
    hands: tuple[NDArray[np.int64], NDArray[np.int64]],
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per hand ``[N,2]`` (left, right): is contact required (any of its bodies labelled
    +1) and is it touching (any of its bodies in contact with the object)."""
    req = np.stack([(labels[:, h] > 0).any(axis=1) for h in hands], axis=1)
    tch = np.stack([touch[:, h].any(axis=1) for h in hands], axis=1)
    return req, tch


def hand_contact_reward(
    touch: NDArray[np.bool_],
    labels: NDArray[np.integer],
    hands: tuple[NDArray[np.int64], NDArray[np.int64]],
    k: float,
) -> F64:
    """Product over the hands of ``0.5 * (1 + exp(-k * e))`` for a required hand (see
    :func:`hand_required_and_touching`), ``e`` the fraction of its bodies (wrist and
    fingers) not touching the object; 1 for a hand not required. In ``[1/4, 1]``."""
    out = np.ones(touch.shape[0])
    for h in hands:
        req = (labels[:, h] > 0).any(axis=1)
        e = (~touch[:, h]).mean(axis=1)
        out = out * np.where(req, 0.5 * (1.0 + np.exp(-k * e)), 1.0)
    return out


def body_contact_reward(
    touch: NDArray[np.bool_], labels: NDArray[np.integer], bodies: NDArray[np.int64], k: float
) -> F64:
    """``exp(-k * m)``, ``m`` the number of ``bodies`` (the non-hand ones) labelled +1
    that do not touch the object over the number of ``bodies``; 1 when none is
    labelled."""
    req = labels[:, bodies] > 0
    missing = (req & ~touch[:, bodies]).sum(axis=1)
    return np.exp(-k * missing / max(len(bodies), 1))


def penalised_contact_reward(
    touch: NDArray[np.bool_], labels: NDArray[np.integer], k: float
) -> F64:
    """``exp(-k * m)``, ``m`` the number of bodies labelled -1 (must not touch) that touch
    the object over the number of bodies; 1 when none does."""
    bad = ((labels < 0) & touch).sum(axis=1)
    return np.exp(-k * bad / max(touch.shape[1], 1))


# ---- all together --------------------------------------------------------------------


def compute_rewards(
    c: Comparison,
    s: RewardSettings,
    hands: tuple[NDArray[np.int64], NDArray[np.int64]],
    non_hand_bodies: NDArray[np.int64],
) -> tuple[F64, dict[str, F64]]:
    """``(total [N], terms)``: every term of :data:`TERMS` ``[N]`` and their product.

    ``hands`` are the (left, right) hand body indices into ``B``; ``non_hand_bodies`` the
    rest."""
    a, g = s.embodiment_aware, s.embodiment_agnostic
    n = c.body_pos_sim.shape[0]
    zero3 = np.zeros((n, 3))
    ig_w = ig_weights(c.ig_ref, g.ig_closeness_scale, g.ig_closeness_floor)
    obj_lin = zero3 if c.obj_lin_acc is None else c.obj_lin_acc
    obj_ang = zero3 if c.obj_ang_acc is None else c.obj_ang_acc
    force = np.zeros(n) if c.contact_force is None else c.contact_force
    terms = {
        "body_pos": body_pos_reward(c.body_pos_sim, c.body_pos_ref, a.body_pos, c.body_weight),
        "body_rot": body_rot_reward(
            c.body_quat_sim, c.body_quat_ref, a.body_rot, c.body_rot_weight
        ),
        "energy": energy_reward(c.joint_acc, a.energy),
        "obj_pos": obj_pos_reward(c.points_sim, c.points_ref, g.obj_pos),
        "obj_rot": obj_rot_reward(c.obj_quat_sim, c.obj_quat_ref, g.obj_rot),
        "obj_vel": obj_vel_reward(c.obj_linvel_sim, c.obj_linvel_ref, g.obj_vel),
        "obj_energy": obj_energy_reward(obj_lin, obj_ang, g.obj_energy),
        "interaction_graph": ig_reward(c.ig_sim, c.ig_ref, g.interaction_graph, ig_w),
        "hand_contact": hand_contact_reward(c.touch, c.labels, hands, g.hand_contact),
        "body_contact": body_contact_reward(c.touch, c.labels, non_hand_bodies, g.body_contact),
        "penalised_contact": penalised_contact_reward(c.touch, c.labels, g.penalised_contact),
        "contact_energy": contact_energy_reward(force, g.contact_energy),
    }
    total = np.ones(n)
    for v in terms.values():
        total = total * v
    return total, terms
