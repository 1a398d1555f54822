"""Run a policy (a student, a teacher, or one teacher per subject) on any clips and
measure it (:mod:`intermimic.eval.metrics`).

Every clip starts from its MoCap state at frame 0 (plus ``init_noise`` on the hinge
angles) and runs the policy's deterministic action (``attempts > 1``: later attempts
add ``action_noise``) until the clip's last frame or early termination, in the same
tracking environment and with the same termination as training. Perturbations, each a
setting, measure robustness: ``object_mass_scale`` (10 for ten times heavier objects;
the inertia scales with it), ``friction_scale`` (object and ground friction materials; the
humanoid's stays, so a contact with it scales by less: see ``intermimic.sim.scene``),
``init_noise``. The simulated motion's artifact figures are measured as for the raw
MoCap (:func:`raw_mocap`), so the two can be compared.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from intermimic.contact.artifacts import artifact_report
from intermimic.env import EnvSettings
from intermimic.env.settings import ObservationSettings
from intermimic.errors import InputError
from intermimic.eval.metrics import ClipResult, aggregate, clip_result
from intermimic.humanoid import HumanoidSettings, build_spec, fit_skeleton
from intermimic.humanoid.embodiment import SmplxEmbodiment, make_embodiment
from intermimic.motion.clip import HOIClip
from intermimic.rl.clipset import ClipSet, group_by_object
from intermimic.rl.rollout import refined_clip, rollout_env
from intermimic.rl.student_env import StudentGroup, build_student_env
from intermimic.rl.student_model import ObsLayout
from intermimic.rl.student_policy import StudentPolicy, TeacherDriver
from intermimic.rl.student_settings import StudentSettings
from intermimic.rl.teacher_actor import TeacherActor
from intermimic.rl.teacher_env import build_teacher_env_exact
from intermimic.rl.teacher_policy import load_teacher
from intermimic.rl.teacher_settings import TeacherSettings
from intermimic.sim.scene import Scene, SceneSettings, build_scene, embodiment_scene

#: Fewest frames a clip needs: the tracking env looks 16 frames ahead.
MIN_LOOKAHEAD = 16


class EvalSettings(BaseModel):
    """How to evaluate (flat: ``--set KEY=VALUE`` and Dagster config map one to one)."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(1, ge=1, description="rollouts per clip (all are reported)")
    action_noise: float = Field(
        0.0, ge=0, description="action noise std of attempts after the first"
    )
    object_mass_scale: float = Field(1.0, gt=0, description="object mass (and inertia) factor")
    friction_scale: float = Field(
        1.0, gt=0, description="factor on the object and ground friction materials"
    )
    init_noise: float = Field(0.0, ge=0, description="rad; std of noise on initial joint angles")
    seed: int = 0
    artifacts: bool = Field(
        True, description="measure the artifact figures of the simulated motion"
    )
    max_worlds: int = Field(32, ge=1, description="worlds simulated at once")
    backend: str = Field("mujoco", description="mujoco or warp")
    sim_threads: int = Field(2, ge=1)

    def perturbation(self) -> dict[str, float]:
        return {
            "object_mass_scale": self.object_mass_scale,
            "friction_scale": self.friction_scale,
            "init_noise": self.init_noise,
        }


@dataclass
class Evaluation:
    """One policy on a set of clips."""

    name: str
    kind: str
    """``student``, ``teacher`` or ``mocap`` (the raw MoCap's own artifact figures)."""
    sha256: str
    results: list[ClipResult]
    rejected: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    rollouts: list[Any] = field(default_factory=list)
    """The :class:`~intermimic.rl.rollout.Rollout` of each result (``keep_rollouts``)."""

    @property
    def summary(self) -> dict[str, float]:
        return aggregate(self.results)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "sha256": self.sha256,
            "summary": self.summary,
            "clips": [r.row() for r in self.results],
            "rejected": self.rejected,
            "settings": self.settings,
            "seconds": round(self.seconds, 2),
        }


