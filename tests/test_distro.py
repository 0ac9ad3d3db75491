"""ecrdoctor.distro: the host's distribution from /etc/os-release, and the ECR helper's install command there."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest

from ecrdoctor.context import Context, RunOptions
from ecrdoctor.distro import AL2_INSTALL, AL2023_INSTALL, DEBIAN_INSTALL, ecr_helper_install_commands, os_id


@pytest.mark.parametrize(("text", "family", "commands"), [
    pytest.param('NAME="Amazon Linux"\nID="amzn"\nVERSION_ID="2023"\n', "amzn2023", (AL2023_INSTALL,), id="al2023"),
    pytest.param("ID='amzn'\nVERSION_ID='2'\n", "amzn2", (AL2_INSTALL,), id="al2-single-quotes"),
    pytest.param("ID=ubuntu\nID_LIKE=debian\n", "debian", (DEBIAN_INSTALL,), id="ubuntu"),
    pytest.param("ID=debian\nVERSION_ID=12\n", "debian", (DEBIAN_INSTALL,), id="debian"),
    pytest.param('ID="rhel"\nID_LIKE="fedora"\n', None, (AL2023_INSTALL, DEBIAN_INSTALL), id="unknown-gets-both"),
    pytest.param(None, None, (AL2023_INSTALL, DEBIAN_INSTALL), id="no-os-release"),
])
def test_install_command_follows_os_release(tmp_path: Path, text: Optional[str], family: Optional[str],
                                            commands: tuple[str, ...]) -> None:
    if text is not None:
        (tmp_path / "etc").mkdir()
        (tmp_path / "etc/os-release").write_text(text)
    ctx = Context.create(RunOptions(root=str(tmp_path)))
    assert os_id(ctx) == family
    assert ecr_helper_install_commands(ctx) == commands
