"""Planning progress lines: one per tenth of a try, rewinds and seeds kept apart."""

from __future__ import annotations

import pytest

from intermimic.plan.progress import progress_lines


def test_one_line_per_tenth_of_each_try() -> None:
    lines: list[str] = []
    now = [100.0]
    on_frame = progress_lines(lines.append, clock=lambda: now[0])
    # a clip whose last frame is 20: a line at frames 2, 4, ..., 20; a rewind from 7 back
    # to 4 (its next committed frame is 5) is a line of its own, and passing 6 again
    # says nothing new
    for frame in [1, 2, 3, 4, 5, 6, 7, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]:
        now[0] += 1.0
        on_frame("clipA", 0, frame, 20)
    rewinds = [ln for ln in lines if "rewound" in ln]
    assert rewinds == [
        "planning clipA (seed 0): rewound to frame 4 (a rewind or a window's next attempt), "
        "furthest 7 (7 s)"
    ]
    marks = [ln for ln in lines if "rewound" not in ln]
    assert [ln.split("frame ")[1].split(" of")[0] for ln in marks] == [
        str(f) for f in range(2, 21, 2)
    ]
    assert lines[0] == "planning clipA (seed 0): frame 2 of 20 (1 s)"
    assert lines[-1] == "planning clipA (seed 0): frame 20 of 20 (22 s)"
    # another seed of the same clip is another try: its own marks and clock
    lines.clear()
    on_frame("clipA", 1, 1, 20)
    on_frame("clipA", 1, 2, 20)
    assert lines == ["planning clipA (seed 1): frame 2 of 20 (0 s)"]


def test_short_clips_and_bad_parts() -> None:
    lines: list[str] = []
    on_frame = progress_lines(lines.append, parts=4)
    for frame in (1, 2, 3):  # 3 frames, 4 parts: every frame passes a mark
        on_frame("c", 0, frame, 3)
    assert len(lines) == 3
    on_frame("one", 0, 1, 1)  # a clip of one step
    assert lines[-1].startswith("planning one (seed 0): frame 1 of 1")
    with pytest.raises(ValueError, match="parts=0"):
        progress_lines(lines.append, parts=0)
