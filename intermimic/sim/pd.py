"""Policy actions -> PD position targets, and the checks that the PD runs in the physics.

A policy outputs one action per actuated hinge in ``[-1, 1]``. As in ASE / InterMimic,
the action is an offset from the middle of the joint range, scaled by half the range::

    target = offset + scale * action
    offset = (lo + hi) / 2,  scale = factor * (hi - lo) / 2

so ``action = +-1`` reaches the range ends (for the +-180 deg hinges of the SMPL-X
humanoid that spans ``+-pi``). An unlimited hinge counts as ``[-pi, pi]``.

The PD itself runs inside MuJoCo: the humanoid must be built with
``HumanoidSettings(actuators="position")``, whose position actuators apply
``kp (target - q) - kd qdot`` on every physics substep (120 Hz) while the target is held
for a policy step (30 Hz, 4 substeps). :func:`require_position_actuators` checks that.

Non-finite actions: by default (``non_finite="raise"``) :meth:`ActionMap.targets` raises
:class:`NonFiniteActionError`, because a NaN action means the policy itself diverged and
training should stop loudly; ``non_finite="zero"`` replaces them by 0 (the range middle)
and counts them in :attr:`ActionMap.n_sanitised` for runs that must keep going.
Finite actions outside ``[-1, 1]`` are clipped (PPO's Gaussian samples exceed it).
"""

from __future__ import annotations

from typing import Literal

import mujoco
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from intermimic.errors import InputError, InterMimicError

F64 = NDArray[np.float64]


class NonFiniteActionError(InterMimicError):
    """An action array holds NaN or inf (and ``non_finite`` is ``"raise"``)."""


class ActuatorError(InputError):
    """The model's actuators cannot run the PD inside the physics."""


class ActionSettings(BaseModel):
    """How actions become PD targets, and the control rate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scale: float = Field(
        default=1.0, gt=0, description="factor on the half joint range an action of 1 reaches"
    )
    policy_hz: float = Field(default=30.0, gt=0, description="policy (control) rate (Hz)")
    clip: bool = Field(default=True, description="clip finite actions to [-1, 1]")
    non_finite: Literal["raise", "zero"] = Field(
        default="raise", description="NaN/inf actions: raise, or replace by 0 and count"
    )

    def substeps(self, timestep: float) -> int:
        """Physics steps per policy step: ``round(1 / (timestep * policy_hz))`` (4 at 120/30 Hz)."""
        n = round(1.0 / (timestep * self.policy_hz))
        if n < 1 or abs(n * timestep * self.policy_hz - 1.0) > 1e-6:
            raise ValueError(
                f"policy rate {self.policy_hz} Hz is not a whole divisor of the physics rate "
                f"{1.0 / timestep:g} Hz"
            )
        return n


def actuated_joint_ranges(model: mujoco.MjModel) -> F64:
    """``[nu, 2]`` (lo, hi) of the hinge each actuator drives; unlimited hinges ``[-pi, pi]``."""
    if not np.all(model.actuator_trntype == mujoco.mjtTrn.mjTRN_JOINT):
        raise ActuatorError("every actuator must drive a joint (trntype joint)")
    joints = model.actuator_trnid[:, 0]
    rng = np.array(model.jnt_range[joints], dtype=np.float64)
    unlimited = ~model.jnt_limited[joints].astype(bool)
    rng[unlimited] = (-np.pi, np.pi)
    return rng


def require_position_actuators(model: mujoco.MjModel) -> None:
    """Raise :class:`ActuatorError` unless every actuator is a position servo (PD in physics).

    A MuJoCo position actuator has ``gain = kp`` and ``bias = [0, -kp, -kv]``; a motor has
    bias 0, so its ``ctrl`` would be read as a torque, not a target.
    """
    if model.nu == 0:
        raise ActuatorError("the model has no actuators")
    kp = model.actuator_gainprm[:, 0]
    bias = model.actuator_biasprm[:, :2]
    ok = (kp > 0) & np.isclose(bias[:, 0], 0.0) & np.isclose(bias[:, 1], -kp)
    if not ok.all():
        bad = [model.actuator(int(i)).name for i in np.flatnonzero(~ok)[:5]]
        raise ActuatorError(
            "actuators are not position servos (build the humanoid with "
            f"HumanoidSettings(actuators='position')): {', '.join(bad)}"
        )


class ActionMap:
    """Maps actions ``[N, nu]`` in ``[-1, 1]`` to PD targets ``[N, nu]`` (rad).

    ``offset`` and ``scale`` (``[nu]``) come from the actuated hinges' ranges.
    """

    def __init__(self, model: mujoco.MjModel, settings: ActionSettings | None = None) -> None:
        self.settings = settings or ActionSettings()
        rng = actuated_joint_ranges(model)
        self.offset: F64 = 0.5 * (rng[:, 0] + rng[:, 1])
        self.scale: F64 = self.settings.scale * 0.5 * (rng[:, 1] - rng[:, 0])
        self.n_sanitised = 0  # actions replaced by 0 so far (non_finite="zero")

    @property
    def nu(self) -> int:
        return int(self.offset.shape[0])

    def targets(self, actions: NDArray[np.floating], out: F64 | None = None) -> F64:
        """``[N, nu]`` targets for ``actions [N, nu]``; writes into ``out`` when given."""
        a = np.asarray(actions, dtype=np.float64)
        if a.shape[-1] != self.nu:
            raise ValueError(f"actions have {a.shape[-1]} columns, the model {self.nu} actuators")
        finite = np.isfinite(a)
        if not finite.all():
            n_bad = int(a.size - np.count_nonzero(finite))
            if self.settings.non_finite == "raise":
                rows = np.flatnonzero(~finite.reshape(-1, self.nu).all(axis=1))
                raise NonFiniteActionError(
                    f"{n_bad} non-finite action value(s) in world(s) {rows[:8].tolist()}"
                )
            a = np.where(finite, a, 0.0)
            self.n_sanitised += n_bad
        if self.settings.clip:
            a = np.clip(a, -1.0, 1.0)
        if out is None:
            return self.offset + self.scale * a
        np.multiply(self.scale, a, out=out)
        out += self.offset
        return out

    def actions(self, targets: NDArray[np.floating]) -> F64:
        """Inverse map: the actions whose targets are ``targets [..., nu]`` (not clipped)."""
        return (np.asarray(targets, dtype=np.float64) - self.offset) / self.scale
