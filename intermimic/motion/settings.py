"""Settings of ingestion. CLI options and Dagster config are built from this model."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from intermimic.motion.clip import CANONICAL_FPS
from intermimic.motion.limits import ReadLimits

_DEFAULT_LIMITS = ReadLimits()


class IngestSettings(BaseModel):
    """How MoCap files become canonical clips in the store."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field("default", description="dataset name the clips are filed under")
    format: str | None = Field(None, description="reader name; None picks by file suffix")
    quat_tolerance: float = Field(
        1e-3,
        gt=0,
        description="quaternions within this of unit norm are renormalised; beyond, rejected",
    )
    min_frames: int = Field(2, ge=2, description="shortest clip accepted, in frames")
    fps: float = Field(
        CANONICAL_FPS, gt=0, description="clips at another rate are resampled to this"
    )
    trim_invalid_leading_frames: bool = Field(
        False,
        description="drop leading frames with non-finite values or non-unit quaternions "
        "(InterMimic's refined files start with one) instead of rejecting the clip",
    )
    chunk_frames: int = Field(4096, ge=16, description="time chunk of the Zarr arrays")
    # Level 1 compresses MoCap floats as well as 3 (about 1.9x) in half the time.
    zstd_level: int = Field(1, ge=1, le=22, description="zstd compression level of the Zarr arrays")
    # Bounds on what one file may make ingest allocate, checked before allocating: a file
    # over a limit is a reject with its reason, the batch goes on.
    max_frames: int = Field(
        _DEFAULT_LIMITS.max_frames,
        ge=2,
        description="longest clip accepted, in frames, as declared by the file and after "
        "resampling",
    )
    min_fps: float = Field(
        _DEFAULT_LIMITS.min_fps, gt=0, description="lowest source frame rate accepted"
    )
    max_fps: float = Field(
        _DEFAULT_LIMITS.max_fps, gt=0, description="highest source frame rate accepted"
    )
    max_file_bytes: int = Field(
        _DEFAULT_LIMITS.max_file_bytes,
        ge=1,
        description="largest clip file read, and largest total of an archive's members unpacked",
    )
    max_array_bytes: int = Field(
        _DEFAULT_LIMITS.max_array_bytes,
        ge=1,
        description="largest array one file may declare, in bytes once decoded",
    )

    @model_validator(mode="after")
    def _consistent_limits(self) -> Self:
        if self.min_fps > self.max_fps:
            raise ValueError(f"min_fps {self.min_fps:g} is above max_fps {self.max_fps:g}")
        if not self.min_fps <= self.fps <= self.max_fps:
            raise ValueError(
                f"fps {self.fps:g} is outside [min_fps, max_fps] = "
                f"[{self.min_fps:g}, {self.max_fps:g}]"
            )
        if self.min_frames > self.max_frames:
            raise ValueError(f"min_frames {self.min_frames} is above max_frames {self.max_frames}")
        return self

    def limits(self) -> ReadLimits:
        """The bounds readers check declared sizes against (:mod:`intermimic.motion.limits`)."""
        return ReadLimits(
            max_frames=self.max_frames,
            min_fps=self.min_fps,
            max_fps=self.max_fps,
            max_file_bytes=self.max_file_bytes,
            max_array_bytes=self.max_array_bytes,
        )
