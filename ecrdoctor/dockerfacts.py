"""Docker facts several checks share, computed once per run through the context: the installed docker CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Tuple

from ecrdoctor.daemon import CliVersion, DaemonError, parse_cli_version

if TYPE_CHECKING:
    from ecrdoctor.context import Context

DOCKERD_DIRS = "/usr/bin:/usr/sbin:/usr/local/bin:/usr/local/sbin:/bin:/sbin"


@dataclass(frozen=True)
class InstalledDocker:
    """The docker CLI on the PATH docker runs with (and its version), and where dockerd is installed."""

    cli_path: Optional[str]
    cli: Optional[CliVersion]
    cli_problem: Optional[str]
    dockerd_path: Optional[str]


def run_version(ctx: Context, path: str) -> Tuple[Optional[CliVersion], Optional[str]]:
    """`<path> --version` parsed, or why it could not be."""
    res = ctx.run([str(ctx.host.path(path)), "--version"], timeout=5)
    if res.not_found or res.timed_out or res.returncode != 0:
        why = "timed out" if res.timed_out else (res.stderr.strip().splitlines() or ["failed"])[0][:120]
        return None, f"`{path} --version` {why}"
    try:
        return parse_cli_version(res.stdout or res.stderr), None
    except DaemonError as exc:
        return None, exc.message


def installed_docker(ctx: Context) -> InstalledDocker:
    """`docker --version` (it needs no daemon) and where dockerd is, once per run."""

    def look() -> InstalledDocker:
        cli_path = ctx.host.which("docker")
        cli, problem = run_version(ctx, cli_path) if cli_path else (None, "no `docker` on PATH")
        path = ctx.host.env.get("PATH", "")
        dockerd_path = ctx.host.which("dockerd", path=f"{path}:{DOCKERD_DIRS}" if path else DOCKERD_DIRS)
        return InstalledDocker(cli_path, cli, problem, dockerd_path)

    return ctx.fact("docker.installed", look)


def docker_cli_version(ctx: Context) -> Optional[Tuple[int, int, int]]:
    """The docker CLI's own version as numbers; None when unknown or when `docker` is podman-docker.

    Not asked under --root: the binaries of a mounted disk are not this host's to execute."""
    if ctx.options.root:
        return None
    cli = installed_docker(ctx).cli
    return cli.version.key if cli is not None and cli.product == "docker" else None
