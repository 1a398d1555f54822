"""A version's quality checks: finite arrays, success ratio, physics not worse than raw."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from intermimic.contact.artifacts import PHYSICAL_FIGURES
from stages.publish.settings import PublishSettings

#: Seconds to pause after the arrays are written, before the version is renamed into
#: place: lets the crash test kill a publish at a known point. Never set in production.


CHECK_FINITE = "all_arrays_finite"


CHECK_SUCCESS = "success_ratio"


CHECK_PHYSICAL = "physical_not_worse_than_raw"


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
    desc = (
        "no clip is physically worse than its raw MoCap"
        if phys_ok
        else f"{len({o['clip'] for o in offenders})} clip(s) worse than raw: "
        + ", ".join(sorted({o["clip"] for o in offenders})[:10])
    )
    if unmeasured:
        desc += f"; {len(unmeasured)} clip(s) without figures to compare"
    physical = CheckOutcome(
        CHECK_PHYSICAL,
        phys_ok,
        settings.physical_severity,
        desc,
        {"offenders": offenders, "unmeasured": unmeasured},
    )
    return [finite, success, physical]
