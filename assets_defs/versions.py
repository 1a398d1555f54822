"""Code and data versions: how the UI knows what needs refreshing.

Every asset has a ``code_version``: bump it when the stage computes something different
from the same input (a new reward, a fixed bug), and Dagster marks what it made stale.
Stages report a ``data_version`` derived from what they wrote, content-addressed where
the store already is (a subject's Zarr generation name is a hash of its content, a
checkpoint's hash covers every file in it): re-running a stage that writes the same data
leaves its downstream fresh, while a changed teacher marks that subject's refined
rollouts stale, and nothing downstream re-runs until asked.
"""

from __future__ import annotations

import hashlib
import json

import dagster as dg


def data_version(*parts: object) -> dg.DataVersion:
    """A data version from JSON-able parts (order matters), 16 hex digits of SHA-256."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return dg.DataVersion(hashlib.sha256(blob.encode()).hexdigest()[:16])
