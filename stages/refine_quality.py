"""Refinement quality: InterMimic's reference figures and the per-clip verdict (issue 18).

A refined clip is judged by the artifact report (:mod:`intermimic.contact.artifacts`) of
up to three motions over the same frames, with the same scene and contact settings: the
raw MoCap, our refinement, and InterMimic's own refinement of the same clip where the
user has it (made by its teachers in Isaac Gym; the sample has it for subject 2 in
``omomo/refined_by_intermimic``, one ``<clip_id>.pt`` each). The verdict:

``full``
    tracked to the clip's last frame, every artifact figure (:data:`ARTIFACT_FIGURES`:
    object and ground penetration, floating contact, foot skating, body and object
    jitter) no worse than InterMimic's refinement of the clip (where it exists), and
    object penetration and foot skating (:data:`RAW_RULE_FIGURES`) no worse than the
    raw MoCap;
``worse``
    tracked to the end, but a comparison fails (each one named in ``failing``);
``partial``
    not tracked to the end (terminated early): the refined motion stops short;
``unmeasured``
    tracked to the end, but a figure the rule needs is missing (a robot embodiment,
    whose motion the SMPL-X report does not measure; a clip too short to measure; a
    record made before this rule).

"No worse" allows the figure's tolerance (:func:`tolerance_for`; the publish settings
take their defaults from here): a refined value up to the reference's plus the
tolerance ties. Only object penetration and foot skating are held to the raw MoCap:
InterMimic's own refinement makes ground penetration, floating contact and jitter worse
than the raw clip (subject 2, 27 clips: ground penetration 0.02 -> 0.22 cm, floating
contact 0 -> 0.9 % of frames, body jitter 0.38 -> 1.72 mm), the price a simulated
motion pays, so for those the bar is InterMimic's refinement, not the MoCap.

Frame alignment: InterMimic's files start with an invalid placeholder row in the sample,
trimmed on reading, so a file is one frame shorter than its raw clip; its frame ``j``
is taken as raw frame ``j + offset`` with ``offset`` = raw frames - its frames (measured
on the sample: trimmed frame ``i`` matches raw frame ``i + 1`` slightly better than raw
frame ``i``). A refinement covers raw frames ``[0, n)``; InterMimic's figures are taken
over its frames that show raw frames ``[offset, n)``, like for like with ``before``.

Everything here is a plain function of clips, a scene and figure dicts, so any
refinement method (the teacher replay of :mod:`stages.refine`, a planner) is judged
alike. Nothing here imports the RL stack: the publish check uses the rule too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from intermimic.contact.artifacts import ARTIFACT_FIGURES, artifact_report
from intermimic.contact.settings import ContactSettings
from intermimic.errors import InputError
from intermimic.motion.clip import HOIClip
from intermimic.paths import sample_refined_dir
from intermimic.sim.scene import Scene

VerdictName = Literal["full", "worse", "partial", "unmeasured"]
#: Every verdict, best first (tables and counts list them in this order).
VERDICTS: tuple[VerdictName, ...] = ("full", "worse", "partial", "unmeasured")
#: The figures a refinement must also keep no worse than the raw MoCap's.
RAW_RULE_FIGURES = ("penetration_object_max", "foot_skate_speed_mean")
#: Catalog stage suffix of InterMimic's figures: ``refined`` -> ``refined-intermimic``.
INTERMIMIC_STAGE_SUFFIX = "-intermimic"
#: Most leading frames an InterMimic file may lack against its raw clip (its invalid
#: placeholder row, trimmed on reading). A longer file, or a shorter one by more, is
#: taken for a different recording and not compared.
MAX_LEADING_OFFSET = 2

# Default tolerances of "no worse" (PublishSettings takes its defaults from these).
TOLERANCE_PENETRATION_M = 0.005
TOLERANCE_FLOATING = 0.02
TOLERANCE_FOOT_SKATE_MPS = 0.05
# Jitter is a noise amplitude of about 0.3-2 mm on the sample: 0.1 mm separates noise
# levels while forgiving the estimate's own spread.
TOLERANCE_JITTER_M = 1e-4

F64 = NDArray[np.float64]
Tolerance = Callable[[str], float]


def tolerance_for(
    figure: str,
    *,
    penetration: float = TOLERANCE_PENETRATION_M,
    floating: float = TOLERANCE_FLOATING,
    foot_skate: float = TOLERANCE_FOOT_SKATE_MPS,
    jitter: float = TOLERANCE_JITTER_M,
) -> float:
    """How much a refined ``figure`` may exceed its reference and still count as no
    worse (by the figure's family: penetration m, floating fraction, foot skating m/s,
    jitter m; 0 for anything else)."""
    if figure.startswith("penetration"):
        return penetration
    if figure.startswith("floating"):
        return floating
    if figure.startswith("foot_skate"):
        return foot_skate
    if figure.startswith("jitter"):
        return jitter
    return 0.0


class ReferenceSettings(BaseModel):
    """Where a refinement finds InterMimic's own refinement of its clips to compare with."""

    reference: bool = Field(
        True,
        description="compare every refined clip with InterMimic's own refinement of it, "
        "where a file of the same clip id exists",
    )
    reference_dir: str | None = Field(
        None,
        description="folder of InterMimic's refined clips (<clip_id>.pt, InterAct format); "
        "None: the sample's omomo/refined_by_intermimic if present",
    )

    def resolved_dir(self) -> Path | None:
        """The folder to look in, or None for no comparison. A folder named explicitly
        that does not exist is an :class:`InputError` (a typo must not pass silently)."""
        if not self.reference:
            return None
        if self.reference_dir is None:
            return sample_refined_dir()
        p = Path(self.reference_dir)
        if not p.is_dir():
            raise InputError("is not a folder of InterMimic's refined clips", p)
        return p


