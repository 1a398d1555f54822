"""Which MoCap subjects a stage works on, and a subject's trackable clips."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from data_catalog.refined_layout import (
    REFINED_SUFFIX,
)
from data_catalog.store import Store
from intermimic.errors import StoreError
from intermimic.rl.clipset import ClipSet, prepare_clips
from intermimic.rl.teacher_settings import NoClipsError, TeacherSettings


def resolve_subject(store: Store, subject: str, dataset: str | None = None) -> tuple[str, str]:
    """The ``(dataset, subject)`` of a MoCap subject (refined datasets are skipped);
    :class:`NoClipsError` when it has no clips, :class:`StoreError` when ambiguous."""
    pairs = [
        (d, s)
        for d, s in store.subjects(dataset)
        if s == subject and not d.endswith(REFINED_SUFFIX)
    ]
    if not pairs:
        raise NoClipsError(
            f"subject {subject!r} has no ok clips in {store.root}"
            + (f" (dataset {dataset!r})" if dataset else "")
            + "; ingest its MoCap first"
        )
    if len(pairs) > 1:
        raise StoreError(
            f"subject {subject!r} is in several datasets ({', '.join(d for d, _ in pairs)}); "
            "name one with --dataset"
        )
    return pairs[0]


def subject_clipset(
    store: Store, dataset: str, subject: str, settings: TeacherSettings, objects: Any = None
) -> ClipSet:
    """The subject's trackable clips (:class:`NoClipsError` if none)."""
    from intermimic.objects import ObjectLibrary

    try:
        clips = store.read_subject(dataset, subject)
    except StoreError as exc:
        raise NoClipsError(f"subject {dataset}/{subject} has no ok clips: {exc}") from None
    if not clips:
        raise NoClipsError(f"subject {dataset}/{subject} has no ok clips in {store.root}")
    return prepare_clips(
        clips, objects or ObjectLibrary(), settings, where=f"subject {dataset}/{subject}"
    )


def mocap_subjects(
    store: Store, datasets: Sequence[str] | None = None, subjects: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """``(dataset, subject)`` of every MoCap subject (refined datasets excluded)."""
    pairs = [
        (d, s)
        for d, s in store.subjects()
        if not d.endswith(REFINED_SUFFIX)
        and (not datasets or d in datasets)
        and (not subjects or s in subjects)
    ]
    if not pairs:
        raise NoClipsError(f"no MoCap subjects in {store.root}; ingest some first")
    return pairs
