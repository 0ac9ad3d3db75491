"""ecrdoctor.lifecycle: ECR's lifecycle evaluation, checked against the worked examples of the ECR user guide."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from ecrdoctor.lifecycle import Image, LifecyclePolicyError, evaluate, fate, parse_policy

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def rule(priority: int, tag_status: str, count_type: str, number: int, **extra: Any) -> dict[str, Any]:
    selection: dict[str, Any] = {"tagStatus": tag_status, "countType": count_type, "countNumber": number}
    if count_type == "sinceImagePushed":
        selection["countUnit"] = "days"
    action = {"type": extra.pop("action", "expire")}
    for key in ("tagPrefixList", "tagPatternList", "storageClass"):
        if key in extra:
            selection[key] = extra.pop(key)
    return {"rulePriority": priority, "description": extra.pop("description", f"Rule {priority}"),
            "selection": selection, "action": action}


def policy(*rules: dict[str, Any]) -> str:
    return json.dumps({"rules": list(rules)})


def expired(text: str, images: list[Image]) -> set[str]:
    return set(evaluate(parse_policy(text), images, NOW).marked)


# The repositories of "Examples of lifecycle policies" (ECR user guide), digests named after the images.
MULTI = [Image("A", ("beta-1", "prod-1"), ago(10)), Image("B", ("beta-2", "prod-2"), ago(9)),
         Image("C", ("beta-3",), ago(8))]


def test_user_guide_multiple_rules_example_a_prod_first_expires_only_a() -> None:
    text = policy(rule(1, "tagged", "imageCountMoreThan", 1, tagPrefixList=["prod"]),
                  rule(2, "tagged", "imageCountMoreThan", 1, tagPrefixList=["beta"]))
    assert expired(text, MULTI) == {"A"}


def test_user_guide_multiple_rules_example_b_beta_first_expires_a_and_b() -> None:
    text = policy(rule(1, "tagged", "imageCountMoreThan", 1, tagPrefixList=["beta"]),
                  rule(2, "tagged", "imageCountMoreThan", 1, tagPrefixList=["prod"]))
    assert expired(text, MULTI) == {"A", "B"}


def test_user_guide_multiple_prefixes_in_one_rule_must_all_match() -> None:
    images = [Image("A", ("alpha-1",), ago(12)), Image("B", ("beta-1",), ago(11)),
              Image("C", ("alpha-2", "beta-2"), ago(10)), Image("D", ("alpha-3",), ago(4)),
              Image("E", ("beta-3",), ago(3)), Image("F", ("alpha-4", "beta-4"), ago(2))]
    text = policy(rule(1, "tagged", "sinceImagePushed", 5, tagPrefixList=["alpha", "beta"]))
    assert expired(text, images) == {"C"}


def test_user_guide_tags_are_not_exclusive() -> None:
    images = [Image("A", ("alpha-1", "beta-1", "gamma-1"), ago(10)), Image("B", ("alpha-2", "beta-2"), ago(9)),
              Image("C", ("alpha-3", "beta-3", "gamma-2"), ago(8))]
    text = policy(rule(1, "tagged", "imageCountMoreThan", 1, tagPrefixList=["alpha", "beta"]))
    assert expired(text, images) == {"A", "B"}


def test_user_guide_any_rule_keeps_only_the_newest_image() -> None:
    images = [Image("A", ("alpha-1",), ago(4)), Image("B", ("beta-1",), ago(3)), Image("C", (), ago(2)),
              Image("D", ("alpha-2",), ago(1))]
    assert expired(policy(rule(1, "any", "imageCountMoreThan", 1)), images) == {"A", "B", "C"}


def test_user_guide_all_rule_types_combined_lower_rules_count_but_never_expire_claimed_images() -> None:
    images = [Image("A", ("alpha-1", "beta-1"), ago(4)), Image("B", (), ago(3)), Image("C", ("alpha-2",), ago(2)),
              Image("D", ("git hash",), ago(1)), Image("E", (), ago(1) + timedelta(hours=1))]
    text = policy(rule(1, "tagged", "imageCountMoreThan", 1, tagPrefixList=["alpha"]),
                  rule(2, "untagged", "sinceImagePushed", 1),
                  rule(3, "any", "imageCountMoreThan", 1))
    evaluation = evaluate(parse_policy(text), images, NOW)
    assert evaluation.marked == {"A": parse_policy(text).rules[0], "B": parse_policy(text).rules[1],
                                 "D": parse_policy(text).rules[2]}
    assert evaluation.results[2].identified == ("E", "D", "C", "B", "A")


def test_tag_pattern_wildcards_match_the_whole_tag_and_dots_are_literal() -> None:
    images = [Image("rc", ("1.4-rc1",), ago(3)), Image("rel", ("1.4",), ago(2)), Image("ten", ("10",), ago(1)),
              Image("prod", ("prod-eu-7",), ago(1))]
    text = policy(rule(1, "tagged", "sinceImagePushed", 1, tagPatternList=["1.*"]))
    assert expired(text, images) == {"rc", "rel"}
    text = policy(rule(1, "tagged", "sinceImagePushed", 1, tagPatternList=["*-rc*"]))
    assert expired(text, images) == {"rc"}
    text = policy(rule(1, "tagged", "sinceImagePushed", 0 + 1, tagPatternList=["prod-*-7"]))
    assert expired(text, images) == set()  # pushed exactly one day ago: not yet *more* than one day


def test_rules_run_in_priority_order_not_in_list_order() -> None:
    text = policy(rule(20, "tagged", "imageCountMoreThan", 1, tagPrefixList=["prod"]),
                  rule(10, "tagged", "imageCountMoreThan", 1, tagPrefixList=["beta"]))
    assert [r.priority for r in parse_policy(text).rules] == [10, 20]
    assert expired(text, MULTI) == {"A", "B"}  # as example B: the beta rule claims everything first


def test_untagged_rule_leaves_tagged_images_alone() -> None:
    images = [Image("old-untagged", (), ago(30)), Image("old-tagged", ("1.0",), ago(30))]
    assert expired(policy(rule(1, "untagged", "sinceImagePushed", 14)), images) == {"old-untagged"}


def test_archived_images_are_not_counted_by_standard_rules_and_archive_rules_see_only_them() -> None:
    images = [Image("arch", ("1.0",), ago(30), status="ARCHIVED"), Image("new", ("1.1",), ago(1))]
    assert expired(policy(rule(1, "tagged", "imageCountMoreThan", 1, tagPatternList=["1.*"])), images) == set()
    text = policy(rule(1, "tagged", "sinceImagePushed", 7, tagPatternList=["1.*"], storageClass="archive"))
    assert expired(text, images) == {"arch"}


def test_same_second_pushes_keep_the_listing_order_later_is_newer() -> None:
    same = ago(1)
    images = [Image("first", ("1.1",), same), Image("second", ("1.2",), same), Image("third", ("1.3",), same)]
    assert expired(policy(rule(1, "tagged", "imageCountMoreThan", 2, tagPatternList=["1.*"])), images) == {"first"}


# -- fate of one image ---------------------------------------------------------------------------------


def test_fate_marked_now_names_the_rule_and_its_description() -> None:
    text = policy(rule(1, "tagged", "imageCountMoreThan", 1, tagPrefixList=["prod"], description="keep last prod"))
    f = fate(parse_policy(text), MULTI, NOW, "A")
    assert f.kind == "marked" and f.rule is not None and f.rule.label == "rule 1 ('keep last prod')"


def test_fate_of_an_age_rule_is_the_push_time_plus_the_days() -> None:
    text = policy(rule(1, "tagged", "sinceImagePushed", 14, tagPatternList=["beta-*"]))
    f = fate(parse_policy(text), MULTI, NOW, "C")
    assert f.kind == "expires-at" and f.when == ago(8) + timedelta(days=14)


def test_fate_of_a_count_rule_is_the_number_of_pushes_left() -> None:
    text = policy(rule(1, "tagged", "imageCountMoreThan", 3, tagPrefixList=["beta"]))
    newest, oldest = fate(parse_policy(text), MULTI, NOW, "C"), fate(parse_policy(text), MULTI, NOW, "A")
    assert (newest.kind, newest.kept_rank, newest.pushes) == ("expires-after-pushes", 1, 3)
    assert (oldest.kind, oldest.kept_rank, oldest.pushes) == ("expires-after-pushes", 3, 1)


def test_fate_is_decided_by_the_first_rule_that_identifies_the_image() -> None:
    # C is only beta: rule 1 (prod) never sees it, rule 2 decides; B is claimed by rule 1 and kept there
    text = policy(rule(1, "tagged", "imageCountMoreThan", 5, tagPrefixList=["prod"]),
                  rule(2, "tagged", "imageCountMoreThan", 1, tagPrefixList=["beta"]))
    b, c = fate(parse_policy(text), MULTI, NOW, "B"), fate(parse_policy(text), MULTI, NOW, "C")
    assert b.rule is not None and b.rule.priority == 1 and b.kind == "expires-after-pushes"
    assert c.rule is not None and c.rule.priority == 2 and c.kind == "expires-after-pushes" and c.pushes == 1


def test_fate_kept_when_no_rule_selects_it_and_unknown_for_newer_count_types() -> None:
    text = policy(rule(1, "tagged", "sinceImagePulled", 30, tagPrefixList=["beta"]),
                  rule(2, "tagged", "imageCountMoreThan", 1, tagPrefixList=["nightly"]))
    assert fate(parse_policy(text), MULTI, NOW, "A").kind == "unknown"
    images = MULTI + [Image("N", ("release",), ago(1))]
    assert fate(parse_policy(text), images, NOW, "N").kind == "kept"
    with pytest.raises(KeyError):
        fate(parse_policy(text), MULTI, NOW, "nope")


def test_a_rule_that_is_not_evaluated_still_claims_its_images() -> None:
    text = policy(rule(1, "tagged", "sinceImagePulled", 30, tagPrefixList=["beta"]),
                  rule(2, "any", "imageCountMoreThan", 1))
    assert expired(text, MULTI) == set()


def test_transition_rules_archive_and_say_so() -> None:
    text = policy(rule(1, "tagged", "sinceImagePushed", 5, tagPrefixList=["beta"], action="transition"))
    p = parse_policy(text)
    assert p.rules[0].action == "transition"
    assert p.rules[0].criterion == "archives images with tags starting with 'beta' pushed more than 5 days ago"
    assert fate(p, MULTI, NOW, "A").kind == "marked"


def test_first_rule_for_a_tag_that_is_gone() -> None:
    p = parse_policy(policy(rule(1, "tagged", "imageCountMoreThan", 5, tagPatternList=["release-*"]),
                            rule(2, "tagged", "sinceImagePushed", 30, tagPatternList=["1.*"]),
                            rule(3, "any", "imageCountMoreThan", 100)))
    hit = p.first_rule_for_tag("1.4")
    assert hit is not None and hit.priority == 2
    only_any = p.first_rule_for_tag("latest")
    assert only_any is not None and only_any.priority == 3


def test_criterion_in_words() -> None:
    p = parse_policy(policy(rule(1, "tagged", "imageCountMoreThan", 5, tagPatternList=["prod-*"]),
                            rule(2, "untagged", "sinceImagePushed", 14)))
    assert p.rules[0].criterion == "keeps the 5 newest images with a tag matching 'prod-*' and expires the rest"
    assert p.rules[1].criterion == "expires untagged images pushed more than 14 days ago"


@pytest.mark.parametrize("text, message", [
    ("not json", "not JSON"),
    ("[]", "non-empty list of rules"),
    ('{"rules": []}', "non-empty list of rules"),
    (policy(rule(1, "tagged", "imageCountMoreThan", 1)), "needs a tagPrefixList or tagPatternList"),
    (policy(rule(1, "any", "imageCountMoreThan", 1), rule(1, "untagged", "imageCountMoreThan", 1)), "unique"),
    (policy(rule(1, "any", "imageCountMoreThan", 0)), "positive integer"),
    (policy(rule(1, "sometimes", "imageCountMoreThan", 1)), "tagStatus"),
    (json.dumps({"rules": [{"rulePriority": "1", "selection": {}}]}), "rulePriority must be an integer"),
    (json.dumps({"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "sinceImagePushed",
                                                             "countUnit": "hours", "countNumber": 1}}]}), "days"),
    (json.dumps({"rules": [{"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPrefixList": "prod",
                                                             "countType": "imageCountMoreThan", "countNumber": 1}}]}),
     "list of non-empty strings"),
    (json.dumps({"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                                                             "countNumber": 1}, "action": {"type": "delete"}}]}),
     "expire or transition"),
])
def test_policies_ecr_would_refuse_raise_one_typed_error(text: str, message: str) -> None:
    with pytest.raises(LifecyclePolicyError, match=message):
        parse_policy(text)