# ---- the rule ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """One comparison the rule failed: ``refined`` > ``reference`` + ``tolerance``."""

    figure: str
    against: Literal["raw", "intermimic"]
    refined: float
    reference: float
    tolerance: float

    @property
    def label(self) -> str:
        return f"{self.figure} > {'InterMimic' if self.against == 'intermimic' else 'raw'}"

    def to_json(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "against": self.against,
            "refined": self.refined,
            "reference": self.reference,
            "tolerance": self.tolerance,
        }


@dataclass(frozen=True)
class Verdict:
    """A refined clip's verdict (see the module docstring). ``against_intermimic``: the
    clip was also compared with InterMimic's refinement (it had one)."""

    name: VerdictName
    failing: tuple[Failure, ...] = ()
    against_intermimic: bool = False

    def describe(self) -> str:
        """``full``, or ``worse: jitter_body > InterMimic, ...`` (failures named)."""
        if not self.failing or self.name in ("full", "unmeasured"):
            return self.name
        return f"{self.name}: " + ", ".join(f.label for f in self.failing)

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.name,
            "failing": [f.to_json() for f in self.failing],
            "against_intermimic": self.against_intermimic,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Verdict:
        """Read :meth:`to_json`'s output; an unknown verdict reads as ``unmeasured``."""
        name = d.get("verdict")
        failing = tuple(
            Failure(
                str(f["figure"]),
                "intermimic" if f.get("against") == "intermimic" else "raw",
                float(f["refined"]),
                float(f["reference"]),
                float(f.get("tolerance", 0.0)),
            )
            for f in d.get("failing") or ()
        )
        return cls(
            cast(VerdictName, name) if name in VERDICTS else "unmeasured",
            failing,
            bool(d.get("against_intermimic", False)),
        )

    def catalog_figures(self) -> dict[str, float]:
        """The verdict as catalog figures (the catalog holds numbers): ``verdict_<name>``
        1 for this verdict and 0 for the others, ``verdict_against_intermimic`` 0/1,
        ``verdict_failing`` the number of failed comparisons."""
        out = {f"verdict_{v}": float(v == self.name) for v in VERDICTS}
        out["verdict_against_intermimic"] = float(self.against_intermimic)
        out["verdict_failing"] = float(len(self.failing))
        return out


