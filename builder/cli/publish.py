"""Publishing a finished build: to a hub repository or any fsspec URL."""

from __future__ import annotations

from pathlib import Path

import click

from builder.cli import main
from builder.cli.options import user_errors
from builder.errors import UserError


@main.command("push")
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--repo-id", default=None, metavar="ORG/NAME",
              help="Dataset repository on a hub (token: --token, else HF_TOKEN, else the one `hf auth login` saved).")
@click.option("--url", default=None, metavar="URL",
              help="Or any fsspec URL: s3://bucket/prefix (AWS credentials and AWS_ENDPOINT_URL as usual), a folder.")
@click.option("--private", is_flag=True, help="Create the repository private.")
@click.option("--revision", default=None, help="Branch to push to (created when missing).")
@click.option("--endpoint", default=None, help="A self-hosted hub's address (default: HF_ENDPOINT or huggingface.co).")
@click.option("--token", default=None, metavar="TOKEN",
              help="A hub write token; never printed. Shell history and the process list show it: prefer "
                   "`hf auth login` or HF_TOKEN.")
@user_errors
def push_command(out_dir, repo_id, url, private, revision, endpoint, token) -> None:
    """Publish a build: every split's Parquet shards and the dataset card (with --url also a path-free copy of
    manifest.json); stale shards are removed. Nothing published names this machine's folders."""
    if bool(repo_id) == bool(url):
        raise UserError("give exactly one of --repo-id and --url", remedy="e.g. --repo-id my-org/qizhen or --url s3://b/p")
    from builder.export.publish import publish_to_url, push_to_hub
    if repo_id:
        click.echo(push_to_hub(out_dir, repo_id, private=private, revision=revision, endpoint=endpoint, token=token))
        return
    for path in publish_to_url(out_dir, url):
        click.echo(path)
