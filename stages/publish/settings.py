"""What goes into a version, and the bar its checks set."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

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
    penetration_tolerance_m: float = Field(
        0.005, ge=0.0, description="check: refined penetration may exceed raw by this (m)"
    )
    floating_tolerance: float = Field(
        0.02, ge=0.0, description="check: refined floating-contact fraction may exceed raw by this"
    )
    foot_skate_tolerance_mps: float = Field(
        0.05, ge=0.0, description="check: refined foot skating may exceed raw by this (m/s)"
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
        if figure.startswith("penetration"):
            return self.penetration_tolerance_m
        if figure.startswith("floating"):
            return self.floating_tolerance
        return self.foot_skate_tolerance_mps
