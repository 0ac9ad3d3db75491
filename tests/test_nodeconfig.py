"""ecrdoctor.nodeconfig: ecs.config, kubelet credential provider config, systemd units, TOML, containers auth files."""

from __future__ import annotations

import base64
import datetime
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Optional

import pytest

from ecrdoctor.containerdconfig import containerd_config, merge_containerd_import, parse_hosts_toml
from ecrdoctor.containersauth import (
    ContainersAuth,
    containers_auth_files,
    find_containers_auth,
    parse_containers_auth,
    registries_conf_blocked,
    registries_conf_helpers,
)
from ecrdoctor.ecrtoken import TokenError, ecr_password_expiry
from ecrdoctor.ecsconfig import no_proxy_covers, parse_ecs_config, parse_engine_auth
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
from ecrdoctor.nodeconfig import NodeConfigError, describe_credential, describe_expiry
from ecrdoctor.tomlsubset import parse_toml
from ecrdoctor.yamlsubset import parse_yaml_or_json
from tests.conftest import need

HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
MARKER = "nodeconfig-secret-Qx7"
NOW = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=datetime.timezone.utc)


def ecr_password(expiration: Optional[float]) -> str:
    """An ECR password in the real shape (research aws-side A3); the payload carries the marker."""
    doc: dict[str, Any] = {"payload": MARKER, "datakey": "AQEBAHij" + MARKER, "version": "2", "type": "DATA_KEY"}
    if expiration is not None:
        doc["expiration"] = int(expiration)
    return base64.b64encode(json.dumps(doc).encode()).decode()


def ecr_auth(expiration: Optional[float]) -> str:
    return base64.b64encode(f"AWS:{ecr_password(expiration)}".encode()).decode()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


EXPIRED = NOW.timestamp() - 3600
VALID = NOW.timestamp() + 5 * 3600


# --- ECR tokens ------------------------------------------------------------------------------------

def test_ecr_token_expiry_is_read_offline_from_the_password() -> None:
    assert ecr_password_expiry(ecr_password(VALID)) == datetime.datetime.fromtimestamp(int(VALID),
                                                                                     datetime.timezone.utc)


def test_get_login_era_token_without_expiration_has_unknown_expiry() -> None:
    assert ecr_password_expiry(ecr_password(None)) is None
    assert describe_expiry(None, NOW) == "expiry unknown"


@pytest.mark.parametrize("password", ["hunter2", b64("just text"), b64('{"no":"payload"}'), ""])
def test_plain_password_is_not_an_ecr_token(password: str) -> None:
    with pytest.raises(TokenError) as err:
        ecr_password_expiry(password)
    assert password == "" or password not in str(err.value)


def test_docker_auth_value_of_an_expired_login_is_described_without_the_secret() -> None:
    cred = describe_credential(auth=ecr_auth(EXPIRED))
    assert cred.is_ecr_token and cred.username == "AWS" and cred.expired(NOW)
    assert MARKER not in repr(cred)
    assert describe_expiry(cred.expires_at, NOW) == "expired at 2026-11-27T11:00:00Z (1 h ago)"
    assert describe_expiry(describe_credential("AWS", ecr_password(VALID)).expires_at, NOW).endswith("(in 5 h)")


def test_auth_that_is_not_base64_is_not_a_token() -> None:
    assert not describe_credential(auth="not base64!").is_ecr_token


# --- ecs.config ------------------------------------------------------------------------------------

def test_ecs_config_is_read_like_ecs_init_last_line_wins_and_quotes_stay() -> None:
    cfg = parse_ecs_config("ECS_CLUSTER=a\n#ECS_CLUSTER=ignored\nECS_CLUSTER=b\nNO_PROXY='169.254.169.254'\n\n")
    assert cfg.values["ECS_CLUSTER"] == "b"
    assert cfg.values["NO_PROXY"] == "'169.254.169.254'"
    assert cfg.duplicates == ("ECS_CLUSTER",)
    assert "#ECS_CLUSTER" in cfg.values  # not a comment for ecs-init, just a key nobody reads


