"""ecrdoctor.containerdconfig: containerd's config.toml, imports, and hosts.toml."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ecrdoctor.containerdconfig import containerd_config, merge_containerd_import, parse_hosts_toml
from ecrdoctor.tomlsubset import parse_toml
from tests.conftest import need
from tests.nodeconfig_fixtures import EXPIRED, HOST, MARKER, NOW, ecr_auth, ecr_password
from tests.test_tomlsubset import TOML_DOCS

# --- containerd ----------------------------------------------------------------------------------

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
