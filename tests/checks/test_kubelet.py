"""runtime.kubelet through the real runner, against EKS node trees (AL2 and AL2023 layouts) under --root."""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import ecrdoctor.checks.kubelet as kubelet_checks
import pytest

from ecrdoctor.catalogue import Catalogue
from ecrdoctor.context import RunOptions
from ecrdoctor.doctor import run_check
from ecrdoctor.kubeletconfig import EKS_MATCH_IMAGES, parse_credential_provider_config
from ecrdoctor.model import Result, Status
from tests.conftest import SecretLedger, ecr_password_for

CATALOGUE = Catalogue((kubelet_checks.kubelet_provider,))
HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
IMAGE = f"{HOST}/team/app:1.4"
DUALSTACK_IMAGE = "123456789012.dkr-ecr.us-east-1.on.aws/team/app:1.4"
PAUSE = "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/pause:3.5"
MARKER = "kubelet-test-secret-Jp4"
CONFIG_DIR = "etc/eks/image-credential-provider"
CONFIG_JSON = f"{CONFIG_DIR}/config.json"
BINARY = f"{CONFIG_DIR}/ecr-credential-provider"
RESTART_KUBELET = "sudo systemctl restart kubelet"
RESTART_CONTAINERD = "sudo systemctl restart containerd"
# The AL2 list: amazon-eks-ami templates/al2/runtime/ecr-credential-provider-config.json (no dual-stack, no EU)
AL2_MATCH_IMAGES = ["*.dkr.ecr.*.amazonaws.com", "*.dkr.ecr.*.amazonaws.com.cn", "*.dkr.ecr-fips.*.amazonaws.com",
                    "*.dkr.ecr.*.c2s.ic.gov", "*.dkr.ecr.*.sc2s.sgov.gov", "*.dkr.ecr.*.cloud.adc-e.uk",
                    "*.dkr.ecr.*.csp.hci.ic.gov"]
AL2_UNIT = """\
[Unit]
Description=Kubernetes Kubelet
After=containerd.service

[Service]
ExecStart=/usr/bin/kubelet \\
    --config /etc/kubernetes/kubelet/kubelet-config.json \\
    --kubeconfig /var/lib/kubelet/kubeconfig \\
    --container-runtime-endpoint unix:///run/containerd/containerd.sock \\
    --image-credential-provider-config /etc/eks/image-credential-provider/config.json \\
    --image-credential-provider-bin-dir /etc/eks/image-credential-provider \\
    $KUBELET_ARGS \\
    $KUBELET_EXTRA_ARGS
Restart=always
"""
AL2023_UNIT = """\
[Service]
EnvironmentFile=/etc/eks/kubelet/environment
ExecStartPre=/sbin/iptables -P FORWARD ACCEPT -w 5
ExecStart=/usr/bin/kubelet $NODEADM_KUBELET_ARGS
"""
AL2023_YAML = """\
apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
  - name: ecr-credential-provider
    matchImages:
      - "*.dkr.ecr.*.amazonaws.com"
      - "*.dkr-ecr.*.on.aws"
    defaultCacheDuration: "12h"
    apiVersion: credentialprovider.kubelet.k8s.io/v1
"""


LEDGER = SecretLedger(kubelet_checks.kubelet_provider)
secret = LEDGER.add
assert_no_secret = LEDGER.assert_clean


def ecr_password(expiration: float) -> str:
    return secret(ecr_password_for(MARKER, expiration))


def provider_config(match_images: Optional[list[str]] = None, name: str = "ecr-credential-provider",
                    version: str = "v1", **provider: Any) -> str:
    entry = {"name": name, "matchImages": AL2_MATCH_IMAGES if match_images is None else match_images,
             "defaultCacheDuration": "12h", "apiVersion": f"credentialprovider.kubelet.k8s.io/{version}", **provider}
    return json.dumps({"apiVersion": f"kubelet.config.k8s.io/{version}", "kind": "CredentialProviderConfig",
                       "providers": [entry]}, indent=2)


