"""A small Hugging Face Hub *protocol stand-in* for tests: not a hub, just enough of its HTTP API.

It speaks the handful of endpoints that the installed `huggingface_hub` client calls to create a dataset
repo, commit files to it (regular, base64-in-NDJSON uploads only: no LFS, no Xet), make branches, list
trees, and download files, so that `HfApi.create_commit` and `datasets.load_dataset(repo_id)` can run
against it with `HF_ENDPOINT` pointing here. Nothing else (no LFS, no PRs, no tags, no gating, no
pagination: every listing is one page).

Storage, under the folder given on the command line:
    {type}s/{namespace}/{name}/refs.json          branch name -> commit oid
    {type}s/{namespace}/{name}/commits/{oid}.json {"parent", "title", "date", "files": {path: blob oid}}
    {type}s/{namespace}/{name}/blobs/{oid}        file contents, named by their git blob sha1
    {type}s/{namespace}/{name}/repo.json          {"private": bool, "created": date}

Auth: every write needs `Authorization: Bearer TOKEN`; with `--token` given, only that token is
accepted (anything else is a 401, like the real hub's "Invalid credentials"); reads of private repos
need it too. Requests are logged, one line each, to `--log` (never to stdout; headers aren't logged).

Run: python -m tests.hub_standin --root DIR --port-file FILE [--token T] [--log FILE]
It binds 127.0.0.1 on a free port and writes the port to FILE once it is listening.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
ZERO = "0" * 40


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, extra: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra or {}


class Store:
    """Repos on disk; one lock serialises every write (a test server needs no more)."""

    def __init__(self, root: Path) -> None:
        self.root, self.lock = root, threading.Lock()

    def folder(self, kind: str, repo_id: str) -> Path:
        return self.root / f"{kind}s" / repo_id

    def exists(self, kind: str, repo_id: str) -> bool:
        return (self.folder(kind, repo_id) / "refs.json").is_file()

    def meta(self, kind: str, repo_id: str) -> dict:
        if not self.exists(kind, repo_id):
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return json.loads((self.folder(kind, repo_id) / "repo.json").read_text())

    def refs(self, kind: str, repo_id: str) -> dict[str, str]:
        self.meta(kind, repo_id)
        return json.loads((self.folder(kind, repo_id) / "refs.json").read_text())

    def create(self, kind: str, repo_id: str, private: bool) -> bool:
        with self.lock:
            if self.exists(kind, repo_id):
                return False
            folder = self.folder(kind, repo_id)
            (folder / "commits").mkdir(parents=True, exist_ok=True)
            (folder / "blobs").mkdir(exist_ok=True)
            (folder / "repo.json").write_text(json.dumps({"private": private, "created": now()}))
            initial = self._write_commit(folder, None, "initial commit", {})
            (folder / "refs.json").write_text(json.dumps({"main": initial}))
            return True

    def resolve(self, kind: str, repo_id: str, revision: str) -> str:
        refs = self.refs(kind, repo_id)
        if revision in refs:
            return refs[revision]
        if re.fullmatch(r"[0-9a-f]{40}", revision) and (self.folder(kind, repo_id) / "commits" / f"{revision}.json").is_file():
            return revision
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def commit(self, kind: str, repo_id: str, oid: str) -> dict:
        return json.loads((self.folder(kind, repo_id) / "commits" / f"{oid}.json").read_text())

    def files(self, kind: str, repo_id: str, revision: str) -> tuple[str, dict[str, str]]:
        oid = self.resolve(kind, repo_id, revision)
        return oid, self.commit(kind, repo_id, oid)["files"]

    def blob(self, kind: str, repo_id: str, oid: str) -> Path:
        return self.folder(kind, repo_id) / "blobs" / oid

    def _write_commit(self, folder: Path, parent: str | None, title: str, files: dict[str, str]) -> str:
        body = {"parent": parent, "title": title, "date": now(), "files": dict(sorted(files.items()))}
        oid = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()
        (folder / "commits" / f"{oid}.json").write_text(json.dumps(body))
        return oid

    def apply(self, kind: str, repo_id: str, branch: str, lines: list[dict]) -> str:
        """One NDJSON commit: a header line, then file / deletedFile / deletedFolder lines."""
        with self.lock:
            refs = self.refs(kind, repo_id)
            if branch not in refs:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            head = refs[branch]
            files = dict(self.commit(kind, repo_id, head)["files"])
            header = next((line["value"] for line in lines if line.get("key") == "header"), None)
            if header is None or not header.get("summary"):
                raise HubError(400, "commit header with a summary is required")
            if header.get("parentCommit") not in (None, head):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            folder = self.folder(kind, repo_id)
            for line in lines:
                key, value = line.get("key"), line.get("value") or {}
                path = value.get("path", "")
                if key == "header":
                    continue
                if key == "file":
                    if value.get("encoding") != "base64":
                        raise HubError(400, f"{path}: only base64 file content is supported by this stand-in")
                    data = base64.b64decode(value["content"])
                    oid = git_blob_oid(data)
                    (folder / "blobs" / oid).write_bytes(data)
                    files[path] = oid
                elif key == "deletedFile":
                    if files.pop(path, None) is None:
                        raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                elif key == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    for name in [p for p in files if p.startswith(prefix)]:
                        del files[name]
                else:  # lfsFile and anything newer: this stand-in only offers "regular" uploads
                    raise HubError(400, f"unsupported commit line '{key}' (this stand-in takes regular files only)")
            oid = self._write_commit(folder, head, header["summary"], files)
            refs[branch] = oid
            (folder / "refs.json").write_text(json.dumps(refs))
            return oid

    def branch(self, kind: str, repo_id: str, name: str, starting_point: str | None) -> None:
        with self.lock:
            refs = self.refs(kind, repo_id)
            if name in refs:
                raise HubError(409, f"Reference already exists: refs/heads/{name}")
            start = self.resolve(kind, repo_id, starting_point or "main")
            refs[name] = start
            (self.folder(kind, repo_id) / "refs.json").write_text(json.dumps(refs))


def entries(files: dict[str, str], store_blob, folder: str, recursive: bool) -> list[dict]:
    """Tree entries under `folder` ("" = root), in the shape the hub's tree API returns."""
    prefix = folder.strip("/") + "/" if folder.strip("/") else ""
    out, dirs = [], set()
    for path, oid in sorted(files.items()):
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix):]
        parts = rest.split("/")
        for depth in range(1, len(parts) if recursive else min(2, len(parts))):
            dirs.add(prefix + "/".join(parts[:depth]))
        if recursive or len(parts) == 1:
            out.append(file_entry(path, oid, store_blob))
    out += [{"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d} for d in sorted(dirs)]
    return out


def file_entry(path: str, oid: str, store_blob) -> dict:
    return {"type": "file", "oid": oid, "size": store_blob(oid).stat().st_size, "path": path}


class Handler(BaseHTTPRequestHandler):
    server_version = "hub-standin/1"
    protocol_version = "HTTP/1.1"
    store: Store
    token: str | None
    log_file: Path | None

    # ---- plumbing ----------------------------------------------------------------------------
    def log_message(self, format: str, *args) -> None:
        if self.log_file is not None:
            with self.log_file.open("a", encoding="utf-8") as log:
                log.write(f"{time.strftime('%H:%M:%S')} {format % args}\n")

    def send_json(self, status: int, body, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error_json(self, error: HubError) -> None:
        headers = {"X-Error-Message": error.message}
        if error.code:
            headers["X-Error-Code"] = error.code
        self.send_json(error.status, {"error": error.message, **error.extra}, headers)

    def body(self) -> bytes:
        return self._body

    def authorised(self) -> bool:
        """Raises 401 on a wrong token; returns whether a (right) token came with the request."""
        auth = self.headers.get("Authorization", "")
        if not auth:
            return False
        given = auth.removeprefix("Bearer ").strip()
        if not given or (self.token is not None and given != self.token):
            raise HubError(401, "Invalid credentials in Authorization header")
        return True

    def need_auth(self) -> None:
        if not self.authorised():
            raise HubError(401, "You must be authenticated to do this (no Authorization header)")

    def check_read(self, kind: str, repo_id: str) -> None:
        if self.store.meta(kind, repo_id)["private"] and not self.authorised():
            raise HubError(401, f"Repository {repo_id} not found", "RepoNotFound")

    # ---- routing -----------------------------------------------------------------------------
    def do_GET(self) -> None:
        self.route()

    def do_HEAD(self) -> None:
        self.route()

    def do_POST(self) -> None:
        self.route()

    def route(self) -> None:
        url = urlsplit(self.path)
        self.query = parse_qs(url.query)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        length = int(self.headers.get("Content-Length") or 0)  # read it all even when refusing: keep-alive
        self._body = self.rfile.read(length) if length else b""
        try:
            self.authorised()  # a wrong token is refused everywhere, as by the hub
            self.dispatch(self.command, parts)
        except HubError as error:
            self.send_error_json(error)
        except Exception as error:
            self.log_message("500 %r", error)
            self.send_error_json(HubError(500, f"stand-in error: {error!r}"))

    def dispatch(self, method: str, parts: list[str]) -> None:
        if parts[:2] == ["api", "whoami-v2"]:
            self.need_auth()
            return self.send_json(200, {"type": "user", "name": "tester", "fullname": "Test User", "orgs": [],
                                        "auth": {"type": "access_token", "accessToken": {"role": "write"}}})
        if parts[:3] == ["api", "repos", "create"] and method == "POST":
            return self.create_repo()
        if parts[:2] == ["api", "validate-yaml"] and method == "POST":
            return self.send_json(200, {"errors": [], "warnings": []})
        if len(parts) >= 4 and parts[0] == "api" and parts[1] in REPO_TYPES:
            kind, repo_id, rest = REPO_TYPES[parts[1]], f"{parts[2]}/{parts[3]}", parts[4:]
            return self.repo_api(method, kind, repo_id, rest)
        # downloads: /{repo}/resolve/... for models, /datasets/{repo}/resolve/... for the others
        if len(parts) >= 5 and parts[0] in ("datasets", "spaces") and parts[3] == "resolve":
            return self.download(REPO_TYPES[parts[0]], f"{parts[1]}/{parts[2]}", parts[4], "/".join(parts[5:]))
        if len(parts) >= 4 and parts[2] == "resolve":
            return self.download("model", f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
        raise HubError(404, f"this stand-in does not serve {method} {self.path}")

    def repo_api(self, method: str, kind: str, repo_id: str, rest: list[str]) -> None:
        op = rest[0] if rest else ""
        if method in ("GET", "HEAD") and op in ("", "revision"):
            return self.repo_info(kind, repo_id, rest[1] if op == "revision" and len(rest) > 1 else "main")
        if method == "GET" and op == "tree" and len(rest) >= 2:
            self.check_read(kind, repo_id)
            _, files = self.store.files(kind, repo_id, rest[1])
            folder = "/".join(rest[2:])
            recursive = self.query.get("recursive", ["false"])[0].lower() in ("1", "true")
            found = entries(files, lambda oid: self.store.blob(kind, repo_id, oid), folder, recursive)
            if folder and not found:
                raise HubError(404, f"{folder} does not exist on {rest[1]}", "EntryNotFound")
            return self.send_json(200, found)
        if method == "GET" and op == "refs":
            self.check_read(kind, repo_id)
            refs = self.store.refs(kind, repo_id)
            return self.send_json(200, {"branches": [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": o}
                                                     for b, o in refs.items()], "converts": [], "tags": []})
        if method == "POST" and op == "paths-info" and len(rest) >= 2:
            return self.paths_info(kind, repo_id, rest[1])
        if method == "POST" and op == "preupload" and len(rest) >= 2:
            return self.preupload(kind, repo_id, rest[1])
        if method == "POST" and op == "commit" and len(rest) >= 2:
            return self.commit(kind, repo_id, rest[1])
        if method == "POST" and op == "branch" and len(rest) >= 2:
            self.need_auth()
            raw = self.body()
            start = (json.loads(raw) if raw else {}).get("startingPoint")
            self.store.branch(kind, repo_id, "/".join(rest[1:]), start)
            return self.send_json(200, {})
        raise HubError(404, f"this stand-in does not serve {method} {self.path}")

    # ---- endpoints ---------------------------------------------------------------------------
    def create_repo(self) -> None:
        self.need_auth()
        payload = json.loads(self.body() or b"{}")
        name, org, kind = payload.get("name") or "", payload.get("organization"), payload.get("type") or "model"
        if not NAME.match(name) or (org is not None and not NAME.match(org)) or kind not in REPO_TYPES.values():
            raise HubError(400, f"invalid repo name or type: {org}/{name} ({kind})")
        repo_id = f"{org or 'tester'}/{name}"
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        prefix = "" if kind == "model" else f"{kind}s/"
        url = f"http://{self.headers.get('Host')}/{prefix}{repo_id}"
        if not self.store.create(kind, repo_id, private):  # the hub's 409 names the repo too
            raise HubError(409, f"You already created this {kind} repo", extra={"url": url})
        self.send_json(200, {"url": url, "name": repo_id, "id": repo_id})

    def repo_info(self, kind: str, repo_id: str, revision: str) -> None:
        self.check_read(kind, repo_id)
        oid, files = self.store.files(kind, repo_id, revision)
        meta, commit = self.store.meta(kind, repo_id), self.store.commit(kind, repo_id, oid)
        self.send_json(200, {
            "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24], "id": repo_id, "author": repo_id.split("/")[0],
            "sha": oid, "private": meta["private"], "disabled": False, "gated": False, "downloads": 0, "likes": 0,
            "tags": [], "createdAt": meta["created"], "lastModified": commit["date"],
            "siblings": [{"rfilename": path} for path in files],
        })

    def paths_info(self, kind: str, repo_id: str, revision: str) -> None:
        self.check_read(kind, repo_id)
        raw = self.body().decode()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            paths = json.loads(raw).get("paths", [])
        else:
            paths = parse_qs(raw).get("paths", [])
        _, files = self.store.files(kind, repo_id, revision)
        out = []
        for path in paths:
            path = path.strip("/")
            if path in files:
                out.append(file_entry(path, files[path], lambda oid: self.store.blob(kind, repo_id, oid)))
            elif any(p.startswith(path + "/") for p in files):
                out.append({"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0, "path": path})
        self.send_json(200, out)

    def preupload(self, kind: str, repo_id: str, revision: str) -> None:
        self.need_auth()
        payload = json.loads(self.body() or b"{}")
        _, files = self.store.files(kind, repo_id, revision)
        self.send_json(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                                        "oid": files.get(f["path"])} for f in payload.get("files", [])]})

    def commit(self, kind: str, repo_id: str, revision: str) -> None:
        self.need_auth()
        if self.query.get("create_pr"):
            raise HubError(400, "this stand-in does not do pull requests")
        lines = [json.loads(line) for line in self.body().splitlines() if line.strip()]
        oid = self.store.apply(kind, repo_id, revision, lines)
        prefix = "" if kind == "model" else f"{kind}s/"
        url = f"http://{self.headers.get('Host')}/{prefix}{repo_id}/commit/{oid}"
        self.send_json(200, {"success": True, "commitOid": oid, "commitUrl": url, "pullRequestUrl": None})

    def download(self, kind: str, repo_id: str, revision: str, path: str) -> None:
        self.check_read(kind, repo_id)
        commit_oid, files = self.store.files(kind, repo_id, revision)
        if path not in files:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        data = self.store.blob(kind, repo_id, files[path]).read_bytes()
        status, first, last = 200, 0, len(data) - 1
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if match and data:
            start, end = match.groups()
            first, last = (len(data) - int(end), len(data) - 1) if not start else (int(start), int(end or last))
            first, last = max(first, 0), min(last, len(data) - 1)
            if first > last:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        chunk = data[first:last + 1]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(chunk)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
        self.send_header("ETag", f'"{files[path]}"')
        self.send_header("X-Repo-Commit", commit_oid)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(chunk)


def serve(root: Path, port_file: Path, token: str | None, log_file: Path | None) -> None:
    handler = type("BoundHandler", (Handler,), {"store": Store(root), "token": token, "log_file": log_file})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(server.server_address[1]))
    tmp.replace(port_file)  # appears whole, only once the socket is listening
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="folder the repos are stored in")
    parser.add_argument("--port-file", type=Path, required=True, help="written with the port once listening")
    parser.add_argument("--token", default=None, help="the one token accepted (default: any non-empty one)")
    parser.add_argument("--log", type=Path, default=None, help="request log file")
    args = parser.parse_args()
    args.root.mkdir(parents=True, exist_ok=True)
    serve(args.root, args.port_file, args.token, args.log)


if __name__ == "__main__":
    main()
