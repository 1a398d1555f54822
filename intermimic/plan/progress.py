"""Planning progress as lines of text, for logs (Dagster's, a benchmark's stderr).

Planning a clip takes minutes to an hour on a CPU (README, "Plans replay to the bit":
20-50 minutes per clip on 2 shared cores); :func:`progress_lines` turns the planner's
per-frame callback (:data:`~intermimic.plan.seeds.OnFrame`) into one line per tenth of
each clip, so a log says how far a long run is without a line per frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from intermimic.plan.seeds import OnFrame


def progress_lines(
    emit: Callable[[str], None], parts: int = 10, clock: Callable[[], float] = time.monotonic
) -> OnFrame:
    """An ``on_frame(clip_id, seed, frame, last)`` that calls ``emit(line)`` when
    a try (a clip and a seed) first passes each ``1 / parts`` of the clip (a rewind that
    goes back and passes a mark again says nothing new), with the seconds since the try's
    first report."""
    if parts < 1:
        raise ValueError(f"parts={parts}: at least 1")
    marks: dict[tuple[str, int], int] = {}
    started: dict[tuple[str, int], float] = {}

    def on_frame(clip_id: str, seed: int, frame: int, last: int) -> None:
        now = clock()
        t0 = started.setdefault((clip_id, seed), now)
        mark = frame * parts // max(last, 1)
        if mark <= marks.get((clip_id, seed), 0):
            return
        marks[clip_id, seed] = mark
        emit(f"planning {clip_id} (seed {seed}): frame {frame} of {last} ({now - t0:.0f} s)")

    return on_frame