def write(root: Path, path: str, text: str, mode: Optional[int] = None) -> Path:
    p = root / path
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    if mode is not None:
        p.chmod(mode)
    return p


def al2_node(root: Path, config: Optional[str] = None, binary_mode: Optional[int] = 0o755) -> Path:
    """An EKS AL2 node: flags in kubelet.service, the JSON config and the provider binary."""
    write(root, "etc/systemd/system/kubelet.service", AL2_UNIT)
    write(root, CONFIG_JSON, provider_config() if config is None else config)
    if binary_mode is not None:
        write(root, BINARY, "#!/bin/sh\nexit 1\n", binary_mode)
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root").mkdir()
    return tmp_path / "root"


def run(root: Path, image: Optional[str] = IMAGE) -> Result:
    report = run_check(RunOptions(image=image, root=str(root), timeout=15), catalogue=CATALOGUE)
    result = report.result("runtime.kubelet")
    assert result is not None
    if result.status is not Status.SKIP:
        assert_no_secret(root, image)
    assert MARKER not in json.dumps(report.to_dict()), "a credential reached the report"
    return result


def commands(r: Result) -> tuple[str, ...]:
    assert r.fix is not None, r
    return r.fix.commands


def run_fix(command: str, root: Path) -> subprocess.CompletedProcess[str]:
    """A fix command as pasted, pointed at the fixture tree and without sudo."""
    local = command.replace("sudo ", "").replace(" /etc/", f" {shlex.quote(str(root))}/etc/")
    env = {"PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", os.defpath)}
    return subprocess.run(["sh", "-c", local], env=env, capture_output=True, text=True, timeout=10,
                          stdin=subprocess.DEVNULL)


# --- pass and skip ---------------------------------------------------------------------------------

def test_eks_al2_node_with_the_ami_defaults_passes(root: Path) -> None:
    r = run(al2_node(root))
    assert r.status is Status.PASS
    assert r.summary == (f"kubelet asks ecr-credential-provider (/etc/eks/image-credential-provider/config.json) "
                         f"for {HOST}; the binary in /etc/eks/image-credential-provider is executable")
    assert "kubelet flags from /etc/systemd/system/kubelet.service" in r.details
    assert "/etc/eks/image-credential-provider/config.json: kubelet.config.k8s.io/v1 (kubelet 1.26 or newer)" \
        in r.details


def test_eks_al2023_node_with_nodeadm_flags_and_a_yaml_config_passes(root: Path) -> None:
    write(root, "etc/systemd/system/kubelet.service", AL2023_UNIT)
    write(root, "etc/eks/kubelet/environment",
          "NODEADM_KUBELET_ARGS=--node-ip=10.0.0.5 --image-credential-provider-config=/etc/eks/ecr/config.yaml "
          "--image-credential-provider-bin-dir=/opt/ecr/bin --v=2\n")
    write(root, "etc/eks/ecr/config.yaml", AL2023_YAML)
    write(root, "opt/ecr/bin/ecr-credential-provider", "#!/bin/sh\n", 0o755)
    r = run(root, image=DUALSTACK_IMAGE)
    assert r.status is Status.PASS
    assert "(/etc/eks/ecr/config.yaml) for 123456789012.dkr-ecr.us-east-1.on.aws" in r.summary
    assert "/opt/ecr/bin/ecr-credential-provider exists and is executable" in r.details


def test_running_kubelet_flags_win_over_the_unit_file(root: Path) -> None:
    al2_node(root)
    write(root, "etc/systemd/system/kubelet.service", AL2_UNIT.replace("config.json", "missing.json"))
    write(root, "proc/4242/comm", "kubelet\n")
    write(root, "proc/4242/cmdline", "\0".join(["/usr/bin/kubelet", "--image-credential-provider-config",
                                                "/etc/eks/image-credential-provider/config.json",
                                                "--image-credential-provider-bin-dir",
                                                "/etc/eks/image-credential-provider"]) + "\0")
    write(root, "proc/17/comm", "containerd\n")
    r = run(root)
    assert r.status is Status.PASS and "kubelet flags from the running kubelet (pid 4242)" in r.details


