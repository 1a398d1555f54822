"""``store_verified``: ``intermimic verify`` as a Dagster asset check.

A store-level check, attached to the last asset of the ``publish_export`` job
(``hoi_dataset_export``): after a publish and export it verifies the whole store (layout,
every generation's checksums, catalog against store, published versions, leftovers of
killed writers) and lists each problem with how to repair it.
"""

# No "from __future__ import annotations": Dagster resolves the resource annotation at runtime.

import dagster as dg

from assets_defs.dataset import hoi_dataset_export
from assets_defs.resources import StoreResource


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


STORE_CHECK = "store_verified"


@dg.asset_check(
    asset=hoi_dataset_export,
    name=STORE_CHECK,
    description="the whole store verifies (intermimic verify): layout, every generation's "
    "checksums, catalog against store, published versions, no leftovers of killed writers",
)
def store_verified(store: StoreResource) -> dg.AssetCheckResult:
    from stages.verify import DAMAGED, verify_store

    root = store.store().root
    if not root.is_dir():
        return dg.AssetCheckResult(passed=True, description="no store yet")
    report = verify_store(root)
    damaged = [p for p in report.problems if p.kind == DAMAGED]
    rows = [
        f"| {p.kind} | {_md(p.path)} | {_md(p.what)} | {_md(p.repair)} |"
        for p in report.problems[:50]
    ]
    head = ["| kind | file | what is wrong | how to repair |", "| --- | --- | --- | --- |"]
    table = "\n".join([*head, *rows]) if rows else "No problems."
    return dg.AssetCheckResult(
        passed=report.clean,
        severity=dg.AssetCheckSeverity.ERROR if damaged else dg.AssetCheckSeverity.WARN,
        description=None if report.clean else report.summary_line(),
        metadata={
            "problems": len(report.problems),
            "damaged": len(damaged),
            "checked": dg.MetadataValue.json(report.checked),
            "report": dg.MetadataValue.md(table),
        },
    )
