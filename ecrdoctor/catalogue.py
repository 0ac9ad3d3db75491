"""Discover checks through the `ecrdoctor.checks` entry-point group, built-in and third-party alike."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Iterable, List, Optional, Tuple

from ecrdoctor.api import Check

ENTRY_POINT_GROUP = "ecrdoctor.checks"

# Order in which areas are shown and in which failures are considered upstream of one another:
# a broken reference explains everything after it, no network explains AWS errors, missing AWS
# credentials explain a failing helper, and so on down to the runtime that finally pulls.
AREA_ORDER = (
    "target", "net", "aws", "docker", "helper", "iam", "ecr", "ptc", "registry", "runtime", "plugin",
)


# The built-in checks from most upstream cause to most downstream symptom. The diagnosis names the
# first failing check in this order: a mistyped reference explains everything; `sudo` explains a
# missing config and missing AWS credentials; no network explains AWS errors; no AWS credentials
# explain a failing helper; and so on down to the runtime that finally pulls. Checks not listed
# (plugins, later additions) follow by area.
CAUSAL_ORDER = (
    "target.reference",
    "docker.sudo",
    "runtime.docker",
    "net.dns", "net.proxy", "net.reach", "net.vpc-endpoints",
    "aws.region", "aws.clock", "aws.imds", "aws.credentials", "aws.identity",
    "docker.config", "docker.credsstore", "docker.credentials", "docker.token",
    "helper.installed", "helper.get", "helper.cache", "helper.log",
    "iam.auth-token", "iam.pull", "iam.pull-through", "iam.repository-policy",
    "ecr.repository", "ecr.image", "ecr.lifecycle", "ecr.platform",
    "ptc.rule", "ptc.path", "ptc.validate", "ptc.credentials", "ptc.templates", "ptc.first-pull",
    "net.s3", "registry.v2", "registry.manifest",
    "runtime.docker-config", "runtime.ecs-agent", "runtime.kubelet", "runtime.podman",
)


def causal_rank(check: Check) -> tuple[int, int, str]:
    if check.id in CAUSAL_ORDER:
        return (CAUSAL_ORDER.index(check.id), 0, "")
    return (len(CAUSAL_ORDER), area_rank(check.area), check.area)


@dataclass(frozen=True)
class LoadFailure:
    """A module named by an entry point that could not be imported or held a bad check."""

    entry_point: str
    module: str
    message: str


@dataclass(frozen=True)
class Catalogue:
    checks: Tuple[Check, ...]
    failures: Tuple[LoadFailure, ...] = ()

    def get(self, check_id: str) -> Optional[Check]:
        return next((c for c in self.checks if c.id == check_id), None)

    @property
    def ids(self) -> Tuple[str, ...]:
        return tuple(c.id for c in self.checks)


def area_rank(area: str) -> int:
    return AREA_ORDER.index(area) if area in AREA_ORDER else len(AREA_ORDER)


def checks_in_module(module: ModuleType) -> List[Check]:
    """Every Check object a module defines at top level, in definition order."""
    return [v for v in vars(module).values() if isinstance(v, Check)]


def _entry_points() -> list[tuple[str, str]]:
    from importlib.metadata import entry_points

    if sys.version_info >= (3, 10):
        eps = entry_points(group=ENTRY_POINT_GROUP)
    else:  # Python 3.9: entry_points() returns a dict of groups
        eps = entry_points().get(ENTRY_POINT_GROUP, ())
    seen: dict[str, str] = {}
    for ep in eps:
        seen.setdefault(ep.name, ep.value)
    return sorted(seen.items())


def load_catalogue(entry_points: Optional[Iterable[tuple[str, str]]] = None) -> Catalogue:
    """Import every module registered in the group; an import failure is recorded, never raised."""
    import importlib

    checks: dict[str, Check] = {}
    failures: list[LoadFailure] = []
    for name, value in (_entry_points() if entry_points is None else entry_points):
        module_name = value.split(":", 1)[0].strip()
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # a plugin's bug must not take the tool down
            failures.append(LoadFailure(name, module_name, f"{type(exc).__name__}: {exc}"))
            continue
        for found in checks_in_module(module):
            if found.id in checks and checks[found.id] is not found:
                failures.append(
                    LoadFailure(name, module_name, f"check id {found.id} is already defined by "
                                f"{checks[found.id].module}")
                )
                continue
            checks[found.id] = found
    for c in checks.values():
        for req in c.requires:
            if req not in checks:
                failures.append(LoadFailure(c.module, c.module, f"check {c.id} requires unknown check {req}"))
    ordered = sorted(checks.values(), key=causal_rank)
    return Catalogue(tuple(_stable_topological(ordered)), tuple(failures))


def _stable_topological(checks: List[Check]) -> List[Check]:
    """Keep the given order, but move every check after the checks it requires."""
    by_id = {c.id: c for c in checks}
    done: set[str] = set()
    out: list[Check] = []
    visiting: set[str] = set()

    def visit(c: Check) -> None:
        if c.id in done or c.id in visiting:
            return
        visiting.add(c.id)
        for req in c.requires:
            if req in by_id:
                visit(by_id[req])
        visiting.discard(c.id)
        done.add(c.id)
        out.append(c)

    for c in checks:
        visit(c)
    return out