def test_export_prefix_and_spaces_around_equals_hide_a_key_from_the_agent() -> None:
    cfg = parse_ecs_config("export ECS_LOGLEVEL=debug\nECS_CLUSTER = prod\nECS_OK=1\n")
    assert [(u.line, u.key) for u in cfg.unseen] == [(1, "export ECS_LOGLEVEL"), (2, "ECS_CLUSTER ")]
    assert "ECS_OK" in cfg.values and "ECS_CLUSTER" not in cfg.values


def test_dockercfg_auth_data_with_an_ecr_login_is_described() -> None:
    data = json.dumps({f"https://{HOST}": {"auth": ecr_auth(EXPIRED), "email": "x@example.com"}})
    auth = parse_engine_auth("dockercfg", data)
    assert [(e.key, e.host, e.usable) for e in auth.entries] == [(f"https://{HOST}", HOST, True)]
    assert auth.entries[0].credential.expired(NOW) and not auth.problems


def test_docker_type_auth_data_with_username_and_password() -> None:
    auth = parse_engine_auth("docker", json.dumps({HOST: {"username": "AWS", "password": ecr_password(VALID)}}))
    assert auth.entries[0].usable and auth.entries[0].credential.is_ecr_token


@pytest.mark.parametrize("auth_type", ["dockercfg", "docker"])
def test_outer_auths_object_is_ignored_by_the_agent(auth_type: str) -> None:
    auth = parse_engine_auth(auth_type, json.dumps({"auths": {HOST: {"auth": ecr_auth(VALID)}}}))
    assert not auth.entries
    assert "outer 'auths' object" in auth.problems[0] and HOST in auth.problems[0]


def test_dockercfg_shape_under_docker_type_has_no_username_for_the_agent() -> None:
    auth = parse_engine_auth("docker", json.dumps({"registry.example.com": {"auth": b64("u:p")}}))
    assert not auth.entries[0].usable
    assert "dockercfg format" in auth.problems[0]


def test_malformed_dockercfg_entry_is_what_the_agent_logs() -> None:
    auth = parse_engine_auth("dockercfg", json.dumps({"registry.example.com": {"auth": b64("no-colon")}}))
    assert "Malformed auth data for registry registry.example.com" in auth.problems[0]


def test_quoted_auth_data_is_not_json_and_says_why() -> None:
    with pytest.raises(NodeConfigError) as err:
        parse_engine_auth("dockercfg", "'" + json.dumps({HOST: {"auth": ecr_auth(VALID)}}) + "'")
    assert "not JSON" in err.value.message and "quoted" in err.value.message
    assert MARKER not in str(err.value) and ecr_auth(VALID) not in str(err.value)


@pytest.mark.parametrize("data", ['{"r": "x"}', '{"r": {"username": 5}}', "[1]"])
def test_auth_data_of_the_wrong_shape_is_unparseable(data: str) -> None:
    with pytest.raises(NodeConfigError):
        parse_engine_auth("docker", data)


@pytest.mark.parametrize(("auth_type", "says"), [("", "is not set"), ("basic", "Unknown auth configuration: basic")])
def test_missing_or_unknown_auth_type_means_the_data_is_unused(auth_type: str, says: str) -> None:
    auth = parse_engine_auth(auth_type, "{}")
    assert says in auth.problems[0] and not auth.entries


@pytest.mark.parametrize(
    ("no_proxy", "host", "covered"),
    [
        ("169.254.169.254,169.254.170.2", "169.254.170.2", True),
        ("169.254.0.0/16", "169.254.169.254", True),
        ("*", "169.254.169.254", True),
        (" 169.254.169.254 ", "169.254.169.254", True),
        ("localhost,.amazonaws.com", "api.ecr.us-east-1.amazonaws.com", True),
        ("amazonaws.com", "api.ecr.us-east-1.amazonaws.com", True),
        ("169.254.169.254", "169.254.170.2", False),
        ("/var/run/docker.sock", "169.254.170.2", False),
        ("", "169.254.169.254", False),
    ],
)
def test_no_proxy_matching_follows_go(no_proxy: str, host: str, covered: bool) -> None:
    assert no_proxy_covers(no_proxy, host) is covered


