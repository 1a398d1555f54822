"""What goes into a version, and the bar its checks set."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from stages.refine_quality import (
    TOLERANCE_FLOATING,
    TOLERANCE_FOOT_SKATE_MPS,
    TOLERANCE_JITTER_M,
    TOLERANCE_PENETRATION_M,
    tolerance_for,
)

#: Seconds to pause after the arrays are written, before the version is renamed into
#: place: lets the crash test kill a publish at a known point. Never set in production.


class PublishSettings(BaseModel):
    """What goes into a version, and the bar its checks set."""

    only_successful: bool = Field(
        False, description="publish only clips the teacher tracked to their last frame"
    )
    datasets: list[str] | None = Field(
        None, description="raw datasets whose refinements to gather; None: every one"
    )
    min_success_ratio: float = Field(
        0.5, ge=0.0, le=1.0, description="check: least share of refined clips tracked to the end"
    )
    physical_severity: Literal["error", "warn"] = Field(
        "error",
        description="severity of the physical check's failure; 'warn' does not block",
    )
    # the defaults are the refine stage's, so its verdicts and the checks agree
    penetration_tolerance_m: float = Field(
        TOLERANCE_PENETRATION_M,
        ge=0.0,
        description="checks: refined penetration may exceed raw (or InterMimic's) by this (m)",
    )
    floating_tolerance: float = Field(
        TOLERANCE_FLOATING,
        ge=0.0,
        description="checks: refined floating fraction may exceed raw (or InterMimic's) by this",
    )
    foot_skate_tolerance_mps: float = Field(
        TOLERANCE_FOOT_SKATE_MPS,
        ge=0.0,
        description="checks: refined foot skating may exceed raw (or InterMimic's) by this (m/s)",
    )
    jitter_tolerance_m: float = Field(
        TOLERANCE_JITTER_M,
        ge=0.0,
        description="quality check: refined jitter may exceed InterMimic's by this (m)",
    )
    compression: Literal["none", "lz4", "zstd"] = Field(
        "none",
        description="chunk compression of the version's arrays (lz4, zstd: about 15 % "
        "smaller on refined float data, several times slower to write)",
    )
    chunk_frames: int = Field(8192, ge=1, description="frames per chunk")
    force_current: bool = Field(
        False, description="make the version current even when a blocking check fails"
    )

    def tolerance(self, figure: str) -> float:
        """How much a refined ``figure`` may exceed its reference (raw or InterMimic's)."""
        return tolerance_for(
            figure,
            penetration=self.penetration_tolerance_m,
            floating=self.floating_tolerance,
            foot_skate=self.foot_skate_tolerance_mps,
            jitter=self.jitter_tolerance_m,
        )
