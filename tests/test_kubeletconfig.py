"""ecrdoctor.kubeletconfig: CredentialProviderConfig, systemd units and kubelet flags."""

from __future__ import annotations

import json
from typing import Any, Optional

import pytest

from ecrdoctor.kubeletconfig import (
    EKS_MATCH_IMAGES,
    expand_exec,
    kubelet_flags,
    match_image,
    parse_cmdline,
    parse_credential_provider_config,
    parse_environment_file,
    parse_go_duration,
    parse_units,
    suggest_match_image,
)
from tests.nodeconfig_fixtures import HOST
from tests.test_yamlsubset import EKS_YAML

# --- CredentialProviderConfig ----------------------------------------------------------------------

def eks_json(**override: Any) -> str:
    provider = {"name": "ecr-credential-provider", "matchImages": list(EKS_MATCH_IMAGES),
                "defaultCacheDuration": "12h", "apiVersion": "credentialprovider.kubelet.k8s.io/v1"}
    provider.update(override.pop("provider", {}))
    doc = {"apiVersion": "kubelet.config.k8s.io/v1", "kind": "CredentialProviderConfig", "providers": [provider]}
    doc.update(override)
    return json.dumps(doc)


def test_eks_default_config_is_valid_in_json_and_yaml() -> None:
    for text in (eks_json(), EKS_YAML):
        cfg = parse_credential_provider_config(text)
        assert not cfg.problems and cfg.config_version == "v1"
        assert cfg.providers[0].name == "ecr-credential-provider"


@pytest.mark.parametrize(("override", "says"), [
    ({"kind": "KubeletConfiguration"}, "kind is 'KubeletConfiguration'"),
    ({"apiVersion": "credentialprovider.kubelet.k8s.io/v1"}, "that is a provider's apiVersion"),
    ({"provider": {"apiVersion": "kubelet.config.k8s.io/v1"}}, "that is the file's apiVersion"),
    ({"apiVersion": "kubelet.config.k8s.io/v2"}, "kubelet accepts kubelet.config.k8s.io/v1alpha1"),
    ({"provider": {"matchImage": ["x"]}}, "unknown field 'matchImage'"),
    ({"provider": {"defaultCacheDuration": None}}, "defaultCacheDuration is required"),
    ({"provider": {"defaultCacheDuration": 0}}, "must be a quoted duration string"),
    ({"provider": {"defaultCacheDuration": "12 hours"}}, "invalid duration"),
    ({"provider": {"defaultCacheDuration": "-1h"}}, "greater than or equal to 0"),
    ({"provider": {"matchImages": []}}, "non-empty list of strings"),
    ({"provider": {"name": "bin/ecr"}}, "cannot contain '/'"),
    ({"providers": []}, "at least one provider"),
])
def test_configs_kubelet_refuses_to_start_with(override: dict[str, Any], says: str) -> None:
    cfg = parse_credential_provider_config(eks_json(**override))
    assert any(says in p for p in cfg.problems), cfg.problems


def test_duplicate_provider_names_are_refused() -> None:
    doc = json.loads(eks_json())
    doc["providers"].append(dict(doc["providers"][0]))
    assert any("used twice" in p for p in parse_credential_provider_config(json.dumps(doc)).problems)


@pytest.mark.parametrize(("text", "seconds"), [("12h", 43200), ("1h30m", 5400), ("0", 0), ("1.5s", 1.5),
                                               ("500ms", 0.5)])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == seconds


@pytest.mark.parametrize(
    ("pattern", "image", "matches"),
    [
        ("*.dkr.ecr.*.amazonaws.com", f"{HOST}/team/app:1.4", True),
        ("*.dkr.ecr.*.amazonaws.com", "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/app", False),
        ("*.dkr.ecr.*.amazonaws.com", "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app", False),
        ("*.dkr.ecr.*.amazonaws.com", "123456789012.dkr-ecr.us-east-1.on.aws/app", False),
        ("*.amazonaws.com", f"{HOST}/app", False),  # one '*' is one label
        ("*.dkr.ecr.*.amazonaws.com:443", f"{HOST}/app", False),  # a port only matches a port
        ("*.dkr.ecr.*.amazonaws.com", f"{HOST}:443/app", False),
        (f"{HOST}/team", f"{HOST}/team/app:1", True),  # the path is a prefix
        (f"{HOST}/other", f"{HOST}/team/app:1", False),
        ("1234*.dkr.ecr.us-east-?.amazonaws.com", f"{HOST}/app", True),  # partial globs
        ("*.dkr.ecr.us-[a-z]ast-1.amazonaws.com", f"{HOST}/app", True),
        ("*.dkr.ecr.*.amazonaws.com", "public.ecr.aws/docker/library/alpine", False),
    ],
)
def test_match_images_use_kubelets_glob_rules(pattern: str, image: str, matches: bool) -> None:
    assert match_image(pattern, image) is matches


