"""Settings of the tracking environment, as typed pydantic models.

Reward coefficients come in two groups, as the method separates them:

* :class:`EmbodimentAwareRewards` track the humanoid's own joints and bodies (body
  positions, body rotations, energy); they change with the embodiment;
* :class:`EmbodimentAgnosticRewards` track what any embodiment must do to the world
  (object pose and velocity, the interaction graph, contacts).

Defaults marked "paper" are from InterMimic (arXiv 2502.20390, see DESIGN.md), those
marked "released" from its released teacher config and task code (``omomo_train.yaml``,
``intermimic.py``; see docs/fidelity.md); the others are this project's choices and are
documented where they are defined.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from intermimic.sim.pd import ActionSettings


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EmbodimentAwareRewards(_Frozen):
    """Coefficients ``k`` of the joint-tracking terms, each ``exp(-k * error)``."""

    body_pos: float = Field(default=30.0, ge=0, description="1/m^2; paper")
    body_rot: float = Field(default=2.5, ge=0, description="1/rad; paper")
    energy: float = Field(default=2e-5, ge=0, description="s^4/rad^2; paper")
    closeness_scale: float = Field(
        default=0.2,
        gt=0,
        description="m; a body's position weight is floor + exp(-d/scale), d = its "
        "reference distance to the object; the body-position error is the mean over "
        "bodies of weight * |dp|^2 (released: exp(-5 d), i.e. 0.2 m)",
    )
    closeness_floor: float = Field(
        default=0.0,
        ge=0,
        description="position weight every body keeps however far from the object (released: 0)",
    )
    feet_full_weight: bool = Field(
        default=True,
        description="the embodiment's feet (ankles and toes) get position weight 1 "
        "whatever their distance to the object (released intent; its code sets knees "
        "and ankles by an index mix-up)",
    )
    rot_weighting: Literal["uniform", "far"] = Field(
        default="far",
        description="'far': each body's rotation error is weighted by 1 - exp(-d/"
        "closeness_scale) (bodies near the object may turn to grip), mean over bodies "
        "(released); 'uniform': plain mean",
    )


class EmbodimentAgnosticRewards(_Frozen):
    """Coefficients ``k`` of the object and contact terms, each ``exp(-k * error)``."""

    obj_pos: float = Field(default=5.0, ge=0, description="1/m^2 over surface points; paper")
    obj_rot: float = Field(default=0.1, ge=0, description="1/rad; paper")
    obj_vel: float = Field(
        default=0.1,
        ge=0,
        description="s^2/m^2 on the mean over x, y, z of the squared linear-velocity "
        "error of the object (released opv)",
    )
    obj_energy: float = Field(
        default=2e-5,
        ge=0,
        description="s^4/m^2 (and s^4/rad^2): exp(-k mean(a_lin^2)) * exp(-k mean("
        "a_ang^2)) on the object's accelerations, velocity change over a policy step "
        "(released eg2)",
    )
    interaction_graph: float = Field(default=5.0, ge=0, description="1/m^2; paper")
    ig_closeness_scale: float = Field(
        default=0.5, gt=0, description="m; edge weight floor + exp(-|d_ref|/scale) (project choice)"
    )
    ig_closeness_floor: float = Field(default=0.2, ge=0)
    hand_contact: float = Field(
        default=5.0,
        ge=0,
        description="per required hand 0.5 (1 + exp(-k e)), e the fraction of its bodies "
        "not touching; product over hands (released cg_hand)",
    )
    body_contact: float = Field(
        default=5.0,
        ge=0,
        description="on the +1-labelled non-hand bodies not touching over the number of "
        "non-hand bodies (released cg_other)",
    )
    penalised_contact: float = Field(
        default=3.0,
        ge=0,
        description="on the forbidden (-1) bodies touching over the number of bodies "
        "(released cg_all)",
    )
    contact_energy: float = Field(
        default=1e-9,
        ge=0,
        description="1/N^2: exp(-k F^2), F the humanoid's summed contact normal forces "
        "(released eg3)",
    )


class RewardSettings(_Frozen):
    """The reward is the product of every term (each in ``(0, 1]``)."""

    embodiment_aware: EmbodimentAwareRewards = EmbodimentAwareRewards()
    embodiment_agnostic: EmbodimentAgnosticRewards = EmbodimentAgnosticRewards()


class TerminationSettings(_Frozen):
    """Interaction early termination (IET) thresholds; ``None`` disables a condition."""

    enabled: bool = True
    min_root_height: float | None = Field(default=0.3, ge=0, description="m; paper")
    max_key_body_error: float | None = Field(default=0.5, ge=0, description="m, mean; paper")
    max_object_error: float | None = Field(
        default=0.5, ge=0, description="m, mean over object surface points; paper"
    )
    max_ig_ratio: float | None = Field(
        default=1.0,
        ge=0,
        description="mean interaction-graph error over the mean reference interaction-graph "
        "vector length (project choice)",
    )
    max_missing_hand_frames: int | None = Field(
        default=10,
        ge=0,
        description="frames; terminate when a hand the reference requires on the object "
        "has touched it in none of the last more-than-this-many consecutive frames, "
        "counted per hand; paper",
    )
    grace_steps: int = Field(
        default=1,
        ge=0,
        description="policy steps after a reset on which only root_height can terminate "
        "(key-body, object, interaction-graph and hand conditions wait; released: 1)",
    )


class PSISettings(_Frozen):
    """Physical state initialisation: a buffer of valid states per reference frame."""

    enabled: bool = Field(
        default=True,
        description="False: no rollout states are collected, so every start uses the "
        "MoCap state (reference state initialisation); start frames still follow scores",
    )
    slots_per_frame: int = Field(
        default=3, ge=1, description="slot 0 holds the MoCap state (released buffer size 3)"
    )
    hybrid_prob: float = Field(
        default=0.1, ge=0, le=1, description="probability of starting at frame 0 (MoCap state)"
    )
    starts: Literal["all", "reached"] = Field(
        default="all",
        description="'all': any startable frame, from its MoCap state or a stored rollout "
        "state (the method); 'reached': only each clip's frame 0 and frames a rollout has "
        "already reached (a confirmed state is stored), so the starts grow along the clip "
        "with the policy (a curriculum for small budgets, project choice)",
    )
    add_every: int = Field(default=4, ge=1, description="policy steps between candidate states")
    confirm_frames: int = Field(
        default=8,
        ge=0,
        description="a candidate enters the buffer once its rollout ran this many more "
        "frames without early termination (the 'successful rollout' test)",
    )
    score_ema: float = Field(
        default=0.05, gt=0, le=1, description="rate of the per-frame failure average"
    )
    min_score: float = Field(
        default=0.05, gt=0, description="score floor: every frame stays drawable"
    )


class ObservationSettings(_Frozen):
    """What the policy sees, and how it is normalised."""

    future_offsets: tuple[int, ...] = Field(default=(1, 16), description="frames ahead")
    n_ig_points: int = Field(default=16, gt=0, description="object points in the graph")
    ig_decay: float = Field(default=5.0, ge=0, description="1/m, in d/|d| exp(-decay |d|)")
    normalize: bool = True
    clip: float = Field(default=5.0, gt=0, description="normalised values clipped to +-clip")

    @field_validator("future_offsets")
    @classmethod
    def _positive(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(int(k) < 1 for k in v):
            raise ValueError(f"future_offsets must be positive frame counts, got {v}")
        return tuple(int(k) for k in v)


class EnvSettings(_Frozen):
    """Everything :class:`~intermimic.env.tracking_env.TrackingEnv` reads."""

    action: ActionSettings = Field(
        default=ActionSettings(non_finite="zero"),
        description="action -> PD target map and policy rate (substeps = physics rate / "
        "policy rate, 4 at 120/30 Hz). The environment's default sanitises non-finite "
        "actions to 0 and counts them (training goes on); non_finite='raise' stops instead",
    )
    contact_force_threshold: float = Field(
        default=0.1,
        ge=0,
        description="N; a body touches the object above this normal force (released 0.1)",
    )
    n_object_points: int = Field(
        default=64, gt=0, description="object surface points for errors and rewards"
    )
    reference_bodies: Literal["fk", "clip"] = Field(
        default="fk",
        description="'fk': reference body poses from the simulated humanoid's own FK of "
        "the clip's joint angles (what the humanoid can reach); 'clip': the captured ones",
    )
    ground_reference: bool = Field(
        default=True,
        description="shift each clip's reference humanoid (not the object) vertically so "
        "its lowest geom touches the ground (see intermimic.env.grounding); False: the "
        "captured height as it is",
    )
    ground_percentile: float = Field(
        default=10.0, ge=0, le=100, description="percentile of the per-frame clearance used"
    )
    seed: int = 0
    observation: ObservationSettings = ObservationSettings()
    reward: RewardSettings = RewardSettings()
    termination: TerminationSettings = TerminationSettings()
    psi: PSISettings = PSISettings()
