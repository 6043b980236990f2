"""`models download`: the manifest's files from the Hugging Face hub, checked by SHA-256."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embeddinggemma_rag.core.cancel import CancelToken, Progress, ProgressCallback
from embeddinggemma_rag.core.errors import Cancelled, ModelError, RagError
from embeddinggemma_rag.core.models import model_files
from embeddinggemma_rag.core.models.model_store import (
    ModelSpec,
    hash_cache,
    read_checksums,
    write_checksums,
)

QUARANTINE_DIR = "quarantine"
RETRY_HINT = (
    "Run `embeddinggemma-rag models download` again; if it fails the same way, import files "
    "you trust with `embeddinggemma-rag models import PATH`."
)
_HUB_LOCK = threading.Lock()  # offline mode is lifted process-wide while a download runs


@dataclass(frozen=True)
class RemoteFile:
    """What the hub says a file at the pinned revision is."""

    size: int
    sha256: str | None  # LFS files: the SHA-256 of the content
    git_oid: str  # the git blob id; the content's own id for files outside LFS


@contextmanager
def hub_online() -> Iterator[None]:
    """Let huggingface-hub reach the network for the download the user started, and only then.

    The app runs with HF_HUB_OFFLINE=1, which huggingface-hub reads once at import; its
    requests consult `constants.HF_HUB_OFFLINE` each time, so that is what is lifted.
    """
    from huggingface_hub import constants

    with _HUB_LOCK:
        saved = constants.HF_HUB_OFFLINE
        constants.HF_HUB_OFFLINE = False
        try:
            yield
        finally:
            constants.HF_HUB_OFFLINE = saved


def download(
    specs: Sequence[ModelSpec],
    root: Path,
    token: str | None,
    progress: ProgressCallback,
    cancel: CancelToken,
    endpoint: str | None,
) -> None:
    """Fetch every file of `specs` below `root`, check it, and record its SHA-256."""
    root.mkdir(parents=True, exist_ok=True)
    with hub_online():
        from huggingface_hub import HfApi

        api = HfApi(endpoint=endpoint, token=token)
        plan = [(spec, _remote_files(api, spec)) for spec in specs]
        meter = _Meter(progress, cancel, sum(r.size for _, rf in plan for r in rf.values()))
        pins = read_checksums(root)
        for spec, remote_files in plan:
            for file in spec.files:
                cancel.raise_if_cancelled()
                key, remote = spec.local_key(file), remote_files[file.path]
                dest = root / key
                expected = file.sha256 or remote.sha256
                meter.start(key, remote.size)
                if not (dest.is_file() and _content_matches(dest, expected, remote)):
                    _fetch(spec, file.path, dest, root, token, endpoint, meter)
                    _check(dest, expected, remote, root / QUARANTINE_DIR)
                meter.finish()
                pins[key] = {
                    "sha256": model_files.file_sha256(dest, hash_cache()),
                    "size": dest.stat().st_size,
                    "repo_id": spec.repo_id,
                    "revision": spec.revision,
                }
                write_checksums(root, pins)  # after each file: a later failure keeps these


def _remote_files(api: Any, spec: ModelSpec) -> dict[str, RemoteFile]:
    wanted = [f.path for f in spec.files]
    try:
        infos = api.get_paths_info(spec.repo_id, wanted, revision=spec.revision, expand=True)
    except Exception as exc:  # huggingface-hub and httpx errors alike end the same way
        raise _hub_error(spec, spec.repo_id, exc) from exc
    found = {
        info.path: RemoteFile(
            int(info.size), info.lfs.sha256 if info.lfs else None, str(info.blob_id)
        )
        for info in infos
        if hasattr(info, "blob_id")
    }
    for path in wanted:
        if path not in found:
            reason = f"not found in {spec.repo_id} at revision {spec.revision}"
            raise ModelError(path, reason, hint=RETRY_HINT)
    return found


def _fetch(
    spec: ModelSpec,
    filename: str,
    dest: Path,
    root: Path,
    token: str | None,
    endpoint: str | None,
    meter: _Meter,
) -> None:
    from huggingface_hub import hf_hub_download

    # hf_hub_download keeps the repository's relative path below local_dir.
    relative = Path(filename).parts
    if dest.parts[-len(relative) :] == relative:
        local_dir = dest.parents[len(relative) - 1]
    else:
        local_dir = root / ".staging" / spec.name
    try:
        fetched = hf_hub_download(
            spec.repo_id,
            filename,
            revision=spec.revision,
            local_dir=local_dir,
            token=token,
            endpoint=endpoint,
            tqdm_class=meter.bar_class(),
        )
    except (Cancelled, RagError):
        raise
    except Exception as exc:  # huggingface-hub, httpx and disk errors alike
        raise _hub_error(spec, dest, exc) from exc
    if Path(fetched) != dest:
        os.replace(fetched, dest)


def _content_matches(path: Path, expected: str | None, remote: RemoteFile) -> bool:
    if expected is not None:
        return model_files.file_sha256(path, hash_cache()) == expected
    return git_blob_id(path) == remote.git_oid


def _check(path: Path, expected: str | None, remote: RemoteFile, quarantine: Path) -> None:
    """Move a file that is not what the hub advertised out of the way, and say so."""
    if expected is not None:
        actual = model_files.file_sha256(path, hash_cache())
        what = f"its SHA-256 is {actual[:16]}…, the hub advertises {expected[:16]}…"
    else:
        actual = git_blob_id(path)
        expected = remote.git_oid
        what = f"its git blob id is {actual[:12]}…, the hub advertises {expected[:12]}…"
    if actual == expected:
        return
    quarantine.mkdir(parents=True, exist_ok=True)
    moved = quarantine / f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}"
    os.replace(path, moved)
    raise ModelError(
        path, f"download does not match ({what}); moved it to {moved}", hint=RETRY_HINT
    )


def git_blob_id(path: Path) -> str:
    """The git blob SHA-1, which the hub gives for files that are not in LFS."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _hub_error(spec: ModelSpec, where: Path | str, exc: Exception) -> ModelError:
    from huggingface_hub import errors

    if isinstance(exc, errors.GatedRepoError):
        reason = f"{spec.repo_id} is gated: accept its licence on the hub, then pass --token"
    elif isinstance(exc, errors.RepositoryNotFoundError):
        reason = f"repository {spec.repo_id} not found (a private one needs --token)"
    elif isinstance(exc, errors.RevisionNotFoundError):
        reason = f"revision {spec.revision} of {spec.repo_id} not found"
    elif isinstance(exc, errors.HfHubHTTPError):
        reason = f"the hub refused the download ({str(exc).splitlines()[0]})"
    else:
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
        reason = f"download failed: {first_line}"
    return ModelError(where, reason, hint=RETRY_HINT)


