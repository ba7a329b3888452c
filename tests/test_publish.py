"""Publishing a build: pushed to a Hub *protocol stand-in* (tests/hub_standin.py) and to S3 (moto), then read back.

The hub side runs the real `huggingface_hub` client against a local stand-in server started in a subprocess,
and reads the pushed repo back with `datasets.load_dataset(repo_id)` in a fresh Python process (so the
`HF_ENDPOINT`/offline settings it needs are its own, not this test process's); that process also records every
warning and logged warning the load gives, and there must be none. Tests of the command line run
`python -m builder` in a fresh process whose environment holds only the hub, AWS and token settings the test
gives it. The S3 side needs `s3fs` and `moto[server]` (its server runs in a process of its own on 127.0.0.1);
those tests are skipped when they are missing.
"""

import copy
import io
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from builder.config import SAMPLE_CONFIG, SHIPPED_TEMPLATES
from builder.errors import UserError
from builder.export.card import public_manifest
from builder.export.publish import publish_to_url, push_to_hub
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


MARKER = "qz-MARKER-7c1e"  # a folder name no published byte may contain


def _clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any hub, token or AWS setting, plus `settings`: a subprocess sees only
    what the test gives it (never the developer's login or credentials)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "HUGGING_FACE_", "AWS_"))}
    env.update(HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_OFFLINE="0", HF_DATASETS_OFFLINE="0")
    return {**env, **settings}


def _cli(*args: object, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`python -m builder ARGS` as a user runs it, in a fresh process: its exit code, stdout and stderr."""
    return subprocess.run([sys.executable, "-m", "builder", *map(str, args)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def marked(tmp_path_factory) -> dict:
    """A build by the real command line whose inputs, template catalogue, evaluation set and output all sit in a
    folder named MARKER: what is published of it must name none of them, nor the command."""
    folder = tmp_path_factory.mktemp("marked") / MARKER
    sample = tomllib.loads(SAMPLE_CONFIG.read_text(encoding="utf-8"))
    (folder / "inputs").mkdir(parents=True)
    for source in sample["sources"]:
        shutil.copy(SAMPLE_CONFIG.parent / source["path"], folder / "inputs" / source["path"])
    shutil.copy(SAMPLE_CONFIG, folder / "inputs" / "build.toml")  # its paths are relative to itself
    shutil.copytree(SHIPPED_TEMPLATES, folder / "catalogue", ignore=shutil.ignore_patterns("__*"))
    (folder / "eval.csv").write_text("药品,药品适应症,医学专家标注的适应病症,instruction\n"
                                     "盐酸氨溴索片,用于痰液黏稠不易咳出者。,痰液黏稠,盐酸氨溴索片的适应病症\n", encoding="utf-8")
    args = ["build", "--config", folder / "inputs" / "build.toml", "--templates", folder / "catalogue",
            "--eval-set", folder / "eval.csv", "--out", folder / "out", "--quiet"]
    result = _cli(*args, env=_clean_env())
    assert result.returncode == 0, result.stderr
    out = folder / "out"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["command"][1:] == [str(a) for a in args]  # the local record keeps the command line ...
    assert MARKER in json.dumps(manifest["config"])  # ... and the paths: the test below has something to find
    home = str(Path.home())
    forbidden = {MARKER, str(folder), str(ROOT), shlex.join(manifest["command"][1:]),
                 *(a for a in manifest["command"] if "/" in a), *([home] if len(home) > 1 else [])}
    return {"out": out, "forbidden": forbidden}


def _leaks(files: dict[str, bytes], forbidden: set[str]) -> dict[str, list[str]]:
    """Which forbidden strings each published file holds, in its bytes or, for Parquet (compressed), its rows and
    schema."""
    found = {}
    for name, data in files.items():
        text = data
        if name.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(data))
            text += (str(table.schema) + json.dumps(table.to_pylist(), ensure_ascii=False)).encode()
        if hits := sorted(f for f in forbidden if f.encode() in text):
            found[name] = hits
    return found


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
import json, logging, sys, warnings
import datasets
repo, revision, out = sys.argv[1:4]
seen = []
handler = logging.Handler(logging.WARNING)
handler.emit = lambda record: seen.append(f"{record.name}: {record.getMessage()}")
logging.getLogger().addHandler(handler)  # `datasets` logs to its own logger "datasets", which propagates here
logging.getLogger("datasets").setLevel(logging.WARNING)  # its default, whatever DATASETS_VERBOSITY says
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    dd = datasets.load_dataset(repo, revision=revision or None)
seen += [f"{w.category.__name__}: {w.message}" for w in caught]
rows = {split: dd[split].to_list() for split in dd}
json.dump({"rows": rows, "warnings": seen}, open(out, "w", encoding="utf-8"), ensure_ascii=False)
"""


def _load_back(hub, repo_id: str, tmp: Path, revision: str = "") -> dict[str, list[dict]]:
    """`load_dataset(repo_id)` from the stand-in, in a fresh process with a fresh cache; it must warn of nothing."""
    env = _clean_env(HF_ENDPOINT=hub["endpoint"], HF_TOKEN=TOKEN, HF_HOME=str(tmp / "hf-home"))
    result = subprocess.run([sys.executable, "-c", LOAD_BACK, repo_id, revision, str(tmp / "rows.json")],
                            check=False, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads((tmp / "rows.json").read_text(encoding="utf-8"))
    assert loaded["warnings"] == []
    return loaded["rows"]


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


def _stored(hub, repo_id: str) -> dict[str, bytes]:
    """Every file the stand-in keeps for a dataset repo (blobs, commits with their messages, refs): all that was
    sent to it."""
    folder = hub["folder"] / "repos" / "datasets" / repo_id
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _repo_files(hub, repo_id: str) -> dict[str, bytes]:
    """The files on the repo's main branch, by path, read from the stand-in's store."""
    stored = _stored(hub, repo_id)
    head = json.loads(stored["refs.json"])["main"]
    files = json.loads(stored[f"commits/{head}.json"])["files"]
    return {path: stored[f"blobs/{oid}"] for path, oid in files.items()}


def test_a_pushed_build_loads_back_without_a_warning(online, marked, tmp_path):
    """The build's own card is what `load_dataset` reads first: its dataset_info must be taken as it is
    (`_load_back` fails on any warning, such as the one for splits without num_bytes)."""
    out = marked["out"]
    push_to_hub(out, "qizhen/card")
    assert _repo_files(online, "qizhen/card")["README.md"] == (out / "README.md").read_bytes()
    assert _load_back(online, "qizhen/card", tmp_path) == _local_rows(out)


def test_nothing_pushed_names_the_build_machine(hub, marked, tmp_path):
    out, env = marked["out"], _clean_env(HF_ENDPOINT=hub["endpoint"], HF_HOME=str(tmp_path / "home"))
    result = _cli("push", out, "--repo-id", "qizhen/no-paths", "--token", TOKEN, env=env)
    assert result.returncode == 0, result.stderr
    assert set(_repo_files(hub, "qizhen/no-paths")) == _shards(out) | {"README.md"}
    assert _leaks(_stored(hub, "qizhen/no-paths"), marked["forbidden"]) == {}
    assert TOKEN not in result.stdout + result.stderr


def test_nothing_published_to_a_url_names_the_build_machine(marked, tmp_path):
    out, dest = marked["out"], tmp_path / "published"
    result = _cli("push", out, "--url", dest, env=_clean_env())
    assert result.returncode == 0, result.stderr
    files = {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    assert set(files) == _shards(out) | {"README.md", "manifest.json"}
    assert _leaks(files, marked["forbidden"]) == {}
    local = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert json.loads(files["manifest.json"]) == public_manifest(local)  # the public copy, not the file
    assert files["README.md"] == (out / "README.md").read_bytes()


def test_push_with_only_the_token_hf_auth_login_saved(hub, build_one, tmp_path):
    home = tmp_path / "login-home"
    env = _clean_env(HF_ENDPOINT=hub["endpoint"], HF_HOME=str(home))  # no HF_TOKEN, no --token
    login = subprocess.run([sys.executable, "-c", "import sys, huggingface_hub; huggingface_hub.login(token=sys.argv[1])",
                            TOKEN], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert login.returncode == 0, login.stderr
    assert (home / "token").read_text(encoding="utf-8").strip() == TOKEN  # where the client keeps it
    result = _cli("push", build_one, "--repo-id", "qizhen/login-only", env=env)
    assert result.returncode == 0, result.stderr
    assert "/commit/" in result.stdout and TOKEN not in result.stdout + result.stderr
    assert _load_back(hub, "qizhen/login-only", tmp_path) == _local_rows(build_one)
    # HF_TOKEN comes before the saved token, and --token before both
    refused = _cli("push", build_one, "--repo-id", "qizhen/login-only", env={**env, "HF_TOKEN": "hf_wrong_env"})
    assert refused.returncode == 2 and "401" in refused.stderr and "hf_wrong_env" not in refused.stderr
    given = _cli("push", build_one, "--repo-id", "qizhen/login-only", "--token", TOKEN,
                 env={**env, "HF_TOKEN": "hf_wrong_env"})
    assert given.returncode == 0, given.stderr


def test_no_token_says_how_to_get_one(hub, build_one, tmp_path):
    env = _clean_env(HF_ENDPOINT=hub["endpoint"], HF_HOME=str(tmp_path / "never-logged-in"))
    result = _cli("push", build_one, "--repo-id", "qizhen/no-token", env=env)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: no Hugging Face token to push with; ") and result.stderr.count("\n") == 1
    assert all(step in result.stderr for step in ("`hf auth login`", "`huggingface-cli login`", "HF_TOKEN", "--token"))
    assert "no-token" not in hub["log"].read_text()  # refused before any request


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
    """moto's S3 server in a process of its own on 127.0.0.1, as a user's S3-compatible store would be."""
    s3fs = pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"moto's server did not start on {endpoint}") from None
                time.sleep(0.1)
        options = {"key": "test", "secret": "test",
                   "client_kwargs": {"endpoint_url": endpoint, "region_name": "eu-central-1"}}
        s3fs.S3FileSystem(skip_instance_cache=True, **options).mkdir("qizhen")
        yield {"endpoint": endpoint, "storage_options": options}
    finally:
        server.terminate()
        server.wait(timeout=10)


def _s3_files(s3, prefix: str) -> dict[str, bytes]:
    """The objects under s3://qizhen/PREFIX, by key after the prefix."""
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True, **s3["storage_options"])
    return {key.removeprefix(f"qizhen/{prefix}"): fs.cat_file(key) for key in fs.find(f"qizhen/{prefix}")}


def _s3_keys(s3, prefix: str) -> set[str]:
    return set(_s3_files(s3, prefix))


def _s3_env(s3, **settings: str) -> dict[str, str]:
    """The AWS settings a user of the moto server would have; no retries, so a dead endpoint fails at once."""
    return _clean_env(**{"AWS_ENDPOINT_URL": s3["endpoint"], "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                         "AWS_DEFAULT_REGION": "eu-central-1", "AWS_CONFIG_FILE": os.devnull,
                         "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true",
                         "AWS_MAX_ATTEMPTS": "1", **settings})


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


def test_nothing_published_to_s3_names_the_build_machine(s3, marked):
    result = _cli("push", marked["out"], "--url", "s3://qizhen/no-paths", env=_s3_env(s3))
    assert result.returncode == 0, result.stderr
    files = _s3_files(s3, "no-paths/")
    assert set(files) == _shards(marked["out"]) | {"README.md", "manifest.json"}
    assert _leaks(files, marked["forbidden"]) == {}


def _dead_port() -> int:
    with socket.socket() as sock:  # a port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("url, settings, error, remedy", [
    ("s3://no-such-bucket/x", {}, "FileNotFoundError: The specified bucket does not exist",
     "check the URL: the bucket (or folder) must exist"),
    ("s3://qizhen/x", {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""},
     "NoCredentialsError: Unable to locate credentials",
     "check that you may write there: for S3, the credentials (AWS_PROFILE, or AWS_ACCESS_KEY_ID"),
    ("s3://qizhen/x", {"AWS_ENDPOINT_URL": "http://127.0.0.1:{dead}"},
     'EndpointConnectionError: Could not connect to the endpoint URL: "http://127.0.0.1:{dead}/',
     "check the endpoint (for S3: AWS_ENDPOINT_URL"),
    ("nosuchproto://qizhen/x", {}, "Protocol not known: nosuchproto", "check the URL's protocol"),
], ids=["missing-bucket", "no-credentials", "unreachable", "unknown-protocol"])
def test_a_failing_url_is_one_error_line_with_the_remedy(s3, build_one, url, settings, error, remedy):
    dead = _dead_port()
    env = {k: v.format(dead=dead) for k, v in _s3_env(s3, **settings).items() if v != ""}
    result = _cli("push", build_one, "--url", url, env=env)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: cannot write to {url}: {error.format(dead=dead)}")
    assert f"; {remedy}" in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def _moto_auth(s3, free_requests: str) -> None:
    """Moto checks credentials against its IAM users after `free_requests` requests ("inf": never)."""
    request = urllib.request.Request(f"{s3['endpoint']}/moto-api/reset-auth", data=free_requests.encode(),
                                     method="POST", headers={"Content-Type": "text/plain"})
    urllib.request.urlopen(request, timeout=30).read()


def test_refused_credentials_are_one_error_line(s3, build_one):
    _moto_auth(s3, "0")
    try:
        env = _s3_env(s3, AWS_ACCESS_KEY_ID="AKIAWRONGWRONGWRONG1", AWS_SECRET_ACCESS_KEY="wrong-secret-value")
        result = _cli("push", build_one, "--url", "s3://qizhen/refused", env=env)
    finally:
        _moto_auth(s3, "inf")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: cannot write to s3://qizhen/refused: PermissionError: The AWS Access Key Id "
                                    "you provided does not exist in our records; check that you may write there")
    assert result.stderr.count("\n") == 1 and "wrong-secret-value" not in result.stderr
