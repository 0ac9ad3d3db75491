"""A local evaluator of ECR lifecycle policies: which images each rule expires, and when the target's turn comes.

ECR's own evaluation rules (Amazon ECR User Guide, "Lifecycle policy evaluation rules", and the
worked examples of "Examples of lifecycle policies"), as implemented here:

- rules run in `rulePriority` order, lowest first;
- a rule *identifies* every image its selection matches (tagStatus tagged/untagged/any, and for
  tagged: every entry of tagPrefixList / tagPatternList must match at least one of the image's
  tags), including images a higher-priority rule identified;
- it *marks* the images its count criterion condemns: with imageCountMoreThan, all but the
  countNumber newest (by push time); with sinceImagePushed, those pushed more than countNumber
  days ago;
- but an image identified by a higher-priority rule is never marked by a lower one ("An image that
  matches the tagging requirements of a rule cannot be expired by a rule with a lower priority"),
  so each image is expired (or archived) by exactly one rule or none;
- marked images go within 24 hours.

Rules whose count type this module does not evaluate (sinceImagePulled, sinceImageTransitioned,
anything newer) still identify their images, so the rules after them stay exact; their own marks
are reported as unknown. Two pushes in the same second (moto stamps whole seconds) keep the order
DescribeImages listed them in: the later one counts as newer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

TAG_STATUSES = ("tagged", "untagged", "any")
EVALUATED_COUNT_TYPES = ("imageCountMoreThan", "sinceImagePushed")


class LifecyclePolicyError(ValueError):
    """The lifecycle policy text is not JSON, or not a policy ECR would have accepted."""


@dataclass(frozen=True)
class Image:
    """One image of the repository as DescribeImages lists it."""

    digest: str
    tags: Tuple[str, ...]
    pushed_at: datetime
    status: str = "ACTIVE"  # imageStatus: ACTIVE | ARCHIVED | ACTIVATING


@dataclass(frozen=True)
class Rule:
    """One rule of a lifecycle policy."""

    priority: int
    description: str
    tag_status: str  # tagged | untagged | any
    count_type: str
    count_number: int
    count_unit: Optional[str] = None
    tag_prefixes: Tuple[str, ...] = ()
    tag_patterns: Tuple[str, ...] = ()
    action: str = "expire"  # expire | transition
    storage_class: Optional[str] = None  # selection.storageClass: standard | archive
    target_storage_class: Optional[str] = None  # action.targetStorageClass for transition

    @property
    def label(self) -> str:
        return f"rule {self.priority}" + (f" ('{self.description}')" if self.description else "")

    @property
    def evaluated(self) -> bool:
        """Whether this module can say which images the count criterion condemns."""
        return self.count_type in EVALUATED_COUNT_TYPES

    @property
    def criterion(self) -> str:
        """The rule in words: what it selects and what it does to them."""
        if self.tag_status == "untagged":
            what = "untagged images"
        elif self.tag_status == "any":
            what = "all images"
        else:
            lists = [f"tags starting with {p!r}" for p in self.tag_prefixes]
            lists += [f"a tag matching {p!r}" for p in self.tag_patterns]
            what = "images with " + " and ".join(lists)
        verb = "archives" if self.action == "transition" else "expires"
        if self.count_type == "imageCountMoreThan":
            return f"keeps the {self.count_number} newest {what} and {verb} the rest"
        if self.count_type == "sinceImagePushed":
            return f"{verb} {what} pushed more than {self.count_number} {self.count_unit or 'days'} ago"
        return f"{verb} {what} by {self.count_type} {self.count_number}"

    def matches_tags(self, tags: Sequence[str]) -> bool:
        """The tagging requirements alone: tagStatus, and every prefix / pattern matching some tag."""
        if self.tag_status == "any":
            return True
        if self.tag_status == "untagged":
            return not tags
        if not tags:
            return False
        return all(any(t.startswith(p) for t in tags) for p in self.tag_prefixes) and all(
            any(_pattern(p).fullmatch(t) for t in tags) for p in self.tag_patterns
        )

    def selects(self, image: Image) -> bool:
        """Whether the rule identifies this image: tagging requirements and storage class."""
        wanted = "ARCHIVED" if (self.storage_class or "standard").lower() == "archive" else "ACTIVE"
        return image.status == wanted and self.matches_tags(image.tags)


@dataclass(frozen=True)
class LifecyclePolicy:
    rules: Tuple[Rule, ...]  # in evaluation order (rulePriority ascending)

    def first_rule_for_tag(self, tag: str) -> Optional[Rule]:
        """The rule that would decide the fate of an image carrying only this tag (for a tag already gone)."""
        return next((r for r in self.rules if r.matches_tags((tag,))), None)


def _pattern(pattern: str) -> re.Pattern[str]:
    """tagPatternList entry -> regex: `*` matches any run of characters, everything else is literal."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def _strings(value: Any, where: str) -> Tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise LifecyclePolicyError(f"{where} must be a list of non-empty strings")
    return tuple(value)


