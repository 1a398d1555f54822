"""Batch ingestion: MoCap files -> validated canonical clips -> the store and catalog.

A bad file never stops the batch: whatever goes wrong with one file (a bad header, a
size over the limits, an unreadable path, an exception nobody expected) is recorded in
the catalog as a reject with its reason and the other files go on. Only a store that
cannot be written stops the batch (:class:`~intermimic.errors.StoreError`).

What is stored is decided by the store, not the catalog: a file is unchanged when its
subject's live generation holds its clip with the same hash. After writing, the
catalog's ok rows of every subject touched are reconciled with the store
(:func:`data_catalog.reconcile.reconcile_catalog`), so a deleted or stale catalog, or
an ingest killed between the data and the catalog, heals on the next run.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from data_catalog.catalog import STATUS_REJECTED, Catalog, CatalogRow
from data_catalog.reconcile import ReconcileReport, reconcile_catalog
from data_catalog.store import Store, SubjectWrite
from intermimic.errors import DuplicateError, InputError, InterMimicError, StoreError
from intermimic.motion.clip import HOIClip
from intermimic.motion.formats import available_formats, format_for_path, get_format
from intermimic.motion.limits import using_limits
from intermimic.motion.load import decode_clip, read_bytes, resolve_format
from intermimic.motion.names import is_plain_name
from intermimic.motion.settings import IngestSettings

ClipKey = tuple[str, str, str]  # dataset, subject, clip id


@dataclass(frozen=True)
class Reject:
    """A file that was not ingested, and why."""

    path: str
    clip: str
    reason: str
    subject: str | None = None
    sha256: str | None = None  # of the file's bytes, when they could be read


@dataclass
class IngestReport:
    """What one ingest did: clips written, clips unchanged, rejects, subjects touched."""

    ingested: list[HOIClip] = field(default_factory=list)  # added or replaced
    unchanged: list[str] = field(default_factory=list)
    rejected: list[Reject] = field(default_factory=list)
    writes: list[SubjectWrite] = field(default_factory=list)
    catalog: ReconcileReport | None = None  # the reconciliation of the touched subjects

    @property
    def frames(self) -> int:
        return sum(c.n_frames for c in self.ingested)

    @property
    def n_ok(self) -> int:
        return len(self.ingested) + len(self.unchanged)

    def summary(self) -> dict[str, int]:
        return {
            "ingested": len(self.ingested),
            "unchanged": len(self.unchanged),
            "rejected": len(self.rejected),
            "frames": self.frames,
        }


def _is_dir(p: Path) -> bool:
    try:
        return p.is_dir()
    except OSError:  # a path we may not even stat: ingest records it as a reject
        return False


def discover(sources: Iterable[str | Path], format: str | None = None) -> list[Path]:
    """Files to ingest: each source file as given, each folder searched recursively.

    In a folder only files with a known suffix are taken (those of ``format`` if given);
    hidden files and folders are skipped. Missing or unreadable sources are returned
    as-is so that ingestion records them as rejects.
    """
    suffixes = (
        get_format(format).suffixes
        if format
        else tuple(s for name in available_formats() for s in get_format(name).suffixes)
    )
    found: list[Path] = []
    for src in sources:
        p = Path(src)
        if _is_dir(p):
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p).parts
                if any(part.startswith(".") for part in rel):
                    continue
                try:
                    if f.is_file() and f.name.lower().endswith(suffixes):
                        found.append(f)
                except OSError:
                    continue
        else:
            found.append(p)
    return list(dict.fromkeys(found))


def _names(path: Path, format: str | None) -> tuple[str, str | None]:
    """Best-effort (clip, subject) of a file for a reject row."""
    try:
        fmt = get_format(format) if format else format_for_path(path)
        names = fmt.identify(path) if fmt else {}
    except Exception:  # whatever the reader makes of a bad file, the reject is recorded
        names = {}
    stem = path.name.split(".")[0] or path.name
    subject = names.get("subject")
    return names.get("clip_id", stem), subject if is_plain_name(subject) else None


def _reason(exc: BaseException) -> str:
    """The reject reason of an exception: ours say it, any other by its type and text."""
    if isinstance(exc, InputError):
        return exc.reason
    if isinstance(exc, InterMimicError):  # an unknown format, an unsafe name
        return str(exc)
    text = str(exc).strip().splitlines()
    first = text[0][:300] if text else ""
    return f"unexpected error reading the file: {type(exc).__name__}" + (
        f": {first}" if first else ""
    )


def _stored_clips(store: Store) -> dict[ClipKey, str]:
    """Every clip of every subject's live generation, with its source hash."""
    out: dict[ClipKey, str] = {}
    for ds, subj in store.subjects():
        try:
            entries = store.index(ds, subj)
        except StoreError:  # a damaged subject: its own write will say so
            continue
        for e in entries:
            out[(ds, subj, e.clip_id)] = e.sha256
    return out


