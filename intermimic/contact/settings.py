"""Thresholds of contact annotation and of the artifact report, as one pydantic model.

Defaults follow InterAct's labelling rules (see ``../shared/data/README.md``): a body is
+1 when it lies within (minimum body-object distance + 5 mm) of the object, 1 cm when
the object is not in contact; -1 when it is more than 0.1 m away; the object flag is on
when the minimum distance is under 2 cm, or the object is off the ground and not in
free fall, and forced off beyond 0.1 m.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

GRAVITY = 9.81  # m/s^2


class ContactSettings(BaseModel):
    """Settings of :func:`intermimic.contact.annotate` and
    :func:`intermimic.contact.artifact_report`. Lengths in m, speeds in m/s."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pose_source: Literal["clip", "fk"] = Field(
        default="clip",
        description="body poses: 'clip' = the clip's body_pos/body_quat (the captured "
        "subject, as the labels were made); 'fk' = FK of the clip's joint angles over the "
        "scene's humanoid (what a simulation replays)",
    )
    # ---- body-object distances ----
    refine: bool = Field(
        default=False,
        description="replace surface-point distances under refine_within by MuJoCo's "
        "exact signed geom distance to the object's convex parts",
    )
    refine_within: float = Field(default=0.05, gt=0)
    chunk_frames: int = Field(default=64, gt=0, description="frames per vectorised batch")
    # ---- body labels ----
    label_groups: Literal["smplx_parts", "body"] = Field(
        default="smplx_parts",
        description="'smplx_parts': like InterAct's labels, which come from SMPL-X's "
        "vertex segmentation, each hand's wrist and thumb share one label and its other "
        "four fingers another (the group's minimum distance decides); 'body': every "
        "body on its own",
    )
    contact_margin: float = Field(
        default=0.005,
        ge=0,
        description="+1 within (max(min distance, 0) + this) while the object flag is on",
    )
    free_contact_distance: float = Field(
        default=0.01, ge=0, description="+1 within this distance when the object is not held"
    )
    far_distance: float = Field(default=0.1, gt=0, description="-1 beyond this distance")
    # ---- object flag ----
    object_contact_distance: float = Field(
        default=0.02, ge=0, description="flag on when the minimum distance is under this"
    )
    object_release_distance: float = Field(
        default=0.1, gt=0, description="flag forced off beyond this minimum distance"
    )
    lift_height: float = Field(
        default=0.02, ge=0, description="object lowest point above this counts as lifted"
    )
    moving_speed: float | None = Field(
        default=None,
        ge=0,
        description="object speed above which it counts as moved (held) even on the "
        "ground; None: speed is not a cue for the flag (InterAct's rule)",
    )
    free_fall_tolerance: float = Field(
        default=3.0,
        gt=0,
        description="|object acceleration - g| below this (m/s^2) counts as free fall",
    )
    smooth_frames: int = Field(
        default=5, ge=1, description="moving-average window before differentiating the object"
    )
    # ---- flicker ----
    min_duration: int = Field(
        default=3, ge=1, description="label runs shorter than this (frames) are merged away"
    )
    # ---- artifact report ----
    support_distance: float = Field(
        default=0.02, ge=0, description="a lifted/moving object needs a body this close"
    )
    float_speed: float = Field(
        default=0.1, ge=0, description="object speed (m/s) that counts as moving for floating"
    )
    foot_contact_height: float = Field(
        default=0.02,
        description="a foot body within this of its floor level touches the ground",
    )
    jitter_order: int = Field(
        default=3, ge=1, le=6, description="finite-difference order of the jitter estimate"
    )