def perturbed_scene(
    object_name: str,
    objects: Any,
    s: EvalSettings | None = None,
    embodiment: Any = None,
    physics: SceneSettings | None = None,
) -> Scene:
    """The tracking scene of ``object_name`` with the perturbations of ``s``, for
    ``embodiment`` (an :class:`~intermimic.humanoid.embodiment.Embodiment`; None: the
    SMPL-X humanoid), on ``physics`` (a teacher run's
    :meth:`~intermimic.rl.teacher_settings.TeacherSettings.scene_settings`; None: the
    defaults)."""
    s = s or EvalSettings()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = objects.get(object_name)
    if s.object_mass_scale != 1.0 or s.friction_scale != 1.0:
        obj = dataclasses.replace(
            obj,
            mass=obj.mass * s.object_mass_scale,
            inertia=np.asarray(obj.inertia) * s.object_mass_scale,
            friction=obj.friction * s.friction_scale,
        )
    base = physics or SceneSettings()
    scene_s = base.model_copy(update={"ground_friction": base.ground_friction * s.friction_scale})
    if embodiment is not None:
        return embodiment_scene(embodiment, obj, scene_s)
    spec = build_spec(settings=HumanoidSettings(actuators="position"))
    return build_scene(spec, obj, scene_s)


def trackable(
    clips: Sequence[HOIClip], need: int = MIN_LOOKAHEAD, fps: float = 30.0
) -> tuple[list[HOIClip], dict[str, str]]:
    """The clips a tracking env accepts, and why the others are not."""
    ok, rejected = [], {}
    for c in clips:
        if c.n_frames <= need:
            rejected[c.meta.clip_id] = f"{c.n_frames} frames; at least {need + 1} needed"
        elif abs(c.meta.fps - fps) > 1e-6:
            rejected[c.meta.clip_id] = f"{c.meta.fps:g} fps, not {fps:g}; resample it"
        elif not np.isfinite(c.joint_rotvec).all() or not np.isfinite(c.obj_pos).all():
            rejected[c.meta.clip_id] = "non-finite poses"
        else:
            ok.append(c)
    return ok, rejected


def _driver(policy: Any) -> tuple[Any, dict[str, Any], Any, str]:
    """(acting object, teachers by subject or {'*': teacher}, settings, kind)."""
    if isinstance(policy, StudentPolicy):
        return policy, {}, policy.settings, "student"
    if isinstance(policy, TeacherActor):
        return TeacherDriver(policy), {"*": policy}, StudentSettings(), "teacher"
    if isinstance(policy, Mapping) and policy:
        teachers = dict(policy)
        scales = {t.residual_scale for t in teachers.values()}
        if len(scales) != 1:
            raise InputError(f"teachers act in different action spaces (residual scales {scales})")
        return TeacherDriver(next(iter(teachers.values()))), teachers, StudentSettings(), "teacher"
    raise TypeError(f"cannot evaluate a {type(policy).__name__}")


