"""Image references and ECR registry host names: pure parsing, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

# The credential helper's own host pattern (amazon-ecr-credential-helper ecr-login/api/client.go);
# matching it exactly means ecrdoctor and the helper agree on what an ECR host is.
_ECR_PRIVATE = re.compile(
    r"^(\d{12})\.dkr[\.\-]ecr(\-fips)?\.([a-zA-Z0-9][a-zA-Z0-9-_]*)\."
    r"(amazonaws\.(?:com(?:\.cn)?|eu)|on\.(?:aws|amazonwebservices\.com\.cn)"
    r"|sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$"
)
ECR_PUBLIC_HOSTS = ("public.ecr.aws", "ecr-public.aws.com")

# DNS suffix -> partition name, as botocore's partitions.json spells them.
_PARTITIONS = {
    "amazonaws.com": "aws",
    "on.aws": "aws",
    "amazonaws.com.cn": "aws-cn",
    "on.amazonwebservices.com.cn": "aws-cn",
    "amazonaws.eu": "aws-eusc",
    "c2s.ic.gov": "aws-iso",
    "sc2s.sgov.gov": "aws-iso-b",
    "cloud.adc-e.uk": "aws-iso-e",
    "csp.hci.ic.gov": "aws-iso-f",
}
# Region names follow each partition's regionRegex in botocore endpoints.json (us-gov, iso, eusc included).
_REGION_SHAPE = re.compile(r"(?:[a-z]{2}(?:-gov|-iso[a-z]?)?|eusc-[a-z]{2})-[a-z]+-\d{1,2}")
# Every region in botocore 1.44.8 endpoints.json, all partitions.
_KNOWN_REGIONS = (  # noqa: SIM905
    "af-south-1 ap-east-1 ap-east-2 ap-northeast-1 ap-northeast-2 ap-northeast-3 ap-south-1 ap-south-2 "
    "ap-southeast-1 ap-southeast-2 ap-southeast-3 ap-southeast-4 ap-southeast-5 ap-southeast-6 "
    "ap-southeast-7 ca-central-1 ca-west-1 eu-central-1 eu-central-2 eu-north-1 eu-south-1 eu-south-2 "
    "eu-west-1 eu-west-2 eu-west-3 il-central-1 me-central-1 me-south-1 mx-central-1 sa-east-1 us-east-1 "
    "us-east-2 us-west-1 us-west-2 us-gov-east-1 us-gov-west-1 cn-north-1 cn-northwest-1 eusc-de-east-1 "
    "us-iso-east-1 us-iso-west-1 us-isob-east-1 us-isob-west-1 eu-isoe-west-1 us-isof-east-1 us-isof-south-1"
).split()
_REGION_SUFFIXES = {  # region-name prefix -> registry DNS suffix; any other region uses amazonaws.com
    "cn-": "amazonaws.com.cn", "eusc-": "amazonaws.eu", "us-isob-": "sc2s.sgov.gov",
    "us-isof-": "csp.hci.ic.gov", "us-iso-": "c2s.ic.gov", "eu-isoe-": "cloud.adc-e.uk",
}


@dataclass(frozen=True)
class RegistryHost:
    """What a registry host name says: ECR private (account, region), ECR Public, or another registry."""

    host: str
    kind: str  # "private" | "public" | "other"
    account: Optional[str] = None
    region: Optional[str] = None
    dns_suffix: Optional[str] = None
    fips: bool = False
    dualstack: bool = False

    @property
    def is_ecr(self) -> bool:
        return self.kind in ("private", "public")

    @property
    def partition(self) -> Optional[str]:
        if self.kind == "public":
            return "aws"
        if self.dns_suffix is None:
            return None
        partition = _PARTITIONS.get(self.dns_suffix, "aws")
        if partition == "aws" and self.region and self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return partition

    @property
    def api_region(self) -> Optional[str]:
        """Region for API calls about this registry (ECR Public tokens come only from us-east-1)."""
        return "us-east-1" if self.kind == "public" else self.region

    @property
    def api_host(self) -> Optional[str]:
        """ECR API endpoint serving this registry (botocore endpoints.json host forms)."""
        if self.kind == "public":
            return "api.ecr-public.us-east-1.amazonaws.com"
        if self.kind != "private" or not self.region or not self.dns_suffix:
            return None
        region, service = self.region.lower(), "ecr-fips" if self.fips else "ecr"
        if self.dualstack:
            china = self.dns_suffix.endswith(".cn")
            return f"{service}.{region}.{'api.amazonwebservices.com.cn' if china else 'api.aws'}"
        return f"{'ecr-fips' if self.fips else 'api.ecr'}.{region}.{self.dns_suffix}"

    @property
    def canonical_host(self) -> Optional[str]:
        """The standard IPv4, non-FIPS host of the same registry, to compare hosts spelled differently."""
        if self.kind == "public":
            return "public.ecr.aws"
        if self.kind != "private" or not self.region or not self.dns_suffix:
            return None
        ipv4 = {"on.aws": "amazonaws.com", "on.amazonwebservices.com.cn": "amazonaws.com.cn"}
        suffix = ipv4.get(self.dns_suffix, self.dns_suffix)
        return f"{self.account}.dkr.ecr.{self.region.lower()}.{suffix}"


def _suffix_for(region: str, dualstack: bool = False) -> str:
    """DNS suffix of a region's registry hosts, from the partition prefix of the region name."""
    if dualstack:
        return "on.amazonwebservices.com.cn" if region.startswith("cn-") else "on.aws"
    prefix = next((p for p in _REGION_SUFFIXES if region.startswith(p)), None)
    return _REGION_SUFFIXES[prefix] if prefix else "amazonaws.com"


