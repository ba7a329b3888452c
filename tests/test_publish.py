"""Publishing a build: pushed to a Hub *protocol stand-in* (tests/hub_standin.py) and to S3 (moto), then read back.

The hub side runs the real `huggingface_hub` client against a local stand-in server started in a subprocess,
and reads the pushed repo back with `datasets.load_dataset(repo_id)` in a fresh Python process (so the
`HF_ENDPOINT`/offline settings it needs are its own, not this test process's). The S3 side needs
`s3fs`, `moto[server]` and `boto3`; those tests are skipped when they are missing.
"""

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from builder.errors import UserError
from builder.publish import publish_to_url, push_to_hub
from tests.conftest import run

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_standin_test_token"  # the stand-in's one accepted token; not a real credential
SAMPLE = ROOT / "raw" / "sample.toml"


# ---- builds ------------------------------------------------------------------------------------

def _build(out: Path, config: Path | None = None) -> Path:
    result = run("build", "--out", out, "--quiet", *(["--config", config] if config else []))
    assert result.exit_code == 0, result.output
    return out


def _local_rows(out: Path) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for shard in sorted((out / "data").glob("*.parquet")):
        rows.setdefault(shard.name.split("-")[0], []).extend(pq.read_table(shard).to_pylist())
    return rows


def _shards(out: Path) -> set[str]:
    return {f"data/{p.name}" for p in (out / "data").glob("*.parquet")}


@pytest.fixture(scope="module")
def build_one(tmp_path_factory) -> Path:
    """The embedded sample, one shard per split, with a small dataset card."""
    out = _build(tmp_path_factory.mktemp("one") / "out")
    (out / "README.md").write_text("---\nlicense: cc0-1.0\nlanguage:\n- zh\n---\n# test card\n", encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def build_many(tmp_path_factory) -> Path:
    """The same sample with `shard_rows = 50`: several shards per split."""
    folder = tmp_path_factory.mktemp("many")
    text = SAMPLE.read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("path = "):
            name = line.split('"')[1]
            text = text.replace(line, f"path = {json.dumps(str(SAMPLE.parent / name))}")
    config = folder / "many.toml"
    config.write_text("shard_rows = 50\n" + text, encoding="utf-8")
    out = _build(folder / "out", config)
    assert len(_shards(out)) > 3
    return out


# ---- the hub stand-in --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hub")
    port_file, log = folder / "port", folder / "requests.log"
    with (folder / "stderr.log").open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.hub_standin", "--root", str(folder / "repos"), "--port-file", str(port_file),
             "--token", TOKEN, "--log", str(log)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr,
        )
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the hub stand-in did not start: {(folder / 'stderr.log').read_text()}")
        time.sleep(0.05)
    try:
        yield {"endpoint": f"http://127.0.0.1:{port_file.read_text()}", "log": log, "folder": folder}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def online(hub, monkeypatch):
    """This process talks to the stand-in: the offline switches conftest sets are undone for one test."""
    from huggingface_hub import constants

    for name, value in {"HF_ENDPOINT": hub["endpoint"], "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0",
                        "HF_DATASETS_OFFLINE": "0", "HF_TOKEN": TOKEN}.items():
        monkeypatch.setenv(name, value)
    # huggingface_hub reads these once, at import: the module values are what it checks
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    return hub


def _api(hub):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub["endpoint"], token=TOKEN)


LOAD_BACK = """
import json, sys, datasets
repo, revision, out = sys.argv[1:4]
dd = datasets.load_dataset(repo, revision=revision or None)
json.dump({split: dd[split].to_list() for split in dd}, open(out, "w", encoding="utf-8"), ensure_ascii=False)
"""


