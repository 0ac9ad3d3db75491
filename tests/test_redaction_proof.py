"""Redaction, proven end to end (SPEC §7): a host seeded with every secret kind, each carrying a unique marker;
every byte ecrdoctor writes — each report format, stderr, -o files, every bundle member, replays of the bundle,
the error path of a check that raises with a secret in its message — is scanned for each marker, for its
base64 forms at every alignment, and inside any base64 run decoded up to three levels deep. Zero hits.

Runs the real console script in a network namespace with no network (`unshare -n`), so the network and AWS
checks run and fail fast instead of asking real DNS; the credential helper is a script on PATH that answers
as the real one does, with a marked Secret.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import gzip
import json
import re
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.conftest import ec2_root, ecr_password_for, ecrdoctor_exe, hermetic_env, write_plugin
from tests.test_bundle import _offline_prefix

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1.4"
REGISTRY = IMAGE.split("/")[0]

MARKERS = {
    "auths": "MarkAuthsEcrToken7Q",
    "docker_auth_config": "MarkDockerAuthConfig3Z",
    "helper_secret": "MarkHelperSecretOut5W",
    "env_secret_key": "MarkEnvSecretKeyQ9",
    "env_session_token": "MarkEnvSessionTokenK2",
    "file_secret_key": "MarkFileSecretKeyV4",
    "file_session_token": "MarkFileSessionTokY8",
    "config_secret_key": "MarkConfigSecretKeyH1",
    "presigned": "MarkPresignedSigN6",
    "authorization": "MarkAuthzHeaderSigJ3",
    "pem": "MarkPemPrivateKeyBodyX5",
    "ecs_password": "MarkEcsEnginePasswdT7",
    "proxy_password": "MarkProxyPasswordR2",
    "hub_password": "MarkHubLoginPasswdU4",
}


def _auth(password: str, user: str = "AWS") -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def seeded_host(tmp_path: Path, mounted: bool) -> tuple[list[str], dict[str, str]]:
    """The seeded host: `mounted` reads system files under --root (ecs.config, /etc/default/docker, the user's
    files); otherwise the user's files are in a real HOME and the credential helper really runs (under --root
    helper.get is skipped: it would run this machine's binary). Returns the extra CLI arguments and the env."""
    m = MARKERS
    later = time.time() + 6 * 3600
    root = ec2_root(tmp_path / "root")
    home = root / "home/ec2-user" if mounted else tmp_path / "home-live"
    host_home = "/home/ec2-user" if mounted else str(home)
    (home / ".docker").mkdir(parents=True)
    (home / ".docker/config.json").write_text(json.dumps({
        "auths": {REGISTRY: {"auth": _auth(ecr_password_for(m["auths"], later))},
                  "https://index.docker.io/v1/": {"auth": _auth(m["hub_password"], "hubuser")}},
        "credHelpers": {REGISTRY: "ecr-login", "public.ecr.aws": "ecr-login"},
    }))
    (home / ".aws").mkdir()
    (home / ".aws/credentials").write_text(
        f"[default]\naws_access_key_id = AKIAFILEKEY000000WXYZ\naws_secret_access_key = {m['file_secret_key']}\n"
        f"aws_session_token = {m['file_session_token']}\n")
    (home / ".aws/config").write_text(
        f"[default]\nregion = us-east-1\n[profile inline]\naws_access_key_id = AKIAINLINE00000000AB\n"
        f"aws_secret_access_key = {m['config_secret_key']}\n")
    (home / ".ecr/log").mkdir(parents=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    (home / ".ecr/log/ecr-login.log").write_text(
        f'time="{stamp}" level=debug msg="Retrieving credentials" region=us-east-1 registry=123456789012 '
        f'serverURL={REGISTRY}\n'
        f'time="{stamp}" level=debug msg="layer url https://prod-us-east-1-starport-layer-bucket.s3.us-east-1.'
        f'amazonaws.com/ab/cd?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAX%2F20260101&'
        f'X-Amz-Signature={m["presigned"]}"\n'
        f'time="{stamp}" level=debug msg="request headers" header="Authorization: AWS4-HMAC-SHA256 '
        f'Credential=AKIAX/20260101/us-east-1/ecr/aws4_request, SignedHeaders=host, Signature={m["authorization"]}"\n'
        f'time="{stamp}" level=error msg="Error retrieving credentials" error="AccessDeniedException: User is not '
        f'authorized to perform: ecr:GetAuthorizationToken"\n')
    (root / "usr/lib/systemd/system").mkdir(parents=True)
    (root / "usr/lib/systemd/system/docker.service").write_text(
        "[Service]\nEnvironmentFile=-/etc/default/docker\nExecStart=/usr/sbin/dockerd -H fd://\n")
    (root / "etc/default").mkdir(parents=True)
    pem_body = base64.b64encode(m["pem"].encode() * 4).decode()
    (root / "etc/default/docker").write_text(
        "# Docker Upstart and SysVinit configuration file\nexport HTTPS_PROXY=\n"
        f"# -----BEGIN RSA PRIVATE KEY-----\n# {pem_body}\n# -----END RSA PRIVATE KEY-----\n")
    (root / "etc/ecs").mkdir(parents=True)
    (root / "etc/ecs/ecs.config").write_text(
        "ECS_CLUSTER=prod\nECS_ENGINE_AUTH_TYPE=dockercfg\n"
        'ECS_ENGINE_AUTH_DATA={"https://index.docker.io/v1/":{"auth":"' + _auth(m["ecs_password"], "ecsuser")
        + '","email":"ops@example.com"}}\n')
    # the credential helper: a script on PATH answering `get` as the real binary does
    bindir = tmp_path / "bin"
    secret = ecr_password_for(m["helper_secret"], later)
    helper = ("#!/bin/sh\nread host\n"
              f"printf '{{\"ServerURL\":\"%s\",\"Username\":\"AWS\",\"Secret\":\"{secret}\"}}' "
              '"$host"\n')
    for where in (bindir, root / str(bindir).lstrip("/")):
        where.mkdir(parents=True, exist_ok=True)
        (where / "docker-credential-ecr-login").write_text(helper)
        (where / "docker-credential-ecr-login").chmod(0o755)
    plugins = write_plugin(tmp_path / "plugins", "leaky-checks", {"leaky": "leaky_checks"}, {"leaky_checks": '''
        import os
        from ecrdoctor.api import check

        @check("plugin.leaky", title="A check that dies with secrets in its message")
        def leaky(ctx):
            raise RuntimeError("boom: " + os.environ["AWS_SECRET_ACCESS_KEY"] + " " + os.environ["DOCKER_AUTH_CONFIG"])
    '''})
    env = hermetic_env(
        tmp_path / "unused", HOME=host_home, PATH=f"{bindir}:/usr/bin:/bin",
        AWS_ACCESS_KEY_ID="AKIAENVKEY0000000JKL", AWS_SECRET_ACCESS_KEY=m["env_secret_key"],
        AWS_SESSION_TOKEN=m["env_session_token"], AWS_DEFAULT_REGION="us-east-1",
        DOCKER_AUTH_CONFIG=json.dumps({"auths": {"public.ecr.aws": {
            "auth": _auth(ecr_password_for(m["docker_auth_config"], later))}}}),
        HTTPS_PROXY=f"http://proxyuser:{m['proxy_password']}@127.0.0.1:3128", PYTHONPATH=str(plugins),
    )
    del env["AWS_ENDPOINT_URL"]  # nothing answers inside the namespace anyway; the helper must run
    # botocore reads these itself (not through --root): point it at the seeded files
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(home / ".aws/credentials")
    env["AWS_CONFIG_FILE"] = str(home / ".aws/config")
    env["AWS_ECR_CACHE_DIR"] = f"{host_home}/.ecr"
    return (["--root", str(root)] if mounted else []), env


def _forms(marker: str) -> set[str]:
    """The marker, and the part of its base64 encoding that does not depend on what precedes it (3 alignments)."""
    out = {marker}
    raw = marker.encode()
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + raw).decode()
        start, end = -(-8 * k // 6), (8 * (k + len(raw))) // 6
        out.add(enc[start:end])
    return out


_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")


def _decoded(text: str, depth: int = 3) -> list[str]:
    """Every base64 run in `text` decoded (at each of 4 starting offsets), recursively."""
    if depth == 0:
        return []
    found: list[str] = []
    for run in _B64_RUN.findall(text):
        for offset in range(4):
            body = run[offset:].rstrip("=").replace("-", "+").replace("_", "/")
            body = body[: len(body) - len(body) % 4]
            try:
                plain = base64.b64decode(body, validate=True).decode("latin-1")
            except (binascii.Error, ValueError):
                continue
            found.append(plain)
            found.extend(_decoded(plain, depth - 1))
    return found


def leaks(blob: str) -> list[str]:
    hits = []
    candidates = [blob, *_decoded(blob)]
    for name, marker in MARKERS.items():
        forms = _forms(marker)
        if any(form in text for text in candidates for form in forms):
            hits.append(name)
    return hits


def test_the_scanner_finds_every_form_it_claims_to() -> None:
    """Guards the guard: a marker in plain text, in base64 at any alignment and inside an ECR token is found."""
    m = MARKERS["auths"]
    assert leaks(f"x {m} y") == ["auths"]
    for prefix in ("", "a", "ab"):
        assert leaks(base64.b64encode((prefix + m).encode()).decode()) == ["auths"]
    assert leaks(_auth(ecr_password_for(m, 1e9))) == ["auths"]
    assert leaks(json.dumps({"auth": _auth(ecr_password_for(m, 1e9))})) == ["auths"]


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_offline_prefix(), ecrdoctor_exe(), *args], env=env, capture_output=True, text=True,
                          timeout=90, stdin=subprocess.DEVNULL)


