"""Planning progress as lines of text, for logs (Dagster's, a benchmark's stderr).

Planning a clip takes minutes to an hour on a CPU (docs/refinement_log.md, "Plans replay to
the bit": 20-50 minutes per clip on 2 shared cores); :func:`progress_lines` turns the planner's
per-frame callback (:data:`~intermimic.plan.seeds.OnFrame`) into one line per tenth of
each clip and one per rewind (at most ``retries`` per clip) or window planned again
(``PlannerSettings.window``; :mod:`intermimic.plan.windows` logs each judged attempt), so
a log says how far a long run is, and why it stays at a frame, without a line per frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from intermimic.plan.seeds import OnFrame


def progress_lines(
    emit: Callable[[str], None], parts: int = 10, clock: Callable[[], float] = time.monotonic
) -> OnFrame:
    """An ``on_frame(clip_id, seed, frame, last)`` that calls ``emit(line)`` when
    a try (a clip and a seed) first passes each ``1 / parts`` of the clip, and at each
    rewind (the planner's ``backtrack``: the committed frame is not past the one before;
    the marks it passes again say nothing new), with the seconds since the try's first
    report."""
    if parts < 1:
        raise ValueError(f"parts={parts}: at least 1")
    marks: dict[tuple[str, int], int] = {}
    started: dict[tuple[str, int], float] = {}
    furthest: dict[tuple[str, int], int] = {}
    previous: dict[tuple[str, int], int] = {}

    def on_frame(clip_id: str, seed: int, frame: int, last: int) -> None:
        key = (clip_id, seed)
        now = clock()
        t0 = started.setdefault(key, now)
        head = f"planning {clip_id} (seed {seed}):"
        before = previous.get(key, 0)
        previous[key] = frame
        furthest[key] = max(furthest.get(key, 0), frame)
        if frame <= before:  # a rewind or a window again: else the log goes quiet for minutes
            back = f"rewound to frame {frame - 1} (a rewind or a window's next attempt), "
            back += f"furthest {furthest[key]}"
            emit(f"{head} {back} ({now - t0:.0f} s)")
            return
        mark = frame * parts // max(last, 1)
        if mark <= marks.get(key, 0):
            return
        marks[key] = mark
        emit(f"{head} frame {frame} of {last} ({now - t0:.0f} s)")

    return on_frame
