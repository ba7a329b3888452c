"""Publishing a finished build: to a Hugging Face dataset repo, or to any fsspec URL (S3, a folder, …).

What is published is the build's hub layout: `data/{split}-NNNNN-of-NNNNN.parquet`, plus the dataset
card `README.md` when the build has one (and `manifest.json` for a URL). A push is one commit that adds
the new shards and deletes the repo's `data/` files the new build does not have, so a second push with
fewer shards leaves no stale shard behind for `load_dataset` to pick up.

Nothing published names the build machine's folders: the card is rendered path-free (`card.public_manifest`),
and the manifest, which stays local with its paths and command line, goes to a URL as that same public
copy, never as the file itself.

The token comes from the `token` argument (`push --token`), else huggingface_hub's own lookup: `HF_TOKEN`,
then the token `hf auth login` saved; it is handed to the client and never printed or written anywhere.
Uploads go through the hub's ordinary (LFS/regular) protocol and need no Xet package.

Any failure of the hub or of a filesystem (a missing bucket, refused or missing credentials, an endpoint that
does not answer) is a `UserError` naming the place and the remedy, never a traceback.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from builder.errors import UserError

SHARD = re.compile(r"^(?P<split>[A-Za-z0-9_.-]+?)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")
CARD = "README.md"
MANIFEST = "manifest.json"


def build_files(out_dir: Path, extra: tuple[str, ...] = (CARD,)) -> list[str]:
    """The build's publishable files, relative to `out_dir`, after checking that the shard sets are whole."""
    out_dir = Path(out_dir)
    shards = sorted(p.name for p in (out_dir / "data").glob("*.parquet")) if (out_dir / "data").is_dir() else []
    if not shards:
        raise UserError("is not a build output folder: it has no data/*.parquet shards", file=out_dir,
                        remedy="run `build-instructions build --out FOLDER` first and publish that folder")
    splits: dict[str, tuple[int, set[int]]] = {}
    for name in shards:
        match = SHARD.match(name)
        if not match:
            raise UserError(f"data/{name} is not named SPLIT-NNNNN-of-NNNNN.parquet", file=out_dir,
                            remedy="publish a folder written by `build-instructions build`")
        count, seen = splits.setdefault(match["split"], (int(match["count"]), set()))
        if int(match["count"]) != count:
            raise UserError(f"split '{match['split']}' has shards of different totals", file=out_dir,
                            remedy="rebuild the output folder")
        seen.add(int(match["index"]))
    for split, (count, seen) in splits.items():
        if seen != set(range(count)):
            missing = sorted(set(range(count)) - seen)
            raise UserError(f"split '{split}' is missing shard(s) {missing} of {count}", file=out_dir,
                            remedy="rebuild the output folder")
    return [f"data/{name}" for name in shards] + [name for name in extra if (out_dir / name).is_file()]


