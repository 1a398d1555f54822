"""Where the project finds data it does not own.

The real sample (OMOMO clips, object meshes, reference humanoid, robots) is read from
``$INTERMIMIC_SHARED_DATA`` or, by default, ``../shared/data`` beside the project
checkout. It is never copied into the project.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_VAR = "INTERMIMIC_SHARED_DATA"


def shared_data_dir() -> Path | None:
    """The sample data folder if it exists, else None."""
    env = os.environ.get(ENV_VAR)
    candidate = Path(env) if env else PROJECT_ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def sample_raw_dir() -> Path | None:
    """``omomo/raw`` of the sample, if present."""
    root = shared_data_dir()
    if root is None or not (root / "omomo" / "raw").is_dir():
        return None
    return root / "omomo" / "raw"


def sample_refined_dir() -> Path | None:
    """``omomo/refined_by_intermimic`` of the sample (InterMimic's own refinement of the
    raw clips, one ``<clip_id>.pt`` each), if present."""
    root = shared_data_dir()
    if root is None or not (root / "omomo" / "refined_by_intermimic").is_dir():
        return None
    return root / "omomo" / "refined_by_intermimic"
