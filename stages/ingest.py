"""Batch ingestion: MoCap files -> validated canonical clips -> the store and catalog.

A bad file never stops the batch: its reason is recorded in the catalog as a reject
and the other files go on. Only a store that cannot be written stops the batch
(:class:`~intermimic.errors.StoreError`).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from data_catalog.catalog import STATUS_OK, STATUS_REJECTED, Catalog, CatalogRow
from data_catalog.store import Store, SubjectWrite
from intermimic.errors import DuplicateError, InputError, UnknownFormatError
from intermimic.motion.clip import HOIClip
from intermimic.motion.formats import available_formats, format_for_path, get_format
from intermimic.motion.load import decode_clip, read_bytes, resolve_format
from intermimic.motion.settings import IngestSettings


@dataclass(frozen=True)
class Reject:
    """A file that was not ingested, and why."""

    path: str
    clip: str
    reason: str
    subject: str | None = None


@dataclass
class IngestReport:
    """What one ingest did: clips written, clips unchanged, rejects, subjects touched."""

    ingested: list[HOIClip] = field(default_factory=list)  # added or replaced
    unchanged: list[str] = field(default_factory=list)
    rejected: list[Reject] = field(default_factory=list)
    writes: list[SubjectWrite] = field(default_factory=list)

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


def discover(sources: Iterable[str | Path], format: str | None = None) -> list[Path]:
    """Files to ingest: each source file as given, each folder searched recursively.

    In a folder only files with a known suffix are taken (those of ``format`` if given);
    hidden files and folders are skipped. Missing sources are returned as-is so that
    ingestion records them as rejects.
    """
    suffixes = (
        get_format(format).suffixes
        if format
        else tuple(s for name in available_formats() for s in get_format(name).suffixes)
    )
    found: list[Path] = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p).parts
                if any(part.startswith(".") for part in rel):
                    continue
                if f.is_file() and f.name.lower().endswith(suffixes):
                    found.append(f)
        else:
            found.append(p)
    return list(dict.fromkeys(found))


def _names(path: Path, format: str | None) -> tuple[str, str | None]:
    """Best-effort (clip, subject) of a file for a reject row."""
    try:
        fmt = get_format(format) if format else format_for_path(path)
        names = fmt.identify(path) if fmt else {}
    except (InputError, UnknownFormatError):
        names = {}
    stem = path.name.split(".")[0] or path.name
    return names.get("clip_id", stem), names.get("subject")


def ingest(
    sources: Sequence[str | Path],
    store: Store | str | Path,
    settings: IngestSettings | None = None,
    *,
    on_file: Callable[[Path], None] | None = None,
) -> IngestReport:
    """Ingest every clip file under ``sources`` into ``store``.

    Unchanged files (same clip id and content hash as in the store) change nothing; a
    changed file replaces its clip; the same content under another clip id is rejected
    as a duplicate. Each subject is written as a whole new generation, atomically.
    """
    s = settings or IngestSettings()
    store = store if isinstance(store, Store) else Store(store)
    store.ensure()
    catalog = Catalog(store.root)
    known = catalog.ok_clips()
    seen_sha: dict[str, str] = {
        sha: f"{ds}/{subj}/{clip}"
        for sha, ds, subj, clip in zip(
            known["sha256"], known["dataset"], known["subject"], known["clip"], strict=True
        )
    }
    stored_sha = {
        (ds, clip): sha
        for ds, clip, sha in zip(known["dataset"], known["clip"], known["sha256"], strict=True)
    }

    report = IngestReport()
    by_subject: dict[tuple[str, str], list[HOIClip]] = defaultdict(list)
    for path in discover(sources, s.format):
        if on_file:
            on_file(path)
        try:
            fmt = resolve_format(path, s.format)
            data = read_bytes(path)
            clip = decode_clip(data, path, fmt, s)
            key = (clip.meta.dataset, clip.meta.clip_id)
            sha = clip.meta.source_sha256
            where = f"{clip.meta.dataset}/{clip.meta.subject}/{clip.meta.clip_id}"
            if sha in seen_sha and seen_sha[sha] != where:
                raise DuplicateError(
                    f"same content (sha256 {sha[:12]}…) as clip {seen_sha[sha]}", path
                )
            seen_sha[sha] = where
            if stored_sha.get(key) == sha:
                report.unchanged.append(clip.meta.clip_id)
                continue
            by_subject[(clip.meta.dataset, clip.meta.subject)].append(clip)
        except (InputError, UnknownFormatError) as exc:
            clip_name, subject = _names(path, s.format)
            reason = getattr(exc, "reason", str(exc))
            if (s.dataset, clip_name) in stored_sha:
                reason += " (the stored version of this clip is kept)"
            report.rejected.append(Reject(str(path), clip_name, reason, subject))

    rows: list[CatalogRow] = []
    for (dataset, subject), clips in sorted(by_subject.items()):
        write = store.upsert_clips(
            dataset, subject, clips, chunk_frames=s.chunk_frames, zstd_level=s.zstd_level
        )
        report.writes.append(write)
        changed = set(write.added) | set(write.replaced)
        for c in clips:
            if c.meta.clip_id not in changed:
                report.unchanged.append(c.meta.clip_id)
                continue
            report.ingested.append(c)
            rows.append(
                CatalogRow(
                    dataset=dataset,
                    clip=c.meta.clip_id,
                    status=STATUS_OK,
                    subject=subject,
                    object=c.meta.object_name,
                    frames=c.n_frames,
                    seconds=c.seconds,
                    source_path=c.meta.source_path,
                    sha256=c.meta.source_sha256,
                    source_format=c.meta.source_format,
                )
            )
    for r in report.rejected:
        file_sha: str | None = None
        with contextlib.suppress(OSError):
            file_sha = hashlib.sha256(Path(r.path).read_bytes()).hexdigest()
        rows.append(
            CatalogRow(
                dataset=s.dataset,
                clip=r.clip,
                status=STATUS_REJECTED,
                subject=r.subject,
                source_path=r.path,
                sha256=file_sha,
                reason=r.reason,
            )
        )
    catalog.upsert(rows)
    return report
