"""Command line: parse options, call one function, print, map the outcome to an exit status."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Callable, List, NoReturn, Optional, Sequence

import typer

from ecrdoctor import __version__

app = typer.Typer(
    name="ecrdoctor",
    help="Find out why an image will not pull from Amazon ECR, and print the command that fixes it.",
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # rich tracebacks print local variables, which may hold secrets
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_USAGE = 2


class ReportFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"
    junit = "junit"


class ListFormat(str, Enum):
    text = "text"
    json = "json"


class FailOn(str, Enum):
    fail = "fail"
    warn = "warn"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ecrdoctor {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Find out why an image will not pull from Amazon ECR, and print the command that fixes it."""


@app.command()
def check(
    image: Optional[str] = typer.Argument(None, help="Image reference (or just an ECR registry host)."),
    format: ReportFormat = typer.Option(ReportFormat.text, "--format", help="Report format."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the report here, not stdout."),
    only: List[str] = typer.Option([], "--only", help="Run only these ids or globs (and what they need)."),
    skip: List[str] = typer.Option([], "--skip", help="Do not run these ids or globs."),
    region: Optional[str] = typer.Option(None, "--region", help="AWS region (default: the image host's)."),
    profile: Optional[str] = typer.Option(None, "--profile", help="AWS profile, as the AWS CLI."),
    timeout: float = typer.Option(20.0, "--timeout", min=0.5, help="Deadline for the whole run, seconds."),
    offline: bool = typer.Option(False, "--offline", help="No network: network checks are skipped."),
    root: Optional[Path] = typer.Option(None, "--root", help="Read system files under this directory."),
    fail_on: FailOn = typer.Option(FailOn.fail, "--fail-on", help="Exit 1 on any fail, or on any warn too."),
    exit_zero: bool = typer.Option(False, "--exit-zero", help="Exit 0 whatever the checks found."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Show details and evidence of every check."),
    resolve: List[str] = typer.Option([], "--resolve", metavar="HOST:PORT:ADDR",
                                      help="Connect to ADDR for HOST:PORT, as curl's --resolve (repeatable)."),
    ca_bundle: Optional[Path] = typer.Option(None, "--ca-bundle", help="Extra CA certificates for the probes."),
) -> None:
    """Run the checks for IMAGE and print the most likely root cause with its fix."""
    from ecrdoctor.context import RunOptions, parse_resolve
    from ecrdoctor.doctor import exit_code, run_check
    from ecrdoctor.reference import ReferenceError

    options = RunOptions(image=image, region=region, profile=profile, timeout=timeout, offline=offline,
                         root=str(root) if root else None, verbose=verbose, only=tuple(only), skip=tuple(skip),
                         resolve=tuple(resolve), ca_bundle=str(ca_bundle) if ca_bundle else None)
    if root is not None and not root.is_dir():
        _usage(f"--root {root} is not a directory")
    if ca_bundle is not None and not ca_bundle.is_file():
        _usage(f"--ca-bundle {ca_bundle} is not a file")
    try:
        parse_resolve(options.resolve)
    except ValueError as exc:
        _usage(str(exc))
    try:
        with _progress() as progress:
            report = run_check(options, progress=progress)
    except ReferenceError as exc:
        hint = f"; did you mean {exc.suggestion}?" if exc.suggestion else ""
        _usage(f"cannot parse image reference {image!r}: {exc.message}{hint}")
    _emit(_render(report, format, verbose, to_terminal=output is None and sys.stdout.isatty()), output)
    raise typer.Exit(exit_code(report, fail_on.value, exit_zero))


@app.command("checks")
def list_checks(
    format: ListFormat = typer.Option(ListFormat.text, "--format", help="text or json."),
) -> None:
    """List the check catalogue: id, area, title."""
    from ecrdoctor.catalogue import load_catalogue
    from ecrdoctor.render import catalogue_json, catalogue_text

    catalogue = load_catalogue()
    typer.echo(catalogue_json(catalogue) if format is ListFormat.json else catalogue_text(catalogue), nl=False)


@app.command()
def explain(check_id: str = typer.Argument(..., metavar="ID", help="A check id, e.g. docker.credentials.")) -> None:
    """What a check looks at, why it matters, how it decides, and the fixes it offers."""
    from ecrdoctor.catalogue import load_catalogue
    from ecrdoctor.render import explain_text

    chk = load_catalogue().get(check_id)
    if chk is None:
        _usage(f"no check with id {check_id!r}; `ecrdoctor checks` lists them")
    typer.echo(explain_text(chk), nl=False)


def _render(report: object, format: ReportFormat, verbose: bool, to_terminal: bool) -> str:
    from ecrdoctor.model import Report
    from ecrdoctor.render import report_json, report_junit, report_markdown, report_text

    assert isinstance(report, Report)
    if format is ReportFormat.json:
        return report_json(report)
    if format is ReportFormat.markdown:
        return report_markdown(report)
    if format is ReportFormat.junit:
        return report_junit(report)
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    return report_text(report, verbose=verbose, color=to_terminal, ascii_only=encoding not in ("utf8", ""),
                       width=None if not to_terminal else _terminal_width())


def _terminal_width() -> int:
    import shutil

    return shutil.get_terminal_size((100, 24)).columns


def _emit(text: str, output: Optional[Path]) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        _usage(f"cannot write {output}: {exc.strerror}")


def _usage(message: str) -> NoReturn:
    typer.echo(f"ecrdoctor: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


ProgressCallback = Callable[[Sequence[str], int, int], None]


class _progress:
    """A live line on stderr naming the checks still running, only when stderr is a terminal."""

    def __init__(self) -> None:
        self._status: object = None

    def __enter__(self) -> Optional[ProgressCallback]:
        if not sys.stderr.isatty():
            return None
        from rich.console import Console

        status = Console(stderr=True).status("starting checks…")
        status.start()
        self._status = status

        def update(running: Sequence[str], done: int, total: int) -> None:
            names = ", ".join(running[:4])
            status.update(f"{done}/{total} done; running {names}" if names else f"{done}/{total} done")

        return update

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()  # type: ignore[attr-defined]


def main() -> None:
    app()