@pytest.mark.parametrize(("host", "pattern"), [
    (HOST, "*.dkr.ecr.*.amazonaws.com"),
    ("123456789012.dkr-ecr.us-west-2.on.aws", "*.dkr-ecr.*.on.aws"),
    ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "*.dkr.ecr-fips.*.amazonaws.com"),
    ("123456789012.dkr-ecr-fips.us-west-2.on.aws", "*.dkr-ecr-fips.*.on.aws"),
    ("210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn", "*.dkr.ecr.*.amazonaws.com.cn"),
    ("210987654321.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn", "*.dkr-ecr.*.on.amazonwebservices.com.cn"),
    ("123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu", "*.dkr.ecr.*.amazonaws.eu"),
    ("123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov", "*.dkr.ecr.*.c2s.ic.gov"),
    ("public.ecr.aws", "public.ecr.aws"),
    ("registry.example.com", None),
])
def test_every_ecr_host_form_has_its_eks_pattern(host: str, pattern: Optional[str]) -> None:
    assert suggest_match_image(host) == pattern


# --- systemd units and kubelet flags ---------------------------------------------------------------

AL2_UNIT = """\
[Unit]
Description=Kubernetes Kubelet

[Service]
ExecStart=/usr/bin/kubelet \\
    --config /etc/kubernetes/kubelet/kubelet-config.json \\
    --image-credential-provider-config /etc/eks/image-credential-provider/config.json \\
    --image-credential-provider-bin-dir /etc/eks/image-credential-provider \\
    $KUBELET_ARGS \\
    $KUBELET_EXTRA_ARGS
"""


def test_al2_unit_with_drop_in_extra_args_overriding_the_config_flag() -> None:
    dropin = "[Service]\nEnvironment='KUBELET_EXTRA_ARGS=--image-credential-provider-config=/etc/custom.yaml'\n"
    settings = parse_units([("kubelet.service", AL2_UNIT), ("30-kubelet-extra-args.conf", dropin)])
    flags = kubelet_flags(expand_exec(settings.exec_start or "", dict(settings.environment)))
    assert flags["image-credential-provider-config"] == "/etc/custom.yaml"  # the last flag wins
    assert flags["image-credential-provider-bin-dir"] == "/etc/eks/image-credential-provider"


def test_al2023_unit_reads_nodeadm_environment_file() -> None:
    unit = "[Service]\nEnvironmentFile=/etc/eks/kubelet/environment\nExecStart=/usr/bin/kubelet $NODEADM_KUBELET_ARGS\n"
    settings = parse_units([("kubelet.service", unit)])
    assert settings.environment_files == (("/etc/eks/kubelet/environment", False),)
    env = parse_environment_file('NODEADM_KUBELET_ARGS="--image-credential-provider-config=/etc/x.json --v=2"\n')
    assert kubelet_flags(expand_exec(settings.exec_start or "", env)) == {
        "image-credential-provider-config": "/etc/x.json", "v": "2"}


def test_empty_exec_start_in_a_drop_in_resets_it() -> None:
    settings = parse_units([("a", "[Service]\nExecStart=/usr/bin/kubelet --a=1\n"),
                            ("b", "[Service]\nExecStart=\nExecStart=-/usr/bin/kubelet ${ARGS}\n")])
    assert settings.exec_start == "-/usr/bin/kubelet ${ARGS}" and settings.exec_start_source == "b"
    assert expand_exec(settings.exec_start, {"ARGS": "--b=2"}) == ["/usr/bin/kubelet", "--b=2"]


def test_running_kubelet_cmdline() -> None:
    argv = parse_cmdline("/usr/bin/kubelet\0--image-credential-provider-config\0/etc/c.json\0--v=2\0")
    assert kubelet_flags(argv) == {"image-credential-provider-config": "/etc/c.json", "v": "2"}
