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

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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

    obj_pos: float = Field(
        default=5.0,
        ge=0,
        description="1/m^2 on the object-position error of obj_pos_error (released op)",
    )
    obj_pos_error: Literal["centre_heading", "points"] = Field(
        default="centre_heading",
        description="'centre_heading': the mean over x, y, z of the squared difference of "
        "the object centres, each in its own humanoid's root-heading frame (xy relative to "
        "the root, z absolute; released); 'points': the mean over the n_object_points "
        "surface points of the world-frame |dx|^2 (this project's earlier term, 3x "
        "stricter, also charges rotation)",
    )
    obj_rot: float = Field(
        default=0.1,
        ge=0,
        description="1/rad on the angle between the object orientations, each in its own "
        "humanoid's root-heading frame (released or)",
    )
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
    interaction_graph: float = Field(
        default=5.0,
        ge=0,
        description="1/m^2: exp(-k 0.5 sum_e |dg_e|^2 (w_sim,e + w_ref,e)) over the edges "
        "from the key bodies to ig_points object points, w = 1/max(|g|^2, ig_weight_floor) "
        "normalised to sum 1 per graph (released ig)",
    )
    ig_weight_floor: float = Field(
        default=0.01,
        gt=0,
        description="m^2; edges shorter than its root (0.1 m) weigh as that long (released)",
    )
    ig_points: int = Field(
        default=64,
        gt=0,
        description="object points (farthest-point subset of the object's surface points, "
        "all of them when at least as many) in the interaction graph of this reward and "
        "of the ig_ratio termination (released: all 1024; 64: within 0.005 of the "
        "1024-point reward in 95 % of the sample clip's tracked and perturbed states, at "
        "1/13 to 1/18 of the cost: bench/ig_points.py)",
    )
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
        default=2.0,
        ge=0,
        description="terminate when some interaction-graph edge (key body to object "
        "point) has |g_sim - g_ref| / max(|g|, ig_length_floor) above this, |g| the "
        "reference or the simulated edge's length (released: 2)",
    )
    ig_length_floor: float = Field(
        default=0.5,
        gt=0,
        description="m; edges shorter than this count as this long in max_ig_ratio (released 0.5)",
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
    """Physical state initialisation: a buffer of valid states per reference frame.

    ``rule="released"`` (the default) is InterMimic's released rule: starts at frames
    ``[0, max(1, L - rollout_length))`` of a uniformly drawn clip, weighted by 1 / the
    frame's summed slot scores, the slot by its score; a rollout's states enter the
    buffer when it ends, scored by the share of its remaining horizon it survived
    (``admit_margin``, ``min_rollout``, ``admit_score``, ``score_decay``).
    ``rule="confirm"`` is this project's earlier rule (candidate states confirmed by
    ``confirm_frames`` further frames, start frames by failure rate; ``starts``,
    ``add_every``, ``confirm_frames``, ``score_ema``, ``min_score``), kept for the
    experiments run with it. A confirm-only setting changed under the released rule is
    rejected, as it would do nothing.
    """

    enabled: bool = Field(
        default=True,
        description="False: no rollout states are collected, so every start uses the "
        "MoCap state (reference state initialisation); start frames still follow the rule",
    )
    slots_per_frame: int = Field(
        default=3, ge=1, description="slot 0 holds the MoCap state (released buffer size 3)"
    )
    hybrid_prob: float = Field(
        default=0.1, ge=0, le=1, description="probability of starting at frame 0 (MoCap state)"
    )
    rule: Literal["released", "confirm"] = Field(
        default="released",
        description="'released': InterMimic's released start draw and admission rule; "
        "'confirm': this project's earlier candidate/confirm rule (see the class doc)",
    )
    admit_margin: int = Field(
        default=10,
        ge=0,
        description="released rule: frames after a rollout's start and before its end "
        "whose states are never admitted (released 10)",
    )
    min_rollout: int = Field(
        default=30,
        ge=0,
        description="released rule: an ended rollout is scored only when it ran more "
        "than this many frames (released 30)",
    )
    admit_score: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="released rule: a state is admitted when its rollout survived more "
        "than this share of the horizon left at its frame (released 0.5)",
    )
    score_decay: float = Field(
        default=1e-5,
        ge=0,
        le=1,
        description="released rule: simulated slot scores are multiplied by 1 - this "
        "after each step in which an episode of a clip longer than rollout_length ended "
        "(released 1e-5)",
    )
    starts: Literal["all", "reached"] = Field(
        default="all",
        description="confirm rule: 'all': any startable frame, from its MoCap state or a "
        "stored rollout state; 'reached': only each clip's frame 0 and frames a rollout "
        "has already reached (a confirmed state is stored), so the starts grow along the "
        "clip with the policy (a curriculum for small budgets, project choice)",
    )
    add_every: int = Field(
        default=4, ge=1, description="confirm rule: policy steps between candidate states"
    )
    confirm_frames: int = Field(
        default=8,
        ge=0,
        description="confirm rule: a candidate enters the buffer once its rollout ran this "
        "many more frames without early termination",
    )
    score_ema: float = Field(
        default=0.05, gt=0, le=1, description="confirm rule: rate of the per-frame failure average"
    )
    min_score: float = Field(
        default=0.05, gt=0, description="confirm rule: score floor, every frame stays drawable"
    )

    @model_validator(mode="after")
    def _confirm_only(self) -> PSISettings:
        if self.rule == "released":
            fields = type(self).model_fields
            changed = [
                k
                for k in ("starts", "add_every", "confirm_frames", "score_ema", "min_score")
                if getattr(self, k) != fields[k].default
            ]
            if changed:
                raise ValueError(
                    f"{', '.join(changed)}: used only by rule='confirm' (rule is 'released')"
                )
        return self