def evaluate_policy(
    policy: Any,
    clips: Sequence[HOIClip],
    objects: Any,
    settings: EvalSettings | None = None,
    *,
    name: str | None = None,
    keep_rollouts: bool = False,
    on_clip: Any = None,
) -> Evaluation:
    """Measure ``policy`` on ``clips`` (see the module docstring).

    ``policy``: a :class:`~intermimic.rl.student_policy.StudentPolicy`, a
    :class:`~intermimic.rl.teacher_actor.TeacherActor` (one teacher for every clip) or a
    mapping subject -> ``TeacherActor`` (each clip by its subject's teacher; clips of
    other subjects are rejected). Clips a tracking env cannot take, or whose object mesh
    is missing, are listed in ``rejected``.
    """
    t0 = time.perf_counter()
    s = settings or EvalSettings()
    driver, teachers, pol_settings, kind = _driver(policy)
    offsets = list(getattr(pol_settings, "future_offsets", [MIN_LOOKAHEAD]))
    ok, rejected = trackable(clips, max(MIN_LOOKAHEAD, *offsets))
    run_s = pol_settings.model_copy(
        update={"backend": s.backend, "sim_threads": s.sim_threads, "seed": s.seed, "psi": False}
    )
    # A student observes in the layout it was trained with (teachers: their own).
    student_env = None
    if kind == "student":
        layout = ObsLayout.from_dict(driver.meta["layout"]).layout
        student_env = EnvSettings(observation=ObservationSettings(layout=layout))
    scenes: dict[str, Scene] = {}
    todo: list[HOIClip] = []
    for c in ok:
        subj, obj = c.meta.subject, c.meta.object_name
        if kind == "teacher" and "*" not in teachers and subj not in teachers:
            rejected[c.meta.clip_id] = f"no teacher for subject {subj!r}"
            continue
        if obj not in scenes:
            try:
                scenes[obj] = perturbed_scene(obj, objects, s)
            except Exception as exc:  # missing or broken mesh: the clip is rejected
                rejected[c.meta.clip_id] = f"object {obj!r}: {exc}"
                continue
        todo.append(c)
    raw_by_key = {(c.meta.subject, c.meta.clip_id): c for c in todo}
    results: list[ClipResult] = []
    rollouts: list[Any] = []
    per_batch = max(1, s.max_worlds // s.attempts)
    for b in range(0, len(todo), per_batch):
        part = todo[b : b + per_batch]
        by_group: dict[tuple[str, str], list[HOIClip]] = {}
        for c in part:
            by_group.setdefault((c.meta.subject, c.meta.object_name), []).append(c)
        groups = [StudentGroup(sj, ob, cs, scenes[ob]) for (sj, ob), cs in by_group.items()]
        by_subject = {
            g.subject: teachers.get(g.subject, teachers.get("*")) for g in groups if teachers
        }
        env = build_student_env(
            groups,
            {k: v for k, v in by_subject.items() if v is not None},
            run_s,
            {g.name: len(g.clips) * s.attempts for g in groups},
            psi=False,
            residual_scale=driver.residual_scale,
            env_settings=student_env,
        )
        try:
            driver.env = env
            batch = rollout_env(
                driver, s.attempts, s.action_noise, seed=s.seed + b, init_noise=s.init_noise
            )
        finally:
            env.close()
        group_of = {g.name: g for g in groups}
        for r in batch:
            g = group_of[r.object_name]
            r.object_name = g.object_name
            figs: dict[str, float] = {}
            if s.artifacts:
                raw = raw_by_key[(g.subject, r.clip_id)]
                try:
                    sim = refined_clip(
                        r,
                        raw,
                        g.scene,
                        dataset=raw.meta.dataset,
                        source_sha256=raw.meta.source_sha256,
                    )
                    figs = {k: float(v) for k, v in artifact_report(sim, g.scene).figures.items()}
                except (InputError, ValueError, IndexError):
                    figs = {}  # too short to measure: tracking figures only
            results.append(clip_result(r, g.subject, figs))
            if keep_rollouts:
                rollouts.append(r)
            if on_clip is not None:
                on_clip(r.clip_id)
    if name is None:
        name = f"student ({pol_settings.mode})" if kind == "student" else kind
    return Evaluation(
        name=name,
        kind=kind,
        sha256=str(getattr(driver, "sha256", "")),
        results=results,
        rejected=rejected,
        settings=s.model_dump(),
        seconds=time.perf_counter() - t0,
        rollouts=rollouts,
    )


def _teacher_embodiment(ts: Any, clips: Sequence[HOIClip], cache: dict[str, Any]) -> Any:
    """The body a teacher run drives (None: the mean-adult SMPL-X humanoid), as its
    training built it (:func:`intermimic.rl.clipset.prepare_clips`)."""
    if ts.embodiment != "smplx":
        if ts.embodiment not in cache:
            cache[ts.embodiment] = make_embodiment(ts.embodiment)
        return cache[ts.embodiment]
    hands = ts.hands  # welded fingers or not, as trained
    if ts.fit_skeleton and clips:
        try:
            return SmplxEmbodiment(fit_skeleton(list(clips)).skeleton, hands=hands)
        except (InputError, ValueError):
            pass  # training fell back to the mean adult too
    return SmplxEmbodiment(hands=hands) if hands != "full" else None


def evaluate_teacher_runs(
    runs: Mapping[str, Any],
    clips: Sequence[HOIClip],
    objects: Any,
    settings: EvalSettings | None = None,
    *,
    name: str = "teachers",
    on_clip: Any = None,
) -> Evaluation:
    """Measure teachers of any embodiment on ``clips``, each clip by its subject's
    teacher (``runs``: subject -> teacher run directory; clips of other subjects are
    rejected).

    Each teacher runs in its own tracking environment
    (:func:`intermimic.rl.teacher_env.build_teacher_env_exact` with the run's settings): its
    body's scene, its key-body map and the reference mapped onto it (scaled, for a
    robot), so E_h is the key bodies' error against the mapped reference and E_o the
    object's against the (scaled) reference object, as in training and refinement.
    Starts, perturbations and attempts are those of :func:`evaluate_policy`. Artifact
    figures are measured for the SMPL-X humanoid only (a robot's motion is no SMPL-X
    clip)."""
    t0 = time.perf_counter()
    s = settings or EvalSettings()
    by_subject: dict[str, list[HOIClip]] = {}
    for c in clips:
        by_subject.setdefault(c.meta.subject, []).append(c)
    rejected: dict[str, str] = {}
    results: list[ClipResult] = []
    shas: dict[str, str] = {}
    cache: dict[str, Any] = {}
    per_batch = max(1, s.max_worlds // s.attempts)
    for subj, subj_clips in by_subject.items():
        if subj not in runs:
            rejected.update(
                {c.meta.clip_id: f"no teacher for subject {subj!r}" for c in subj_clips}
            )
            continue
        run_dir = Path(runs[subj])
        ts = TeacherSettings.of_run(run_dir).model_copy(
            update={"backend": s.backend, "sim_threads": s.sim_threads, "seed": s.seed}
        )
        need = max(MIN_LOOKAHEAD, *ts.env_settings().observation.future_offsets)
        ok, bad = trackable(subj_clips, need)
        rejected.update(bad)
        emb = _teacher_embodiment(ts, ok, cache)
        scenes: dict[str, Scene] = {}
        todo: list[HOIClip] = []
        for c in ok:
            obj = c.meta.object_name
            if obj not in scenes:
                try:
                    scenes[obj] = perturbed_scene(obj, objects, s, emb, ts.scene_settings())
                except Exception as exc:  # missing or broken mesh: the clip is rejected
                    rejected[c.meta.clip_id] = f"object {obj!r}: {exc}"
                    continue
            todo.append(c)
        raw_by_id = {c.meta.clip_id: c for c in todo}
        for b in range(0, len(todo), per_batch):
            groups = group_by_object(todo[b : b + per_batch])
            sub = ClipSet(groups, {k: scenes[k] for k in groups})
            env = build_teacher_env_exact(
                sub, ts, {k: len(v) * s.attempts for k, v in groups.items()}
            )
            try:
                policy = load_teacher(run_dir, env, ts)
                batch = rollout_env(
                    policy, s.attempts, s.action_noise, seed=s.seed + b, init_noise=s.init_noise
                )
            finally:
                env.close()
            shas[subj] = policy.sha256
            for r in batch:
                figs: dict[str, float] = {}
                if s.artifacts and ts.embodiment == "smplx":
                    raw = raw_by_id[r.clip_id]
                    try:
                        sim = refined_clip(
                            r, raw, scenes[r.object_name], dataset=raw.meta.dataset,
                            source_sha256=raw.meta.source_sha256,
                        )  # fmt: skip
                        art = artifact_report(sim, scenes[r.object_name])
                        figs = {k: float(v) for k, v in art.figures.items()}
                    except (InputError, ValueError, IndexError):
                        figs = {}  # too short to measure: tracking figures only
                results.append(clip_result(r, subj, figs))
                if on_clip is not None:
                    on_clip(r.clip_id)
    sha = (
        next(iter(shas.values()))
        if len(shas) == 1
        else ", ".join(f"{k}: {v}" for k, v in shas.items())
    )
    return Evaluation(
        name=name,
        kind="teacher",
        sha256=sha,
        results=results,
        rejected=rejected,
        settings=s.model_dump(),
        seconds=time.perf_counter() - t0,
    )


def raw_mocap(clips: Sequence[HOIClip], objects: Any, *, name: str = "raw MoCap") -> Evaluation:
    """The raw MoCap's own artifact figures, in the shape of an :class:`Evaluation`
    (tracking figures are those of a perfect tracker and are not shown in tables)."""
    t0 = time.perf_counter()
    scenes: dict[str, Scene] = {}
    results, rejected = [], {}
    for c in clips:
        obj = c.meta.object_name
        try:
            if obj not in scenes:
                scenes[obj] = perturbed_scene(obj, objects)
            figs = {k: float(v) for k, v in artifact_report(c, scenes[obj]).figures.items()}
        except Exception as exc:
            rejected[c.meta.clip_id] = str(exc)
            continue
        zeros = np.zeros(c.n_frames)
        results.append(
            ClipResult(
                c.meta.clip_id,
                c.meta.subject,
                obj,
                True,
                c.n_frames - 1,
                c.n_frames,
                zeros,
                zeros,
                0,
                figs,
            )
        )
    return Evaluation(name, "mocap", "", results, rejected, {}, time.perf_counter() - t0)
