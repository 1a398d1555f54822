"""What the refine stage reports for one subject (:class:`RefineReport`): tracking per
clip, the artifact figures before and after (and InterMimic's), the verdicts, the planner's
tries, and the tables the CLI and the Dagster metadata render from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from intermimic.contact.artifacts import ARTIFACT_FIGURES
from stages.refine_quality import Verdict, quality_record, verdict_counts


@dataclass
class RefineReport:
    """What :func:`stages.refine.refine_subject` did for one subject."""

    dataset: str
    subject: str
    refined_dataset: str
    checkpoint: str
    """The teacher checkpoint replayed, or ``planner:<hash>`` of the planner's settings and
    the physics it planned in."""
    teacher_sha256: str
    """SHA-256 of the teacher checkpoint, or of the planner's settings and physics
    (:func:`~intermimic.plan.seeds.plans_sha256`; the lineage hash)."""
    method: str = "teacher"
    tracking: dict[str, dict[str, float]] = field(default_factory=dict)
    """clip -> success (0/1), duration (steps), duration_fraction, e_h_cm, e_o_cm, attempt."""
    ended_by: dict[str, list[str]] = field(default_factory=dict)
    """clip -> why its refined rollout ended (:attr:`intermimic.rl.rollout.Rollout.ended_by`:
    ``clip_end``, or the early-termination reasons that stopped it)."""
    before: dict[str, dict[str, float]] = field(default_factory=dict)
    """clip -> artifact figures of the raw clip over the frames the refined clip covers."""
    after: dict[str, dict[str, float]] = field(default_factory=dict)
    """clip -> artifact figures of the refined clip."""
    failed: dict[str, str] = field(default_factory=dict)
    summary: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    intermimic: dict[str, dict[str, float]] = field(default_factory=dict)
    """clip -> artifact figures of InterMimic's refinement of the clip over the frames the
    refined clip covers (only clips it has; see :mod:`stages.refine_quality`)."""
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    """clip -> verdict of the quality rule (every refined clip)."""
    reference_dir: str | None = None
    """where InterMimic's refined clips were looked for; None: not compared."""
    reference_notes: dict[str, str] = field(default_factory=dict)
    """clip -> why a file of InterMimic's was there but not compared."""
    plan_frames: dict[str, int] = field(default_factory=dict)
    """clip -> frames its plan tracked, for a ``planner_ff`` teacher (the plan it trained
    around; :meth:`tracking_table` shows it beside the teacher's duration)."""
    tries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """clip -> the planner's tries, judged, the one kept marked
    (:meth:`~stages.refine_choice.QualityChoice.to_json`; ``PlannerSettings.tries`` > 1)."""

    def comparison(
        self, figures: tuple[str, ...] = ARTIFACT_FIGURES
    ) -> dict[str, dict[str, float]]:
        """figure -> {before, after[, intermimic]}: means over the clips refined and
        measured both ways; ``intermimic``: the mean over those of them InterMimic's
        refinement covers (:meth:`intermimic_coverage` says how many), when any."""
        clips = sorted(set(self.before) & set(self.after))
        im_clips = [c for c in clips if c in self.intermimic]
        out: dict[str, dict[str, float]] = {}
        for f in figures:
            b = [self.before[c][f] for c in clips if f in self.before[c]]
            a = [self.after[c][f] for c in clips if f in self.after[c]]
            if b and a:
                out[f] = {"before": float(np.mean(b)), "after": float(np.mean(a))}
                im = [self.intermimic[c][f] for c in im_clips if f in self.intermimic[c]]
                if im:
                    out[f]["intermimic"] = float(np.mean(im))
        return out

    def intermimic_coverage(self) -> tuple[int, int]:
        """``(clips with InterMimic's figures, clips measured both ways)``."""
        clips = set(self.before) & set(self.after)
        return len(clips & set(self.intermimic)), len(clips)

    def quality_records(self) -> dict[str, dict[str, Any]]:
        """clip -> :func:`~stages.refine_quality.quality_record` (verdict, failed
        comparisons, raw / refined / InterMimic artifact figures)."""
        return {
            c: quality_record(v, self.before.get(c), self.after.get(c), self.intermimic.get(c))
            for c, v in sorted(self.verdicts.items())
        }

    def verdict_counts(self) -> dict[str, int]:
        return verdict_counts(self.verdicts.values())

    def tracking_table(self) -> tuple[list[str], list[list[str]]]:
        """``(header, rows)``, one row per refined clip: success, duration (steps), the
        frames its plan tracked (a ``planner_ff`` teacher's only), E_h and E_o (cm) and
        what ended its rollout. The CLI and the Dagster metadata render the same rows."""
        plans = bool(self.plan_frames)
        header = ["clip", "success", "duration", "E_h cm", "E_o cm", "ended by"]
        if plans:
            header.insert(3, "plan frames")
        rows = []
        for cid, t in sorted(self.tracking.items()):
            row = [
                cid,
                "yes" if t["success"] else "no",
                f"{t['duration']:.0f}",
                f"{t['e_h_cm']:.1f}",
                f"{t['e_o_cm']:.1f}",
                ", ".join(self.ended_by.get(cid, [])),
            ]
            if plans:
                row.insert(3, str(self.plan_frames.get(cid, "-")))
            rows.append(row)
        return header, rows

    def tries_table(self) -> tuple[list[str], list[list[str]]]:
        """``(header, rows)`` of :attr:`tries` (:func:`tries_table`)."""
        return tries_table(self.tries)

    def comparison_table(self) -> tuple[list[str], list[list[str]]]:
        """``(header, rows)`` of :meth:`comparison`: figure, raw, refined, InterMimic
        (SI units; ``-`` where no clip has InterMimic's refinement, and the header says
        how many clips do when not all)."""
        n_im, n = self.intermimic_coverage()
        im = "InterMimic" if n_im == n else f"InterMimic ({n_im} of {n} clips)"
        rows = [
            [
                fig,
                f"{v['before']:.4g}",
                f"{v['after']:.4g}",
                "-" if v.get("intermimic") is None else format(v["intermimic"], ".4g"),
            ]
            for fig, v in self.comparison().items()
        ]
        return ["figure", "raw", "refined", im], rows


def tries_table(tries: dict[str, list[dict[str, Any]]]) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` of judged tries (:meth:`QualityChoice.to_json`), one row per try
    of each clip: seed, frames, E_h and E_o (cm), verdict, the failed comparisons, and
    ``yes`` on the one kept."""
    header = ["clip", "seed", "frames", "E_h cm", "E_o cm", "verdict", "failing", "kept"]
    rows = [
        [
            cid,
            str(t["seed"]),
            str(t["frames"]),
            f"{t['e_h_cm']:.1f}",
            f"{t['e_o_cm']:.1f}",
            t["verdict"],
            ", ".join(t["failing"]) or "-",
            "yes" if t["kept"] else "",
        ]
        for cid, clip_tries in sorted(tries.items())
        for t in clip_tries
    ]
    return header, rows