#: Observation layouts (:mod:`intermimic.env.observations`).
ObsLayoutName = Literal["compact", "released"]


class ObservationSettings(_Frozen):
    """What the policy sees, and how it is normalised."""

    layout: ObsLayoutName = Field(
        default="compact",
        description="'compact': this project's observation (key bodies x n_ig_points "
        "interaction graph, no velocity errors); 'released': InterMimic's released "
        "content (docs/fidelity.md rows 31, 32, 34): per future offset also the reference-"
        "minus-own velocities of the key bodies (linear), the root and key bodies "
        "(angular) and the object, and reference-minus-own nearest-object-point "
        "encodings of the key bodies; once every body's nearest-object-point vector "
        "instead of the graph. Teacher and student checkpoints are tied to their layout",
    )
    future_offsets: tuple[int, ...] = Field(default=(1, 16), description="frames ahead")
    n_ig_points: int = Field(
        default=16, gt=0, description="object points in the graph (layout 'compact')"
    )
    nearest_points: int = Field(
        default=1024,
        gt=0,
        description="layout 'released': each body's nearest object point is searched among "
        "this farthest-point subset of the object's surface points (all of them when at "
        "least as many; released: all 1024). 1024 because no cheaper subset is close: on "
        "the sample clip's reference frames 32 to 256 points change the encoding of the "
        "bodies within 0.2 m of the object by 0.36 to 0.45 on average (its norm there "
        "averages 0.75), more than the 1024 points' own deviation from the surface (0.25), "
        "as the nearest sample's direction at finger distances follows the spacing; "
        "1024 cost about 4 ms per step at 64 worlds on one CPU thread, 256 0.9 ms "
        "(bench/nearest_points.py)",
    )
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
    ground_window: float = Field(
        default=0.0,
        ge=0,
        description="seconds; 0: one ground offset per clip; > 0: the percentile over a "
        "centred window of this length, smoothed, one offset per frame (follows a capture "
        "floor that drifts; intermimic.env.grounding.ground_offsets)",
    )
    object_rest: bool = Field(
        default=False,
        description="set the reference object, where the capture has it resting on the "
        "floor, in the pose the simulated floor holds it still in (settled alone in the "
        "scene's physics), faded in and out over object_rest_blend seconds; the captured "
        "pose can start inside the floor (sub2_woodchair_003's chair 0.88 cm, tilted) and "
        "jump out in the first steps (intermimic.env.object_rest); False: the capture's",
    )
    object_rest_blend: float = Field(
        default=0.5, ge=0, description="seconds over which object_rest's change fades"
    )
    gravity_compensation: float = Field(
        default=0.0,
        ge=0,
        le=2,
        description="scale of the holding offsets (torque / kp that keeps each reference "
        "pose up against gravity, intermimic.env.gravity) added to the base actions' PD "
        "targets; 0: the next reference pose as it is (the method's)",
    )
    rollout_length: int = Field(
        default=300,
        ge=1,
        description="policy steps; an episode is truncated (bootstrapped) once frame - "
        "start frame >= rollout_length - 1 (so at most rollout_length - 1 steps), besides "
        "at its clip's last frame; also the horizon of the released PSI rule (start frames "
        "< L - rollout_length, admission scores). Released rolloutLength 300",
    )
    seed: int = 0
    observation: ObservationSettings = ObservationSettings()
    reward: RewardSettings = RewardSettings()
    termination: TerminationSettings = TerminationSettings()
    psi: PSISettings = PSISettings()
