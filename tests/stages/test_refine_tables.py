"""``RefineReport``'s tracking and comparison tables, which the CLI and the Dagster
metadata both render: rows from a hand-built report, checked cell by cell."""

from __future__ import annotations

from stages.refine_report import RefineReport


def _report() -> RefineReport:
    return RefineReport(
        dataset="lab",
        subject="s1",
        refined_dataset="lab-refined",
        checkpoint="iter_000002",
        teacher_sha256="0" * 64,
        tracking={
            "b": {"success": 0, "duration": 12, "e_h_cm": 14.26, "e_o_cm": 3.04},
            "a": {"success": 1, "duration": 40, "e_h_cm": 9.95, "e_o_cm": 0.0},
        },
        ended_by={"a": ["clip_end"], "b": ["hand_contact", "object_error"]},
        before={"a": {"jitter_body": 0.001}, "b": {"jitter_body": 0.003}},
        after={"a": {"jitter_body": 0.002}, "b": {"jitter_body": 0.004}},
        intermimic={"a": {"jitter_body": 0.0015}},
    )


def test_tracking_table_rows_sorted_with_reasons() -> None:
    header, rows = _report().tracking_table()
    assert header == ["clip", "success", "duration", "E_h cm", "E_o cm", "ended by"]
    assert rows == [
        ["a", "yes", "40", "9.9", "0.0", "clip_end"],
        ["b", "no", "12", "14.3", "3.0", "hand_contact, object_error"],
    ]


def test_comparison_table_means_and_coverage() -> None:
    header, rows = _report().comparison_table()
    # one of the two clips has InterMimic's refinement: the header says so
    assert header == ["figure", "raw", "refined", "InterMimic (1 of 2 clips)"]
    assert rows == [["jitter_body", "0.002", "0.003", "0.0015"]]


def test_comparison_table_without_intermimic() -> None:
    rep = _report()
    rep.intermimic = {}
    header, rows = rep.comparison_table()
    assert header[-1] == "InterMimic (0 of 2 clips)" and rows[0][-1] == "-"
    rep.tracking, rep.before, rep.after = {}, {}, {}
    assert rep.tracking_table()[1] == [] and rep.comparison_table()[1] == []


def test_tracking_table_shows_a_teachers_plan_frames() -> None:
    """A planner_ff teacher's plan lengths sit beside its durations; a clip it has no
    plan of shows '-', and a teacher without plans has no such column."""
    rep = _report()
    rep.plan_frames = {"a": 152}
    header, rows = rep.tracking_table()
    assert header == ["clip", "success", "duration", "plan frames", "E_h cm", "E_o cm", "ended by"]
    assert [r[3] for r in rows] == ["152", "-"] and rows[0][2] == "40"
