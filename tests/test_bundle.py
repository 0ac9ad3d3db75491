"""Bundles: a recorded run replays offline to the same report, through the same checks (SPEC §6).

Recording drives real parts (moto's server, a loopback IMDS, files on disk, the console script); replay
runs in a subprocess with no AWS credentials, AWS pointed at a closed loopback port and, where `unshare`
works, in a network namespace with no network at all.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from ecrdoctor.bundle import FORMAT_VERSION, read_bundle
from ecrdoctor.host import CommandResult, FileRead, Host
from ecrdoctor.net import HttpResult, TapedProbe
from ecrdoctor.redact import Redactor
from ecrdoctor.tape import NotInBundle, Tape, decode, encode
from tests.checks.test_ecr import push
from tests.conftest import (
    FakeImds,
    MotoServer,
    ec2_root,
    ecr_password_for,
    ecrdoctor_exe,
    hermetic_env,
    need,
    run_cli,
)

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4"
REGISTRY = IMAGE.split("/")[0]
FIXTURES = Path(__file__).parent / "fixtures" / "bundles"


def _offline_prefix() -> list[str]:
    """`unshare -n` (a network namespace with only a down loopback) when this machine allows it."""
    exe = shutil.which("unshare")
    if exe is None:
        need("unshare (util-linux) for an offline replay", False)
        return []
    probe = subprocess.run([exe, "-n", "true"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        need("unshare -n (root or user namespaces) for an offline replay", False)
        return []
    return [exe, "-n"]


def replay(bundle: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`ecrdoctor check --from-bundle` with no credentials, no AWS endpoint that answers and no network."""
    env = hermetic_env(tmp_path / "replay-home")
    (tmp_path / "replay-home").mkdir(exist_ok=True)
    cmd = [*_offline_prefix(), ecrdoctor_exe(), "check", "--from-bundle", str(bundle), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def comparable(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(r["id"], r["status"], r["summary"], r.get("details"), r.get("fix"), r.get("evidence"))
            for r in report["results"]]


@pytest.fixture
def broken_host(tmp_path: Path, moto: MotoServer, fake_imds: FakeImds) -> tuple[Path, dict[str, str]]:
    """An EC2 host whose docker config holds a `docker login` token that expired yesterday; the image exists."""
    ecr = moto.boto3_client("ecr")
    ecr.create_repository(repositoryName="team/app")
    push(ecr, "1.4")
    push(ecr, "1.3")
    root = ec2_root(tmp_path / "root")
    home = root / "home/ec2-user"
    (home / ".docker").mkdir(parents=True)
    expired = time.time() - 86400
    token = base64.b64encode(b"AWS:" + ecr_password_for("BUNDLE-TOKEN-MARKER", expired).encode()).decode()
    (home / ".docker/config.json").write_text(json.dumps({"auths": {REGISTRY: {"auth": token}}}))
    (root / "etc/docker").mkdir(parents=True)
    (root / "etc/docker/daemon.json").write_text('{"log-driver": "json-file"}')
    env = hermetic_env(tmp_path / "unused", HOME="/home/ec2-user", AWS_EC2_METADATA_SERVICE_ENDPOINT=fake_imds.url,
                       **moto.env())
    del env["AWS_EC2_METADATA_DISABLED"]
    return root, env


def record(tmp_path: Path, root: Path, env: dict[str, str], *extra: str) -> tuple[Path, dict[str, Any]]:
    bundle = tmp_path / "host.tar.gz"
    out = run_cli(["bundle", IMAGE, "-o", str(bundle), "--root", str(root), "--format", "json",
                   "--skip", "net.*", "--skip", "registry.*", *extra], env)
    assert out.returncode == 1, out.stderr
    assert f"wrote {bundle}" in out.stderr
    return bundle, json.loads(out.stdout)


def test_a_bundle_replays_offline_to_the_same_report(tmp_path: Path, broken_host: tuple[Path, dict[str, str]],
                                                      schema_validator: Callable[[object], None]) -> None:
    root, env = broken_host
    bundle, live = record(tmp_path, root, env)
    assert live["diagnosis"][0] == "docker.token", live["diagnosis"]
    out = replay(bundle, tmp_path, "--format", "json")
    assert out.returncode == 1, out.stderr
    replayed = json.loads(out.stdout)
    schema_validator(replayed)
    assert replayed["diagnosis"] == live["diagnosis"]
    assert replayed["target"] == live["target"]
    assert replayed["host"] == live["host"]
    assert comparable(replayed) == comparable(live)
    # the token's expiry is judged at the recording's time, not today's
    token = next(r for r in replayed["results"] if r["id"] == "docker.token")
    assert "expired" in token["summary"] and "1 d" in token["summary"], token["summary"]


def test_bundle_members_are_what_the_manifest_says(tmp_path: Path, broken_host: tuple[Path, dict[str, str]]) -> None:
    root, env = broken_host
    bundle, live = record(tmp_path, root, env)
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = tar.extractfile("files/home/ec2-user/.docker/config.json").read().decode()  # type: ignore[union-attr]
        env_doc = json.loads(tar.extractfile("env.json").read())  # type: ignore[union-attr]
    assert manifest["format"] == "ecrdoctor-bundle" and manifest["format_version"] == FORMAT_VERSION
    assert sorted(names) == sorted(manifest["members"])
    assert "files/etc/docker/daemon.json" in manifest["collected"]["files"]
    assert manifest["collected"]["calls"]["aws.ecr.DescribeImages"] >= 1
    assert manifest["diagnosis"] == live["diagnosis"]
    assert any("ECR tokens" in rule for rule in manifest["redaction"])
    # the docker config is there for a person to read, with the token's secret parts gone and its expiry kept
    assert "BUNDLE-TOKEN-MARKER" not in config
    auth = json.loads(config)["auths"][REGISTRY]["auth"]
    inner = json.loads(base64.b64decode(base64.b64decode(auth)[4:]))
    assert inner["payload"] == "[REDACTED]" and inner["expiration"] < time.time()
    # environment: every name, values only for the allow-list
    assert env_doc["AWS_SECRET_ACCESS_KEY"] is None and env_doc["AWS_ACCESS_KEY_ID"] is None
    assert env_doc["HOME"] == "/home/ec2-user" and env_doc["AWS_DEFAULT_REGION"] == "us-east-1"


def _rewrite(bundle: Path, target: Path, edit: Callable[[dict[str, bytes]], None]) -> Path:
    with tarfile.open(bundle) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    edit(members)
    with tarfile.open(target, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return target


def test_a_call_the_bundle_lacks_skips_only_the_checks_that_need_it(
        tmp_path: Path, broken_host: tuple[Path, dict[str, str]]) -> None:
    root, env = broken_host
    bundle, live = record(tmp_path, root, env)

    def drop_describe_images(members: dict[str, bytes]) -> None:
        doc = json.loads(members["calls.json"])
        doc["calls"] = [c for c in doc["calls"] if c["kind"] != "aws.ecr.DescribeImages"]
        members["calls.json"] = json.dumps(doc).encode()

    older = _rewrite(bundle, tmp_path / "older.tar.gz", drop_describe_images)
    out = replay(older, tmp_path, "--format", "json")
    replayed = {r["id"]: r for r in json.loads(out.stdout)["results"]}
    before = {r["id"]: r for r in live["results"]}
    assert replayed["ecr.image"]["status"] == "skip"
    assert replayed["ecr.image"]["summary"].startswith("not in bundle")
    assert "aws.ecr.DescribeImages" in replayed["ecr.image"]["summary"]
    unaffected = [i for i in before if i not in ("ecr.image", "ecr.platform", "ecr.lifecycle")]
    for cid in unaffected:
        assert (replayed[cid]["status"], replayed[cid]["summary"]) == (before[cid]["status"], before[cid]["summary"])


@pytest.mark.parametrize("content, message", [
    (b"not a tarball", "not a readable bundle"),
    (None, "has no manifest.json"),
    ("format", "reads format 1"),
])
def test_an_unreadable_bundle_is_a_usage_error(tmp_path: Path, content: Any, message: str) -> None:
    path = tmp_path / "b.tar.gz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        members: dict[str, bytes] = {"report.json": b"{}"}
        if content == "format":
            members["manifest.json"] = json.dumps({"format": "ecrdoctor-bundle", "format_version": 99}).encode()
        with tarfile.open(path, "w:gz") as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    out = run_cli(["check", "--from-bundle", str(path)], hermetic_env(tmp_path))
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_a_bundle_from_an_earlier_commit_still_replays(tmp_path: Path) -> None:
    """Kept as fixtures: bundles written by earlier versions. Each replays to the diagnosis it recorded."""
    bundles = sorted(FIXTURES.glob("*.tar.gz"))
    assert bundles, "no fixture bundle from an earlier commit"
    for path in bundles:
        recorded = read_bundle(path)
        out = replay(path, tmp_path, "--format", "json")
        assert out.returncode in (0, 1, 3), out.stderr
        replayed = json.loads(out.stdout)
        assert replayed["diagnosis"] == list(recorded.manifest["diagnosis"]), path.name
        assert replayed["target"] == recorded.manifest["target"]
        not_in_bundle = [r["id"] for r in replayed["results"] if r["summary"].startswith("not in bundle")]
        assert not not_in_bundle, f"{path.name}: checks found calls missing: {not_in_bundle}"


# -- the tape itself ------------------------------------------------------------------------------------


def test_answers_survive_the_trip_through_json() -> None:
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    values = [
        CommandResult(("docker", "version"), 0, "out", "err", 0.5),
        FileRead("/etc/x", text="é\n"),
        HttpResult("http://h/", 200, 3, {"date": "x"}, "body"),
        {"nested": [b"\x7fELF", when, ("a", "b")]},
    ]
    for value in values:
        assert decode(json.loads(json.dumps(encode(value)))) == (
            value if not isinstance(value, dict) else {"nested": [b"\x7fELF", when, ["a", "b"]]})


def test_fields_a_later_version_adds_or_drops_do_not_break_replay() -> None:
    doc = encode(FileRead("/etc/x", text="t"))
    doc["added_later"] = 1
    del doc["error"]
    assert decode(doc) == FileRead("/etc/x", text="t")


def test_replay_answers_in_recorded_order_and_refuses_what_it_lacks(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("one")
    rec = Tape("record")
    host = Host(env={}, tape=rec)
    host.read_text(str(tmp_path / "f"))
    (tmp_path / "f").write_text("two")
    host.read_text(str(tmp_path / "f"))
    play = Host(env={}, tape=Tape("replay", entries=rec.entries))
    assert play.read_text(str(tmp_path / "f")).text == "one"
    assert play.read_text(str(tmp_path / "f")).text == "two"
    assert play.read_text(str(tmp_path / "f")).text == "two"  # the last answer again
    with pytest.raises(NotInBundle):
        play.read_text(str(tmp_path / "other"))


def test_a_secret_learnt_after_an_answer_was_recorded_is_still_redacted(tmp_path: Path) -> None:
    """The helper's Secret is registered once `helper.get` parsed it, after earlier answers held it."""
    (tmp_path / "out").write_text("plain text with LATE-SECRET-VALUE-123 inside")
    tape = Tape("record")
    Host(env={}, tape=tape).read_text(str(tmp_path / "out"))
    tape.redactor.add("LATE-SECRET-VALUE-123")
    assert "LATE-SECRET-VALUE-123" not in json.dumps(tape.export())


def test_replay_keeps_the_recording_clock() -> None:
    then = float(int(time.time()) - 30 * 86400)
    host = Host(env={}, tape=Tape("replay", recorded_at=then))
    assert host.now().timestamp() == then
    time.sleep(0.01)
    assert host.now().timestamp() == then  # however long the replay takes: the same words every time


def test_recorded_probe_keys_hold_no_credentials() -> None:
    class Fixed:
        def http(self, method: str, url: str, headers: Any = None, timeout: float = 1.0,
                 proxy: Any = None) -> HttpResult:
            return HttpResult(url, 200, 1, {}, "")

    tape = Tape("record", redactor=Redactor())
    probe = TapedProbe(Fixed(), tape)  # type: ignore[arg-type]
    probe.http("GET", "https://r.example/v2/", headers={"Authorization": "Bearer SECRET-BEARER-VALUE"})
    probe.http("PUT", "http://169.254.169.254/latest/api/token",
               headers={"X-aws-ec2-metadata-token": "IMDS-TOKEN-VALUE"})
    text = json.dumps(tape.export())
    assert "SECRET-BEARER-VALUE" not in text and "IMDS-TOKEN-VALUE" not in text
    assert "Bearer [REDACTED]" in text



def test_host_facts_that_cannot_change_are_asked_once_per_run(tmp_path: Path) -> None:
    """Who this is, the CPU, PATH lookups, container and EC2 detection: once, however many checks ask."""
    tape = Tape("record")
    host = Host(env={"PATH": "/usr/bin:/bin"}, root=str(tmp_path), tape=tape)
    for _ in range(3):
        host.current_user(), host.platform(), host.which("sh"), host.in_container(), host.on_ec2()
    kinds = [e["kind"] for e in tape.entries]
    for kind in ("host.current_user", "host.platform", "host.which"):
        assert kinds.count(kind) == 1, kinds
    assert kinds.count("host.exists") == 2  # /.dockerenv and /run/.containerenv, once each
    (tmp_path / "f").write_text("one")
    host.read_text("/f")
    (tmp_path / "f").write_text("two")
    assert host.read_text("/f").text == "two"  # files are read afresh: a log grows during a run
