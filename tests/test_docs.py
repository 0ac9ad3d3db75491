"""The documentation stays true: catalogue and explain text, command help, the README's sample output."""

from __future__ import annotations

import re
from pathlib import Path

from ecrdoctor.catalogue import load_catalogue
from tests.conftest import FakeImds, MotoServer, ec2_root, hermetic_env, run_cli

README = Path(__file__).resolve().parent.parent / "README.md"
SPEC_IDS_SO_FAR = ("target.reference", "docker.config", "docker.credentials", "aws.credentials", "aws.identity")


def test_every_check_documents_itself() -> None:
    catalogue = load_catalogue()
    assert not catalogue.failures, catalogue.failures
    for chk in catalogue.checks:
        assert chk.title.endswith("?"), f"{chk.id}: a title is the question the check answers"
        assert len(chk.doc.split("\n\n")) >= 2, f"{chk.id}: explain needs what/why and how it decides"
        assert "Decides:" in chk.doc, f"{chk.id}: the docstring must say how it decides"
        assert "References:" in chk.doc, f"{chk.id}: the docstring must name its sources"


def test_the_built_in_ids_of_this_issue_exist() -> None:
    assert set(SPEC_IDS_SO_FAR) <= set(load_catalogue().ids)


def test_every_check_id_is_named_in_the_readme() -> None:
    text = README.read_text()
    for cid in load_catalogue().ids:
        assert f"`{cid}`" in text, f"README does not mention {cid}"


def _readme_sample() -> str:
    match = re.search(r"<!-- sample-output -->\s*```text\n(.*?)```", README.read_text(), re.S)
    assert match, "README has no sample output block"
    return match.group(1)


def _normalise(text: str) -> str:
    text = re.sub(r"(?m)^Host .*$", "Host <host>", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", text)
    return re.sub(r"(?m) in \d+\.\d s$", " in <t> s", text)


def test_readme_sample_output_is_what_the_tool_prints(tmp_path: Path, fake_imds: FakeImds, moto: MotoServer) -> None:
    """The README shows a real run: an EC2 host with no instance profile and no docker config (AWS is moto)."""
    root = ec2_root(tmp_path / "root")
    (root / "home/ec2-user").mkdir(parents=True)
    env = hermetic_env(tmp_path / "unused", HOME="/home/ec2-user", AWS_EC2_METADATA_SERVICE_ENDPOINT=fake_imds.url,
                       AWS_ENDPOINT_URL=moto.url)
    del env["AWS_EC2_METADATA_DISABLED"]
    out = run_cli(["check", "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4", "--root", str(root),
                   "--skip", "net.*", "--skip", "registry.*"], env)
    assert out.returncode == 1, out.stderr
    assert _normalise(out.stdout) == _normalise(_readme_sample())


def test_the_readme_demo_table_names_every_scenario_and_its_diagnosis() -> None:
    from ecrdoctor.demo import SCENARIOS

    text = README.read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z0-9-]+)` \| [^|]+ \| (.+) \|$", text, re.M)}
    for scenario in SCENARIOS:
        assert scenario.name in rows, f"README's demo table lacks {scenario.name}"
        assert f"`{scenario.diagnosis[0][0]}`" in rows[scenario.name].split(",")[0], scenario.name