def parse_registry_host(host: str) -> RegistryHost:
    """Classify a registry host (port and scheme tolerated, as the credential helper does)."""
    bare = host.strip()
    bare = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", bare).split("/", 1)[0]
    name = bare.rsplit(":", 1)[0] if re.search(r":\d+$", bare) else bare
    if name.lower() in ECR_PUBLIC_HOSTS:
        return RegistryHost(host=host, kind="public", dualstack=name.lower() == "ecr-public.aws.com")
    m = _ECR_PRIVATE.match(name)
    if not m:
        return RegistryHost(host=host, kind="other")
    suffix = m.group(4)
    return RegistryHost(
        host=host,
        kind="private",
        account=m.group(1),
        region=m.group(3),
        dns_suffix=suffix,
        fips=bool(m.group(2)),
        dualstack=suffix.startswith("on."),
    )


# docker/distribution reference grammar (github.com/distribution/reference regexp.go).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
_TAG = r"\w[\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REMAINDER = re.compile(rf"({_COMPONENT}(?:/{_COMPONENT})*)(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_DIGEST_SIZES = {"sha256": 64, "sha384": 96, "sha512": 128}  # go-digest's available algorithms
_BAD = "invalid reference format"


class ReferenceError(ValueError):
    """An image reference docker refuses: docker's message, why in plain words, a fix when one is clear."""

    def __init__(self, message: str, reason: str = "", suggestion: Optional[str] = None) -> None:
        super().__init__(message)
        self.message, self.reason, self.suggestion = message, reason, suggestion


@dataclass(frozen=True)
class ImageReference:
    """An image reference split the way docker splits it (registry, repository, tag, digest)."""

    raw: str
    registry: str
    repository: str
    tag: Optional[str]
    digest: Optional[str]
    registry_given: bool

    @property
    def reference(self) -> str:
        return self.digest or self.tag or "latest"

    @property
    def host(self) -> RegistryHost:
        return parse_registry_host(self.registry)

    @property
    def is_docker_hub(self) -> bool:
        return self.registry in ("docker.io", "registry-1.docker.io")

    @property
    def full(self) -> str:
        return f"{self.registry}/{self.repository}" + _tail(self.tag, self.digest)


def _tail(tag: Optional[str], digest: Optional[str]) -> str:
    return (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _valid(text: str) -> Optional[str]:
    """text if docker would accept it, else None: a suggestion is only offered when it would work."""
    try:
        parse_reference(text)
    except ReferenceError:
        return None
    return text


def parse_reference(text: str) -> ImageReference:
    """Split an image reference as docker's ParseNormalizedNamed does, or raise ReferenceError."""
    if not text.strip():
        raise ReferenceError(_BAD, "the image reference is empty")
    if text != text.strip():
        raise ReferenceError(_BAD, "the reference has spaces or newlines around it", _valid(text.strip()))
    scheme = re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*://", text)
    if scheme:
        rest = text[scheme.end() :].rstrip("/")  # a bare host is no image: suggest nothing then
        why = f"an image reference has no URL scheme: drop '{scheme.group(0)}'"
        raise ReferenceError(_BAD, why, _valid(rest) if "/" in rest else None)
    if re.fullmatch(r"[a-f0-9]{64}", text):
        msg = f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        raise ReferenceError(msg, "this is an image id, not a repository name")
    first, slash, rest = text.partition("/")
    # docker: the first component is a registry if it has '.' or ':', is localhost, or has capitals.
    given = bool(slash) and (first == "localhost" or ":" in first or "." in first or first.lower() != first)
    written, head = (rest, first + "/") if given else (text, "")
    registry = ("docker.io" if first == "index.docker.io" else first) if given else "docker.io"
    remainder = written if registry != "docker.io" or "/" in written else "library/" + written
    path = re.split(r"[:@]", written, maxsplit=1)[0]
    if path.lower() != path:
        head = head if "." in head or ":" in head else head.lower()  # 'Team/App': Team taken for a host
        shown = re.split(r"[:@]", remainder, maxsplit=1)[0]
        msg = f"{_BAD}: repository name ({shown}) must be lowercase"
        fixed = head + path.lower() + written[len(path) :]
        raise ReferenceError(msg, "repository names are lowercase only", _valid(fixed))
    m = _REMAINDER.fullmatch(remainder)
    if not m or (given and not _DOMAIN.fullmatch(registry)):
        raise ReferenceError(_BAD, *_explain(head, written, registry if given else None))
    name, tag, digest = m.groups()
    if len(registry) + 1 + len(name) > 255:
        raise ReferenceError("repository name must not be more than 255 characters", "the name is too long")
    algorithm, _, encoded = (digest or "").partition(":")
    if digest and algorithm not in _DIGEST_SIZES:
        raise ReferenceError("unsupported digest algorithm", f"'{algorithm}' is not sha256, sha384 or sha512")
    if digest and len(encoded) != _DIGEST_SIZES[algorithm]:
        why = f"a {algorithm} digest has {_DIGEST_SIZES[algorithm]} hex digits, this one has {len(encoded)}"
        raise ReferenceError("invalid checksum digest length", why)
    if encoded != encoded.lower():
        fixed = text.replace(encoded, encoded.lower())
        raise ReferenceError("invalid checksum digest format", "digest hex digits must be lowercase", fixed)
    return ImageReference(text, registry, name, tag if tag or digest else "latest", digest, given)


def _explain(head: str, written: str, registry: Optional[str]) -> tuple[str, Optional[str]]:
    """Say which part of a reference breaks docker's grammar, with a corrected reference if one is clear."""
    name_part, at, digest = written.partition("@")
    path, colon, tag = name_part.partition(":")
    tail, components = (f":{tag}" if colon else "") + at + digest, path.split("/")
    if registry is not None and not _DOMAIN.fullmatch(registry):
        return f"'{registry}' is not a valid registry host name (letters, digits, '-' and '.' only)", None
    if "" in components:
        where = "ends with '/'" if path.endswith("/") else "starts with '/'"
        where = "contains '//'" if "//" in head + path else where
        fixed = head + "/".join(c for c in components if c) + tail
        return f"the repository path {where}", _valid(fixed) if fixed != head + written else None
    wrong = [c for c in components if not re.fullmatch(_COMPONENT, c)]
    if wrong:
        rule = "lowercase letters and digits, joined by one '.', one or two '_', or dashes"
        return f"repository name component '{wrong[0]}' is not valid: use {rule}", None
    if colon and not re.fullmatch(_TAG, tag, re.ASCII):
        if not tag:
            return "the tag after ':' is empty", _valid(head + path + at + digest)
        rule = "1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        return f"tag '{tag}' is not valid: {rule}", None
    if re.fullmatch(r"[0-9a-f]{64}", digest):
        return "the digest lacks its algorithm", _valid(f"{head}{name_part}@sha256:{digest}")
    if at:
        return f"digest '{digest}' is not valid: a digest is sha256:<64 hex digits>", None
    return "the reference does not follow docker's name[:tag][@digest] form", None


@dataclass(frozen=True)
class NearMiss:
    """A reference probably meant for ECR that docker will send elsewhere or cannot resolve."""

    reason: str  # every problem found, most specific first, joined by "; "
    corrected: Optional[str]  # with <account>/<region> placeholders only where nothing could be inferred
    # docker-hub, uppercase-namespace, api-host, public-typo, missing-account, account-digits, dkr-typo,
    # ecr-typo, missing-region, region-shape, region-typo, domain-typo, partition-suffix, uppercase-host
    kind: str


_API_HOST = re.compile(
    r"(?:api\.)?ecr(-fips|-public)?\.([a-z0-9-]+)\.(amazonaws\.com(?:\.cn)?|amazonaws\.eu|api\.aws"
    r"|api\.amazonwebservices\.com\.cn|sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)"
)


def _close(a: str, b: str, limit: int) -> bool:
    """Optimal-string-alignment distance at most limit (counts swapped letters, drk/erc, as one edit)."""
    prev2, prev = [0] * (len(b) + 1), list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i]
        for j in range(1, len(b) + 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1] <= limit


def _token(word: str) -> Optional[str]:
    """Which ECR host word ('dkr', 'ecr', 'fips') word is, or is a one-edit typo of."""
    if word in ("fips", "docker"):
        return "fips" if word == "fips" else "dkr"
    return next((t for t in ("dkr", "ecr") if _close(word, t, 1)), None)


def _closest_region(text: str) -> Optional[str]:
    """The one known region text obviously means (useast1, us-east1, us-east-1a, us-esat-1), if any."""
    flat = text.replace("-", "")
    for want in (flat, flat[:-1] if flat[-1:].isalpha() else None):
        hits = [r for r in _KNOWN_REGIONS if r.replace("-", "") == want]
        if hits:
            return hits[0] if len(hits) == 1 else None
    hits = [r for r in _KNOWN_REGIONS if _close(text, r, 1)]
    return hits[0] if len(hits) == 1 else None


def find_near_miss(
    ref: ImageReference, default_region: Optional[str] = None, default_account: Optional[str] = None
) -> Optional[NearMiss]:
    """Spot a reference meant for ECR whose registry is missing, misspelt or the wrong endpoint."""
    region, account = default_region or "<region>", default_account or "<account>"
    tail = _tail(ref.tag, ref.digest)
    ecr_host = f"{account}.dkr.ecr.{region}.{_suffix_for(region)}"
    if not ref.registry_given:
        reason = f"'{ref.raw}' names no registry, so docker pulls it from Docker Hub, not from ECR"
        return NearMiss(reason, f"{ecr_host}/{re.split('[:@]', ref.raw)[0]}{tail}", "docker-hub")
    name = re.sub(r":\d+$", "", ref.registry).lower()
    if "." not in name and ":" not in ref.registry and name != "localhost":
        reason = f"'{ref.registry}' has capitals, so docker takes it for a registry host, not a repository"
        return NearMiss(reason, f"{ecr_host}/{name}/{ref.repository}{tail}", "uppercase-namespace")
    found = _endpoint_near_miss(name, default_region, default_account) or _private_near_miss(
        name, default_region, default_account
    )
    if found:
        return NearMiss(found[1], f"{found[2]}/{ref.repository}{tail}", found[0])
    if ref.registry != ref.registry.lower() and parse_registry_host(name).is_ecr:
        reason = f"'{ref.registry}' has capitals: docker matches credHelpers and auths keys as written"
        return NearMiss(reason, f"{ref.registry.lower()}/{ref.repository}{tail}", "uppercase-host")
    return None


def _endpoint_near_miss(
    name: str, default_region: Optional[str], default_account: Optional[str]
) -> Optional[tuple[str, str, str]]:
    """(kind, reason, corrected host) for an ECR API endpoint or a misspelt ECR Public host."""
    api, words = _API_HOST.fullmatch(name), re.split(r"[.-]", name)
    if api and api.group(1) == "-public":
        return "api-host", f"{name} is the ECR Public API; docker pulls from public.ecr.aws", "public.ecr.aws"
    if api:  # the API's dual-stack api.aws / api.amazonwebservices.com.cn become on.<...> for the registry
        region = api.group(2) if _REGION_SHAPE.fullmatch(api.group(2)) else _closest_region(api.group(2))
        suffix = re.sub(r"^api\.", "on.", api.group(3))
        dkr = f"dkr{'-' if suffix.startswith('on.') else '.'}ecr{api.group(1) or ''}"
        host = f"{default_account or '<account>'}.{dkr}.{region or default_region or '<region>'}.{suffix}"
        return "api-host", f"{name} is the ECR API endpoint, not the registry: docker pulls from {host}", host
    public = name == "ecr.aws" or any(w == "gallery" or _close(w, "public", 2) for w in words)
    if public and "ecr" in map(_token, words) and parse_registry_host(name).kind != "public":
        reason = f"{name} is not ECR Public's registry; docker pulls public images from public.ecr.aws"
        return "public-typo", reason, "public.ecr.aws"
    return None


def _private_near_miss(
    name: str, default_region: Optional[str], default_account: Optional[str]
) -> Optional[tuple[str, str, str]]:
    """(kind, reasons, corrected host) for a private registry host with a missing or misspelt part."""
    labels = name.split(".")
    suffix = next((s for s in sorted(_PARTITIONS, key=len, reverse=True) if name.endswith("." + s)), "")
    typo = len(labels) > 2 and _close(labels[-1], "com", 1) and _close(labels[-2], "amazonaws", 2)
    typo, suffix = not suffix and typo, suffix or ("amazonaws.com" if typo else "")
    if not suffix:
        return None
    head = labels[: -(suffix.count(".") + 1)]  # [account] dkr ecr [region], each part possibly misspelt
    given = head.pop(0) if head and not all(map(_token, head[0].split("-"))) else None
    region = head.pop() if head and not all(map(_token, head[-1].split("-"))) else None
    words = [w for label in head for w in label.split("-")]
    tokens = [_token(w) for w in words]
    if not words or None in tokens or not {"dkr", "ecr"} & set(tokens):
        return None
    problems, account = [], default_account or "<account>"
    if given is None:
        problems.append(("missing-account", "the host has no 12-digit account id before 'dkr'"))
    elif not re.fullmatch(r"\d{12}", given):
        lost_zero = default_account is None and re.fullmatch(r"\d{11}", given) is not None
        account = "0" + given if lost_zero else account
        why = " (a leading zero was probably lost)" if lost_zero else ""
        problems.append(("account-digits", f"account id '{given}' is not 12 digits{why}"))
    else:
        account = given
    for want in ("dkr", "ecr"):
        wrong = next((w for w, t in zip(words, tokens) if t == want and w != want), None)
        if want not in tokens or wrong:
            why = f"'{wrong}' is a typo for '{want}'" if wrong else f"the host lacks '{want}'"
            problems.append((f"{want}-typo", why))
    guess = _closest_region(region) if region and region not in _KNOWN_REGIONS else None
    hint = f" (probably {guess})" if guess else " (regions look like us-east-1)"
    if region is None:
        problems.append(("missing-region", "the host has no region: it should read dkr.ecr.<region>"))
    elif not _REGION_SHAPE.fullmatch(region):
        problems.append(("region-shape", f"'{region}' is not a region name{hint}"))
        region = guess
    elif guess and not region.startswith(guess.rstrip("0123456789")):  # us-esat-1, not a new ap-east-3
        problems.append(("region-typo", f"'{region}' is not an AWS region{hint}"))
        region = guess
    region, dual = region or default_region or "<region>", suffix.startswith("on.")
    want = _suffix_for(region, dual) if _REGION_SHAPE.fullmatch(region) else suffix
    if typo or want != suffix:
        wrote = ".".join(labels[-2:]) if typo else suffix
        kind = "domain-typo" if typo else "partition-suffix"
        problems.append((kind, f"hosts in {region} end in .{want}, not .{wrote}"))
    if not problems:
        return None
    dkr = f"dkr{'-' if dual else '.'}ecr{'-fips' if 'fips' in tokens else ''}"
    dkr = dkr if any(k in ("dkr-typo", "ecr-typo") for k, _ in problems) else ".".join(head)
    return problems[0][0], "; ".join(r for _, r in problems), f"{account}.{dkr}.{region}.{want}"