def _load_back(hub, repo_id: str, tmp: Path, revision: str = "") -> dict[str, list[dict]]:
    """`load_dataset(repo_id)` from the stand-in, in a fresh process with a fresh cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_ENDPOINT=hub["endpoint"], HF_TOKEN=TOKEN, HF_HOME=str(tmp / "hf-home"), HF_HUB_DISABLE_XET="1",
               HF_HUB_OFFLINE="0", HF_DATASETS_OFFLINE="0", HF_HUB_DISABLE_TELEMETRY="1")
    result = subprocess.run([sys.executable, "-c", LOAD_BACK, repo_id, revision, str(tmp / "rows.json")],
                            check=False, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((tmp / "rows.json").read_text(encoding="utf-8"))


def test_push_then_load_dataset_gives_back_every_row(online, build_one, tmp_path):
    url = push_to_hub(build_one, "qizhen/round-trip")
    assert url.startswith(online["endpoint"]) and "/commit/" in url
    assert set(_api(online).list_repo_files("qizhen/round-trip", repo_type="dataset")) == _shards(build_one) | {"README.md"}
    assert _load_back(online, "qizhen/round-trip", tmp_path) == _local_rows(build_one)


def test_second_push_with_fewer_shards_leaves_no_stale_shard(online, build_many, build_one, tmp_path):
    api = _api(online)
    push_to_hub(build_many, "qizhen/reshard")
    assert set(api.list_repo_files("qizhen/reshard", repo_type="dataset")) == _shards(build_many) | {"README.md"}
    push_to_hub(build_one, "qizhen/reshard")
    remote = api.list_repo_files("qizhen/reshard", repo_type="dataset")
    assert {p for p in remote if p.startswith("data/")} == _shards(build_one)
    assert _load_back(online, "qizhen/reshard", tmp_path) == _local_rows(build_one)


def test_unchanged_push_makes_no_new_commit(online, build_one):
    first = push_to_hub(build_one, "qizhen/again")
    assert push_to_hub(build_one, "qizhen/again") == first


def test_push_to_a_new_branch_creates_it_and_leaves_main_alone(online, build_many, build_one, tmp_path):
    api = _api(online)
    push_to_hub(build_one, "qizhen/branches")
    push_to_hub(build_many, "qizhen/branches", revision="reshard-50")
    assert "reshard-50" in {b.name for b in api.list_repo_refs("qizhen/branches", repo_type="dataset").branches}
    on_main = api.list_repo_files("qizhen/branches", repo_type="dataset")
    on_branch = api.list_repo_files("qizhen/branches", repo_type="dataset", revision="reshard-50")
    assert {p for p in on_main if p.startswith("data/")} == _shards(build_one)
    assert {p for p in on_branch if p.startswith("data/")} == _shards(build_many)
    assert _load_back(online, "qizhen/branches", tmp_path, revision="reshard-50") == _local_rows(build_many)


def test_private_repo_is_not_readable_without_the_token(online, build_one):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    push_to_hub(build_one, "qizhen/private", private=True)
    assert _api(online).dataset_info("qizhen/private").private
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=online["endpoint"], token=False).dataset_info("qizhen/private")


def test_no_token_is_one_clear_line(online, build_one, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(UserError) as error:
        push_to_hub(build_one, "qizhen/no-token")
    assert str(error.value).startswith("no token: set HF_TOKEN") and "\n" not in str(error.value)


def test_a_refused_token_is_one_line_with_the_status_and_never_shown(online, build_one):
    with pytest.raises(UserError) as error:
        push_to_hub(build_one, "qizhen/refused", token="hf_wrong_secret")
    message = str(error.value)
    assert "401" in message and "Invalid credentials" in message and "\n" not in message
    assert "hf_wrong_secret" not in message
    assert TOKEN not in online["log"].read_text() and "hf_wrong_secret" not in online["log"].read_text()


def test_an_unreachable_hub_is_one_line(build_one, online):
    import socket

    with socket.socket() as sock:  # a port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UserError, match=rf"^cannot reach the hub at http://127\.0\.0\.1:{port}: ") as error:
        push_to_hub(build_one, "qizhen/nowhere", endpoint=f"http://127.0.0.1:{port}")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("repo_id", ["qizhen/bad name", "a/b/c", "qizhen/--x", ""])
def test_a_bad_repo_id_is_refused_before_any_request(online, build_one, repo_id):
    with pytest.raises(UserError, match="bad repo id"):
        push_to_hub(build_one, repo_id)


def test_a_folder_that_is_not_a_build_is_refused(online, tmp_path):
    (tmp_path / "data").mkdir()
    with pytest.raises(UserError, match="not a build output folder"):
        push_to_hub(tmp_path, "qizhen/empty")
    with pytest.raises(UserError, match="not a build output folder"):
        publish_to_url(tmp_path, str(tmp_path / "dest"))


def test_a_build_missing_a_shard_is_refused(build_many, tmp_path):
    import shutil

    copy = shutil.copytree(build_many, tmp_path / "copy")
    next(iter(sorted((copy / "data").glob("train-*.parquet")))).unlink()
    with pytest.raises(UserError, match=r"split 'train' is missing shard\(s\) \[0\]"):
        publish_to_url(copy, str(tmp_path / "dest"))


# ---- any fsspec URL: a folder, and S3 (moto) ------------------------------------------------------

def test_publish_to_a_folder_copies_the_hub_layout_and_drops_stale_shards(build_many, build_one, tmp_path):
    dest = tmp_path / "published"
    written = publish_to_url(build_many, str(dest))
    assert {str(Path(p).relative_to(dest)) for p in written} == _shards(build_many) | {"manifest.json", "README.md"}
    publish_to_url(build_one, str(dest))
    assert {f"data/{p.name}" for p in (dest / "data").iterdir()} == _shards(build_one)
    assert (dest / "README.md").read_bytes() == (build_one / "README.md").read_bytes()


@pytest.fixture(scope="module")
def s3():
    pytest.importorskip("s3fs")
    pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server")
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="eu-central-1")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        import boto3

        boto3.client("s3", endpoint_url=endpoint, region_name="eu-central-1").create_bucket(
            Bucket="qizhen", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        yield {"endpoint": endpoint, "storage_options": {
            "key": "test", "secret": "test",
            "client_kwargs": {"endpoint_url": endpoint, "region_name": "eu-central-1"}}}
    finally:
        server.stop()
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def _s3_keys(s3, prefix: str) -> set[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=s3["endpoint"], region_name="eu-central-1")
    listing = client.list_objects_v2(Bucket="qizhen", Prefix=prefix)
    return {item["Key"][len(prefix):] for item in listing.get("Contents", [])}


def test_publish_to_s3_then_load_dataset_gives_back_every_row(s3, build_many, build_one, tmp_path, monkeypatch):
    import datasets

    # conftest's offline switch stops `datasets` reaching any remote URL, s3:// too; datasets reads it at import
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)

    written = publish_to_url(build_many, "s3://qizhen/builds/v1", storage_options=s3["storage_options"])
    assert all(p.startswith("s3://qizhen/builds/v1/") for p in written)
    assert _s3_keys(s3, "builds/v1/") == _shards(build_many) | {"manifest.json", "README.md"}
    data_files = {split: [p for p in written if p.split("/")[-1].startswith(f"{split}-")]
                  for split in ("train", "validation", "test")}
    # load_dataset adds an "hf" entry to the dict it is given: hand it a copy
    loaded = datasets.load_dataset("parquet", data_files=data_files, storage_options=copy.deepcopy(s3["storage_options"]),
                                   cache_dir=str(tmp_path / "cache"))
    assert {split: loaded[split].to_list() for split in loaded} == _local_rows(build_many)

    publish_to_url(build_one, "s3://qizhen/builds/v1/", storage_options=s3["storage_options"])
    assert _s3_keys(s3, "builds/v1/") == _shards(build_one) | {"manifest.json", "README.md"}


def test_publish_to_a_missing_bucket_is_one_line(s3, build_one):
    with pytest.raises(UserError, match="cannot write to s3://no-such-bucket/x") as error:
        publish_to_url(build_one, "s3://no-such-bucket/x", storage_options=s3["storage_options"])
    assert "\n" not in str(error.value)