def _rule(raw: Any, index: int) -> Rule:
    where = f"rules[{index}]"
    if not isinstance(raw, dict):
        raise LifecyclePolicyError(f"{where} is not an object")
    priority = raw.get("rulePriority")
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise LifecyclePolicyError(f"{where}.rulePriority must be an integer")
    selection, action = raw.get("selection"), raw.get("action") or {"type": "expire"}
    if not isinstance(selection, dict) or not isinstance(action, dict):
        raise LifecyclePolicyError(f"{where}: selection and action must be objects")
    tag_status = str(selection.get("tagStatus", "")).lower()
    if tag_status not in TAG_STATUSES:
        raise LifecyclePolicyError(f"{where}.selection.tagStatus must be tagged, untagged or any")
    prefixes = _strings(selection.get("tagPrefixList"), f"{where}.selection.tagPrefixList")
    patterns = _strings(selection.get("tagPatternList"), f"{where}.selection.tagPatternList")
    if tag_status == "tagged" and not (prefixes or patterns):
        raise LifecyclePolicyError(f"{where}: tagStatus tagged needs a tagPrefixList or tagPatternList")
    count_type, count_number = selection.get("countType"), selection.get("countNumber")
    if not isinstance(count_type, str) or not count_type:
        raise LifecyclePolicyError(f"{where}.selection.countType is missing")
    if not isinstance(count_number, int) or isinstance(count_number, bool) or count_number < 1:
        raise LifecyclePolicyError(f"{where}.selection.countNumber must be a positive integer")
    unit = selection.get("countUnit")
    if count_type == "sinceImagePushed" and str(unit or "days").lower() != "days":
        raise LifecyclePolicyError(f"{where}.selection.countUnit must be days")
    action_type = str(action.get("type", "expire")).lower()
    if action_type not in ("expire", "transition"):
        raise LifecyclePolicyError(f"{where}.action.type must be expire or transition")
    return Rule(
        priority=priority, description=str(raw.get("description") or ""), tag_status=tag_status,
        count_type=count_type, count_number=count_number, count_unit=str(unit).lower() if unit else None,
        tag_prefixes=prefixes, tag_patterns=patterns, action=action_type,
        storage_class=str(selection["storageClass"]).lower() if selection.get("storageClass") else None,
        target_storage_class=str(action["targetStorageClass"]) if action.get("targetStorageClass") else None,
    )


def parse_policy(text: str) -> LifecyclePolicy:
    """GetLifecyclePolicy's lifecyclePolicyText -> the rules in evaluation order; LifecyclePolicyError if bad."""
    try:
        doc = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise LifecyclePolicyError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list) or not doc["rules"]:
        raise LifecyclePolicyError("a lifecycle policy is an object with a non-empty list of rules")
    rules = [_rule(raw, i) for i, raw in enumerate(doc["rules"])]
    priorities = [r.priority for r in rules]
    if len(set(priorities)) != len(priorities):
        raise LifecyclePolicyError("rulePriority values must be unique")
    return LifecyclePolicy(tuple(sorted(rules, key=lambda r: r.priority)))


