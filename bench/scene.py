"""Scene compile time with a cold and a warm convex-decomposition cache.

Prints one JSON line. Uses the sample object (``$INTERMIMIC_SHARED_DATA/objects``,
default ``../shared/data/objects``) and the project's humanoid builder; a temporary
cache folder makes the first build cold. Goal: cached build < 0.5 s.

    python bench/scene.py [--object largetable]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings

from intermimic.objects import NonWatertightMeshWarning, ObjectLibrary, default_objects_dir
from intermimic.sim import build_scene
from intermimic.viz.render import default_humanoid


def build_seconds(obj_name: str, cache: str) -> tuple[float, int]:
    """Seconds for object (mesh, decomposition, mass, points) + scene compile; parts count."""
    t0 = time.perf_counter()
    obj = ObjectLibrary(cache_dir=cache).get(obj_name)
    scene = build_scene(default_humanoid(), obj)
    return time.perf_counter() - t0, len(scene.object_geom_ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--object", default="largetable")
    args = parser.parse_args()
    if default_objects_dir() is None:
        print(json.dumps({"bench": "scene", "skipped": "no objects folder"}))
        sys.exit(0)
    warnings.simplefilter("ignore", NonWatertightMeshWarning)
    with tempfile.TemporaryDirectory() as cache:
        cold, ngeom = build_seconds(args.object, cache)
        warm = min(build_seconds(args.object, cache)[0] for _ in range(3))
    print(
        json.dumps(
            {
                "bench": "scene",
                "object": args.object,
                "object_geoms": ngeom,
                "cold_s": round(cold, 3),
                "cached_s": round(warm, 3),
                "goal_cached_s": 0.5,
                "ok": warm < 0.5,
            }
        )
    )


if __name__ == "__main__":
    main()