def test_drop_in_extra_args_point_kubelet_at_another_config(root: Path) -> None:
    al2_node(root)
    write(root, "etc/systemd/system/kubelet.service.d/30-kubelet-extra-args.conf",
          "[Service]\nEnvironment='KUBELET_EXTRA_ARGS=--image-credential-provider-config=/etc/custom/ecr.json'\n")
    r = run(root)
    assert r.status is Status.FAIL
    assert r.summary.startswith("kubelet cannot read /etc/custom/ecr.json: does not exist: kubelet does not start")


def test_host_without_kubelet_skips(root: Path) -> None:
    r = run(root)
    assert r.status is Status.SKIP and r.summary.startswith("no kubelet on this host")


def test_eks_directory_without_flags_or_config_skips(root: Path) -> None:
    (root / "etc/eks").mkdir(parents=True)
    r = run(root)
    assert r.status is Status.SKIP and "kubelet's flags not found" in r.summary


def test_without_flags_the_eks_default_config_is_assumed(root: Path) -> None:
    al2_node(root)
    (root / "etc/systemd/system/kubelet.service").unlink()
    r = run(root, image=None)
    assert r.status is Status.PASS and "for ECR hosts" in r.summary
    assert any("assuming the EKS default" in d for d in r.details)


# --- the credential provider config ----------------------------------------------------------------

def test_kubelet_started_without_a_credential_provider(root: Path) -> None:
    write(root, "etc/systemd/system/kubelet.service", "[Service]\nExecStart=/usr/bin/kubelet --config /x.json\n")
    r = run(root)
    assert r.status is Status.FAIL
    assert r.summary.startswith("kubelet runs without --image-credential-provider-config")
    assert commands(r)[-2:] == ("sudo systemctl edit kubelet", RESTART_KUBELET)
    written = commands(r)[0]
    payload = shlex.split(written)[1]  # echo '<json>' | sudo tee ...
    assert not parse_credential_provider_config(payload).problems


def test_missing_config_file_stops_kubelet_and_the_fix_writes_the_eks_default(root: Path) -> None:
    al2_node(root)
    (root / CONFIG_JSON).unlink()
    r = run(root)
    assert r.status is Status.FAIL
    assert r.summary == ("kubelet cannot read /etc/eks/image-credential-provider/config.json: does not exist: kubelet "
                         "does not start (`Failed to register CRI auth plugins`)")
    assert run_fix(commands(r)[0], root).returncode == 0
    cfg = parse_credential_provider_config((root / CONFIG_JSON).read_text())
    assert not cfg.problems and cfg.providers[0].match_images == EKS_MATCH_IMAGES
    assert run(root).status is Status.PASS


def test_unquoted_star_in_yaml_match_images_is_an_alias(root: Path) -> None:
    al2_node(root)
    write(root, "etc/systemd/system/kubelet.service", AL2_UNIT.replace("config.json", "config.yaml"))
    write(root, f"{CONFIG_DIR}/config.yaml", AL2023_YAML.replace('"*.dkr.ecr.*.amazonaws.com"',
                                                                 "*.dkr.ecr.*.amazonaws.com"))
    r = run(root)
    assert r.status is Status.FAIL
    assert "is not valid YAML or JSON" in r.summary and "must be quoted" in r.summary
    assert commands(r) == ("sudoedit /etc/eks/image-credential-provider/config.yaml", RESTART_KUBELET)


