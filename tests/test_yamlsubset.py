"""ecrdoctor.yamlsubset: the strict YAML subset kubelet's credential provider configs are read with."""

from __future__ import annotations

from typing import Any

import pytest

from ecrdoctor.nodeconfig import NodeConfigError
from ecrdoctor.yamlsubset import parse_yaml_or_json

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