class _Meter:
    """Turns huggingface-hub's progress bars into our progress reports, and cancels."""

    def __init__(self, progress: ProgressCallback, cancel: CancelToken, total: int) -> None:
        self.progress, self.cancel, self.total = progress, cancel, total
        self.done_before = 0
        self.file_done = self.file_size = 0
        self.name = ""

    def start(self, name: str, size: int) -> None:
        self.name, self.file_size, self.file_done = name, size, 0

    def add(self, count: int) -> None:
        # Clamped: a resumed transfer rolls back, and other transports count twice.
        self.file_done = max(0, min(self.file_size, self.file_done + count))
        self.progress(Progress(self.done_before + self.file_done, self.total, "bytes", self.name))
        if self.cancel.cancelled:
            raise Cancelled()

    def finish(self) -> None:
        self.done_before += self.file_size
        self.file_done = 0
        self.progress(Progress(self.done_before, self.total, "bytes", self.name))

    def bar_class(self) -> Any:
        from huggingface_hub.utils.tqdm import tqdm as hub_tqdm

        meter = self

        class _Bar(hub_tqdm):  # type: ignore[misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                kwargs["disable"] = True  # we draw our own progress
                super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]

            def update(self, n: float | None = 1) -> bool | None:
                meter.add(int(n or 0))
                return super().update(n)  # type: ignore[no-any-return]

        return _Bar
