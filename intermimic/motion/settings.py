"""Settings of ingestion. CLI options and Dagster config are built from this model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from intermimic.motion.clip import CANONICAL_FPS


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
