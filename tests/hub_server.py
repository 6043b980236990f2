"""A stand-in Hugging Face hub on 127.0.0.1: just what `hf_hub_download` and paths-info use.

Serves HEAD/GET `/{repo}/resolve/{revision}/{file}` with the hub's headers (X-Repo-Commit,
ETag, X-Linked-Etag, X-Linked-Size) and byte ranges, and POST
`/api/models/{repo}/paths-info/{revision}`. Faults on request: drop the connection halfway
through a file once (to exercise resume), serve bytes other than the advertised ones (a
checksum mismatch), or require a token (a gated repository).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_PATHS_INFO = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/paths-info/(?P<rev>[^/]+)$")


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


@dataclass
class FakeRepo:
    files: dict[str, bytes]
    lfs: set[str] = field(default_factory=set)  # files stored in LFS (sha256 advertised)
    gated_token: str | None = None  # when set, requests need "Authorization: Bearer <it>"


@dataclass
class HubState:
    repos: dict[str, FakeRepo] = field(default_factory=dict)
    drop_once: set[str] = field(default_factory=set)  # "repo/file": cut the first full GET
    tampered: set[str] = field(default_factory=set)  # "repo/file": serve other bytes
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, Range


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: pytest runs with warnings as errors and captures nothing useful here

    def _record(self) -> None:
        self.server.state.requests.append((self.command, self.path, self.headers.get("Range", "")))

    def _repo(self, repo_id: str) -> FakeRepo | None:
        repo = self.server.state.repos.get(unquote(repo_id))
        if repo is None:
            self._error(404, "RepoNotFound")
            return None
        if repo.gated_token and self.headers.get("Authorization") != f"Bearer {repo.gated_token}":
            self._error(401, "GatedRepo")
            return None
        return repo

    def _error(self, status: int, code: str) -> None:
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:
        self._resolve(send_body=False)

    def do_GET(self) -> None:
        self._resolve(send_body=True)

    def _resolve(self, send_body: bool) -> None:
        self._record()
        match = _RESOLVE.match(self.path.split("?")[0])
        if not match:
            self._error(404, "EntryNotFound")
            return
        repo = self._repo(match["repo"])
        if repo is None:
            return
        name = unquote(match["file"])
        if name not in repo.files:
            self._error(404, "EntryNotFound")
            return
        data = repo.files[name]
        key = f"{unquote(match['repo'])}/{name}"
        etag = hashlib.sha256(data).hexdigest() if name in repo.lfs else git_blob_id(data)
        served = data
        if key in self.server.state.tampered:
            served = bytes([data[0] ^ 0xFF]) + data[1:]
        start = 0
        ranged = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
        if ranged and send_body:
            start = int(ranged[1])
        body = served[start:]
        self.send_response(206 if start else 200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{etag}"')
        if name in repo.lfs:
            self.send_header("X-Linked-Etag", f'"{etag}"')
            self.send_header("X-Linked-Size", str(len(data)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if not send_body:
            return
        if key in self.server.state.drop_once and not start:
            self.server.state.drop_once.discard(key)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True  # the client sees a body cut short
            return
        self.wfile.write(body)

    def do_POST(self) -> None:
        self._record()
        match = _PATHS_INFO.match(self.path.split("?")[0])
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode())
        if not match:
            self._error(404, "EntryNotFound")
            return
        repo = self._repo(match["repo"])
        if repo is None:
            return
        infos = []
        for path in form.get("paths", []):
            if path not in repo.files:
                continue  # like the hub: unknown paths are left out
            data = repo.files[path]
            info: dict[str, object] = {"type": "file", "path": path, "size": len(data)}
            info["oid"] = git_blob_id(data)
            if path in repo.lfs:
                sha = hashlib.sha256(data).hexdigest()
                info["lfs"] = {"oid": sha, "size": len(data), "pointerSize": 134}
            infos.append(info)
        body = json.dumps(infos).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: HubState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)  # loopback only, a free port
        self.state = state


@contextmanager
def serve_hub(state: HubState) -> Iterator[str]:
    """Run the stand-in hub while the block runs; yields its endpoint URL."""
    server = _Server(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


if __name__ == "__main__":  # a manual check: serve one small repository until Ctrl-C
    demo = HubState({"demo/model": FakeRepo({"weights.bin": b"x" * 1000}, lfs={"weights.bin"})})
    with serve_hub(demo) as url:
        print(url, flush=True)
        threading.Event().wait()
