"""A version's quality checks: finite arrays, success ratio, physics not worse than raw
(blocking), and the refinement quality verdicts (a warning)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from intermimic.contact.artifacts import PHYSICAL_FIGURES
from stages.publish.settings import PublishSettings
from stages.refine_quality import VERDICTS, Verdict, quality_verdict, verdict_counts

#: Seconds to pause after the arrays are written, before the version is renamed into
#: place: lets the crash test kill a publish at a known point. Never set in production.


CHECK_FINITE = "all_arrays_finite"


CHECK_SUCCESS = "success_ratio"


CHECK_PHYSICAL = "physical_not_worse_than_raw"


CHECK_QUALITY = "refinement_quality"


@dataclass(frozen=True)
class CheckOutcome:
    """One quality check of a version."""

    name: str
    passed: bool
    severity: Literal["error", "warn"]
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def blocking_failure(self) -> bool:
        return not self.passed and self.severity == "error"


def quality_checks(manifest: Mapping[str, Any], settings: PublishSettings) -> list[CheckOutcome]:
    """The blocking checks of a version, from its manifest (the finite counts were taken
    when its arrays were written; the data never changes after)."""
    bad = dict(manifest.get("nonfinite") or {})
    finite = CheckOutcome(
        CHECK_FINITE,
        not bad,
        "error",
        "every array is finite" if not bad else "non-finite values in " + ", ".join(sorted(bad)),
        {"non_finite_values": bad},
    )
    cand = manifest.get("candidates") or []
    ok = sum(1 for c in cand if c["success"])
    ratio = ok / len(cand) if cand else 0.0
    success = CheckOutcome(
        CHECK_SUCCESS,
        ratio >= settings.min_success_ratio,
        "error",
        f"{ok} of {len(cand)} refined clips tracked to the end ({ratio:.0%}); "
        f"at least {settings.min_success_ratio:.0%} required",
        {"success_ratio": ratio, "successful": ok, "refined": len(cand),
         "min_success_ratio": settings.min_success_ratio},
    )  # fmt: skip
    offenders: list[dict[str, Any]] = []
    unmeasured: list[str] = []
    for c in manifest["clips"]:
        raw, ref = c.get("figures_raw") or {}, c.get("figures_refined") or {}
        name = f"{c['subject']}/{c['clip']}"
        if not raw or not ref:
            unmeasured.append(name)
            continue
        for f in PHYSICAL_FIGURES:
            r, a = raw.get(f), ref.get(f)
            if r is not None and a is not None and a > r + settings.tolerance(f):
                offenders.append(
                    {"clip": name, "figure": f, "raw": r, "refined": a,
                     "tolerance": settings.tolerance(f)}
                )  # fmt: skip
    phys_ok = not offenders
    desc = "no clip is physically worse than its raw MoCap" if phys_ok else _offenders(offenders)
    if unmeasured:
        desc += f"; {len(unmeasured)} clip(s) without figures to compare"
    physical = CheckOutcome(
        CHECK_PHYSICAL,
        phys_ok,
        settings.physical_severity,
        desc,
        {"offenders": offenders, "unmeasured": unmeasured},
    )
    return [finite, success, physical, quality_check(manifest, settings)]


def _offenders(offenders: list[dict[str, Any]], at_most: int = 10) -> str:
    """``N clip(s) worse than raw: clip (figure refined > raw + tolerance; ...), ...`` for
    the first clips, in SI units as the figures are kept (m, m/s, fractions): which
    comparison failed is what a reader of the check needs, since a refinement may pass
    the quality rule (against InterMimic's refinement) and still fail this one (against
    the raw MoCap)."""
    by_clip: dict[str, list[str]] = {}
    for o in offenders:
        by_clip.setdefault(o["clip"], []).append(
            f"{o['figure']} {o['refined']:.4g} > raw {o['raw']:.4g} + {o['tolerance']:.4g}"
        )
    names = sorted(by_clip)
    text = ", ".join(f"{n} ({'; '.join(by_clip[n])})" for n in names[:at_most])
    more = f", and {len(names) - at_most} more" if len(names) > at_most else ""
    return f"{len(names)} clip(s) worse than raw: {text}{more}"


def clip_verdict(clip: Mapping[str, Any], settings: PublishSettings) -> Verdict:
    """A manifest clip's verdict by the rule of :mod:`stages.refine_quality`, judged
    again with the version's tolerances from the figures the refine stage recorded;
    a clip recorded without them (an older refinement or manifest) is ``partial`` when
    not tracked to the end, else ``unmeasured``."""
    q = clip.get("quality") or {}
    success = bool(clip.get("success"))
    if q.get("raw") or q.get("refined"):
        return quality_verdict(
            success, q.get("raw"), q.get("refined"), clip.get("figures_intermimic"),
            settings.tolerance,
        )  # fmt: skip
    return quality_verdict(success, None, None)


def quality_check(manifest: Mapping[str, Any], settings: PublishSettings) -> CheckOutcome:
    """Which clips are full, worse than the rule, partial or unmeasured (a warning: it
    never blocks a version). Passes when no clip is worse than the rule: partial clips
    are listed, but the share tracked to the end is :data:`CHECK_SUCCESS`'s to judge."""
    names: dict[str, list[str]] = {v: [] for v in VERDICTS}
    worse: list[dict[str, Any]] = []
    against_im = 0
    verdicts = []
    for c in manifest.get("clips") or []:
        name = f"{c['subject']}/{c['clip']}"
        v = clip_verdict(c, settings)
        verdicts.append(v)
        names[v.name].append(name)
        against_im += v.against_intermimic
        if v.name == "worse":
            why = ", ".join(f.label for f in v.failing)
            worse.append({"clip": name, "why": why, "failing": [f.to_json() for f in v.failing]})
    counts = verdict_counts(verdicts)
    total = sum(counts.values())
    desc = (
        f"{counts['full']} of {total} clips full quality, {counts['worse']} worse than the "
        f"rule, {counts['partial']} partial, {counts['unmeasured']} unmeasured; "
        f"{against_im} compared with InterMimic's refinement"
    )
    if worse:
        desc += "; worse: " + ", ".join(f"{w['clip']} ({w['why']})" for w in worse[:10])
    return CheckOutcome(
        CHECK_QUALITY,
        not names["worse"],
        "warn",
        desc,
        {"counts": counts, "against_intermimic": against_im, "worse": worse,
         **{v: names[v] for v in ("full", "partial", "unmeasured")}},
    )  # fmt: skip
