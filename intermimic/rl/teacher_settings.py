"""Settings of one teacher run, and the error of a subject without trainable clips.

:class:`TeacherSettings` is flat (``--set KEY=VALUE`` and Dagster config map one to
one); :meth:`TeacherSettings.train_settings` maps it onto
:class:`~intermimic.rl.settings.TrainSettings` (the CPU profile by default) and
:meth:`TeacherSettings.env_settings` onto :class:`~intermimic.env.EnvSettings`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from intermimic.env import EnvSettings
from intermimic.env.settings import ObservationSettings, ObsLayoutName, PSISettings
from intermimic.errors import InputError
from intermimic.humanoid.skeleton_model import HandsMode
from intermimic.rl.settings import (
    BackendName,
    EmbodimentName,
    Schedule,
    TrainSettings,
    train_settings_of,
)
from intermimic.sim.scene import SceneSettings

#: Fixed learning rate of the CPU profile (a few dozen worlds instead of 4096).
CPU_LEARNING_RATE = 3e-4
#: A teacher's training recipes (:attr:`TeacherSettings.recipe`).
Recipe = Literal["ppo", "planner_psi", "planner_bc", "planner_ff", "planner_fb"]
#: What ``TeacherSettings.recipe`` takes: a recipe or "profile" (the profile's, resolved
#: when the settings are made; Dagster's config has no optional Literal, hence a word).
RecipeSetting = Literal["profile", Recipe]
#: The recipes whose plans are the base of the residual actions (the planner's actions
#: replace the reference's PD targets): they need residual actions and the plans' actions.
FEEDFORWARD_RECIPES: tuple[Recipe, ...] = ("planner_ff", "planner_fb")
#: The cpu profile's recipe (with residual actions, SMPL-X): the best measured on 2 cores. On
#: ``sub2_largetable_000`` (bench/teacher_curve.py, README "Teacher recipes") PPO from
#: scratch tracks 37 of 153 frames from the MoCap start after 20 minutes, as many as the
#: untrained policy; ``planner_fb`` tracks what its plan tracks (152 of 152 at 240 Hz
#: with the demo profile's planner settings) and keeps it through training. It plans
#: every clip first (10-50 minutes per clip on 2 cores, cached in the run's
#: ``psi_seed/``), so small budgets pin ``recipe="ppo"``.
CPU_RECIPE: Recipe = "planner_fb"
#: Physics rates a run may use (whole multiples of the 30 Hz policy rate).
PHYSICS_RATES = (120, 240, 480)
#: What a teacher run directory saves its settings (and clip ids) in.
SETTINGS_FILE = "teacher_settings.json"


class NoClipsError(InputError):
    """A subject has no clip a teacher can be trained on."""


class TeacherSettings(BaseModel):
    """Settings of one teacher run (flat, so ``--set KEY=VALUE`` and Dagster config map
    one to one). ``None`` keeps the profile's value."""

    model_config = ConfigDict(extra="forbid")

    env_steps: int = Field(2_000_000, ge=1, description="environment transitions, all worlds")
    worlds: int = Field(
        128,
        ge=1,
        description="parallel simulated worlds (128 on 2 cores: the environment's and the "
        "policy's per-step costs spread over twice the worlds of 64, 0.72 of the raw physics "
        "rate against 0.69; bench/teacher_throughput.py)",
    )
    backend: BackendName = Field("mujoco", description="simulation backend: mujoco or warp")
    device: str = Field("cpu", description="torch device of the policy")
    seed: int = Field(0, description="seeds the networks, PPO sampling and PSI draws")
    checkpoint_interval: int = Field(20, ge=1, description="iterations between checkpoints")
    keep_checkpoints: int = Field(3, ge=2, description="checkpoints kept (>= 2 for fallback)")
    profile: Literal["cpu", "paper"] = Field(
        "cpu", description="'cpu': [256, 256] MLPs, lr 3e-4; 'paper': the method's values"
    )
    physics_hz: int = Field(
        120,
        description="physics steps per second, 120, 240 or 480 (4, 8 or 16 per 30 Hz "
        "policy step; an int, not a Literal, for Dagster's config): 120 is "
        "the method's (Isaac Gym at dt 1/60 with 2 substeps); 240 with ground_timeconst "
        "0.0085 keeps the feet within a few mm of the ground (SceneSettings.ground_solref) "
        "at twice the physics cost",
    )
    ground_timeconst: float = Field(
        0.02,
        gt=0,
        description="time constant (s) of ground contacts (SceneSettings.ground_solref, "
        "damping ratio 1); at least 2 physics steps, the stiffest MuJoCo allows (stiffer: "
        "ground_stiffness, which replaces it)",
    )
    ground_stiffness: float | None = Field(
        None,
        gt=0,
        description="ground contacts in MuJoCo's direct format instead of ground_timeconst: "
        "stiffness k (1/s^2), critically damped (damping 2 sqrt(k)), which MuJoCo's "
        "2-step floor on time constants does not apply to, so the ground can be stiff at "
        "120 Hz. sub2_largetable_000's zero-residual replay over 24 frames (2026-12-03): "
        "deepest ground penetration 1.16 cm at the defaults (timeconst 0.02 s, "
        "equivalent k 2.8e3), 0.47 with 1.5e4, 0.32 with 2e4; from 2.5e4 the feet "
        "chatter (foot jitter 2.7 mm against 1.6, 6.5 at 4e4). The planner, tuned on the "
        "soft ground, tracks worse on 2e4 (sigma 0.05, seed 0: ground penetration 0.68 cm "
        "against 3.3, but E_h 22.6 / E_o 20.9 cm against 8.9 / 8.9), so it stays off. "
        "None: ground_timeconst",
    )
    ground_window: float = Field(
        0.0,
        ge=0,
        description="seconds (EnvSettings.ground_window): 0 grounds each clip's reference "
        "by one offset; > 0 by one per frame, the low percentile of clearance over a "
        "window of this length, for a capture whose floor drifts",
    )
    object_rest: bool = Field(
        False,
        description="set the reference object's resting frames in the pose the simulated "
        "floor holds it still in (EnvSettings.object_rest, intermimic.env.object_rest); "
        "False: the captured pose, which can start inside the floor",
    )
    gravity_compensation: float = Field(
        0.0,
        ge=0,
        le=2,
        description="scale of the holding offsets added to the base actions' PD targets "
        "(EnvSettings.gravity_compensation, intermimic.env.gravity); 0: the method's base",
    )
    object_timeconst: float = Field(
        0.02,
        gt=0,
        description="time constant (s) of the hands' contacts with the object "
        "(SceneSettings.object_solref, damping ratio 1; object-ground contacts take the "
        "ground's); at least 2 physics steps. MuJoCo's default 0.02. On "
        "sub2_largetable_000 (240 Hz, the demo profile's planner; 2026-12-05) 0.01 let "
        "seed 0 pass every figure of the quality rule (object jitter 0.53 mm against 0.89 "
        "at 0.02) while seeds 1 and 7 skated more and seeds 2, 3 and 5 rewound again and "
        "again (docs/refinement_log.md, 'A firmer grip'): the demo's profile uses it, "
        "the default stays",
    )
    friction_cone: Literal["pyramidal", "elliptic"] = Field(
        "pyramidal", description="MuJoCo's friction cone (SceneSettings.friction_cone)"
    )
    impratio: float = Field(
        1.0,
        gt=0,
        description="MuJoCo's frictional to normal impedance ratio (SceneSettings.impratio): "
        "above 1 with the elliptic cone, contacts slip less below their friction limit",
    )
    horizon: int | None = Field(None, ge=1, description="policy steps per world per iteration")
    epochs: int | None = Field(None, ge=1, description="PPO epochs per iteration (None: profile)")
    mini_batches: int | None = Field(
        None, ge=1, description="PPO minibatches per epoch (None: the profile's)"
    )
    learning_rate: float | None = Field(
        None, gt=0, description="None: 3e-4 on the cpu profile, the paper's 2e-5 otherwise"
    )
    schedule: Schedule = Field(
        "fixed",
        description="'fixed' or 'adaptive' (rsl-rl's KL-targeting lr; with the fixed small "
        "sigma over 153 actions it drives the lr to its 1e-5 floor within a few iterations)",
    )
    hidden_dims: list[int] | None = Field(None, description="actor and critic MLP widths")
    init_log_std: float | None = Field(None, description="log sigma of the Gaussian policy")
    matmul_dtype: Literal["profile", "auto", "float32", "bfloat16"] = Field(
        "profile",
        description="precision of the MLPs' hidden-layer matmuls: 'auto' (bfloat16 where the "
        "device has it natively: the cpu profile's), 'float32' (the paper profile's), "
        "'bfloat16', or 'profile' (the profile's choice)",
    )
    sim_threads: int = Field(2, ge=1, description="threads stepping the mujoco backend")
    torch_threads: int | None = Field(
        2,
        description="torch threads of the PPO update (rollouts use TrainSettings."
        "rollout_torch_threads, 1)",
    )
    tensorboard: bool = True
    psi: bool = Field(True, description="physical state initialisation from rollouts")
    psi_rule: Literal["released", "confirm"] = Field(
        "released",
        description="PSI rule (PSISettings.rule): 'released' (InterMimic's released start "
        "draw and admission, the method) or 'confirm' (this project's earlier rule)",
    )
    psi_starts: Literal["all", "reached"] = Field(
        "all",
        description="start frames of psi_rule='confirm': 'all' or 'reached' (clip starts "
        "and frames a rollout has reached: a curriculum along the clip; see "
        "PSISettings.starts)",
    )
    recipe: RecipeSetting = Field(
        "profile",
        description="'profile': the profile's (CPU_RECIPE, planner_fb, on the cpu profile with "
        "residual actions and the SMPL-X humanoid; 'ppo' otherwise), resolved when the "
        "settings are made, so a run records the recipe it trained with; 'ppo': PPO as "
        "the method has it; "
        "'planner_psi': before training, the sampling planner (intermimic.plan) tracks "
        "each clip from its MoCap start and its committed states seed every simulated PSI "
        "slot along the clip (use with psi_rule='confirm', which starts episodes anywhere "
        "in a clip); 'planner_bc': "
        "that, and the fresh actor is first cloned on the planner's actions (issue 18 "
        "recipes a, b, c); 'planner_ff': the PSI seeding of 'planner_psi', and the "
        "residual actions' base at each planned clip frame is the planner's action there "
        "instead of the reference pose's PD targets (the reference's beyond a partial "
        "plan), with the actor's mean starting at 0: the untrained policy replays the plan "
        "from the MoCap start and PPO learns the feedback around it; the plans travel in "
        "the checkpoints; 'planner_fb': planner_ff with the actor's mean f(obs) - f(obs*), "
        "obs* the observation the plan passes through at the world's clip frame, so it is "
        "exactly 0 on the plan and the trained teacher's noiseless attempt still replays "
        "it, while off the plan f learns the feedback (intermimic.rl.plan_feedback). The "
        "planner recipes need residual_actions=True",
    )
    obs_layout: ObsLayoutName = Field(
        "compact",
        description="observation layout (ObservationSettings.layout): 'compact' (this "
        "project's) or 'released' (InterMimic's released content: velocity errors, "
        "nearest-object-point vectors); the run's checkpoints observe it, so the student "
        "and evaluation rebuild the teacher's environment with it",
    )
    residual_actions: bool = Field(
        True,
        description="policy outputs an offset from the reference's next pose (project "
        "choice for CPU budgets; False: absolute PD targets, as in the paper)",
    )
    residual_scale: float = Field(
        0.25, gt=0, description="action units (half joint ranges) per unit residual"
    )
    fit_skeleton: bool = Field(False, description="train the subject's fitted humanoid")
    embodiment: EmbodimentName = Field(
        "smplx",
        description="the body the teacher drives: 'smplx' (the humanoid) or 'g1' (Unitree G1 "
        "with hands, retargeting inside learning)",
    )
    hands: HandsMode = Field(
        "full",
        description="'full': the 90 finger hinges are simulated and driven (153 actions); "
        "'body': fingers welded in the flat-hand pose, the policy drives the 63 body hinges "
        "(2-3x the physics speed; a first curriculum stage). smplx embodiment only; "
        "such runs live in STORE/teachers-smplx-body",
    )
    init_from: str | None = Field(
        None,
        description="a teacher run folder whose policy, critic and observation statistics "
        "start a fresh run (a curriculum: a hands='body' run starts a full-hands one, the "
        "finger actions at 0); ignored when the run resumes from its own checkpoint",
    )
    attempts: int = Field(4, ge=1, description="refinement: rollouts per clip, best kept")
    attempt_noise: float = Field(
        0.05, ge=0, description="refinement: action noise std of attempts after the first"
    )

    @field_validator("hidden_dims", mode="before")
    @classmethod
    def _dims(cls, v: Any) -> Any:
        # from the command line: "256,256" or "[256, 256]"
        if isinstance(v, str):
            text = v.strip().strip("[]")
            return [int(x) for x in text.split(",") if x.strip()] if text else None
        return v

    @model_validator(mode="after")
    def _starts_of_confirm(self) -> TeacherSettings:
        if self.psi_starts != "all" and self.psi_rule != "confirm":
            raise ValueError(
                f"psi_starts={self.psi_starts!r} applies to psi_rule='confirm' only "
                f"(psi_rule is {self.psi_rule!r})"
            )
        return self

    @model_validator(mode="after")
    def _recipe_of_profile(self) -> TeacherSettings:
        # resolved here, so a saved run records the recipe it trained with, not "the
        # profile's" of whichever version reads it back
        if self.recipe == "profile":
            # measured on the SMPL-X humanoid only: the G1 keeps PPO until it is
            cpu = self.profile == "cpu" and self.residual_actions and self.embodiment == "smplx"
            self.recipe = CPU_RECIPE if cpu else "ppo"
        # the plan is the base a residual is added to; absolute actions have no base
        if self.recipe in FEEDFORWARD_RECIPES and not self.residual_actions:
            raise ValueError(
                f"recipe={self.recipe!r} adds a learned residual to the planner's actions; it "
                "needs residual_actions=True (absolute actions have no base to replace)"
            )
        return self

    @field_validator("physics_hz")
    @classmethod
    def _known_rate(cls, v: int) -> int:
        if v not in PHYSICS_RATES:
            raise ValueError(f"physics_hz must be one of {PHYSICS_RATES}, got {v}")
        return v

    @model_validator(mode="after")
    def _ground_within_physics(self) -> TeacherSettings:
        if self.ground_stiffness is not None and "ground_timeconst" in self.model_fields_set:
            raise ValueError(
                "ground_stiffness replaces ground_timeconst (MuJoCo's direct format instead "
                "of a time constant): set one of them"
            )
        # MuJoCo silently raises a time constant below 2 steps to 2 steps: refuse it
        floor = 2.0 / self.physics_hz
        consts = {"object_timeconst": self.object_timeconst}
        if self.ground_stiffness is None:
            consts = {"ground_timeconst": self.ground_timeconst, **consts}
        for name, value in consts.items():
            if value < floor - 1e-9:
                raise ValueError(
                    f"{name}={value:g} s is below 2 physics steps at physics_hz="
                    f"{self.physics_hz} ({floor:.4f} s), which MuJoCo would raise it to: use a "
                    "larger one or a higher physics_hz"
                )
        return self

    @model_validator(mode="after")
    def _hands_of_smplx(self) -> TeacherSettings:
        if self.hands != "full" and self.embodiment != "smplx":
            raise ValueError(
                f"hands={self.hands!r} welds the SMPL-X humanoid's fingers; the "
                f"{self.embodiment} embodiment has only hands='full'"
            )
        return self

    @property
    def embodiment_key(self) -> str:
        """The body as the store names runs and refined datasets: the embodiment, with
        ``-body`` for welded fingers (``smplx``, ``smplx-body``, ``g1``)."""
        return self.embodiment if self.hands == "full" else f"{self.embodiment}-{self.hands}"

    def train_settings(self) -> TrainSettings:
        """The :class:`TrainSettings` of this run (the profile's, ``None`` fields kept)."""
        base = TrainSettings.cpu() if self.profile == "cpu" else TrainSettings()
        policy: dict[str, Any] = {}
        if self.hidden_dims is not None:
            policy["actor_hidden_dims"] = list(self.hidden_dims)
            policy["critic_hidden_dims"] = list(self.hidden_dims)
        if self.init_log_std is not None:
            policy["init_log_std"] = self.init_log_std
        if self.matmul_dtype != "profile":
            policy["matmul_dtype"] = self.matmul_dtype
        ppo: dict[str, Any] = {"schedule": self.schedule}
        if self.horizon is not None:
            ppo["horizon"] = self.horizon
        if self.epochs is not None:
            ppo["num_learning_epochs"] = self.epochs
        if self.mini_batches is not None:
            ppo["num_mini_batches"] = self.mini_batches
        lr = self.learning_rate
        if lr is None:
            lr = CPU_LEARNING_RATE if self.profile == "cpu" else base.ppo.learning_rate
        ppo["learning_rate"] = lr
        return train_settings_of(self, base, policy=policy, ppo=ppo)

    @classmethod
    def of_run(cls, run_dir: Path) -> TeacherSettings:
        """The settings a run directory was trained with (the defaults when it saved none)."""
        saved = Path(run_dir) / SETTINGS_FILE
        return cls(**json.loads(saved.read_text())["settings"]) if saved.exists() else cls()

    def scene_settings(self) -> SceneSettings:
        """The physics of this run's scenes: :attr:`physics_hz` and the ground's
        :attr:`ground_timeconst` or :attr:`ground_stiffness`, the hands' grip
        :attr:`object_timeconst`, the friction cone and :attr:`impratio` (everything else
        the scene's defaults)."""
        return SceneSettings(
            timestep=1.0 / self.physics_hz,
            ground_solref=self.ground_solref,
            object_solref=(self.object_timeconst, 1.0),
            friction_cone=self.friction_cone,
            impratio=self.impratio,
        )

    @property
    def ground_solref(self) -> tuple[float, float]:
        """MuJoCo ``solref`` of the ground's contacts: ``(ground_timeconst, 1)``, or
        ``(-k, -2 sqrt(k))`` with :attr:`ground_stiffness` ``k`` (critical damping of
        MuJoCo's reference acceleration ``-b v - k r``)."""
        k = self.ground_stiffness
        if k is None:
            return (self.ground_timeconst, 1.0)
        return (-k, -2.0 * k**0.5)

    def env_settings(self, *, psi: bool | None = None) -> EnvSettings:
        """The :class:`EnvSettings` of this run (``psi`` overrides :attr:`psi`)."""
        return EnvSettings(
            seed=self.seed,
            ground_window=self.ground_window,
            gravity_compensation=self.gravity_compensation,
            object_rest=self.object_rest,
            observation=ObservationSettings(layout=self.obs_layout),
            psi=PSISettings(
                enabled=self.psi if psi is None else psi,
                rule=self.psi_rule,
                starts=self.psi_starts,
            ),
        )