def _token(token: str | None) -> str:
    """The token given, else the client's own lookup (HF_TOKEN, then the file `hf auth login` wrote under
    HF_HOME or at HF_TOKEN_PATH), so a push works wherever the user's other hub tools do."""
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise UserError("no Hugging Face token to push with",
                        remedy="log in once with `hf auth login` (older clients: `huggingface-cli login`), or set "
                               "HF_TOKEN, or pass --token; make a write token at https://huggingface.co/settings/tokens")
    return token


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _hub_error(error: Exception, endpoint: str) -> UserError:
    """One line for anything the client raises talking to the hub (the token is never in it)."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(error, OfflineModeIsEnabled):
        return UserError("cannot push: offline mode is on (HF_HUB_OFFLINE)", remedy="unset HF_HUB_OFFLINE to push")
    if isinstance(error, HfHubHTTPError):
        response = error.response
        status = getattr(response, "status_code", "?")
        reason = getattr(response, "reason_phrase", None) or getattr(response, "reason", None) or ""
        message = error.server_message or str(error).split("\n")[0]
        return UserError(_one_line(f"the hub ({endpoint}) answered {status} {reason}: {message}"))
    return UserError(_one_line(f"cannot reach the hub at {endpoint}: {type(error).__name__}: {error}"))


def _is_transport_error(error: Exception) -> bool:
    """Connection/timeouts from whichever HTTP library this huggingface_hub version uses."""
    module = type(error).__module__.split(".")[0]
    return isinstance(error, (ConnectionError, TimeoutError)) or module in ("httpx", "httpx2", "httpcore", "requests", "urllib3")


def push_to_hub(
    out_dir: Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
) -> str:
    """Uploads every split's Parquet shards (data/…) and the card (README.md, if present) to a dataset repo;
    returns the commit URL (its last path part is the commit oid).

    One commit: adds the build's files and deletes the repo's data/ files that the build does not have.
    A `revision` that is not an existing branch is created (from main) first.
    """
    out_dir = Path(out_dir)
    files = build_files(out_dir)
    token = _token(token)
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise UserError(f"bad repo id {repo_id!r}: {_one_line(error)}",
                        remedy="use NAMESPACE/NAME, e.g. my-org/qizhen-instructions") from None
    api = HfApi(endpoint=endpoint or os.environ.get("HF_ENDPOINT") or None, token=token)
    branch = revision or "main"
    try:
        if "/" not in repo_id:
            repo_id = f"{api.whoami()['name']}/{repo_id}"
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if branch != "main":
            api.create_branch(repo_id, branch=branch, repo_type="dataset", exist_ok=True)
        remote = api.list_repo_files(repo_id, repo_type="dataset", revision=branch)
        stale = sorted(p for p in remote if p.startswith("data/") and p not in files)
        operations: list[CommitOperationAdd | CommitOperationDelete] = [
            CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(out_dir / p)) for p in files
        ]
        operations += [CommitOperationDelete(path_in_repo=p) for p in stale]
        info = api.create_commit(
            repo_id,
            operations=operations,
            commit_message=f"Upload build ({sum(p.startswith('data/') for p in files)} shards"
                           + (f", {len(stale)} stale removed)" if stale else ")"),
            repo_type="dataset",
            revision=branch,
        )
    except (HfHubHTTPError, OfflineModeIsEnabled) as error:
        raise _hub_error(error, api.endpoint) from None
    except Exception as error:
        if _is_transport_error(error):
            raise _hub_error(error, api.endpoint) from None
        raise
    return str(info.commit_url)


def public_manifest_bytes(out_dir: Path) -> bytes:
    """The build's manifest.json as it may leave the machine: `card.public_manifest` of it (no command line,
    file names instead of paths), which is what the card reports too."""
    from builder.export.card import public_manifest

    path = Path(out_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as error:
        raise UserError(f"cannot read the manifest: {_one_line(error)}", file=path,
                        remedy="rebuild the output folder") from None
    return (json.dumps(public_manifest(manifest), ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _url_error(error: Exception, url: str) -> UserError:
    """One line for whatever a filesystem raises, its package's own exceptions too (botocore's are no OSError)."""
    name = type(error).__name__
    if isinstance(error, FileNotFoundError):
        remedy = "check the URL: the bucket (or folder) must exist, publishing never creates a bucket"
    elif isinstance(error, PermissionError) or "Credential" in name:
        remedy = ("check that you may write there: for S3, the credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                  "AWS_SECRET_ACCESS_KEY) and the bucket's policy")
    elif isinstance(error, (ConnectionError, TimeoutError)) or "Connect" in name or "Timeout" in name:
        remedy = "check the endpoint (for S3: AWS_ENDPOINT_URL, or none for AWS itself) and the network"
    else:
        remedy = "check the URL, the credentials and the endpoint"
    return UserError(_one_line(f"cannot write to {url}: {name}: {error}").rstrip("."), remedy=remedy)


def publish_to_url(out_dir: Path, url: str, storage_options: dict | None = None) -> list[str]:
    """Copies the hub layout (data/*.parquet, README.md, and manifest.json as its public copy) to any fsspec URL
    (s3://bucket/prefix, a folder); returns the written paths as URLs under `url`.

    Files under URL/data/ that the build does not have are removed afterwards, as on the hub. The filesystem is
    made afresh for every call (fsspec would reuse one), so credentials and endpoints set since are used.
    """
    import fsspec

    out_dir = Path(out_dir)
    files = build_files(out_dir, extra=(CARD, MANIFEST))
    manifest = public_manifest_bytes(out_dir) if MANIFEST in files else b""
    base = url.rstrip("/")
    try:
        fs, root = fsspec.core.url_to_fs(base, skip_instance_cache=True, **(storage_options or {}))
    except ImportError as error:
        raise UserError(f"cannot write to {url}: {_one_line(error)}",
                        remedy="install the filesystem's package, e.g. pip install s3fs") from None
    except (ValueError, TypeError) as error:
        raise UserError(f"cannot write to {url}: {_one_line(error)}",
                        remedy="check the URL's protocol and the storage options") from None
    root = root.rstrip("/")
    written = []
    try:
        if "file" in fs.protocol:  # a folder: make it; a bucket is never created here (a typo would be)
            fs.makedirs(f"{root}/data", exist_ok=True)
        for rel in files:
            if rel == MANIFEST:
                fs.pipe_file(f"{root}/{rel}", manifest)
            else:
                fs.put_file(str(out_dir / rel), f"{root}/{rel}")
            written.append(f"{base}/{rel}")
        existing = fs.glob(f"{root}/data/*") if fs.exists(f"{root}/data") else []
        keep = {f"{root}/{rel}".split("://")[-1] for rel in files}
        for path in existing:
            if path.split("://")[-1] not in keep and not fs.isdir(path):
                fs.rm_file(path)
    except Exception as error:
        raise _url_error(error, url) from None
    return written