def _bundle_members(path: Path) -> dict[str, str]:
    with tarfile.open(path) as tar:
        out = {m.name: tar.extractfile(m).read().decode("utf-8", "replace")  # type: ignore[union-attr]
               for m in tar.getmembers() if m.isfile()}
    out["<whole tar, uncompressed>"] = gzip.decompress(path.read_bytes()).decode("latin-1")
    return out


@pytest.fixture(scope="module", params=["mounted", "live"])
def outputs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Everything ecrdoctor writes for the seeded host, by where it came from."""
    tmp_path = tmp_path_factory.mktemp("seeded")
    root_args, env = seeded_host(tmp_path, mounted=request.param == "mounted")
    seen: dict[str, str] = {"mode": request.param}
    base = [*root_args, "--timeout", "15"]
    for fmt in ("text", "json", "markdown", "junit"):
        for verbose in ((), ("-v",)):
            res = _cli(["check", IMAGE, "--format", fmt, *verbose, *base], env)
            seen[f"check {fmt} {verbose} stdout"] = res.stdout
            seen[f"check {fmt} {verbose} stderr"] = res.stderr
    report_file = tmp_path / "report.json"
    res = _cli(["check", IMAGE, "--format", "json", "-o", str(report_file), *base], env)
    seen["check -o stderr"] = res.stderr
    seen["check -o file"] = report_file.read_text()
    bundle = tmp_path / "seeded.tar.gz"
    res = _cli(["bundle", IMAGE, "-o", str(bundle), "-v", *base], env)
    seen["bundle stdout"], seen["bundle stderr"] = res.stdout, res.stderr
    for name, text in _bundle_members(bundle).items():
        seen[f"bundle member {name}"] = text
    clean_env = hermetic_env(tmp_path / "replay")
    clean_env["PYTHONPATH"] = env["PYTHONPATH"]
    for fmt in ("text", "json", "markdown", "junit"):
        res = _cli(["check", "--from-bundle", str(bundle), "--format", fmt, "-v"], clean_env)
        seen[f"replay {fmt} stdout"], seen[f"replay {fmt} stderr"] = res.stdout, res.stderr
    return seen


def test_the_seeded_run_really_met_every_secret(outputs: dict[str, str]) -> None:
    """Without this, a run that never read the secrets would pass the scan trivially."""
    report = json.loads(outputs["check json () stdout"])
    by_id = {r["id"]: r for r in report["results"]}
    assert by_id["plugin.leaky"]["status"] == "error"
    assert by_id["aws.credentials"]["evidence"].get("provider") == "env", by_id["aws.credentials"]
    members = [k for k in outputs if k.startswith("bundle member files/")]
    home = "home/ec2-user" if outputs["mode"] == "mounted" else "*/home-live"
    for path in (f"{home}/.docker/config.json", f"{home}/.ecr/log/ecr-login.log"):
        assert any(fnmatch.fnmatch(m, f"bundle member files/{path}") for m in members), (path, members)
    calls = outputs["bundle member calls.json"]
    assert "aws.config_file" in calls and "inline" in calls
    if outputs["mode"] == "mounted":
        for path in ("etc/default/docker", "etc/ecs/ecs.config"):
            assert f"bundle member files/{path}" in members, members
    else:  # the helper really ran and answered with its marked Secret
        assert by_id["helper.get"]["status"] in ("pass", "warn"), by_id["helper.get"]
        assert '"kind": "host.run"' in calls and "docker-credential-ecr-login" in calls


def test_no_output_holds_any_secret_in_any_form(outputs: dict[str, str]) -> None:
    found = {where: hits for where, text in outputs.items() if (hits := leaks(text))}
    assert not found, json.dumps(found, indent=1)


def _member(outputs: dict[str, str], pattern: str) -> str:
    return next(text for name, text in outputs.items() if fnmatch.fnmatch(name, f"bundle member files/{pattern}"))


def test_the_bundle_keeps_what_identifies_without_revealing(outputs: dict[str, str]) -> None:
    config = json.loads(_member(outputs, "*/.docker/config.json"))
    hub = base64.b64decode(config["auths"]["https://index.docker.io/v1/"]["auth"]).decode()
    assert hub == "hubuser:[REDACTED]"
    token = base64.b64decode(config["auths"][REGISTRY]["auth"])[4:]
    doc = json.loads(base64.b64decode(token))
    assert doc["payload"] == "[REDACTED]" and doc["expiration"] > time.time()
    env = json.loads(outputs["bundle member env.json"])
    assert env["AWS_SECRET_ACCESS_KEY"] is None and env["AWS_SESSION_TOKEN"] is None
    assert env["HTTPS_PROXY"] == "http://proxyuser:REDACTED@127.0.0.1:3128"
    log = _member(outputs, "*/.ecr/log/ecr-login.log")
    assert "AccessDeniedException" in log and "Authorization: AWS4-HMAC-SHA256 [REDACTED]" in log


def test_replay_of_the_seeded_bundle_matches_the_live_run(outputs: dict[str, str]) -> None:
    live = json.loads(outputs["check json () stdout"])
    replayed = json.loads(outputs["replay json stdout"])
    assert replayed["diagnosis"] == live["diagnosis"]
    pairs = {r["id"]: r["status"] for r in live["results"]}
    assert {r["id"]: r["status"] for r in replayed["results"]} == pairs