# --- YAML subset -----------------------------------------------------------------------------------

EKS_YAML = """\
# written by hand on a self-managed node
apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
  - name: ecr-credential-provider
    matchImages:
      - "*.dkr.ecr.*.amazonaws.com"
      - '*.dkr-ecr.*.on.aws'   # dual-stack
    defaultCacheDuration: "12h"
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    args: [get-credentials]
    env:
    - name: AWS_PROFILE
      value: node
"""


def test_yaml_credential_provider_config_reads_like_its_json() -> None:
    assert parse_yaml_or_json(EKS_YAML) == {
        "apiVersion": "kubelet.config.k8s.io/v1", "kind": "CredentialProviderConfig",
        "providers": [{"name": "ecr-credential-provider",
                       "matchImages": ["*.dkr.ecr.*.amazonaws.com", "*.dkr-ecr.*.on.aws"],
                       "defaultCacheDuration": "12h", "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
                       "args": ["get-credentials"], "env": [{"name": "AWS_PROFILE", "value": "node"}]}]}


def test_yaml_sequences_at_the_key_indentation_and_document_marker() -> None:
    text = "---\na:\n- x\n- y: 1\n  z: 'it''s'\nb: [1, \"two\", ]\nc: {}\n"
    assert parse_yaml_or_json(text) == {"a": ["x", {"y": 1, "z": "it's"}], "b": [1, "two"], "c": {}}


@pytest.mark.parametrize(("scalar", "value"), [
    ("12h", "12h"), ("0", 0), ('"0"', "0"), ("1.5", 1.5), ("yes", True), ("off", False), ("~", None),
    ("null", None), ("0x1F", 31), ("a#b", "a#b"), ("x # c", "x"), ("'a: b'", "a: b"), ('"\\u00e9"', "é"),
])
def test_yaml_scalars_resolve_as_kubelets_decoder_sees_them(scalar: str, value: Any) -> None:
    assert parse_yaml_or_json(f"k: {scalar}\n") == {"k": value}


@pytest.mark.parametrize(("text", "says"), [
    ("a:\n\t- b\n", "tab"),
    ("m:\n  - *.dkr.ecr.*.amazonaws.com\n", "must be quoted"),
    ("a: 1\na: 2\n", "appears twice"),
    ("a: b\n  c: d\n", "mapping values are not allowed"),
    ("a:\n  b: 1\n c: 2\n", "unexpected indentation"),
    ("a: b: c\n", "mapping values are not allowed"),
    ("just text\nmore: x\n", "unexpected 'more: x'"),
    ('{"a": 1, "a": 2}', "appears twice"),
    ('{"a": 1,}', "not valid JSON"),
])
def test_yaml_mistakes_kubelet_also_rejects(text: str, says: str) -> None:
    with pytest.raises(NodeConfigError) as err:
        parse_yaml_or_json(text)
    assert says in str(err.value) and not err.value.unsupported


@pytest.mark.parametrize("text", [
    "a: &x 1\nb: *x\n", "a: |\n  text\n", "a: 1\n---\nb: 2\n", "a: !!str 1\n", "a: {b: 1}\n", "a: [\n  1]\n",
    "a: plain\n  folded\n",
])
def test_valid_yaml_outside_the_subset_is_reported_as_unsupported(text: str) -> None:
    with pytest.raises(NodeConfigError) as err:
        parse_yaml_or_json(text)
    assert err.value.unsupported


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


# --- TOML ------------------------------------------------------------------------------------------

