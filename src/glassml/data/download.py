"""Download public datasets (GlassBench, Bapst et al.) into the layout the dataset configs read.

Built on pooch (hash registry, cache: a verified file is never fetched twice) with one
addition pooch lacks: resuming an interrupted download. `ResumableHTTPDownloader`
streams into `<file>.part` and continues it with an HTTP Range request on the next run;
the file gets its final name only once it is complete and its checksum (when the
registry has one) matches. A checksum mismatch moves the data to `<file>.corrupt`, so
it is never taken for a good download; a download that stops early stays `.part`.

Sources are configured in conf/download/*.yaml (`glassml-data download <name>`).
Registry entries without a hash are downloaded *unverified*: the SHA256 is printed
and recorded in the manifest so that it can be pinned in the registry.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pooch
from pooch.hashes import hash_algorithm, hash_matches

from glassml.data.extract import ArchiveError, extract, extract_nested, extracted
from glassml.io import atomic_write_text

log = logging.getLogger(__name__)

CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download failed, was interrupted or did not verify; the message says what to do."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a source: where it comes from, where it goes, how it is checked."""

    name: str  # path relative to the destination directory
    url: str
    known_hash: str | None  # pooch format: "sha256:...", "md5:..."; None = unverified
    size: int | None = None
    extract: bool = False


def _parse_total(content_range: str | None) -> int | None:
    m = re.match(r"bytes\s+(\d+|\*)-?(\d*)/(\d+|\*)", content_range or "")
    return int(m.group(3)) if m and m.group(3) != "*" else None


def _range_start(content_range: str | None) -> int | None:
    m = re.match(r"bytes\s+(\d+)-", content_range or "")
    return int(m.group(1)) if m else None