@pytest.mark.parametrize(("config", "says"), [
    (provider_config().replace('"kubelet.config.k8s.io/v1"', '"credentialprovider.kubelet.k8s.io/v1"'),
     "that is a provider's apiVersion"),
    (provider_config().replace('"matchImages"', '"matchImage"'), "unknown field 'matchImage'"),
    (provider_config().replace('"defaultCacheDuration": "12h",', ""), "defaultCacheDuration is required"),
    (provider_config().replace('"CredentialProviderConfig"', '"KubeletConfiguration"'), "kind is"),
])
def test_config_kubelet_refuses_fails_with_the_first_problem(root: Path, config: str, says: str) -> None:
    al2_node(root, config=config)
    r = run(root)
    assert r.status is Status.FAIL
    assert "is not a valid CredentialProviderConfig" in r.summary and says in r.summary
    assert r.fix is not None and "this overwrites the file" in r.fix.text
    assert commands(r)[-1] == RESTART_KUBELET


def test_config_directory_with_a_second_provider_file(root: Path) -> None:
    al2_node(root)
    write(root, "etc/systemd/system/kubelet.service", AL2_UNIT.replace("/config.json", "/conf.d"))
    write(root, f"{CONFIG_DIR}/conf.d/10-ecr.json", provider_config())
    write(root, f"{CONFIG_DIR}/conf.d/20-other.yaml", AL2023_YAML.replace("ecr-credential-provider", "other"))
    write(root, f"{CONFIG_DIR}/other", "#!/bin/sh\n", 0o755)
    write(root, f"{CONFIG_DIR}/conf.d/README", "not read")
    r = run(root)
    assert r.status is Status.PASS
    assert r.summary.startswith("kubelet asks ecr-credential-provider, other "
                                "(/etc/eks/image-credential-provider/conf.d)")


def test_dual_stack_image_is_not_covered_by_the_al2_list_and_the_fix_adds_its_pattern(root: Path) -> None:
    al2_node(root)
    r = run(root, image=DUALSTACK_IMAGE)
    assert r.status is Status.FAIL
    assert r.summary.startswith("no credential provider in /etc/eks/image-credential-provider/config.json matches "
                                "123456789012.dkr-ecr.us-east-1.on.aws: kubelet asks no plugin and pulls anonymously")
    assert r.fix is not None and "'*.dkr-ecr.*.on.aws'" in r.fix.text
    assert commands(r)[-1] == RESTART_KUBELET
    done = run_fix(commands(r)[0], root)
    assert done.returncode == 0, done.stderr
    assert run(root, image=DUALSTACK_IMAGE).status is Status.PASS


def test_pattern_with_a_port_does_not_match_images_without_one(root: Path) -> None:
    al2_node(root, config=provider_config(["*.dkr.ecr.*.amazonaws.com:443"]))
    r = run(root)
    assert r.status is Status.FAIL and f"matches {HOST}" in r.summary
    assert any("a port only matches when the pattern names it" in d for d in r.details)


def test_pattern_for_another_account_without_image_warns_about_standard_hosts(root: Path) -> None:
    al2_node(root, config=provider_config(["999999999999.dkr.ecr.us-east-1.amazonaws.com"]))
    r = run(root, image=None)
    assert r.status is Status.WARN and "matches standard ECR hosts" in r.summary


def test_public_ecr_without_a_provider_pattern_is_pulled_anonymously(root: Path) -> None:
    r = run(al2_node(root), image="public.ecr.aws/docker/library/alpine:3")
    assert r.status is Status.PASS
    assert any("kubelet pulls it anonymously" in d for d in r.details)


def test_docker_credential_helper_configured_as_a_kubelet_provider(root: Path) -> None:
    al2_node(root, config=provider_config(name="docker-credential-ecr-login"))
    r = run(root)
    assert r.status is Status.FAIL and "is a docker credential helper" in r.summary


# --- the provider binary ---------------------------------------------------------------------------

def test_provider_binary_missing_from_the_bin_dir(root: Path) -> None:
    al2_node(root, binary_mode=None)
    r = run(root)
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"the credential provider binary /{BINARY} does not exist: kubelet logs `plugin binary "
                                f"executable /{BINARY} did not exist`")


