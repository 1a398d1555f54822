"""Policy actions -> PD position targets, and the checks that the PD runs in the physics.

A policy outputs one action per actuated hinge in ``[-1, 1]``. As in ASE / InterMimic,
the action is an offset from the middle of the joint range, scaled by half the range::

    target = offset + scale * action
    offset = (lo + hi) / 2,  scale = factor * (hi - lo) / 2

so ``action = +-1`` reaches the range ends (for the +-180 deg hinges of the SMPL-X
humanoid that spans ``+-pi``). An unlimited hinge counts as ``[-pi, pi]``.

Two adjustments of the released InterMimic (``humanoid.py``,
``_build_pd_action_offset_scale``) follow, both on by default
(:class:`ActionSettings`):

* recentring (``recentre_threshold`` 0.1 rad): a hinge whose range middle is further
  than that from 0 gets offset 0 and the scale of the first actuated hinge (``scale[0]``
  there; ``pi`` on the SMPL-X humanoid, whose first hinge is ``L_Hip_x``). On the SMPL-X
  humanoid these are the ten finger-tip x hinges (-90..5.6 deg and -5.6..90 deg), so
  ``action = 0`` targets a straight tip and ``+-1`` reaches past the joint limit;
* per-hinge scale overrides (``scale_overrides``): the release sets the scale of its
  dofs 5 and 17 to 5 rad. Its dof order is the MJCF's (bodies in tree order, each
  with x, y, z hinges; ours is the same), so those are ``L_Knee_z`` and ``R_Knee_z``:
  the knees' twist hinges (the knee flexes about y in this z-up model), whose target then
  spans +-5 rad, past their +-pi range.

Both rules were written for the SMPL-X humanoid. Overrides naming actuators a model lacks
are skipped, so the knee default is inert on the G1; recentring is not: the G1's
asymmetric ranges (hips, knees, ankles, shoulders, elbows, fingers) put 26 of its 43
hinges past 0.1 rad, so a G1 run that wants its range middles back sets ``recentre_threshold=None``.

Neither changes what the inverse map :meth:`ActionMap.actions` returns for a target
inside a joint's range: still a value in ``[-1, 1]``, and ``actions(targets(a)) == a``.

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

from typing import TYPE_CHECKING, Annotated, Literal

import mujoco
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from intermimic.errors import InputError, InterMimicError

if TYPE_CHECKING:  # torch is imported where tensors are handed over, not by every reader
    import torch

F64 = NDArray[np.float64]


class NonFiniteActionError(InterMimicError):
    """An action array holds NaN or inf (and ``non_finite`` is ``"raise"``)."""


class ActuatorError(InputError):
    """The model's actuators cannot run the PD inside the physics."""


