"""ecrdoctor.similar: the name the user probably meant, and how theirs differs."""

from __future__ import annotations

from ecrdoctor.similar import closest, edit_distance, normalize


def names(found: list) -> list[str]:  # type: ignore[type-arg]
    return [m.name for m in found]


def test_dash_instead_of_slash_is_found_before_typos() -> None:
    found = closest("team-app", ["team/apps", "team/app", "team_app", "billing/api"])
    assert names(found)[:2] == ["team/app", "team_app"]
    assert found[0].reason == "differs only in separators"
    assert "billing/api" not in names(found)


def test_upper_case_letters_are_found_as_a_case_difference() -> None:
    found = closest("Team/App", ["team/app", "team/ap"])
    assert found[0].name == "team/app" and found[0].reason == "differs only in case"


def test_missing_namespace_finds_the_repository_with_the_same_last_component() -> None:
    found = closest("app", ["team/app", "other/thing", "apps"])
    assert found[0].name == "team/app" and found[0].reason == "same last path component"
    assert "apps" in names(found)


def test_one_letter_typo_is_edit_distance_one() -> None:
    found = closest("team/ap", ["team/app", "team/web", "platform/base-images"])
    assert names(found) == ["team/app"]
    assert found[0].reason == "edit distance 1" and found[0].distance == 1


def test_tags_v_prefix_and_patch_level_are_close() -> None:
    found = closest("1.4", ["v1.4", "1.4.0", "2.0", "latest"])
    assert set(names(found)) == {"v1.4", "1.4.0"}
    assert "latest" not in names(found)


def test_the_name_itself_and_unrelated_names_are_never_suggested() -> None:
    assert closest("team/app", ["team/app", "zzz/qqq", "infrastructure/monitoring"]) == []


def test_limit_and_empty_inputs() -> None:
    candidates = [f"team/app{i}" for i in range(10)]
    assert len(closest("team/app", candidates, limit=3)) == 3
    assert closest("team/app", candidates, limit=0) == []
    assert closest("", candidates) == []
    assert closest("team/app", []) == []


def test_duplicates_are_suggested_once() -> None:
    assert names(closest("1.4", ["1.4.0", "1.4.0", "1.4.0"])) == ["1.4.0"]


def test_edit_distance_and_its_limit() -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3
    assert edit_distance("same", "same") == 0
    assert edit_distance("kitten", "sitting", limit=1) == 2  # anything above the limit is limit + 1
    assert edit_distance("a", "abcdef", limit=2) == 3


def test_normalize_merges_separator_runs() -> None:
    assert normalize("Team__App/web.UI") == "team-app-web-ui"


def test_ten_thousand_candidates_are_ranked() -> None:
    candidates = [f"service-{i:05d}/api" for i in range(10_000)] + ["team/app"]
    found = closest("team/apq", candidates)
    assert found[0].name == "team/app"