TOML_DOCS = [
    """version = 2
root = "/var/lib/containerd"
imports = ["/etc/containerd/config.d/*.toml"]

[grpc]
address = "/run/containerd/containerd.sock"

[plugins."io.containerd.grpc.v1.cri".containerd]
default_runtime_name = "runc"
discard_unpacked_layers = true

[plugins."io.containerd.grpc.v1.cri"]
sandbox_image = "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/pause:3.5"

[plugins."io.containerd.grpc.v1.cri".registry]
config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"
""",
    """server = "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"  # comment
[host."https://mirror.example.com:5000"]
  capabilities = ["pull", "resolve"]
  skip_verify = false
  ca = ["/etc/certs/a.pem", '/etc/certs/b.pem',]
  [host."https://mirror.example.com:5000".header]
    x-custom = ["a", "b"]
""",
    """unqualified-search-registries = ["docker.io"]
credential-helpers = [ "containers-auth.json", "ecr-login" ]
short-name-mode = "enforcing"

[[registry]]
prefix = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
location = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
blocked = true

[[registry.mirror]]
location = "mirror.example.com"

[[registry]]
location = 'quay.io'
""",
    """a.b.c = 1
"quoted key" = 'literal \\ no escape'
esc = "tab\\tquote\\" unicode\\u00e9"
ints = [+1, -2, 0x1F, 0o17, 0b101, 1_000]
floats = [1.5, -0.5e3, inf, -inf, 1e2]
nested = [[1, 2], ["a"], [], { x = 1, y.z = "w" }]
multi = \"\"\"
line one
line two \\
   joined\"\"\"
lit = '''
raw \\n kept'''
four = \"\"\"ends with quote\"\"\"\"
empty_table = {}
[t]
[t.sub]
k = true
""",
]


@pytest.mark.parametrize("text", TOML_DOCS)
def test_toml_reader_agrees_with_tomllib(text: str) -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+: the reference reader
    assert parse_toml(text) == tomllib.loads(text)


@pytest.mark.parametrize(("text", "says", "unsupported"), [
    ("a = 1\na = 2\n", "defined twice", False),
    ("[t]\n[t]\n", "defined twice", False),
    ('a = "open\n', "does not end", False),
    ("a = 01\n", "expected a value", False),
    ("a = 1 b = 2\n", "after a value", False),
    ("[t\n", "must end with ]", False),
    ("d = 1979-05-27\n", "dates", True),
])
def test_toml_errors(text: str, says: str, unsupported: bool) -> None:
    with pytest.raises(NodeConfigError) as err:
        parse_toml(text)
    assert says in str(err.value) and err.value.unsupported is unsupported


def test_containerd_config_versions_1_2_and_3() -> None:
    v1 = containerd_config(parse_toml('[plugins.cri]\nsandbox_image = "k8s.gcr.io/pause:3.2"\n'))
    assert (v1.version, v1.sandbox_image, v1.sandbox_key) == (1, "k8s.gcr.io/pause:3.2", "sandbox_image")
    v2 = containerd_config(parse_toml(TOML_DOCS[0]))
    assert v2.sandbox_image == "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/pause:3.5"
    assert v2.config_path == "/etc/containerd/certs.d:/etc/docker/certs.d"
    assert v2.imports == ("/etc/containerd/config.d/*.toml",)
    v3 = containerd_config(parse_toml('version = 3\n[plugins."io.containerd.cri.v1.images".pinned_images]\n'
                                      'sandbox = "localhost/kubernetes/pause"\n'))
    assert (v3.sandbox_image, v3.sandbox_key) == ("localhost/kubernetes/pause", "pinned_images.sandbox")


def test_static_ecr_token_in_registry_configs_is_found_without_keeping_it() -> None:
    text = (f'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry.configs."{HOST}".auth]\n'
            f'username = "AWS"\npassword = "{ecr_password(EXPIRED)}"\n')
    cc = containerd_config(parse_toml(text))
    assert [c.host for c in cc.credentials] == [HOST]
    assert cc.credentials[0].credential.expired(NOW) and MARKER not in repr(cc)