def test_bin_dir_flag_pointing_away_from_the_installed_binary(root: Path) -> None:
    al2_node(root)
    write(root, "etc/systemd/system/kubelet.service.d/10-bin.conf",
          "[Service]\nEnvironment=KUBELET_ARGS=--image-credential-provider-bin-dir=/usr/local/bin\n")
    (root / "usr/local/bin").mkdir(parents=True)
    r = run(root)
    assert r.status is Status.FAIL and "/usr/local/bin/ecr-credential-provider does not exist" in r.summary
    assert commands(r) == (f"sudo install -m 0755 /{BINARY} /usr/local/bin/ecr-credential-provider",
                           RESTART_KUBELET)


def test_bin_dir_that_does_not_exist_stops_kubelet(root: Path) -> None:
    al2_node(root)
    write(root, "etc/systemd/system/kubelet.service.d/10-bin.conf",
          "[Service]\nEnvironment=KUBELET_ARGS=--image-credential-provider-bin-dir=/opt/missing\n")
    r = run(root)
    assert r.status is Status.FAIL and "the plugin directory /opt/missing does not exist" in r.summary


def test_provider_binary_without_execute_permission(root: Path) -> None:
    r = run(al2_node(root, binary_mode=0o644))
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"/{BINARY} is not executable")
    assert commands(r) == (f"sudo chmod 0755 /{BINARY}",)


# --- containerd ------------------------------------------------------------------------------------

def containerd_config(*extra: str, sandbox: str = PAUSE) -> str:
    return "\n".join([
        "version = 2",
        '[plugins."io.containerd.grpc.v1.cri"]',
        f'sandbox_image = "{sandbox}"',
        '[plugins."io.containerd.grpc.v1.cri".registry]',
        'config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"',
        *extra, ""])


def static_auth(host: str, expiration: float) -> list[str]:
    return [f'[plugins."io.containerd.grpc.v1.cri".registry.configs."{host}".auth]', 'username = "AWS"',
            f'password = "{ecr_password(expiration)}"']


def test_al2_node_pause_image_pulled_at_boot_passes_with_the_restore_command(root: Path) -> None:
    al2_node(root)
    write(root, "etc/containerd/config.toml", containerd_config())
    write(root, "etc/systemd/system/sandbox-image.service", "[Service]\nExecStart=/etc/eks/containerd/pull.sh\n")
    r = run(root)
    assert r.status is Status.PASS
    assert any(d.startswith(f"pause image {PAUSE}: sandbox-image.service (AL2) pulls it at boot") for d in r.details)
    assert (f"to restore it: sudo crictl pull --creds \"AWS:$(aws ecr get-login-password --region us-east-1)\" "
            f"{PAUSE}") in r.details


def test_private_ecr_pause_image_that_nothing_pulls(root: Path) -> None:
    al2_node(root)
    write(root, "etc/containerd/config.toml", containerd_config())
    r = run(root)
    assert r.status is Status.WARN
    assert "the pause image" in r.summary and "nothing on this node pulls it with ECR credentials" in r.summary
    assert commands(r) == (f"sudo crictl pull --creds \"AWS:$(aws ecr get-login-password --region us-east-1)\" "
                           f"{PAUSE}",)


def test_containerd_2_pinned_pause_image_is_kept(root: Path) -> None:
    al2_node(root)
    write(root, "usr/bin/nodeadm", "#!/bin/sh\n", 0o755)
    write(root, "etc/containerd/config.toml", 'version = 3\n[plugins."io.containerd.cri.v1.images".pinned_images]\n'
                                               f'sandbox = "{PAUSE}"\n')
    r = run(root)
    assert r.status is Status.PASS
    assert any("nodeadm (AL2023) pulls it once at node init" in d and "pinned" in d for d in r.details)