class ResumableHTTPDownloader:
    """pooch downloader: HTTP(S) GET into a stable `.part` file, resumed with Range requests.

    pooch calls it with a temporary output name; the data accumulate in `part` (which
    survives interruptions) and are moved to the output only when complete and, if
    `known_hash` is given, verified.
    """

    def __init__(
        self,
        part: Path,
        known_hash: str | None = None,
        size: int | None = None,
        progressbar: bool = True,
        timeout: float = 60.0,
    ) -> None:
        self.part = Path(part)
        self.known_hash = known_hash
        self.size = size
        self.progressbar = progressbar
        self.timeout = timeout

    @property
    def corrupt(self) -> Path:
        return self.part.with_name(self.part.name.removesuffix(".part") + ".corrupt")

    def _set_aside(self) -> None:
        os.replace(self.part, self.corrupt)

    def __call__(self, url: str, output_file: Any, pooch_obj: Any = None, check_only=False):
        import requests

        if check_only:
            try:
                return requests.head(url, timeout=self.timeout, allow_redirects=True).ok
            except requests.RequestException:
                return False
        self.part.parent.mkdir(parents=True, exist_ok=True)
        offset = self.part.stat().st_size if self.part.exists() else 0
        if self.size is not None and offset > self.size:
            log.warning("%s is larger than the registry size; starting again", self.part)
            self._set_aside()
            offset = 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            resp = requests.get(url, headers=headers, stream=True, timeout=self.timeout)
        except requests.RequestException as exc:
            raise DownloadError(f"cannot reach {url}: {exc}") from exc
        with resp:
            total: int | None
            if resp.status_code == 416 and offset:
                total = _parse_total(resp.headers.get("Content-Range"))
                if total != offset:  # the partial file does not belong to this remote file
                    self._set_aside()
                    raise DownloadError(
                        f"{self.part} ({offset} bytes) does not match {url} (size {total}); "
                        f"it was moved to {self.corrupt}; run again to download from scratch"
                    )
            elif resp.status_code == 206:
                if _range_start(resp.headers.get("Content-Range")) != offset:
                    raise DownloadError(f"{url}: the server answered a different byte range")
                total = _parse_total(resp.headers.get("Content-Range"))
                log.info("resuming %s at byte %d", self.part.name, offset)
                self._stream(resp, "ab", offset, total, url)
            elif resp.status_code == 200:
                length = resp.headers.get("Content-Length")
                total = int(length) if length is not None else None
                self._stream(resp, "wb", 0, total, url)  # no Range support: from scratch
            else:
                raise DownloadError(f"{url}: HTTP {resp.status_code} {resp.reason}")
        size = self.part.stat().st_size
        expected = self.size if self.size is not None else total
        if expected is not None and size < expected:
            raise DownloadError(
                f"{url}: download stopped at {size} of {expected} bytes; the partial file is "
                f"kept at {self.part}: run the same command again to resume"
            )
        if expected is not None and size > expected:
            self._set_aside()
            raise DownloadError(
                f"{url}: got {size} bytes, expected {expected}; moved to {self.corrupt}"
            )
        self.verify()
        os.replace(self.part, output_file)

    def _stream(self, resp: Any, mode: str, offset: int, total: int | None, url: str) -> None:
        import requests
        from tqdm.auto import tqdm

        done = offset
        bar = tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=self.part.name.removesuffix(".part"),
            disable=not self.progressbar,
        )
        try:
            with open(self.part, mode) as fh, bar:
                for chunk in resp.iter_content(chunk_size=CHUNK):
                    fh.write(chunk)
                    done += len(chunk)
                    bar.update(len(chunk))
                fh.flush()
                os.fsync(fh.fileno())
        except (requests.RequestException, OSError) as exc:
            raise DownloadError(
                f"{url}: interrupted after {done} bytes ({exc}); the partial file is kept at "
                f"{self.part}: run the same command again to resume"
            ) from exc

    def verify(self) -> None:
        """Check the complete `.part` against the registry hash; set it aside on mismatch."""
        if self.known_hash is None:
            return
        if not hash_matches(str(self.part), self.known_hash):
            algo = hash_algorithm(self.known_hash)
            got = pooch.file_hash(str(self.part), alg=algo)
            self._set_aside()
            raise DownloadError(
                f"checksum mismatch for {self.part.name.removesuffix('.part')}: expected "
                f"{self.known_hash}, got {algo}:{got}. The data were moved to {self.corrupt} "
                "and will not be used; run again to download afresh, or fix the registry "
                "entry if the published file changed"
            )


def fetch(remote: RemoteFile, dest: Path, progressbar: bool = True) -> Path:
    """Download one file into `dest` through pooch (skipped when present and verified)."""
    target = dest / remote.name
    target.parent.mkdir(parents=True, exist_ok=True)
    downloader = ResumableHTTPDownloader(
        target.with_name(target.name + ".part"), remote.known_hash, remote.size, progressbar
    )
    path = pooch.retrieve(
        url=remote.url,
        known_hash=remote.known_hash,
        fname=target.name,
        path=target.parent,
        downloader=downloader,
    )
    return Path(path)


def expand_files(
    files: Sequence[Mapping[str, Any]],
    base_url: str,
    url_suffix: str = "",
    registry: Mapping[str, str | None] | None = None,
    limit: int | None = None,
) -> list[RemoteFile]:
    """Config entries -> `RemoteFile`s; `{i}` in a name runs over `range: [first, last]`."""
    registry = dict(registry or {})
    out = []
    for entry in files:
        name = str(entry["name"])
        rng = entry.get("range")
        if rng is not None and "{i}" not in name:
            raise ValueError(f"download.files entry '{name}' has a range but no '{{i}}'")
        names = [name] if rng is None else [name.format(i=i) for i in range(rng[0], rng[1] + 1)]
        if limit is not None:
            names = names[:limit]
        for n in names:
            url = entry.get("url") or f"{base_url.rstrip('/')}/{n}{url_suffix}"
            out.append(
                RemoteFile(n, url, registry.get(n), entry.get("size"), bool(entry.get("extract")))
            )
    return out