def test_an_import_replaces_the_whole_cri_plugin_table() -> None:
    main = parse_toml(TOML_DOCS[0])
    merged = merge_containerd_import(main, parse_toml('[plugins."io.containerd.grpc.v1.cri"]\n'
                                                      'sandbox_image = "registry.k8s.io/pause:3.9"\n'))
    cc = containerd_config(merged)
    assert cc.sandbox_image == "registry.k8s.io/pause:3.9" and cc.config_path is None
    assert merged["grpc"] == main["grpc"]


def _containerd() -> str:
    exe = shutil.which("containerd")
    need("containerd (apt-get install containerd)", exe is not None)
    assert exe is not None
    return exe


def test_real_containerd_reads_the_config_and_imports_the_same_way(tmp_path: Path) -> None:
    """containerd's own `config dump` of a config with an import, against ecrdoctor's reading of both files."""
    exe = _containerd()
    conf_d = tmp_path / "config.d"
    conf_d.mkdir()
    main = tmp_path / "config.toml"
    main.write_text(TOML_DOCS[0].replace("/etc/containerd/config.d/*.toml", f"{conf_d}/*.toml")
                    + f'[plugins."io.containerd.grpc.v1.cri".registry.configs."{HOST}".auth]\n'
                    f'username = "AWS"\npassword = "{ecr_password(EXPIRED)}"\n')
    (conf_d / "10-runtime.toml").write_text('[plugins."io.containerd.runtime.v1.linux"]\nshim_debug = true\n')
    dump = subprocess.run([exe, "--config", str(main), "config", "dump"], capture_output=True, text=True, timeout=20,
                          stdin=subprocess.DEVNULL)
    assert dump.returncode == 0, dump.stderr
    theirs = containerd_config(parse_toml(dump.stdout))
    mine_doc = parse_toml(main.read_text())
    mine_doc = merge_containerd_import(mine_doc, parse_toml((conf_d / "10-runtime.toml").read_text()))
    mine = containerd_config(mine_doc)
    assert (mine.sandbox_image, mine.config_path) == (theirs.sandbox_image, theirs.config_path)
    assert [(c.host, c.credential) for c in mine.credentials] == [(c.host, c.credential) for c in theirs.credentials]
    # and an import that redefines the CRI plugin drops the main file's registry settings, in containerd too
    (conf_d / "20-cri.toml").write_text('[plugins."io.containerd.grpc.v1.cri"]\nsandbox_image = "x/pause:1"\n')
    dump = subprocess.run([exe, "--config", str(main), "config", "dump"], capture_output=True, text=True, timeout=20,
                          stdin=subprocess.DEVNULL)
    theirs = containerd_config(parse_toml(dump.stdout))
    mine = containerd_config(merge_containerd_import(mine_doc, parse_toml((conf_d / "20-cri.toml").read_text())))
    assert (theirs.sandbox_image, theirs.config_path, theirs.credentials) == ("x/pause:1", None, ())
    assert (mine.sandbox_image, mine.config_path, mine.credentials) == ("x/pause:1", None, ())


def test_hosts_toml_static_authorization_header_is_an_expiring_token() -> None:
    text = (f'server = "https://{HOST}"\n[host."https://{HOST}"]\ncapabilities = ["pull", "resolve"]\n'
            f'[host."https://{HOST}".header]\nAuthorization = "Basic {ecr_auth(EXPIRED)}"\n')
    hosts = parse_hosts_toml(text)
    assert hosts.server == f"https://{HOST}"
    entry = hosts.hosts[0]
    assert entry.capabilities == ("pull", "resolve") and entry.credential is not None
    assert entry.credential.expired(NOW) and MARKER not in repr(hosts)


# --- containers auth files -------------------------------------------------------------------------

def test_auth_file_search_order_for_root_without_xdg_runtime_dir() -> None:
    files = containers_auth_files({"HOME": "/root"}, "/root", 0)
    assert [f.path for f in files] == ["/run/containers/0/auth.json", "/root/.config/containers/auth.json",
                                       "/root/.docker/config.json", "/root/.dockercfg"]
    assert files[-1].legacy