# -- evaluation -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleResult:
    """What one rule did: the images it identified and the ones it expires (or archives)."""

    rule: Rule
    identified: Tuple[str, ...]  # digests, newest first
    marked: Tuple[str, ...]  # digests this rule expires or archives (empty when not evaluated)


@dataclass(frozen=True)
class Evaluation:
    results: Tuple[RuleResult, ...]

    def marked_by(self, digest: str) -> Optional[RuleResult]:
        return next((r for r in self.results if digest in r.marked), None)

    def deciding(self, digest: str) -> Optional[RuleResult]:
        """The first rule that identifies the image: the only one that may ever expire it."""
        return next((r for r in self.results if digest in r.identified), None)

    @property
    def marked(self) -> Dict[str, Rule]:
        return {d: r.rule for r in self.results for d in r.marked}


def _newest_first(images: Sequence[Image]) -> List[Image]:
    order = {id(img): i for i, img in enumerate(images)}
    return sorted(images, key=lambda img: (img.pushed_at, order[id(img)]), reverse=True)


def evaluate(policy: LifecyclePolicy, images: Iterable[Image], now: datetime) -> Evaluation:
    """Run the policy over the repository's images as ECR would at `now` (timezone-aware datetimes)."""
    newest = _newest_first(list(images))
    claimed: set[str] = set()
    results: list[RuleResult] = []
    for rule in policy.rules:
        identified = [img for img in newest if rule.selects(img)]
        if rule.count_type == "imageCountMoreThan":
            condemned = identified[rule.count_number:]
        elif rule.count_type == "sinceImagePushed":
            cutoff = now - timedelta(days=rule.count_number)
            condemned = [img for img in identified if img.pushed_at < cutoff]
        else:
            condemned = []
        marked = tuple(img.digest for img in condemned if img.digest not in claimed)
        claimed.update(img.digest for img in identified)
        results.append(RuleResult(rule, tuple(img.digest for img in identified), marked))
    return Evaluation(tuple(results))


@dataclass(frozen=True)
class Fate:
    """What the policy has in store for one image.

    kind: "kept" (no rule identifies it), "marked" (its rule expires or archives it now: within
    24 hours), "expires-at" (a sinceImagePushed rule will, at `when`), "expires-after-pushes" (an
    imageCountMoreThan rule will, after `pushes` more pushes it selects), "unknown" (its rule's
    count type is not evaluated locally).
    """

    kind: str
    rule: Optional[Rule] = None
    when: Optional[datetime] = None
    pushes: Optional[int] = None
    kept_rank: Optional[int] = None  # 1 = the newest image the rule identifies


def fate(policy: LifecyclePolicy, images: Sequence[Image], now: datetime, digest: str) -> Fate:
    """The fate of the image with this digest under the policy (see Fate)."""
    by_digest = {img.digest: img for img in images}
    target = by_digest.get(digest)
    if target is None:
        raise KeyError(digest)
    evaluation = evaluate(policy, images, now)
    deciding = evaluation.deciding(digest)
    if deciding is None:
        return Fate("kept")
    rule = deciding.rule
    if digest in deciding.marked:
        return Fate("marked", rule)
    if not rule.evaluated:
        return Fate("unknown", rule)
    if rule.count_type == "sinceImagePushed":
        return Fate("expires-at", rule, when=target.pushed_at + timedelta(days=rule.count_number))
    rank = deciding.identified.index(digest) + 1
    return Fate("expires-after-pushes", rule, pushes=rule.count_number - rank + 1, kept_rank=rank)
