"""ecrdoctor.tomlsubset: the TOML reader, compared with tomllib on the same documents."""

from __future__ import annotations

import pytest

from ecrdoctor.containerdconfig import containerd_config
from ecrdoctor.nodeconfig import NodeConfigError
from ecrdoctor.tomlsubset import parse_toml

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