def _finite(figs: Mapping[str, float] | None, name: str) -> float | None:
    v = (figs or {}).get(name)
    return float(v) if v is not None and math.isfinite(v) else None


def quality_verdict(
    tracked_to_end: bool,
    raw: Mapping[str, float] | None,
    refined: Mapping[str, float] | None,
    intermimic: Mapping[str, float] | None = None,
    tolerance: Tolerance | None = None,
) -> Verdict:
    """Judge one refined clip by the rule (module docstring) from its figures.

    ``raw``, ``refined``, ``intermimic``: artifact figures over the same frames (None or
    empty: not measured; InterMimic's: none of the clip). ``tolerance(figure)``: how
    much a refined figure may exceed its reference (default :func:`tolerance_for`).
    Failed comparisons are listed for a partial clip too, for information. A figure
    InterMimic's record lacks is not compared with it; one the rule needs that the
    refined or raw record lacks (or holds as NaN) makes a tracked clip ``unmeasured``.
    """
    tol = tolerance or tolerance_for
    failing: list[Failure] = []
    measured = bool(refined) and bool(raw)
    for f in RAW_RULE_FIGURES:
        a, r = _finite(refined, f), _finite(raw, f)
        if a is None or r is None:
            measured = False
        elif a > r + tol(f):
            failing.append(Failure(f, "raw", a, r, tol(f)))
    against_im = False
    if intermimic:
        for f in ARTIFACT_FIGURES:
            ref = _finite(intermimic, f)
            if ref is None:
                continue
            against_im = True
            a = _finite(refined, f)
            if a is None:
                measured = False
            elif a > ref + tol(f):
                failing.append(Failure(f, "intermimic", a, ref, tol(f)))
    name: VerdictName
    if not tracked_to_end:
        name = "partial"
    elif not measured:
        name = "unmeasured"
    else:
        name = "worse" if failing else "full"
    return Verdict(name, tuple(failing), against_im)


def verdict_counts(verdicts: Iterable[Verdict | str]) -> dict[str, int]:
    """verdict -> number of clips, every verdict listed (0 where none)."""
    names = [v.name if isinstance(v, Verdict) else v for v in verdicts]
    return {v: names.count(v) for v in VERDICTS}


def quality_record(
    verdict: Verdict,
    raw: Mapping[str, float] | None,
    refined: Mapping[str, float] | None,
    intermimic: Mapping[str, float] | None,
) -> dict[str, Any]:
    """What a clip's judgement is stored as (refine.json, the refined rollout group's
    attributes, a version's manifest): the verdict and the :data:`ARTIFACT_FIGURES` of
    the three motions it was judged on (``{}`` where not measured)."""

    def pick(figs: Mapping[str, float] | None) -> dict[str, float]:
        return {f: float(figs[f]) for f in ARTIFACT_FIGURES if figs and f in figs}

    return {
        **verdict.to_json(),
        "raw": pick(raw),
        "refined": pick(refined),
        "intermimic": pick(intermimic),
    }


# ---- InterMimic's reference figures -------------------------------------------------------


def load_reference(clip_id: str, reference_dir: Path | None) -> HOIClip | None:
    """InterMimic's refinement of ``clip_id`` (``reference_dir/<clip_id>.pt``, invalid
    leading rows trimmed), or None when there is none. Raises :class:`InputError` (naming
    the file) when the file is there but unreadable."""
    if reference_dir is None:
        return None
    path = reference_dir / f"{clip_id}.pt"
    if not path.is_file():
        return None
    from intermimic.motion.load import read_clip
    from intermimic.motion.settings import IngestSettings

    return read_clip(path, settings=IngestSettings(trim_invalid_leading_frames=True))


