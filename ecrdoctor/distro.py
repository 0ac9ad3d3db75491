"""Which Linux distribution the host runs (/etc/os-release through ctx), and how it installs the ECR helper."""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional, Set, Tuple

if TYPE_CHECKING:
    from ecrdoctor.context import Context

AL2023_INSTALL = "sudo dnf install -y amazon-ecr-credential-helper"
AL2_INSTALL = "sudo amazon-linux-extras enable docker && sudo yum install -y amazon-ecr-credential-helper"
DEBIAN_INSTALL = "sudo apt-get install -y amazon-ecr-credential-helper"


def parse_os_release(text: str) -> Dict[str, str]:
    """KEY=value lines of os-release(5), quotes removed."""
    out: Dict[str, str] = {}
    for line in text.splitlines():
        key, eq, value = line.partition("=")
        if eq:
            out[key.strip()] = value.strip().strip('"\'')
    return out


def os_release(ctx: Context) -> Dict[str, str]:
    """/etc/os-release, read once per run."""
    return ctx.fact("os_release",
                    lambda: parse_os_release(ctx.host.read_text("/etc/os-release", limit=8192).text or ""))


def distro_ids(ctx: Context) -> Set[str]:
    """ID and ID_LIKE of the host: {"ubuntu", "debian"} on Ubuntu."""
    rel = os_release(ctx)
    return {rel.get("ID", "")} | set(rel.get("ID_LIKE", "").split())


def os_id(ctx: Context) -> Optional[str]:
    """"amzn2023", "amzn2", "debian" (Debian and Ubuntu) or None: the families the ECR helper is packaged for."""
    rel = os_release(ctx)
    ids = distro_ids(ctx)
    if "amzn" in ids:
        return "amzn2023" if rel.get("VERSION_ID", "").startswith("2023") else "amzn2"
    return "debian" if ids & {"debian", "ubuntu"} else None


def ecr_helper_install_commands(ctx: Context) -> Tuple[str, ...]:
    """The package that ships docker-credential-ecr-login on this host (research host-side.md §1.3 "Packages");
    both the dnf and the apt command when the distribution is not one of those."""
    return {"amzn2023": (AL2023_INSTALL,), "amzn2": (AL2_INSTALL,),
            "debian": (DEBIAN_INSTALL,)}.get(os_id(ctx) or "", (AL2023_INSTALL, DEBIAN_INSTALL))
