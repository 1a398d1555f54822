"""Tracking rewards, one function per term; the reward is their product.

Every term is ``exp(-k * error)`` in ``(0, 1]``: 1 for perfect tracking, and the
product of terms means a policy cannot trade one error for another (a humanoid that
tracks its body but drops the object scores low). Coefficients ``k`` are
:class:`~intermimic.env.settings.RewardSettings`, in two groups:

* embodiment-aware (the humanoid's joints and bodies): :func:`body_pos_reward`,
  :func:`body_rot_reward`, :func:`energy_reward`;
* embodiment-agnostic (object motion and contact): :func:`obj_pos_reward` (or
  :func:`obj_points_reward`), :func:`obj_rot_reward`, :func:`obj_vel_reward`,
  :func:`obj_energy_reward`, :func:`ig_reward`, :func:`hand_contact_reward`,
  :func:`body_contact_reward`, :func:`penalised_contact_reward`,
  :func:`contact_energy_reward`.

Every term follows InterMimic's released task code (docs/fidelity.md). The object pose
terms compare the object in each humanoid's own root-heading frame
(:func:`~intermimic.env.geometry.heading_local_object`), so they charge the object's
placement relative to the humanoid, wherever both face. The interaction-graph term
weighs each body-to-object-point edge by its inverse squared length in the simulated and
in the reference graph (:func:`ig_weights`), so the edges of a hand at the object
dominate. The hand term is the one not of the form ``exp(-k e)``: ``0.5 (1 + exp(-k
e))`` per required hand, so it never drops below 1/4.

Shapes: ``N`` worlds, ``B`` bodies, ``K`` interaction-graph bodies, ``Q`` graph object
points, ``P`` object surface points.

Every function takes and returns ``torch.Tensor`` and computes in the dtype and on the
device of its float inputs (the environment: float32 on the backend's device). The
contact terms see only bool and int8 tensors: they return ``dtype`` (keyword, default
torch's default dtype), which :func:`compute_rewards` sets to that of the comparison.
Non-finite inputs propagate (a broken world's row is NaN; the environment masks it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from intermimic.env.geometry import quat_angle
from intermimic.env.settings import RewardSettings

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
    """Simulated versus reference quantities of one policy step, SI units, world frame
    unless said otherwise.

    ``body_pos_*`` ``[N,Bp,3]`` and ``body_weight`` ``[N,Bp]`` (position weight of each
    body from its reference distance to the object) for the body-position term;
    ``body_quat_*`` ``[N,Br,4]`` and ``body_rot_weight`` ``[N,Br]`` for the rotation
    term; ``key_pos_*`` ``[N,K,3]``, ``points_*`` ``[N,P,3]`` object surface points,
    ``obj_local_pos_*`` ``[N,3]`` and ``obj_local_quat_*`` ``[N,4]`` the object's pose in
    its own humanoid's root-heading frame (each side its own root:
    :func:`~intermimic.env.geometry.heading_local_object`), ``obj_linvel_*`` ``[N,3]``;
    the interaction graph (vectors from the ``K`` key bodies to ``Q`` object points) as
    squared lengths ``[N,K,Q]`` (m^2): ``ig_err_sq`` of simulated minus reference edge,
    ``ig_sim_sq`` and ``ig_ref_sq`` of the edges themselves (all the reward and
    termination read; :func:`~intermimic.env.geometry.graph_sq_errors`,
    :func:`~intermimic.env.geometry.graph_sq_lengths`); ``touch`` ``[N,B]`` bool
    simulated body-object contact,
    ``labels`` ``[N,B]`` int8 the reference's contact labels (+1 required, 0 unknown, -1
    forbidden), ``joint_acc`` ``[N,J]`` hinge accelerations (rad/s^2), ``obj_lin_acc``
    and ``obj_ang_acc`` ``[N,3]`` the object's (m/s^2, rad/s^2), ``contact_force``
    ``[N]`` the humanoid's summed contact normal forces (N). The last four default to
    zero (energy terms 1) and ``body_rot_weight`` to None (uniform). All tensors on one
    device; the float ones in one dtype.
    """

    body_pos_sim: Tensor
    body_pos_ref: Tensor
    body_quat_sim: Tensor
    body_quat_ref: Tensor
    body_weight: Tensor
    key_pos_sim: Tensor
    key_pos_ref: Tensor
    points_sim: Tensor
    points_ref: Tensor
    obj_local_pos_sim: Tensor
    obj_local_pos_ref: Tensor
    obj_local_quat_sim: Tensor
    obj_local_quat_ref: Tensor
    obj_linvel_sim: Tensor
    obj_linvel_ref: Tensor
    ig_err_sq: Tensor
    ig_sim_sq: Tensor
    ig_ref_sq: Tensor
    touch: Tensor
    labels: Tensor
    joint_acc: Tensor
    body_rot_weight: Tensor | None = None
    obj_lin_acc: Tensor | None = None
    obj_ang_acc: Tensor | None = None
    contact_force: Tensor | None = None


def _sqnorm(d: Tensor) -> Tensor:
    """``|d|^2`` over the last axis (3): by components, about three times faster on the
    CPU than a reduction over that short axis (geometry's module docstring)."""
    x, y, z = d.unbind(-1)
    return torch.addcmul(torch.addcmul(x * x, y, y), z, z)


def _mean_sq(a: Tensor) -> Tensor:
    """Mean over the last axis of ``a^2``."""
    return (a * a).mean(dim=-1)


# ---- embodiment-aware ----------------------------------------------------------------


def closeness_weights(
    ref_dist: Tensor, scale: float, floor: float, full: Tensor | None = None
) -> Tensor:
    """``floor + exp(-d / scale)`` per body ``[N,B]`` from each reference body's distance
    to the object ``d`` (m): bodies near the object matter more (hands on a box);
    ``floor`` keeps far bodies tracked. Columns ``full`` (long indices, the feet) weigh 1
    whatever their distance. Released InterMimic: scale 0.2 m, floor 0, ankles and toes
    1."""
    w = torch.exp(ref_dist / -scale) + floor
    if full is not None and full.numel():
        w.index_fill_(-1, full, 1.0)
    return w


def far_weights(ref_dist: Tensor, scale: float) -> Tensor:
    """``1 - exp(-d / scale)`` per body ``[N,B]``: the rotation weights of InterMimic,
    near 0 for bodies at the object (a gripping hand may turn), 1 far from it."""
    return 1.0 - torch.exp(ref_dist / -scale)


def body_pos_reward(sim: Tensor, ref: Tensor, k: float, weights: Tensor | None = None) -> Tensor:
    """``exp(-k * mean_b w_b |dp_b|^2)``; ``sim``, ``ref`` ``[N,B,3]`` (m), ``weights``
    ``[N,B]`` (1 when None). The mean is over bodies, not normalised by the weights (as
    released): bodies far from the object add little."""
    e = _sqnorm(sim - ref)
    if weights is not None:
        e = weights * e
    return torch.exp(e.mean(dim=-1) * -k)


def body_rot_reward(
    sim_quat: Tensor, ref_quat: Tensor, k: float, weights: Tensor | None = None
) -> Tensor:
    """``exp(-k * mean_b w_b angle_b)``, angle (rad) between simulated and reference body
    orientations ``[N,B,4]``, ``weights`` ``[N,B]`` (1 when None)."""
    a = quat_angle(sim_quat, ref_quat)
    if weights is not None:
        a = weights * a
    return torch.exp(a.mean(dim=-1) * -k)


def energy_reward(joint_acc: Tensor, k: float) -> Tensor:
    """``exp(-k * mean_j acc_j^2)`` over hinge accelerations ``[N,J]`` (rad/s^2)."""
    return torch.exp(_mean_sq(joint_acc) * -k)


# ---- embodiment-agnostic -------------------------------------------------------------


def obj_pos_reward(sim_pos: Tensor, ref_pos: Tensor, k: float) -> Tensor:
    """``exp(-k * mean_i dp_i^2)``, the mean over x, y, z of the squared difference of
    the object centres ``[N,3]`` (m), each in its own humanoid's root-heading frame
    (:func:`~intermimic.env.geometry.heading_local_object`; released: ``|dp|^2 / 3``)."""
    return torch.exp(_mean_sq(sim_pos - ref_pos) * -k)


def obj_points_reward(sim_pts: Tensor, ref_pts: Tensor, k: float) -> Tensor:
    """``exp(-k * mean_p |dx_p|^2)`` over object surface points ``[N,P,3]`` (m), world
    frame: position and orientation errors both move the points, as they move the contact
    surfaces (``EmbodimentAgnosticRewards.obj_pos_error = "points"``, this project's
    earlier term)."""
    return torch.exp(_sqnorm(sim_pts - ref_pts).mean(dim=-1) * -k)


def obj_rot_reward(sim_quat: Tensor, ref_quat: Tensor, k: float) -> Tensor:
    """``exp(-k * angle)``, angle (rad) between object orientations ``[N,4]`` (the
    environment passes each in its own humanoid's root-heading frame, as released)."""
    return torch.exp(quat_angle(sim_quat, ref_quat) * -k)


def obj_vel_reward(sim_vel: Tensor, ref_vel: Tensor, k: float) -> Tensor:
    """``exp(-k * mean_i dv_i^2)`` on the object's linear velocity ``[N,3]`` (m/s), the
    mean over x, y, z (as released: ``|dv|^2 / 3``)."""
    return torch.exp(_mean_sq(sim_vel - ref_vel) * -k)


def obj_energy_reward(lin_acc: Tensor, ang_acc: Tensor, k: float) -> Tensor:
    """``exp(-k * mean_i a_i^2) * exp(-k * mean_i alpha_i^2)`` on the object's linear
    ``[N,3]`` (m/s^2) and angular ``[N,3]`` (rad/s^2) accelerations: no jolts."""
    return torch.exp(_mean_sq(lin_acc) * -k) * torch.exp(_mean_sq(ang_acc) * -k)


def contact_energy_reward(force: Tensor, k: float) -> Tensor:
    """``exp(-k * F^2)``, ``F`` ``[N]`` the humanoid's summed contact forces (N): no
    violent impacts."""
    return torch.exp(force * force * -k)


def ig_weights(sq_len: Tensor, floor: float) -> Tensor:
    """``[N,K,Q]`` weights of one graph's edges from their squared lengths ``[N,K,Q]``
    (m^2): ``1 / max(|g|^2, floor)``, normalised to sum 1 over each world's edges, so
    short edges (a hand at the object) dominate; ``floor`` (m^2) caps the weight of
    edges shorter than ``sqrt(floor)`` (released 0.01: 0.1 m)."""
    u = torch.reciprocal(sq_len.clamp_min(floor))
    return u / u.flatten(1).sum(dim=-1).reshape(-1, *([1] * (u.dim() - 1)))


def ig_reward(
    err_sq: Tensor, sim_sq: Tensor, ref_sq: Tensor, k: float, floor: float = 0.01
) -> Tensor:
    """``exp(-k * 0.5 * sum_e |g_sim - g_ref|^2 (w_sim + w_ref))`` over the graph's
    edges, from squared lengths ``[N,K,Q]`` (m^2): ``err_sq`` of each edge's error,
    ``sim_sq`` and ``ref_sq`` of the simulated and reference edges, which give the
    weights :func:`ig_weights` (each summing to 1; released).

    Computed as ``err.u_sim / sum(u_sim) + err.u_ref / sum(u_ref)`` with the unnormalised
    weights ``u``: two dot products per world, not two normalised ``[N,K,Q]`` tensors."""
    e = err_sq.flatten(1)  # [N, K Q] (flatten: also for N = 0)
    u_sim = torch.reciprocal(sim_sq.flatten(1).clamp_min(floor))
    u_ref = torch.reciprocal(ref_sq.flatten(1).clamp_min(floor))
    err = torch.linalg.vecdot(e, u_sim) / u_sim.sum(dim=-1)
    err = err + torch.linalg.vecdot(e, u_ref) / u_ref.sum(dim=-1)
    return torch.exp(err * (-0.5 * k))


def _both_hands(hands: tuple[Tensor, Tensor]) -> Tensor | None:
    """``[2, H]`` indices of both hands when they have as many bodies (one gather for
    both, a third of the torch calls of one per hand), else None."""
    left, right = hands
    return torch.stack((left, right)) if left.shape == right.shape else None


def hand_required_and_touching(
    touch: Tensor, labels: Tensor, hands: tuple[Tensor, Tensor]
) -> tuple[Tensor, Tensor]:
    """Per hand ``[N,2]`` bool (left, right): is contact required (any of its bodies
    labelled +1) and is it touching (any of its bodies in contact with the object).
    ``hands``: long index tensors into the bodies."""
    both = _both_hands(hands)
    if both is not None:
        return (labels[:, both] > 0).any(dim=-1), touch[:, both].any(dim=-1)
    required = labels > 0
    req = torch.stack([required[:, h].any(dim=1) for h in hands], dim=1)
    tch = torch.stack([touch[:, h].any(dim=1) for h in hands], dim=1)
    return req, tch


def hand_contact_reward(
    touch: Tensor,
    labels: Tensor,
    hands: tuple[Tensor, Tensor],
    k: float,
    *,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Product over the hands of ``0.5 * (1 + exp(-k * e))`` for a required hand (see
    :func:`hand_required_and_touching`), ``e`` the fraction of its bodies (wrist and
    fingers) not touching the object; 1 for a hand not required. In ``[1/4, 1]``,
    ``[N]`` of ``dtype`` (default: torch's default dtype)."""
    dtype = torch.get_default_dtype() if dtype is None else dtype
    both = _both_hands(hands)
    if both is not None:
        req = (labels[:, both] > 0).any(dim=-1)
        e = (~touch[:, both]).to(dtype).mean(dim=-1)
        return torch.where(req, 0.5 * (1.0 + torch.exp(e * -k)), 1.0).prod(dim=-1)
    required, apart = labels > 0, ~touch
    out = torch.ones(touch.shape[0], dtype=dtype, device=touch.device)
    for h in hands:
        req = required[:, h].any(dim=1)
        e = apart[:, h].to(dtype).mean(dim=1)
        out = out * torch.where(req, 0.5 * (1.0 + torch.exp(e * -k)), 1.0)
    return out


def body_contact_reward(
    touch: Tensor, labels: Tensor, bodies: Tensor, k: float, *, dtype: torch.dtype | None = None
) -> Tensor:
    """``exp(-k * m)``, ``m`` the number of ``bodies`` (long indices, the non-hand ones)
    labelled +1 that do not touch the object over the number of ``bodies``; 1 when none
    is labelled. ``[N]`` of ``dtype`` (default: torch's default dtype)."""
    dtype = torch.get_default_dtype() if dtype is None else dtype
    missing = ((labels > 0) & ~touch)[:, bodies].sum(dim=1).to(dtype)
    return torch.exp(missing * (-k / max(bodies.shape[0], 1)))


def penalised_contact_reward(
    touch: Tensor, labels: Tensor, k: float, *, dtype: torch.dtype | None = None
) -> Tensor:
    """``exp(-k * m)``, ``m`` the number of bodies labelled -1 (must not touch) that touch
    the object over the number of bodies; 1 when none does. ``[N]`` of ``dtype``
    (default: torch's default dtype)."""
    dtype = torch.get_default_dtype() if dtype is None else dtype
    bad = ((labels < 0) & touch).sum(dim=1).to(dtype)
    return torch.exp(bad * (-k / max(touch.shape[1], 1)))


# ---- all together --------------------------------------------------------------------


def compute_rewards(
    c: Comparison,
    s: RewardSettings,
    hands: tuple[Tensor, Tensor],
    non_hand_bodies: Tensor,
) -> tuple[Tensor, dict[str, Tensor]]:
    """``(total [N], terms)``: every term of :data:`TERMS` ``[N]`` and their product, in
    the dtype of ``c.body_pos_sim``.

    ``hands`` are the (left, right) hand body indices into ``B`` (long tensors);
    ``non_hand_bodies`` the rest."""
    a, g = s.embodiment_aware, s.embodiment_agnostic
    ref = c.body_pos_sim
    n, dtype = ref.shape[0], ref.dtype
    zero3 = ref.new_zeros((n, 3))
    obj_lin = zero3 if c.obj_lin_acc is None else c.obj_lin_acc
    obj_ang = zero3 if c.obj_ang_acc is None else c.obj_ang_acc
    force = ref.new_zeros(n) if c.contact_force is None else c.contact_force
    terms = {
        "body_pos": body_pos_reward(c.body_pos_sim, c.body_pos_ref, a.body_pos, c.body_weight),
        "body_rot": body_rot_reward(
            c.body_quat_sim, c.body_quat_ref, a.body_rot, c.body_rot_weight
        ),
        "energy": energy_reward(c.joint_acc, a.energy),
        "obj_pos": obj_pos_reward(c.obj_local_pos_sim, c.obj_local_pos_ref, g.obj_pos)
        if g.obj_pos_error == "centre_heading"
        else obj_points_reward(c.points_sim, c.points_ref, g.obj_pos),
        "obj_rot": obj_rot_reward(c.obj_local_quat_sim, c.obj_local_quat_ref, g.obj_rot),
        "obj_vel": obj_vel_reward(c.obj_linvel_sim, c.obj_linvel_ref, g.obj_vel),
        "obj_energy": obj_energy_reward(obj_lin, obj_ang, g.obj_energy),
        "interaction_graph": ig_reward(
            c.ig_err_sq, c.ig_sim_sq, c.ig_ref_sq, g.interaction_graph, g.ig_weight_floor
        ),
        "hand_contact": hand_contact_reward(c.touch, c.labels, hands, g.hand_contact, dtype=dtype),
        "body_contact": body_contact_reward(
            c.touch, c.labels, non_hand_bodies, g.body_contact, dtype=dtype
        ),
        "penalised_contact": penalised_contact_reward(
            c.touch, c.labels, g.penalised_contact, dtype=dtype
        ),
        "contact_energy": contact_energy_reward(force, g.contact_energy),
    }
    # One product kernel over the stacked terms, not eleven multiplications.
    total = torch.stack(list(terms.values())).prod(dim=0)
    return total, terms
