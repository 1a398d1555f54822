"""``refine_subject`` judges every clip against InterMimic's refinement of it, where a file
of the clip is in the reference folder: report, ``refine.json``, catalog, the rollout
group's record and a published version (tiny synthetic teacher, 4 worlds)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from data_catalog import Catalog, Store
from data_catalog.refined_layout import ROLLOUT
from data_catalog.runs import REFINE_FILE, teacher_dir
from intermimic.contact.artifacts import ARTIFACT_FIGURES
from intermimic.motion.formats.interact_pt import encode
from intermimic.motion.synthetic import write_synthetic_objects
from intermimic.objects import ObjectLibrary
from intermimic.rl.teacher_settings import TeacherSettings
from stages.publish import CHECK_QUALITY, PublishSettings, publish_refined
from stages.refine import REFINED_STAGE, refine_subject
from stages.refine_quality import INTERMIMIC_STAGE_SUFFIX, ReferenceSettings, quality_verdict
from stages.teacher import train_subject_teacher
from tests.synthetic_store import two_clip_store

TINY = TeacherSettings(
    recipe="ppo",  # trains without plans (the cpu default plans first)
    env_steps=2 * 4 * 8,
    worlds=4,
    horizon=8,
    hidden_dims=[32],
    checkpoint_interval=2,
    sim_threads=1,
    attempts=1,
    tensorboard=False,
)
JUDGED = "s1_box_000"  # the clip InterMimic's folder has


def _write_reference(folder: Path, clip_id: str, store: Store) -> None:
    """The raw clip as an InterAct file after an invalid placeholder row, as InterMimic's
    refined files come (its refinement here is the MoCap itself)."""
    raw = store.read_clip("lab", "s1", clip_id)
    x = encode(raw)
    x = np.concatenate([np.zeros_like(x[:1]), x])  # row 0: zero quaternions, invalid
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(torch.from_numpy(x), folder / f"{clip_id}.pt")


def test_refine_records_intermimic_figures_and_verdicts(tmp_path: Path) -> None:
    store, _ = two_clip_store(tmp_path / "store", frames=30)
    objects = ObjectLibrary(write_synthetic_objects(tmp_path / "objects"))
    ref_dir = tmp_path / "refined_by_intermimic"
    _write_reference(ref_dir, JUDGED, store)
    train_subject_teacher(store, "lab", "s1", TINY, objects, evaluate=False)

    rep = refine_subject(
        store, "lab", "s1", TINY, objects, reference=ReferenceSettings(reference_dir=str(ref_dir))
    )
    assert rep.reference_dir == str(ref_dir)
    assert set(rep.intermimic) == {JUDGED} and rep.intermimic_coverage() == (1, 2)
    assert all(math.isfinite(rep.intermimic[JUDGED][f]) for f in ARTIFACT_FIGURES)
    assert set(rep.verdicts) == set(rep.tracking)
    for cid, v in rep.verdicts.items():
        success = rep.tracking[cid]["success"] >= 0.5
        assert v == quality_verdict(
            success, rep.before[cid], rep.after[cid], rep.intermimic.get(cid)
        )
        assert v.against_intermimic == (cid == JUDGED)
        assert (v.name == "partial") == (not success)
    assert "intermimic" in rep.comparison()["jitter_body"]

    doc = json.loads((teacher_dir(store, "lab", "s1") / REFINE_FILE).read_text())
    assert doc["intermimic_reference"] == str(ref_dir) and doc["intermimic_clips"] == 1
    assert sum(doc["verdicts"].values()) == 2
    assert doc["clips"][JUDGED]["verdict"] == rep.verdicts[JUDGED].name
    assert set(doc["clips"][JUDGED]["intermimic"]) == set(ARTIFACT_FIGURES)
    assert doc["clips"]["s1_box_001"]["intermimic"] == {}

    cat = Catalog(store.root)
    im = cat.figures(REFINED_STAGE + INTERMIMIC_STAGE_SUFFIX)
    assert set(im["clip"]) == {JUDGED}
    wide = cat.figures_wide(REFINED_STAGE).set_index("clip")
    for cid, v in rep.verdicts.items():
        assert wide.loc[cid, f"verdict_{v.name}"] == 1.0
    attrs = store.series_attrs("lab-refined", "s1", ROLLOUT)
    assert attrs["quality"][JUDGED]["verdict"] == rep.verdicts[JUDGED].name

    # published: the check reads the records the refine stage left with the clips
    pub = publish_refined(store, PublishSettings(min_success_ratio=0.0))
    check = next(c for c in pub.checks if c.name == CHECK_QUALITY)
    assert sum(check.metadata["counts"].values()) == 2
    assert check.metadata["against_intermimic"] == 1
    clip = next(c for c in pub.manifest["clips"] if c["clip"] == JUDGED)
    assert clip["verdict"] == rep.verdicts[JUDGED].name
    assert clip["figures_intermimic"] == doc["clips"][JUDGED]["intermimic"]

    # refined again without the comparison: InterMimic's old figures leave the catalog
    again = refine_subject(
        store, "lab", "s1", TINY, objects, reference=ReferenceSettings(reference=False)
    )
    assert again.reference_dir is None and not again.intermimic
    assert cat.figures(REFINED_STAGE + INTERMIMIC_STAGE_SUFFIX).empty