def test_expired_static_token_for_the_pause_image_host_fails(root: Path) -> None:
    al2_node(root)
    pause_host = PAUSE.split("/")[0]
    write(root, "etc/containerd/config.toml", containerd_config(*static_auth(pause_host, time.time() - 3600)))
    write(root, "etc/systemd/system/sandbox-image.service", "[Service]\n")
    r = run(root)
    assert r.status is Status.FAIL
    assert r.summary.startswith(f"/etc/containerd/config.toml plugins.\"io.containerd.grpc.v1.cri\".registry.configs."
                                f"\"{pause_host}\".auth holds an ECR token for {pause_host} that expired ")
    assert commands(r) == ("sudoedit /etc/containerd/config.toml", RESTART_CONTAINERD)


def test_expired_static_token_with_a_working_provider_only_warns(root: Path) -> None:
    al2_node(root)
    write(root, "etc/containerd/config.toml",
          containerd_config(*static_auth(HOST, time.time() - 3600), sandbox="registry.k8s.io/pause:3.9"))
    r = run(root)
    assert r.status is Status.WARN and "that expired " in r.summary


def test_expired_static_token_without_a_provider_fails(root: Path) -> None:
    write(root, "etc/systemd/system/kubelet.service", "[Service]\nExecStart=/usr/bin/kubelet\n")
    write(root, "etc/containerd/config.toml",
          containerd_config(*static_auth(HOST, time.time() - 3600), sandbox="registry.k8s.io/pause:3.9"))
    r = run(root)
    assert r.status is Status.FAIL
    assert any(d.startswith("also (fail): /etc/containerd/config.toml") and "expired " in d for d in r.details)


def test_valid_static_token_warns_it_will_expire(root: Path) -> None:
    al2_node(root)
    write(root, "etc/containerd/config.toml",
          containerd_config(*static_auth(HOST, time.time() + 3 * 3600 + 60), sandbox="registry.k8s.io/pause:3.9"))
    r = run(root)
    assert r.status is Status.WARN and "(in 3 h)" in r.summary and "they stop working" in r.summary


def test_hosts_toml_with_a_static_authorization_header(root: Path) -> None:
    al2_node(root)
    write(root, "etc/containerd/config.toml", containerd_config(sandbox="registry.k8s.io/pause:3.9"))
    auth = secret(base64.b64encode(f"AWS:{ecr_password(time.time() + 7200)}".encode()).decode())
    write(root, f"etc/containerd/certs.d/{HOST}/hosts.toml",
          f'server = "https://{HOST}"\n[host."https://{HOST}"]\ncapabilities = ["pull", "resolve"]\n'
          f'[host."https://{HOST}".header]\nAuthorization = "Basic {auth}"\n')
    r = run(root)
    assert r.status is Status.WARN
    assert f"/etc/containerd/certs.d/{HOST}/hosts.toml [host.\"https://{HOST}\".header] Authorization" in r.summary
    assert f"{HOST}: containerd reads /etc/containerd/certs.d/{HOST}/hosts.toml" in r.details


def test_import_that_replaces_the_cri_plugin_is_followed(root: Path) -> None:
    al2_node(root)
    write(root, "etc/containerd/config.toml", 'imports = ["/etc/containerd/config.d/*.toml"]\n'
                                               + containerd_config(sandbox="registry.k8s.io/pause:3.9"))
    write(root, "etc/containerd/config.d/50-pause.toml", f'[plugins."io.containerd.grpc.v1.cri"]\n'
                                                          f'sandbox_image = "{PAUSE}"\n')
    r = run(root)
    assert r.status is Status.WARN and PAUSE in r.summary
    assert "/etc/containerd/config.toml imports /etc/containerd/config.d/50-pause.toml" in r.details


def test_broken_containerd_config_fails(root: Path) -> None:
    al2_node(root)
    write(root, "etc/containerd/config.toml", 'version = 2\n[plugins."io.containerd.grpc.v1.cri"\n')
    r = run(root)
    assert r.status is Status.FAIL and "is not valid TOML" in r.summary
    assert commands(r)[0] == "sudo containerd config dump >/dev/null"
