"""Agreement of our +1 labels with the sample's own labels."""

from __future__ import annotations

import numpy as np
import pytest

from intermimic.contact import annotate, confusion, label_agreement, scores_from_confusion


def test_label_agreement_counts():
    truth = np.full((2, 52), -1, np.int8)
    pred = truth.copy()
    truth[:, 17] = 1  # left wrist (hands)
    pred[0, 17] = 1  # one hit, one miss
    pred[:, 3] = 1  # left ankle (feet): two false positives
    s = label_agreement(pred, truth)
    assert s["hands"]["precision"] == 1.0 and s["hands"]["recall"] == 0.5
    assert s["hands"]["f1"] == pytest.approx(2 / 3) and s["hands"]["support"] == 2
    assert s["feet"]["precision"] == 0.0 and np.isnan(s["feet"]["recall"])
    with pytest.raises(ValueError):
        label_agreement(pred[:, :51], truth[:, :51])


def test_hand_labels_agree_with_the_sample(sample_clips, sample_scenes):
    totals: dict[str, tuple[int, int, int]] = {}
    flag_agree = 0
    for clip in sample_clips:
        ann = annotate(clip, sample_scenes[clip.meta.object_name])
        for k, v in confusion(ann.labels, clip.contact).items():
            totals[k] = tuple(np.add(totals.get(k, (0, 0, 0)), v))
        flag_agree += int((ann.obj_contact == clip.obj_contact).sum())
    scores = scores_from_confusion(totals)
    n = sum(c.n_frames for c in sample_clips)
    assert n == 5834
    # Measured 0.8504 at InterAct's 5 mm margin (0.899 at 1 cm); the goal is 0.85.
    assert scores["hands"]["f1"] >= 0.845
    assert flag_agree / n > 0.95
