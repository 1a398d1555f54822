"""The best of a clip's planner tries, by the quality rule (``PlannerSettings.tries``).

With ``tries`` > 1 the planner plans each clip once per seed
(:func:`intermimic.plan.seeds.plan_clips`); the library keeps the plan that tracks
furthest, which knows nothing of artifacts. The refine stage keeps, instead, the plan
the quality rule (:mod:`stages.refine_quality`) judges best, ranked by:

1. tracked to the clip's end, else the most frames tracked;
2. the fewest failed comparisons (``full`` first);
3. the smallest total shortfall: over the failed comparisons, by how much the figure
   exceeds its bar (reference + tolerance), relative to the bar, summed; a plan that
   misses object jitter by 0.005 mm ranks above one that skates 30 % too fast;
4. the lowest E_h, then the lowest seed.

Why a choice at all: on ``sub2_largetable_000`` the seeds of one setting differ more than
settings do (2026-12-05, eleven seeds: E_h 8.8-20.7 cm, 0-10 rewinds, 1-4 failing figures;
docs/refinement_log.md, "Eleven seeds of one setting"): which figures a clip passes is as
much the seed's doing as the settings', and independent tries are what a GPU runs at once.
:class:`QualityChoice` records every try (:class:`TryRecord`) for the report.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intermimic.contact.settings import ContactSettings
from intermimic.errors import InputError
from intermimic.motion.clip import HOIClip
from intermimic.plan.seeds import PlannedClip
from intermimic.plan.windows import Judge, tracking_judge
from intermimic.rl.rollout import Rollout, refined_clip
from intermimic.sim.scene import Scene
from stages.refine_quality import Failure, Verdict, clip_quality, quality_verdict


def shortfall(failing: Sequence[Failure]) -> float:
    """Sum over ``failing`` of ``(refined - bar) / bar``, ``bar`` = reference + tolerance
    (0 where the bar is 0: a figure held to nothing adds its excess as is)."""
    total = 0.0
    for f in failing:
        bar = f.reference + f.tolerance
        excess = f.refined - bar
        total += excess / bar if bar > 0 else excess
    return total


@dataclass(frozen=True)
class TryRecord:
    """One planner try of a clip, as judged."""

    seed: int
    frames: int
    success: bool
    e_h_cm: float
    e_o_cm: float
    verdict: Verdict

    def rank(self) -> tuple[bool, int, int, float, float, int]:
        """Smaller is better (the module doc's order)."""
        return (
            not self.success,
            -self.frames,
            len(self.verdict.failing),
            shortfall(self.verdict.failing),
            self.e_h_cm,
            self.seed,
        )

    def to_json(self, kept: bool = False) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "frames": self.frames,
            "success": self.success,
            "e_h_cm": round(self.e_h_cm, 3),
            "e_o_cm": round(self.e_o_cm, 3),
            "verdict": self.verdict.name,
            "failing": [f.label for f in self.verdict.failing],
            "shortfall": round(shortfall(self.verdict.failing), 5),
            "kept": kept,
        }


@dataclass
class QualityChoice:
    """A :data:`~intermimic.plan.seeds.Choose` that judges each try by the quality rule
    (the refine stage's contact settings and InterMimic's refinement in
    ``reference_dir``) and keeps the best by :meth:`TryRecord.rank`. ``measure`` False
    (a robot, which the SMPL-X report does not measure) ranks by tracking alone.
    ``records``: clip id -> its tries, in seed order; ``kept``: clip id -> the seed kept."""

    contact_settings: ContactSettings | None = None
    reference_dir: Path | None = None
    measure: bool = True
    records: dict[str, list[TryRecord]] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)

    def __call__(self, clip: HOIClip, scene: Scene, candidates: Sequence[PlannedClip]) -> int:
        recs = [self._judge(clip, scene, c) for c in candidates]
        best = min(range(len(recs)), key=lambda i: recs[i].rank())
        self.records[clip.meta.clip_id] = recs
        self.kept[clip.meta.clip_id] = recs[best].seed
        return best

    def _judge(self, clip: HOIClip, scene: Scene, planned: PlannedClip) -> TryRecord:
        r = planned.rollout
        verdict = quality_verdict(bool(r.success), None, None)
        if self.measure and r.duration >= 2:
            # unmeasurable: ranked by tracking, as the stage records it anyway
            with contextlib.suppress(InputError, ValueError, IndexError):
                verdict = self._verdict(clip, scene, r)
        return TryRecord(
            planned.seed, r.duration, bool(r.success), 100 * r.e_h, 100 * r.e_o, verdict
        )

    def judge(self, clip: HOIClip, scene: Scene) -> Judge:
        """The :data:`~intermimic.plan.windows.Judge` of ``clip``'s windows
        (``PlannerSettings.window``): the quality rule over the frames planned so far,
        ``(failed comparisons, shortfall)``; by tracking alone where it is not measured
        (a robot, or a prefix the report cannot measure)."""

        def judge(prefix: Rollout) -> tuple[float, float]:
            if self.measure and prefix.duration >= 2:
                try:
                    verdict = self._verdict(clip, scene, prefix)
                except (InputError, ValueError, IndexError):
                    return tracking_judge(prefix)
                return (float(len(verdict.failing)), shortfall(verdict.failing))
            return tracking_judge(prefix)

        return judge

    def _verdict(self, clip: HOIClip, scene: Scene, r: Rollout) -> Verdict:
        refined = refined_clip(r, clip, scene, dataset="tries", source_sha256="0" * 64)
        return clip_quality(
            clip,
            refined,
            scene,
            self.contact_settings,
            bool(r.success),
            reference_dir=self.reference_dir,
        ).verdict

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        """clip id -> its tries (:meth:`TryRecord.to_json`, ``kept`` marking the one kept)."""
        return {
            cid: [t.to_json(kept=t.seed == self.kept.get(cid)) for t in recs]
            for cid, recs in sorted(self.records.items())
        }