# InterMimic sets the scale of its dofs 5 and 17 to 5 (``_L_knee_dof_idx`` /
# ``_R_knee_dof_idx``); in its MJCF's dof order those are the knees' z (twist) hinges.
KNEE_TWIST_SCALES: dict[str, float] = {"L_Knee_z": 5.0, "R_Knee_z": 5.0}


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
    recentre_threshold: float | None = Field(
        default=0.1,
        ge=0,
        allow_inf_nan=False,
        description="rad; a hinge whose range middle is further than this from 0 gets "
        "offset 0 and the scale of the first actuated hinge (InterMimic: 0.1; the SMPL-X "
        "finger tips then take offset 0, scale pi). None: every hinge keeps its range middle",
    )
    scale_overrides: dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(
        default_factory=lambda: dict(KNEE_TWIST_SCALES),
        description="rad per unit action for named actuators (the hinge names), replacing "
        "the range-derived scale, after recentring and not multiplied by 'scale'. Names the "
        "model lacks are ignored, so the SMPL-X default (InterMimic's 5 on L_Knee_z and "
        "R_Knee_z) is inert on the G1",
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


def offset_and_scale(
    ranges: NDArray[np.floating], names: tuple[str, ...], settings: ActionSettings
) -> tuple[F64, F64, tuple[str, ...], tuple[str, ...]]:
    """``(offset [nu], scale [nu], recentred names, overridden names)`` of the action map
    for hinge ``ranges [nu, 2]`` (lo, hi) of the actuators ``names``.

    In the release's order: range middle and half range (times ``settings.scale``); then
    hinges off-centre by more than ``recentre_threshold`` get offset 0 and the first
    hinge's scale as it was before this step; then ``scale_overrides`` replace the scale
    of the actuators they name (names not in ``names`` are skipped).
    """
    rng = np.asarray(ranges, dtype=np.float64)
    if rng.shape != (len(names), 2):
        raise ValueError(f"ranges have shape {rng.shape}, expected ({len(names)}, 2)")
    offset = 0.5 * (rng[:, 0] + rng[:, 1])
    scale = settings.scale * 0.5 * (rng[:, 1] - rng[:, 0])
    recentred: tuple[str, ...] = ()
    if settings.recentre_threshold is not None and len(names):
        off_centre = np.abs(offset) > settings.recentre_threshold
        scale[off_centre] = scale[0]  # a scalar copy: taken before scale[0] may change
        offset[off_centre] = 0.0
        recentred = tuple(n for n, f in zip(names, off_centre, strict=True) if f)
    overridden = tuple(n for n in names if n in settings.scale_overrides)
    for i, n in enumerate(names):
        if n in settings.scale_overrides:
            scale[i] = settings.scale_overrides[n]
    return offset, scale, recentred, overridden


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

    ``offset`` and ``scale`` (``[nu]``) come from the actuated hinges' ranges, then
    recentring and the scale overrides of :class:`ActionSettings` (module docstring).
    ``recentred`` and ``overridden`` name the actuators each one changed.
    """

    def __init__(self, model: mujoco.MjModel, settings: ActionSettings | None = None) -> None:
        self.settings = settings or ActionSettings()
        names = tuple(model.actuator(i).name for i in range(model.nu))
        self.offset, self.scale, self.recentred, self.overridden = offset_and_scale(
            actuated_joint_ranges(model), names, self.settings
        )
        self._n_sanitised = 0  # actions replaced by 0 so far (non_finite="zero")
        self._t_sanitised: torch.Tensor | None = None  # the same from targets_tensor
        # offset and scale as tensors, made on the first targets_tensor call's device
        self._t_device: torch.device | None = None
        self._t_offset: torch.Tensor | None = None
        self._t_scale: torch.Tensor | None = None

    @property
    def n_sanitised(self) -> int:
        """Non-finite action values replaced by 0 so far (``non_finite="zero"``)."""
        t = self._t_sanitised
        return self._n_sanitised + (0 if t is None else int(t))

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
            self._n_sanitised += n_bad
        if self.settings.clip:
            a = np.clip(a, -1.0, 1.0)
        if out is None:
            return self.offset + self.scale * a
        np.multiply(self.scale, a, out=out)
        out += self.offset
        return out

    def targets_tensor(self, actions: torch.Tensor) -> torch.Tensor:
        """:meth:`targets` on a tensor (float64, on the actions' device), without leaving
        the device; the same clipping and non-finite rule."""
        import torch

        a = actions.to(torch.float64)
        if a.shape[-1] != self.nu:
            raise ValueError(f"actions have {a.shape[-1]} columns, the model {self.nu} actuators")
        finite = torch.isfinite(a)
        if self.settings.non_finite == "raise":
            # the check reads the device back; "zero" (training's) never does
            n_bad = int(a.numel() - int(finite.sum()))
            if n_bad:
                rows = (~finite.reshape(-1, self.nu).all(dim=1)).nonzero().flatten()
                raise NonFiniteActionError(
                    f"{n_bad} non-finite action value(s) in world(s) {rows[:8].tolist()}"
                )
        else:
            a = torch.where(finite, a, torch.zeros_like(a))
            bad = (~finite).sum()
            self._t_sanitised = bad if self._t_sanitised is None else self._t_sanitised + bad
        if self.settings.clip:
            a = a.clamp(-1.0, 1.0)
        key = a.device
        if self._t_device != key:
            self._t_offset = torch.from_numpy(self.offset).to(key)
            self._t_scale = torch.from_numpy(self.scale).to(key)
            self._t_device = key
        assert self._t_offset is not None and self._t_scale is not None
        return self._t_offset + self._t_scale * a

    def actions(self, targets: NDArray[np.floating]) -> F64:
        """Inverse map: the actions whose targets are ``targets [..., nu]`` (not clipped)."""
        return (np.asarray(targets, dtype=np.float64) - self.offset) / self.scale
