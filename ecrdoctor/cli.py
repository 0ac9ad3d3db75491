"""Command line: parse options, call one function, print, map the outcome to an exit status."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Callable, List, NoReturn, Optional, Sequence

import typer

from ecrdoctor import __version__

if TYPE_CHECKING:  # imported lazily at run time: `--help` must stay fast
    from ecrdoctor.context import RunOptions
    from ecrdoctor.model import Report
    from ecrdoctor.tape import Tape

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
    from_bundle: Optional[Path] = typer.Option(None, "--from-bundle", metavar="FILE",
                                               help="Re-evaluate a bundle offline instead of this host."),
) -> None:
    """Run the checks for IMAGE and print the most likely root cause with its fix."""
    if from_bundle is not None:
        _replay(from_bundle, image, format, output, only, skip, timeout, fail_on, exit_zero, verbose)
    options = _options(image, region, profile, timeout, offline, root, verbose, only, skip, resolve, ca_bundle)
    report = _run(options)
    _emit(_render(report, format, verbose, to_terminal=output is None and sys.stdout.isatty()), output)
    raise typer.Exit(_exit(report, fail_on, exit_zero))


@app.command()
def bundle(
    image: Optional[str] = typer.Argument(None, help="Image reference (or just an ECR registry host)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="FILE.tar.gz",
                                          help="Where to write the bundle (default: ecrdoctor-HOST-TIME.tar.gz)."),
    format: ReportFormat = typer.Option(ReportFormat.text, "--format", help="Format of the report on stdout."),
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
    """Run the checks and write a redacted bundle that `check --from-bundle` replays offline."""
    import os
    import socket

    from ecrdoctor.bundle import default_bundle_name, write_bundle
    from ecrdoctor.tape import Tape

    options = _options(image, region, profile, timeout, offline, root, verbose, only, skip, resolve, ca_bundle)
    target = output or Path(default_bundle_name(socket.gethostname()))
    if target.exists() and target.is_dir():
        _usage(f"-o {target} is a directory")
    tape = Tape("record")
    report = _run(options, tape=tape)
    try:
        manifest = write_bundle(target, report, tape, options, dict(os.environ))
    except OSError as exc:
        _usage(f"cannot write {target}: {exc.strerror}")
    calls = sum(manifest["collected"]["calls"].values())
    typer.echo(f"ecrdoctor: wrote {target} ({target.stat().st_size // 1024 + 1} KiB: {calls} recorded answers, "
               f"{len(manifest['collected']['files'])} files, secrets redacted; see manifest.json)", err=True)
    _emit(_render(report, format, verbose, to_terminal=sys.stdout.isatty()), None)
    raise typer.Exit(_exit(report, fail_on, exit_zero))


def _options(image: Optional[str], region: Optional[str], profile: Optional[str], timeout: float, offline: bool,
             root: Optional[Path], verbose: bool, only: Sequence[str], skip: Sequence[str], resolve: Sequence[str],
             ca_bundle: Optional[Path]) -> RunOptions:
    from ecrdoctor.context import RunOptions, parse_resolve

    if root is not None and not root.is_dir():
        _usage(f"--root {root} is not a directory")
    if ca_bundle is not None and not ca_bundle.is_file():
        _usage(f"--ca-bundle {ca_bundle} is not a file")
    try:
        parse_resolve(resolve)
    except ValueError as exc:
        _usage(str(exc))
    return RunOptions(image=image, region=region, profile=profile, timeout=timeout, offline=offline,
                      root=str(root) if root else None, verbose=verbose, only=tuple(only), skip=tuple(skip),
                      resolve=tuple(resolve), ca_bundle=str(ca_bundle) if ca_bundle else None)


def _run(options: RunOptions, tape: Optional[Tape] = None, env: Optional[dict[str, str]] = None) -> Report:
    from ecrdoctor.doctor import run_check
    from ecrdoctor.reference import ReferenceError

    try:
        with _progress() as progress:
            return run_check(options, progress=progress, tape=tape, env=env)
    except ReferenceError as exc:
        hint = f"; did you mean {exc.suggestion}?" if exc.suggestion else ""
        _usage(f"cannot parse image reference {options.image!r}: {exc.message}{hint}")


def _replay(path: Path, image: Optional[str], format: ReportFormat, output: Optional[Path], only: Sequence[str],
            skip: Sequence[str], timeout: float, fail_on: FailOn, exit_zero: bool, verbose: bool) -> NoReturn:
    """check --from-bundle: the bundle's options and target, this version's checks, no network, no credentials."""
    import dataclasses

    from ecrdoctor.bundle import BundleError, read_bundle

    try:
        recorded = read_bundle(path)
    except BundleError as exc:
        _usage(str(exc))
    if image and image != recorded.options.image:
        _usage(f"the bundle was recorded for {recorded.options.image or 'no image'}; leave IMAGE out to replay it")
    # what the recording left out (its --only/--skip) stays out: the bundle cannot answer for it
    options = dataclasses.replace(recorded.options, only=tuple(only) or recorded.options.only,
                                  skip=tuple(recorded.options.skip) + tuple(skip), timeout=timeout, verbose=verbose)
    report = _run(options, tape=recorded.tape(), env=recorded.replay_env())
    _emit(_render(report, format, verbose, to_terminal=output is None and sys.stdout.isatty()), output)
    raise typer.Exit(_exit(report, fail_on, exit_zero))


def _exit(report: Report, fail_on: FailOn, exit_zero: bool) -> int:
    from ecrdoctor.doctor import exit_code

    return exit_code(report, fail_on.value, exit_zero)


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


@app.command()
def demo(
    scenario: Optional[str] = typer.Argument(None, metavar="SCENARIO",
                                             help="A scenario name (default: the flagship one); see --list."),
    list_scenarios: bool = typer.Option(False, "--list", help="Name the scenarios, one a line, and exit."),
    format: ReportFormat = typer.Option(ReportFormat.text, "--format", help="Report format."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Show details and evidence of every check."),
) -> None:
    """Replay a realistic broken pull recorded on a simulated host and AWS account: no account or network needed."""
    from ecrdoctor import demo as demos

    if list_scenarios:
        typer.echo(demos.listing(), nl=False)
        return
    chosen = demos.get(scenario or demos.FLAGSHIP)
    if chosen is None:
        _usage(f"no demo scenario {scenario!r}; the scenarios are: {', '.join(demos.names())}")
    text = format is ReportFormat.text  # the header and the hint go to stderr when stdout must stay parseable
    typer.echo(demos.header(chosen, width=_terminal_width() if sys.stdout.isatty() else 100), nl=False, err=not text)
    try:
        _replay(chosen.path, None, format, None, (), (), 20.0, FailOn.fail, False, verbose)
    except typer.Exit:
        if scenario is None:
            typer.echo(("\n" if text else "") + demos.LIST_HINT, err=not text)
        raise


class FleetFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


@app.command()
def aggregate(
    inputs: List[str] = typer.Argument(..., metavar="REPORT_OR_DIR... [-]",
                                       help="JSON reports, directories of them (walked), or - for stdin."),
    format: FleetFormat = typer.Option(FleetFormat.text, "--format", help="Summary format."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the summary here, not stdout."),
) -> None:
    """Summarise many hosts' JSON reports: the most widespread root causes first, then failing checks."""
    from ecrdoctor.aggregate import aggregate as summarise
    from ecrdoctor.aggregate import fleet_json, fleet_markdown, fleet_text

    fleet = summarise(inputs, stdin=sys.stdin if "-" in inputs else None)
    if fleet.reports == 0 and fleet.unreadable == 0:
        _usage(f"no report found in {', '.join(inputs)}")
    render = {FleetFormat.json: fleet_json, FleetFormat.markdown: fleet_markdown}.get(format, fleet_text)
    _emit(render(fleet), output)
    if fleet.reports == 0:
        typer.echo(f"ecrdoctor: none of the {fleet.unreadable} inputs is a readable report", err=True)
        raise typer.Exit(EXIT_USAGE)


def _render(report: Report, format: ReportFormat, verbose: bool, to_terminal: bool) -> str:
    from ecrdoctor.render import report_json, report_junit, report_markdown, report_text

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