def reference_span(raw_frames: int, reference_frames: int, refined_frames: int) -> tuple[int, int]:
    """``(offset, length)``: InterMimic's frame ``j`` is raw frame ``j + offset``, and its
    first ``length`` frames show the raw frames a refinement of ``refined_frames`` frames
    covers (``[offset, refined_frames)``). Raises :class:`ValueError` when the lengths
    say the file is another recording (module docstring) or nothing overlaps."""
    offset = raw_frames - reference_frames
    if not 0 <= offset <= MAX_LEADING_OFFSET:
        raise ValueError(
            f"InterMimic's file has {reference_frames} frames against the raw clip's "
            f"{raw_frames}: not the same recording"
        )
    length = min(refined_frames, raw_frames) - offset
    if length < 2:
        raise ValueError(f"fewer than 2 frames in common with the {refined_frames} refined")
    return offset, length


def intermimic_figures(
    raw: HOIClip,
    refined: HOIClip,
    scene: Scene,
    contact_settings: ContactSettings | None,
    reference: HOIClip,
) -> dict[str, float]:
    """The artifact figures of InterMimic's refinement ``reference`` of ``raw``'s clip
    over the raw frames ``refined`` covers (:func:`reference_span`), with the scene and
    contact settings the raw and refined clips are measured with. Raises
    :class:`ValueError` when ``reference`` is not a refinement of the same recording
    (another object, frame rate or length)."""
    if reference.meta.object_name != raw.meta.object_name:
        raise ValueError(
            f"InterMimic's clip moves {reference.meta.object_name!r}, "
            f"the raw clip {raw.meta.object_name!r}"
        )
    if abs(reference.meta.fps - raw.meta.fps) > 1e-6:
        raise ValueError(
            f"InterMimic's clip is at {reference.meta.fps:g} fps, not {raw.meta.fps:g}"
        )
    _, length = reference_span(raw.n_frames, reference.n_frames, refined.n_frames)
    return dict(artifact_report(reference.slice(0, length), scene, contact_settings).figures)


@dataclass
class ClipQuality:
    """One refined clip judged (:func:`clip_quality`)."""

    before: dict[str, float]
    """every figure of the raw clip's report over the frames the refined clip covers"""
    after: dict[str, float]
    """every figure of the refined clip's report"""
    series: dict[str, F64]
    """the refined clip's per-frame artifact series"""
    verdict: Verdict
    intermimic: dict[str, float] | None = None
    """every figure of InterMimic's refinement over the same raw frames; None: none"""
    reference_note: str = ""
    """why a file of InterMimic's was not compared ('' when compared or absent)"""

    def record(self) -> dict[str, Any]:
        return quality_record(self.verdict, self.before, self.after, self.intermimic)


def clip_quality(
    raw: HOIClip,
    refined: HOIClip,
    scene: Scene,
    contact_settings: ContactSettings | None,
    tracked_to_end: bool,
    *,
    reference_dir: Path | None = None,
    tolerance: Tolerance | None = None,
) -> ClipQuality:
    """Measure a refined clip against its raw clip (over the frames it covers) and
    InterMimic's refinement of it (``reference_dir/<clip_id>.pt``, if there), and judge
    it. Raises what :func:`~intermimic.contact.artifacts.artifact_report` raises for the
    raw or refined clip (:class:`InputError`, :class:`ValueError`, :class:`IndexError`:
    the caller records the clip as unmeasured); a file of InterMimic's that cannot be
    read or compared only leaves the reference out, with the reason in
    ``reference_note``."""
    cs = contact_settings or ContactSettings()
    # the raw clip over the frames the refined one covers: like for like
    before = dict(artifact_report(raw.slice(0, refined.n_frames), scene, cs).figures)
    art = artifact_report(refined, scene, cs)
    im: dict[str, float] | None = None
    note = ""
    try:
        ref = load_reference(raw.meta.clip_id, reference_dir)
        if ref is not None:
            im = intermimic_figures(raw, refined, scene, cs, ref)
    except (InputError, ValueError, IndexError) as exc:
        note = f"InterMimic's refinement not compared: {exc}"
    verdict = quality_verdict(tracked_to_end, before, dict(art.figures), im, tolerance)
    return ClipQuality(before, dict(art.figures), dict(art.series), verdict, im, note)
