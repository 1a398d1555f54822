"""Windows of a planned clip, each planned several times and the best kept
(``PlannerSettings.window`` / ``window_tries``; used by
:func:`~intermimic.plan.planner.plan_clip`).

A run of the planner is one draw of its noise, and the figures of its motion scatter
widely from draw to draw; so do those of any stretch of it. With windows the clip is
planned ``window`` frames at a time: each window up to ``window_tries`` times from the
same start (the noise generator goes on, so each attempt draws afresh), every attempt
judged on the motion committed so far (the clip's first frame to the window's end) by a
:data:`Judge`, and, where ``window_max_key_body_error`` / ``window_max_object_error`` are
set, on its own frames' mean tracking errors against them; the first attempt that passes
is kept at once, else the best of them (planned furthest, then the score), and the next
window starts from its end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from intermimic.plan.settings import WINDOW_BOUNDS, PlannerSettings
from intermimic.rl.rollout import Rollout

log = logging.getLogger(__name__)

F64 = NDArray[np.float64]
History = dict[int, tuple[F64, NDArray[np.int64], F64 | None, F64]]
"""Frame -> what the planner needs to plan from it again (state: qpos, qvel and, after the
first frame, the solver's warm start; hand counters, last action, warm-start knots)."""

#: ``judge(prefix)`` -> ``(failing, excess)`` of the committed motion so far (a
#: :class:`~intermimic.rl.rollout.Rollout` from the clip's first frame): how many rules
#: it breaks and by how much. ``failing`` 0 passes; smaller tuples are better.
Judge = Callable[[Rollout], tuple[float, float]]


def tracking_judge(prefix: Rollout) -> tuple[float, float]:
    """The default :data:`Judge`, which knows no artifacts: never passes (each window is
    planned ``window_tries`` times), the closest tracking (E_h + E_o, m) is kept."""
    return (1.0, prefix.e_h + prefix.e_o)


@dataclass
class Planned:
    """Where planning got to (a window's start, or an attempt at a window) and all it
    takes to go on from there: copies, as planning goes on in the live lists."""

    frame: int
    failed: bool
    ended_by: tuple[str, ...]
    records: list[dict[str, Any]]
    costs: list[float]
    history: History
    state: F64
    missing: NDArray[np.int64]
    last_action: F64 | None
    nominal: F64
    score: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def of(
        cls,
        frame: int,
        failed: bool,
        ended_by: tuple[str, ...],
        records: list[dict[str, Any]],
        costs: list[float],
        history: History,
        state: F64,
        missing: NDArray[np.int64],
        last_action: F64 | None,
        nominal: F64,
    ) -> Planned:
        # a record's "actions" is set when the next frame commits: copy the dicts
        return cls(frame, failed, ended_by, [dict(r) for r in records], list(costs),
                   dict(history), state, missing, last_action, nominal.copy())  # fmt: skip

    def restore(self) -> tuple[int, list[dict[str, Any]], list[float], History]:
        """Fresh copies of ``(frame, records, costs, history)`` to plan on from."""
        return self.frame, [dict(r) for r in self.records], list(self.costs), dict(self.history)

    def rank(self) -> tuple[bool, int, float, float]:
        """Smaller is better: planned to the window's end, then the judge's score."""
        return (self.failed, -self.frame, *self.score)


class Windows:
    """``PlannerSettings.window``: the clip in windows of ``window`` frames, each planned
    up to ``window_tries`` times from the same start (fresh noise each time) until the
    judge passes the motion so far; the best attempt is kept and the next window starts
    from its end. Off (one window, the whole clip) with ``window`` 0."""

    def __init__(
        self,
        p: PlannerSettings,
        end: int,
        judge: Judge,
        clip: tuple[str, str, int],
        begin: Planned,
    ) -> None:
        """``clip``: its id, object name and frames (the judged prefixes' rollouts);
        ``begin``: where planning starts."""
        self.on = p.window > 0
        self.size, self.tries, self.end, self.judge = p.window, p.window_tries, end, judge
        # (bound m, the rollout array of per-frame errors it bounds), where set
        self.bounds = [
            (float(b), array)
            for name, array in WINDOW_BOUNDS.items()
            if (b := getattr(p, name)) is not None
        ]
        self.clip_id, self.name, self.length = clip
        self.used: list[int] = []
        """Attempts of each window planned so far."""
        self.next(begin)

    def next(self, begin: Planned) -> None:
        """Open the window that starts where ``begin`` is."""
        self.begin: Planned = begin
        self.attempts: list[Planned] = []
        self.start = begin.frame
        self.stop = min(self.end, self.start + self.size) if self.on else self.end

    def attempt(self, planned: Planned) -> Planned | None:
        """Judge ``planned`` (this window planned once more): the attempt to keep, or
        None to plan the window again."""
        missed = 0.0
        if planned.frame > 0:
            arrays = {
                k: np.concatenate([r[k] for r in planned.records]) for k in planned.records[0]
            }
            prefix = Rollout(
                clip_id=self.clip_id, object_name=self.name, attempt=0,
                success=planned.frame >= self.length - 1, duration=planned.frame,
                clip_frames=self.length, arrays=arrays, ended_by=planned.ended_by,
            )  # fmt: skip
            failing, excess = self.judge(prefix)
            missed, over = self.tracking(arrays, planned.frame)
            planned.score = (float(failing) + missed, float(excess) + over)
        self.attempts.append(planned)
        # a window planned again looks like a rewind in per-frame progress; say why
        log.info(
            "%s: window %d-%d attempt %d of %d%s: %g rules failed (%g of them tracking "
            "bounds), shortfall %.3f",
            self.clip_id, self.start, self.stop, len(self.attempts), self.tries,
            " (fell)" if planned.failed else "", planned.score[0],
            missed, planned.score[1],
        )  # fmt: skip
        done = not planned.failed and planned.frame >= self.stop and planned.score[0] == 0
        if not done and len(self.attempts) < self.tries:
            return None
        self.used.append(len(self.attempts))
        return min(self.attempts, key=lambda a: a.rank())

    def tracking(self, arrays: dict[str, Any], frame: int) -> tuple[float, float]:
        """``(bounds missed, sum of (error - bound) / bound)`` of this window's frames
        (its start to ``frame``) in ``arrays``: each bound's mean per-frame error."""
        missed, over = 0.0, 0.0
        for bound, name in self.bounds:
            err = float(np.mean(np.asarray(arrays[name])[self.start : frame + 1]))
            if err > bound:
                missed += 1.0
                over += (err - bound) / bound
        return missed, over