def check_layout(dest: Path, expect: Sequence[str]) -> None:
    """Every glob in `expect` must match at least one file under `dest`."""
    missing = [p for p in expect if not any(dest.glob(p))]
    if missing:
        found = sorted(str(p.relative_to(dest)) for p in dest.glob("*/*") if p.is_dir())[:20]
        raise DownloadError(
            f"{dest}: after extraction no files match {missing} (download.expect), so the "
            f"dataset configs would not find them. Found: {found or 'nothing'}. The archive "
            "layout differs from the one configured: adjust download.nested/expect"
        )


def download(
    name: str,
    dest: str | Path,
    files: Sequence[Mapping[str, Any]],
    base_url: str = "",
    url_suffix: str = "",
    registry: Mapping[str, str | None] | None = None,
    nested: Sequence[str] = (),
    expect: Sequence[str] = (),
    require_hash: bool = False,
    keep_download: bool = True,
    limit: int | None = None,
    progressbar: bool = True,
    optional_parts: Mapping[str, Mapping[str, Any]] | None = None,
    **info: Any,
) -> dict[str, Any]:
    """Fetch, verify and extract one source; write `dest/.glassml-download-<name>.json`.

    `optional_parts` ({name: {enabled, members: [globs]}}): the members of a part that is
    not enabled stay inside the archive, not unpacked (e.g. GlassBench's 2D trajectories).

    Returns the manifest: every file with its URL, SHA256 and whether a registry hash
    verified it. Extra keyword arguments (doi, description, ...) go into the manifest.
    """
    dest = Path(dest)
    parts = dict(optional_parts or {})
    exclude = [m for part in parts.values() if not part.get("enabled") for m in part["members"]]
    remotes = expand_files(files, base_url, url_suffix, registry, limit)
    unpinned = [r.name for r in remotes if r.known_hash is None]
    if require_hash and unpinned:
        raise DownloadError(
            f"download.require_hash=true but the registry has no hash for {unpinned[:5]}"
            f"{' ...' if len(unpinned) > 5 else ''}; fill download.registry"
        )
    manifest_path = dest / f".glassml-download-{name}.json"
    entries = []
    for r in remotes:
        target = dest / r.name
        done = r.extract and manifest_path.is_file() and not target.exists() and not keep_download
        if done:  # extracted earlier and the archive deleted on purpose
            entries.append({"name": r.name, "url": r.url, "note": "extracted earlier"})
            continue
        path = fetch(r, dest, progressbar)
        digest = pooch.file_hash(str(path))
        if r.known_hash is None:
            log.warning(
                "UNVERIFIED %s: the registry has no hash for it; its sha256 is %s (pin it in "
                "download.registry)",
                r.name,
                digest,
            )
        entries.append(
            {"name": r.name, "url": r.url, "sha256": digest, "verified": r.known_hash is not None}
        )
    for archive in (dest / r.name for r in remotes if r.extract):
        if not archive.exists():
            continue
        if not extracted(archive, dest, exclude):
            log.info("extracting %s%s", archive, f" without {exclude}" if exclude else "")
            try:
                extract(archive, dest, exclude=exclude)
            except ArchiveError as exc:
                # never reuse it as complete: back to .part, so the next run resumes it
                part = archive.with_name(archive.name + ".part")
                os.replace(archive, part)
                raise DownloadError(
                    f"{exc}. It was renamed to {part} so that the next run resumes the "
                    "download instead of trusting it; if this repeats, delete that file"
                ) from exc
        extract_nested(dest, list(nested))
        if not keep_download:
            archive.unlink()
    check_layout(dest, expect)
    manifest = {"source": name, **info, "dest": str(dest), "files": entries}
    if parts:
        manifest["optional_parts"] = {k: bool(v.get("enabled")) for k, v in parts.items()}
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2) + "\n")
    n_unverified = sum(1 for e in entries if e.get("verified") is False)
    if n_unverified:
        log.warning("%d of %d files are unverified (no registry hash)", n_unverified, len(entries))
    log.info("%s ready in %s", name, dest)
    return manifest