def _subject_bodies(store: Store, dataset: str, subject: str) -> int | None:
    try:
        if store.generation_path(dataset, subject) is None:
            return None
        n = store.open_subject(dataset, subject).attrs.get("n_bodies")
    except StoreError:
        return None
    return int(n) if isinstance(n, int) else None


def ingest(
    sources: Sequence[str | Path],
    store: Store | str | Path,
    settings: IngestSettings | None = None,
    *,
    on_file: Callable[[Path], None] | None = None,
) -> IngestReport:
    """Ingest every clip file under ``sources`` into ``store``.

    Unchanged files (same subject, clip id and content hash as in the store) change
    nothing; a changed file replaces its clip; the same content under another clip id is
    rejected as a duplicate. Each subject is written as a whole new generation,
    atomically; then the catalog's rows of the subjects touched are reconciled with the
    store and the rejects recorded.
    """
    s = settings or IngestSettings()
    store = store if isinstance(store, Store) else Store(store)
    store.ensure()
    catalog = Catalog(store.root)
    stored_sha = _stored_clips(store)
    seen_sha: dict[str, str] = {}
    for (ds, subj, cid), sha in sorted(stored_sha.items()):
        seen_sha.setdefault(sha, f"{ds}/{subj}/{cid}")

    report = IngestReport()
    by_subject: dict[tuple[str, str], list[HOIClip]] = defaultdict(list)
    ok_keys: set[ClipKey] = set()
    ok_paths: set[str] = set()

    stored_in: dict[tuple[str, str], set[str]] = defaultdict(set)  # (dataset, clip) -> subjects
    for ds, subj, cid in stored_sha:
        stored_in[(ds, cid)].add(subj)

    def reject(path: Path, reason: str, data_sha: str | None) -> None:
        clip_name, subject = _names(path, s.format)
        holders = stored_in.get((s.dataset, clip_name), set())
        if holders if subject is None else subject in holders:
            reason += " (the stored version of this clip is kept)"
        report.rejected.append(Reject(str(path), clip_name, reason, subject, data_sha))

    with using_limits(s.limits()):
        for path in discover(sources, s.format):
            if on_file:
                on_file(path)
            data: bytes | None = None
            try:
                data = read_bytes(path)
                fmt = resolve_format(path, s.format)
                clip = decode_clip(data, path, fmt, s)
                key = (clip.meta.dataset, clip.meta.subject, clip.meta.clip_id)
                sha = clip.meta.source_sha256
                where = "/".join(key)
                if sha in seen_sha and seen_sha[sha] != where:
                    raise DuplicateError(
                        f"same content (sha256 {sha[:12]}…) as clip {seen_sha[sha]}", path
                    )
                seen_sha[sha] = where
                if stored_sha.get(key) == sha:
                    report.unchanged.append(clip.meta.clip_id)
                    ok_keys.add(key)
                    ok_paths.add(str(path))
                    continue
                by_subject[(clip.meta.dataset, clip.meta.subject)].append(clip)
            except Exception as exc:  # one file never stops the batch, whatever it raises
                reject(path, _reason(exc), hashlib.sha256(data).hexdigest() if data else None)

    for (dataset, subject), clips in sorted(by_subject.items()):
        n_bodies = _subject_bodies(store, dataset, subject) or clips[0].n_bodies
        for c in [c for c in clips if c.n_bodies != n_bodies]:
            report.rejected.append(
                Reject(
                    c.meta.source_path,
                    c.meta.clip_id,
                    f"has {c.n_bodies} bodies, the clips of {dataset}/{subject} have {n_bodies}",
                    subject,
                    c.meta.source_sha256,
                )
            )
        clips = [c for c in clips if c.n_bodies == n_bodies]
        write = store.upsert_clips(
            dataset, subject, clips, chunk_frames=s.chunk_frames, zstd_level=s.zstd_level
        )
        report.writes.append(write)
        changed = set(write.added) | set(write.replaced)
        for c in clips:
            ok_keys.add((dataset, subject, c.meta.clip_id))
            ok_paths.add(c.meta.source_path)
            if c.meta.clip_id in changed:
                report.ingested.append(c)
            else:
                report.unchanged.append(c.meta.clip_id)

    touched = sorted({(d, subj) for d, subj, _ in ok_keys})
    if touched:
        report.catalog = reconcile_catalog(store, touched)
    rows = [
        CatalogRow(
            dataset=s.dataset,
            clip=r.clip,
            status=STATUS_REJECTED,
            subject=r.subject,
            source_path=r.path,
            sha256=r.sha256,
            reason=r.reason,
        )
        for r in report.rejected
    ]
    if rows or ok_keys:
        catalog.record_rejects(rows, resolved=ok_keys, resolved_paths=ok_paths)
    return report
