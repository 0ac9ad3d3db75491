"""The catalogue: entry-point discovery, unique ids, unknown requirements, and the causal order."""

from __future__ import annotations

from pathlib import Path

from ecrdoctor.catalogue import CAUSAL_ORDER, load_catalogue
from tests.conftest import write_plugin


def test_every_built_in_check_has_a_place_in_the_causal_order() -> None:
    catalogue = load_catalogue()
    built_in = [c.id for c in catalogue.checks if c.module.startswith("ecrdoctor.checks.")]
    assert built_in, "no built-in checks were discovered through the entry points"
    missing = [cid for cid in built_in if cid not in CAUSAL_ORDER]
    assert not missing, f"place these in CAUSAL_ORDER so the diagnosis ranks them: {missing}"


def test_catalogue_order_is_causal_and_respects_requires() -> None:
    catalogue = load_catalogue()
    ids = list(catalogue.ids)
    assert ids[0] == "target.reference"
    position = {cid: i for i, cid in enumerate(ids)}
    for chk in catalogue.checks:
        for req in chk.requires:
            assert position[req] < position[chk.id], f"{chk.id} is listed before {req}, which it requires"
    known = [cid for cid in CAUSAL_ORDER if cid in position]
    assert known == sorted(known, key=position.__getitem__)


def test_a_duplicate_id_from_a_plugin_is_a_load_failure(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    site = write_plugin(tmp_path, "dup", {"dup": "dup_plugin"}, {"dup_plugin": """
        from ecrdoctor.api import check, passed

        @check("docker.config", title="Shadowing a built-in?")
        def shadow(ctx):
            return passed("x")
    """})
    monkeypatch.syspath_prepend(str(site))
    catalogue = load_catalogue([("docker_config", "ecrdoctor.checks.docker_config"), ("dup", "dup_plugin")])
    assert catalogue.get("docker.config").module == "ecrdoctor.checks.docker_config"  # type: ignore[union-attr]
    assert [f.module for f in catalogue.failures] == ["dup_plugin"]
    assert "already defined by ecrdoctor.checks.docker_config" in catalogue.failures[0].message


def test_an_unknown_requirement_is_a_load_failure(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    site = write_plugin(tmp_path, "req", {"req": "req_plugin"}, {"req_plugin": """
        from ecrdoctor.api import check, passed

        @check("plugin.needy", title="Needs a check nobody ships?", requires=["nobody.ships-this"])
        def needy(ctx):
            return passed("x")
    """})
    monkeypatch.syspath_prepend(str(site))
    catalogue = load_catalogue([("req", "req_plugin")])
    assert any("requires unknown check nobody.ships-this" in f.message for f in catalogue.failures)
