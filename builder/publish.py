"""Publishing a finished build: to a Hugging Face dataset repo, or to any fsspec URL (S3, a folder, …).

What is published is the build's hub layout: `data/{split}-NNNNN-of-NNNNN.parquet`, plus the dataset
card `README.md` when the build has one (and `manifest.json` for a URL). A push is one commit that adds
the new shards and deletes the repo's `data/` files the new build does not have, so a second push with
fewer shards leaves no stale shard behind for `load_dataset` to pick up.

The token comes from the `token` argument or `HF_TOKEN`; it is handed to the client and never printed or
written anywhere. Uploads go through the hub's ordinary (LFS/regular) protocol and need no Xet package.
"""

from __future__ import annotations

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
    token = token or os.environ.get("HF_TOKEN")
    if not token:
        raise UserError("no token: set HF_TOKEN to a Hugging Face write token (or pass one) to push")
    return token


def _one_line(text: str) -> str:
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
        operations = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(out_dir / p)) for p in files]
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


def publish_to_url(out_dir: Path, url: str, storage_options: dict | None = None) -> list[str]:
    """Copies the hub layout (data/*.parquet, README.md, manifest.json) to any fsspec URL (s3://bucket/prefix,
    a folder); returns the written paths as URLs under `url`.

    Files under URL/data/ that the build does not have are removed afterwards, as on the hub.
    """
    import fsspec

    out_dir = Path(out_dir)
    files = build_files(out_dir, extra=(CARD, MANIFEST))
    base = url.rstrip("/")
    try:
        fs, root = fsspec.core.url_to_fs(base, **(storage_options or {}))
    except ImportError as error:
        raise UserError(f"cannot write to {url}: {_one_line(error)}",
                        remedy="install the filesystem's package, e.g. pip install s3fs") from None
    except ValueError as error:
        raise UserError(f"cannot write to {url}: {_one_line(error)}") from None
    root = root.rstrip("/")
    written = []
    try:
        if "file" in fs.protocol:  # a folder: make it; a bucket is never created here (a typo would be)
            fs.makedirs(f"{root}/data", exist_ok=True)
        for rel in files:
            fs.put_file(str(out_dir / rel), f"{root}/{rel}")
            written.append(f"{base}/{rel}")
        existing = fs.glob(f"{root}/data/*") if fs.exists(f"{root}/data") else []
        keep = {f"{root}/{rel}".split("://")[-1] for rel in files}
        for path in existing:
            if path.split("://")[-1] not in keep and not fs.isdir(path):
                fs.rm_file(path)
    except (OSError, PermissionError) as error:
        raise UserError(_one_line(f"cannot write to {url}: {type(error).__name__}: {error}")) from None
    return written