def test_auth_file_search_order_with_xdg_and_docker_config() -> None:
    env = {"XDG_RUNTIME_DIR": "/run/user/1000", "XDG_CONFIG_HOME": "/cfg", "DOCKER_CONFIG": "/ci/docker"}
    files = containers_auth_files(env, "/home/u", 1000)
    assert [f.path for f in files] == ["/run/user/1000/containers/auth.json", "/cfg/containers/auth.json",
                                       "/ci/docker/config.json", "/home/u/.dockercfg"]
    assert files[0].needs_dir == "/run/user/1000"


def test_registry_auth_file_replaces_the_whole_search() -> None:
    files = containers_auth_files({"REGISTRY_AUTH_FILE": "/ci/auth.json"}, "/home/u", 1000)
    assert [(f.path, f.why) for f in files] == [("/ci/auth.json", "REGISTRY_AUTH_FILE")]


def test_cred_helper_beats_auths_in_the_same_file() -> None:
    auth = parse_containers_auth(json.dumps({"auths": {HOST: {"auth": ecr_auth(EXPIRED)}},
                                             "credHelpers": {HOST: "ecr-login"}}))
    found = find_containers_auth(auth, HOST, "team/app")
    assert found is not None and (found.kind, found.helper) == ("cred-helper", "ecr-login")


def test_auths_by_repository_namespace_then_normalized_host() -> None:
    auth = parse_containers_auth(json.dumps({"auths": {f"{HOST}/team": {"auth": ecr_auth(VALID)}}}))
    team = find_containers_auth(auth, HOST, "team/app")
    assert team is not None and team.key == f"{HOST}/team"
    # containers/image then normalizes every key to its host, so a namespace login also answers for other repos
    other = find_containers_auth(auth, HOST, "other/app")
    assert other is not None and other.key == f"{HOST}/team"
    legacy_key = parse_containers_auth(json.dumps({"auths": {f"https://{HOST}/v2/": {"auth": ecr_auth(EXPIRED)}}}))
    found = find_containers_auth(legacy_key, HOST, "team/app")
    assert found is not None and found.key == f"https://{HOST}/v2/"
    assert found.credential is not None and found.credential.expired(NOW)


def test_entry_without_usable_credentials_lets_the_search_go_on() -> None:
    auth = parse_containers_auth(json.dumps({"auths": {HOST: {"auth": ""}}}))
    assert find_containers_auth(auth, HOST) is None
    assert find_containers_auth(ContainersAuth(), HOST) is None


def test_legacy_dockercfg_is_the_registries_map_itself() -> None:
    auth = parse_containers_auth(json.dumps({HOST: {"auth": ecr_auth(VALID)}}), legacy=True)
    assert find_containers_auth(auth, HOST, "team/app", legacy=True) is not None


@pytest.mark.parametrize("text", ["{", "[]", '{"auths": []}', '{"auths": {"h": {"auth": 1}}}',
                                  '{"credHelpers": {"h": 1}}'])
def test_invalid_auth_files(text: str) -> None:
    with pytest.raises(NodeConfigError):
        parse_containers_auth(text)


def test_registries_conf_helpers_and_blocked_registries() -> None:
    doc = parse_toml(TOML_DOCS[2])
    assert registries_conf_helpers(doc) == ("containers-auth.json", "ecr-login")
    assert registries_conf_helpers({}) == ("containers-auth.json",)
    assert registries_conf_blocked(doc, HOST) == HOST
    assert registries_conf_blocked(doc, "quay.io") is None


def test_token_builder_is_the_real_shape() -> None:
    """The fixtures' tokens decode the way research aws-side A3 describes real ones."""
    auth = ecr_auth(time.time())
    assert auth.startswith("QVdTOmV5SndZWGxzYjJGa0lqb2")  # base64("AWS:" + base64('{"payload":'))
