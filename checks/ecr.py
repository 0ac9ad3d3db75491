"""The repository side of a pull: the repository, the tag, a variant for this host, and the lifecycle rules."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, List, Optional, Sequence, Tuple

from ecrdoctor import awsfacts
from ecrdoctor.api import Fix, Outcome, SkipCheck, check, error, fail, info, passed, skip, warn
from ecrdoctor.aws import client_error_code, client_error_message
from ecrdoctor.context import Context
from ecrdoctor.lifecycle import Image, LifecyclePolicy, LifecyclePolicyError, fate, parse_policy
from ecrdoctor.similar import Match, closest

# Every manifest type a pull accepts: a probe that leaves one out can be told "not found" for an image that
# exists (aws-side.md B5 IMG-MEDIA-TYPE-PROBE).
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
NAME_CAP = 10_000  # repository names listed at most, to suggest near names
IMAGE_CAP = 10_000  # images listed at most, for near tags, recent pushes and the lifecycle evaluation
PAGE_SIZE = 1000  # DescribeRepositories / DescribeImages maxResults (the API's maximum)
# The ECR console's default pull-through-cache prefixes (aws-side.md A7)
CONSOLE_PTC_PREFIXES = ("ecr-public", "kubernetes", "quay", "docker-hub", "github")
SOON = timedelta(days=7)  # an age rule due within this is a warning
# platform.machine() -> (GOARCH, variant) as docker names the host's platform
MACHINES = {
    "x86_64": ("amd64", ""), "amd64": ("amd64", ""), "aarch64": ("arm64", "v8"), "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"), "i386": ("386", ""), "i686": ("386", ""),
    "ppc64le": ("ppc64le", ""), "s390x": ("s390x", ""), "riscv64": ("riscv64", ""),
}


def _private_image(ctx: Context) -> Optional[str]:
    if ctx.image is None:
        return "no image reference given: there is no repository to look at"
    if ctx.registry is None or ctx.registry.kind != "private":
        return f"{ctx.image.registry} is not a private ECR registry"
    return None


def _where(ctx: Context) -> str:
    reg = ctx.registry
    return f"registry {reg.account} ({ctx.options.region or reg.region})" if reg else "the registry"


def _region(ctx: Context) -> str:
    return str(ctx.options.region or (ctx.registry.region if ctx.registry else "") or "<region>")


def _cli(ctx: Context) -> str:
    """The `--region … --registry-id …` tail of every aws ecr command in a fix."""
    return f"--region {_region(ctx)} --registry-id {ctx.registry.account if ctx.registry else '<account>'}"


def _target(ctx: Context) -> str:
    ref = ctx.image
    assert ref is not None
    return f"{ref.repository}@{ref.digest}" if ref.digest else f"{ref.repository}:{ref.tag or 'latest'}"


def _image_id(ctx: Context) -> dict[str, str]:
    ref = ctx.image
    assert ref is not None
    return {"imageDigest": ref.digest} if ref.digest else {"imageTag": ref.tag or "latest"}


def _pull(ctx: Context, repository: Optional[str] = None, reference: Optional[str] = None,
          registry: Optional[str] = None) -> str:
    ref = ctx.image
    assert ref is not None
    reference = reference or (f"@{ref.digest}" if ref.digest else f":{ref.tag or 'latest'}")
    return f"docker pull {registry or ref.registry}/{repository or ref.repository}{reference}"


def _denied(code: str, message: str) -> Optional[str]:
    """A one-line account of an AccessDenied answer (moto's XML 403 included), else None."""
    if code not in ("AccessDeniedException", "AccessDenied") and "not authorized to perform" not in message:
        return None
    d = awsfacts.parse_denial(message)
    why = f" ({'explicit deny in ' if d.explicit_deny else 'no '}{d.policy_type} policy)" if d.policy_type else ""
    return f"{d.principal or 'the caller'} may not {d.action or 'call this'}{why}"


def _api_failure(exc: BaseException, what: str) -> SkipCheck:
    """botocore errors (denied, unreachable, throttled) make a check unevaluable, not broken."""
    if not type(exc).__module__.startswith("botocore"):
        raise exc
    code, message = client_error_code(exc), client_error_message(exc)
    denied = _denied(code, message)
    return SkipCheck(f"cannot tell {what}: {denied}" if denied else f"cannot tell {what}: {code}: {message}")


def _existing_repository(ctx: Context) -> awsfacts.RepositoryLookup:
    lookup = awsfacts.repository(ctx)
    if not lookup.exists:
        raise SkipCheck(f"repository {lookup.name} does not exist yet: the first pull through the cache creates it")
    return lookup


# -- facts other checks may share ---------------------------------------------------------------------


@dataclass(frozen=True)
class TargetImage:
    """DescribeImages for the target tag or digest (by imageIds): the image, or the error code."""

    image: Optional[Image]
    media_type: Optional[str] = None
    size_bytes: Optional[int] = None
    error_code: Optional[str] = None
    error_message: str = ""


def _image(detail: dict[str, Any]) -> Image:
    pushed = detail.get("imagePushedAt") or datetime.fromtimestamp(0, timezone.utc)
    return Image(str(detail["imageDigest"]), tuple(detail.get("imageTags") or ()), pushed,
                 str(detail.get("imageStatus") or "ACTIVE"))


def target_image(ctx: Context) -> TargetImage:
    """The target image by tag or digest, once per run (fact `ecr.target_image`); needs an existing repository."""

    def fetch() -> TargetImage:
        lookup = _existing_repository(ctx)
        try:
            resp = awsfacts.ecr(ctx).describe_images(repositoryName=lookup.name, registryId=lookup.registry_id,
                                                     imageIds=[_image_id(ctx)])
        except Exception as exc:
            if not hasattr(exc, "response"):
                raise
            return TargetImage(None, error_code=client_error_code(exc), error_message=client_error_message(exc))
        details = resp.get("imageDetails") or []
        if not details:
            return TargetImage(None, error_code="ImageNotFoundException")
        d = details[0]
        return TargetImage(_image(d), d.get("imageManifestMediaType"), d.get("imageSizeInBytes"))

    return ctx.fact("ecr.target_image", fetch)


@dataclass(frozen=True)
class RepositoryImages:
    images: Tuple[Image, ...]  # in the order DescribeImages listed them
    truncated: bool  # stopped at IMAGE_CAP (or the run's deadline) with more pages left


def repository_images(ctx: Context) -> RepositoryImages:
    """Every image of the target repository, any tag status and storage status, paginated and capped at
    IMAGE_CAP (fact `ecr.repository_images`). Raises the botocore error."""

    def fetch() -> RepositoryImages:
        lookup = _existing_repository(ctx)
        client, token = awsfacts.ecr(ctx), None
        images: list[Image] = []
        while True:
            kwargs: dict[str, Any] = {"repositoryName": lookup.name, "registryId": lookup.registry_id,
                                      "maxResults": PAGE_SIZE, "filter": {"tagStatus": "ANY", "imageStatus": "ANY"}}
            if token:
                kwargs["nextToken"] = token
            page = client.describe_images(**kwargs)
            images.extend(_image(d) for d in page.get("imageDetails") or ())
            token = page.get("nextToken")
            if not token:
                return RepositoryImages(tuple(images), False)
            if len(images) >= IMAGE_CAP or ctx.remaining() < 2:
                return RepositoryImages(tuple(images), True)

    return ctx.fact("ecr.repository_images", fetch)


@dataclass(frozen=True)
class TargetManifest:
    """BatchGetImage of the target with every manifest type accepted."""

    manifest: Optional[str]
    media_type: Optional[str] = None
    failure_code: Optional[str] = None
    failure_reason: str = ""


def target_manifest(ctx: Context) -> TargetManifest:
    """The target's manifest (fact `ecr.target_manifest`). Only for a repository that exists: on a
    pull-through-cache repository that does not, BatchGetImage would create it and import from upstream."""

    def fetch() -> TargetManifest:
        lookup = _existing_repository(ctx)
        resp = awsfacts.batch_get_image(ctx, lookup.registry_id, lookup.name, _image_id(ctx), MANIFEST_TYPES)
        images, failures = resp.get("images") or [], resp.get("failures") or []
        if images:
            return TargetManifest(images[0].get("imageManifest"), images[0].get("imageManifestMediaType"))
        first = failures[0] if failures else {}
        return TargetManifest(None, failure_code=first.get("failureCode", "ImageNotFound"),
                              failure_reason=first.get("failureReason", ""))

    return ctx.fact("ecr.target_manifest", fetch)


# -- ecr.repository ---------------------------------------------------------------------------------


def _repository_names(ctx: Context, client: Any, account: Optional[str]) -> Tuple[List[str], bool]:
    names: list[str] = []
    token: Optional[str] = None
    while True:
        kwargs: dict[str, Any] = {"maxResults": PAGE_SIZE, **({"registryId": account} if account else {})}
        if token:
            kwargs["nextToken"] = token
        page = client.describe_repositories(**kwargs)
        names.extend(r["repositoryName"] for r in page.get("repositories") or ())
        token = page.get("nextToken")
        if not token:
            return names, False
        if len(names) >= NAME_CAP or ctx.remaining() < 2:
            return names, True


def _other_region(ctx: Context, name: str, account: Optional[str]) -> Optional[str]:
    """The SDK's own region, when it differs from the image's and holds the repository (one filtered call)."""
    configured, here = ctx.aws.configured_region(), _region(ctx)
    if not configured or configured == here:
        return None
    try:
        resp = ctx.aws.client("ecr", region=configured).describe_repositories(
            repositoryNames=[name], **({"registryId": account} if account else {}))
    except Exception:
        return None
    return configured if resp.get("repositories") else None


@check("ecr.repository", title="Does the repository exist in the registry's account and region?",
       requires=["aws.credentials"], applies_when=_private_image, network=True, timeout=10)
def ecr_repository(ctx: Context) -> Outcome:
    """Looks the repository up by name with DescribeRepositories (repositoryNames and registryId filters).

    A repository that does not exist in the image host's account and region is the plainest cause of
    a failed pull, and docker words it as `name unknown: The repository with name '…' does not exist
    in the registry with id '…'`. Under a pull-through-cache prefix a missing repository is normal:
    ECR creates it on the first pull (the ptc checks explain that pull). Otherwise, and only after
    the exact lookup missed, it lists the registry's repositories (paginated, 1,000 a page, stopping
    after 10,000 names; a name filter cannot find near names, so listing is the only way) to suggest
    the closest names — same letters in another case, `-` vs `/` vs `_`, the same last path
    component, a typo — and checks the AWS CLI's own region for a repository of that name.

    Decides: pass when the repository exists; info when it does not but a pull-through-cache rule
    will create it on the first pull; fail when it does not exist and no rule covers it, with the
    closest names, the region where it does exist, and `aws ecr create-repository` (warn instead
    when the pull-through-cache rules cannot be read and the name starts with a console-default
    cache prefix such as docker-hub/ or ecr-public/: it may be a first pull); skip when
    DescribeRepositories is denied or unreachable (nothing can be said) and for non-ECR images.

    References: aws-side.md B5 IMG-REPO-NOT-FOUND and A5 (docker's `name unknown` text), A7 (cache
    repositories are created on first pull); ECR API DescribeRepositories; ECR user guide common-errors-docker.
    """
    try:
        lookup = awsfacts.repository(ctx)
    except Exception as exc:
        raise _api_failure(exc, "whether the repository exists") from None
    ref, reg = ctx.image, ctx.registry
    assert ref is not None and reg is not None
    name, account = lookup.name, lookup.registry_id
    if lookup.exists:
        repo = lookup.repository or {}
        created = repo.get("createdAt")
        created_text = created.date().isoformat() if isinstance(created, datetime) else None
        mutability = repo.get("imageTagMutability")
        return passed(
            f"{name} exists in {_where(ctx)}" + (f", created {created_text}" if created_text else ""),
            details=[f"tag mutability {mutability}"] if mutability else [],
            evidence={"repository_arn": repo.get("repositoryArn"), "image_tag_mutability": mutability,
                      "created_at": created.isoformat() if isinstance(created, datetime) else None},
        )
    if not lookup.missing:
        code, message = lookup.error_code or "", lookup.error_message or ""
        denied = _denied(code, message)
        return skip(f"cannot tell whether {name} exists: " + (denied or f"DescribeRepositories failed: {code}"),
                    details=[message] if message else [], evidence={"error_code": code})
    try:
        rule = awsfacts.target_rule(ctx)
        rules_note = None
    except Exception as exc:
        rule, rules_note = None, f"the pull-through-cache rules could not be read ({client_error_code(exc)})"
    if rule is not None:
        upstream = rule.upstream_path(name)
        return info(
            f"{name} does not exist yet: pull-through-cache rule '{rule.prefix}' creates it on the first pull, "
            f"from {rule.upstream_url}/{upstream}",
            details=["not an error by itself: the ptc checks say whether that first pull can work"],
            evidence={"exists": False, "ptc_prefix": rule.prefix, "upstream": f"{rule.upstream_url}/{upstream}"},
        )
    client = awsfacts.ecr(ctx)
    details = [f"docker pull says: Error response from daemon: repository {ref.registry}/{name} not found: name "
               f"unknown: The repository with name '{name}' does not exist in the registry with id '{account}'"]
    try:
        names, truncated = _repository_names(ctx, client, account)
        near: List[Match] = closest(name, names)
        listed = f"{len(names)} repositories listed" + (f" (stopped at {len(names)}; there are more)" if truncated
                                                        else "")
    except Exception as exc:
        near, listed = [], f"listing repositories for near names failed ({client_error_code(exc)})"
    if near:
        details.append("closest names: " + ", ".join(f"{m.name} ({m.reason})" for m in near))
    details.append(listed)
    other = _other_region(ctx, name, account)
    if rules_note:
        details.append(rules_note)
    commands: list[str] = []
    if other:
        details.append(f"{name} exists in {other}, the AWS CLI's region, not in {_region(ctx)}")
        host = (reg.canonical_host or ref.registry).replace(f".{(reg.region or '').lower()}.", f".{other}.", 1)
        commands.append(_pull(ctx, registry=host))
    elif near:
        commands.append(_pull(ctx, repository=near[0].name))
    commands.append(f"aws ecr create-repository --repository-name {name} {_cli(ctx)}")
    # Unreadable rules and a console-default cache prefix: this may well be a first pull, not a missing repository
    maybe_cache = rules_note is not None and name.split("/", 1)[0] in CONSOLE_PTC_PREFIXES and not other
    return (warn if maybe_cache else fail)(
        f"repository '{name}' does not exist in {_where(ctx)}"
        + (f"; did you mean '{near[0].name}'?" if near and not other else "")
        + (f"; it exists in {other}" if other else "")
        + ("; its prefix looks like a pull-through cache whose rules could not be read" if maybe_cache else ""),
        details=details,
        fix=Fix("Pull from the repository that exists, or create this one and push the image to it.", tuple(commands)),
        evidence={"exists": False, "closest": [m.name for m in near], "other_region": other},
    )


# -- ecr.image --------------------------------------------------------------------------------------


def _archived_fail(ctx: Context, repository: str, image: Image) -> Outcome:
    restoring = image.status == "ACTIVATING"
    return fail(
        f"{_target(ctx)} is {'being restored from the archive' if restoring else 'archived'}: "
        "ECR answers 404 to pulls of archived images" + ("; wait until it is ACTIVE" if restoring else ""),
        details=[f"digest {image.digest}, imageStatus {image.status}"],
        fix=Fix("Restore the image to the standard storage class (then wait until imageStatus is ACTIVE), "
                "or push it again.",
                () if restoring else (f"aws ecr update-image-storage-class --repository-name {repository} "
                                      f"--image-id imageDigest={image.digest} --target-storage-class STANDARD "
                                      f"{_cli(ctx)}",)),
        evidence={"digest": image.digest, "image_status": image.status},
    )


def _when(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@check("ecr.image", title="Does the tag or digest exist in the repository?", requires=["ecr.repository"],
       applies_when=_private_image, network=True, timeout=10)
def ecr_image(ctx: Context) -> Outcome:
    """Looks the tag or digest up with DescribeImages filtered by imageIds, in the repository that exists.

    When it is missing, docker says `manifest for <image> not found: manifest unknown: Requested
    image not found`. The check then lists the repository's images (DescribeImages paginated, at
    most 10,000) for the closest tags and the most recent pushes, which usually name the tag that
    was meant or show that the build never pushed. An archived image is listed but not pullable:
    ECR answers 404 until it is restored.

    Decides: pass when the image exists and is ACTIVE; fail when it is missing (closest tags, recent
    pushes, the corrected pull) or archived / being restored (the restore command); skip when the
    repository does not exist yet (pull-through cache), or DescribeImages is denied or unreachable.

    References: aws-side.md B5 IMG-TAG-NOT-FOUND, IMG-ARCHIVED and A5 (docker's `manifest unknown`
    text), C13 (archived images 404); ECR API DescribeImages (imageStatus); ECR user guide archive-image.
    """
    ref = ctx.image
    assert ref is not None
    found = target_image(ctx)
    if found.image is not None:
        image = found.image
        if image.status != "ACTIVE":
            return _archived_fail(ctx, ref.repository, image)
        size = f", {found.size_bytes / 1e6:.1f} MB" if found.size_bytes else ""
        return passed(
            f"{_target(ctx)} exists ({image.digest[:19]}…, pushed {_when(image.pushed_at)}{size})",
            details=[f"manifest type {found.media_type}"] if found.media_type else [],
            evidence={"digest": image.digest, "tags": list(image.tags), "pushed_at": image.pushed_at.isoformat(),
                      "media_type": found.media_type, "size_bytes": found.size_bytes},
        )
    if found.error_code != "ImageNotFoundException":
        denied = _denied(found.error_code or "", found.error_message)
        return skip(f"cannot tell whether {_target(ctx)} exists: "
                    + (denied or f"DescribeImages failed: {found.error_code}"),
                    evidence={"error_code": found.error_code})
    try:
        listing = repository_images(ctx)
    except Exception as exc:
        listing = None
        list_error = f"listing the repository's images failed ({client_error_code(exc)})"
    images = listing.images if listing else ()
    listed = next((img for img in images if (ref.digest == img.digest if ref.digest else
                                               (ref.tag or "latest") in img.tags)), None)
    if listed is not None and listed.status != "ACTIVE":
        return _archived_fail(ctx, ref.repository, listed)
    details = [f"docker pull says: Error response from daemon: manifest for {ref.full} not found: "
               "manifest unknown: Requested image not found"]
    if not ref.digest and ":" not in ref.raw.rsplit("/", 1)[-1]:
        details.append("the reference names no tag, so docker pulls ':latest'")
    tags = [t for img in images for t in img.tags]
    near = closest(ref.tag or "latest", tags) if not ref.digest else []
    if near:
        details.append("closest tags: " + ", ".join(f"{m.name} ({m.reason})" for m in near))
    # newest first; pushes stamped in the same second keep the listing order (later = newer), as in lifecycle.py
    recent = [img for _, img in sorted(enumerate(images), key=lambda p: (p[1].pushed_at, p[0]), reverse=True)
              if img.tags][:5]
    if recent:
        details.append("most recent pushes: " + ", ".join(f"{','.join(img.tags)} ({_when(img.pushed_at)})"
                                                          for img in recent))
    elif listing is not None:
        details.append(f"{ref.repository} holds no tagged image at all: the push never happened or everything "
                       "was expired")
    if listing is None:
        details.append(list_error)
    elif listing.truncated:
        details.append(f"only the first {len(images)} images were listed")
    commands = [_pull(ctx, reference=f":{near[0].name}")] if near else []
    commands.append(f"aws ecr describe-images --repository-name {ref.repository} {_cli(ctx)} "
                    "--query 'sort_by(imageDetails,&imagePushedAt)[-5:].[imageTags,imagePushedAt]'")
    what = f"digest {ref.digest}" if ref.digest else f"tag '{ref.tag or 'latest'}'"
    return fail(
        f"{what} does not exist in {ref.repository}" + (f"; did you mean '{near[0].name}'?" if near else ""),
        details=details,
        fix=Fix("Pull a tag that exists, or push this one (docker push after the build).", tuple(commands)),
        evidence={"exists": False, "closest": [m.name for m in near],
                  "recent": [list(img.tags) for img in recent]},
    )


# -- ecr.platform -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def parse_platform(text: str) -> Optional[Platform]:
    """`linux/arm64/v8` (DOCKER_DEFAULT_PLATFORM, --platform) -> Platform; None when it is not one."""
    parts = text.strip().lower().split("/")
    if len(parts) < 2 or not all(parts):
        return None
    arch, variant = parts[1], parts[2] if len(parts) > 2 else ""
    if arch == "arm64" and not variant:
        variant = "v8"
    return Platform(parts[0], arch, variant)


def host_platform(ctx: Context) -> Tuple[Platform, str]:
    """The platform docker pulls for on this host, and where that came from."""
    chosen = parse_platform(ctx.host.env.get("DOCKER_DEFAULT_PLATFORM", ""))
    if chosen:
        return chosen, "DOCKER_DEFAULT_PLATFORM"
    plat = ctx.host.platform()
    system, machine = plat.system, plat.machine
    arch, variant = MACHINES.get(machine.lower(), (machine.lower(), ""))
    # Docker Desktop runs a Linux VM on macOS, so images are Linux images there too
    return Platform("windows" if system.lower() == "windows" else "linux", arch, variant), f"this host ({machine})"


def manifest_platforms(manifest: str) -> Optional[List[Platform]]:
    """The platforms of an image index / manifest list (attestations left out); None for a single manifest."""
    try:
        doc = json.loads(manifest)
    except (TypeError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("manifests"), list):
        return None
    out: list[Platform] = []
    for entry in doc["manifests"]:
        plat = entry.get("platform") if isinstance(entry, dict) else None
        if not isinstance(plat, dict):
            continue
        os_, arch = str(plat.get("os", "")), str(plat.get("architecture", ""))
        if not os_ or not arch or "unknown" in (os_, arch):  # buildx attestation manifests
            continue
        out.append(Platform(os_, arch, str(plat.get("variant") or "")))
    return out


def single_manifest_platform(manifest: str) -> Optional[Platform]:
    """A single manifest's platform when the manifest itself says (schema 1 `architecture`, or a config
    descriptor carrying `platform`); None when only the config blob would tell."""
    try:
        doc = json.loads(manifest)
    except (TypeError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("architecture"), str):
        return Platform("linux", doc["architecture"])
    config = doc.get("config")
    plat = config.get("platform") if isinstance(config, dict) else None
    if isinstance(plat, dict) and plat.get("architecture"):
        return Platform(str(plat.get("os") or "linux"), str(plat["architecture"]), str(plat.get("variant") or ""))
    return None


def runs_on(host: Platform, image: Platform) -> bool:
    """Docker's match, simplified: same OS and architecture; arm64 treats no variant as v8; an arm host
    takes older arm variants; other architectures ignore the variant."""
    if host.os != image.os or host.architecture != image.architecture:
        return False
    if host.architecture == "arm64":
        return image.variant in ("", "v8")
    if host.architecture == "arm" and host.variant and image.variant:
        return image.variant <= host.variant
    return True


def _build_platform(p: Platform) -> str:
    """The --platform value for buildx: arm64's v8 is implied, arm keeps its variant."""
    return str(Platform(p.os, p.architecture, "" if p.architecture == "arm64" else p.variant))


@check("ecr.platform", title="Does the image have a variant for this host's OS and architecture?",
       requires=["ecr.image"], applies_when=_private_image, network=True, timeout=10)
def ecr_platform(ctx: Context) -> Outcome:
    """Reads the image's manifest with BatchGetImage (all four manifest types accepted) and compares the
    platforms of its index or manifest list with the host's OS and architecture.

    A Graviton (arm64) host pulling an amd64-only image, or the other way round, fails with
    `no matching manifest for linux/arm64/v8 in the manifest list entries`. The host's platform is
    the machine's (x86_64 -> linux/amd64, aarch64 -> linux/arm64/v8), or DOCKER_DEFAULT_PLATFORM
    when set. A single manifest names its architecture only in its config blob, which ecrdoctor
    does not download, so that case is left open. BatchGetImage is only called on a repository that
    exists: on a pull-through-cache repository that does not, it would create it.

    Decides: pass when the index lists the host's platform; fail when it does not (available
    platforms, `docker pull --platform`, and a multi-arch `docker buildx build --push`); warn when a
    single manifest says it is for another architecture (docker pulls it, the container fails with
    `exec format error`); skip for a single manifest without platform information, or when
    BatchGetImage is denied or fails.

    References: aws-side.md B5 IMG-PLATFORM-MISMATCH and IMG-MEDIA-TYPE-PROBE, A5 (docker's text);
    host-side.md C4; ECR API BatchGetImage (acceptedMediaTypes); OCI image index specification.
    """
    ref = ctx.image
    assert ref is not None
    _existing_repository(ctx)  # never BatchGetImage where it would create a pull-through-cache repository
    try:
        got = target_manifest(ctx)
    except Exception as exc:
        raise _api_failure(exc, f"the platforms of {_target(ctx)}") from None
    if got.manifest is None:
        return skip(f"BatchGetImage returned no manifest for {_target(ctx)}: {got.failure_code} {got.failure_reason}",
                    evidence={"failure_code": got.failure_code})
    host, source = host_platform(ctx)
    platforms = manifest_platforms(got.manifest)
    evidence: dict[str, Any] = {"host": str(host), "host_source": source, "media_type": got.media_type}
    if platforms is None:
        single = single_manifest_platform(got.manifest)
        if single is None:
            return skip(f"{_target(ctx)} is a single-platform manifest ({got.media_type}) that names its platform "
                        "only in the config blob; docker pulls it on any host", evidence=evidence)
        evidence["platforms"] = [str(single)]
        if runs_on(host, single):
            return passed(f"{_target(ctx)} is a single {single} image, matching {source}", evidence=evidence)
        return warn(f"{_target(ctx)} is a single {single} image but {source} is {host}: the pull works, the "
                    "container fails with `exec format error`",
                    fix=Fix("Build and push a multi-platform image.",
                            (f"docker buildx build --platform {_build_platform(single)},{_build_platform(host)} "
                             f"-t {ref.full} --push .",)),
                    evidence=evidence)
    names = [str(p) for p in platforms]
    evidence["platforms"] = names
    if any(runs_on(host, p) for p in platforms):
        return passed(f"the index of {_target(ctx)} has {host} ({', '.join(names)})", evidence=evidence)
    wanted = sorted({_build_platform(host)} | {_build_platform(p) for p in platforms})
    return fail(
        f"{_target(ctx)} has no {host} image (it has {', '.join(names) or 'no platforms'}); {source} is {host}",
        details=[f"docker pull says: no matching manifest for {host} in the manifest list entries",
                 "`docker pull --platform` fetches another platform; running it needs emulation (binfmt/QEMU)"],
        fix=Fix("Rebuild the image for both platforms and push the index, or pull another platform explicitly.",
                (f"docker buildx build --platform {','.join(wanted)} -t {ref.full} --push .",
                 f"docker pull --platform {names[0]} {ref.full}" if names else f"docker pull {ref.full}")),
        evidence=evidence,
    )


# -- ecr.lifecycle ----------------------------------------------------------------------------------


def _policy(ctx: Context, lookup: awsfacts.RepositoryLookup) -> Optional[str]:
    """GetLifecyclePolicy's text, None when the repository has none."""
    try:
        resp = awsfacts.ecr(ctx).get_lifecycle_policy(repositoryName=lookup.name, registryId=lookup.registry_id)
    except Exception as exc:
        if client_error_code(exc) == "LifecyclePolicyNotFoundException":
            return None
        raise _api_failure(exc, "whether a lifecycle rule expires the image") from None
    return str(resp.get("lifecyclePolicyText") or "")


def _preview(ctx: Context, lookup: awsfacts.RepositoryLookup, image: Image, policy_text: str) -> List[str]:
    """What an existing lifecycle policy preview says about the image (GetLifecyclePolicyPreview, filtered)."""
    try:
        resp = awsfacts.ecr(ctx).get_lifecycle_policy_preview(
            repositoryName=lookup.name, registryId=lookup.registry_id, imageIds=[{"imageDigest": image.digest}])
    except Exception as exc:
        code = client_error_code(exc)
        if code == "LifecyclePolicyPreviewNotFoundException":
            return ["no lifecycle policy preview has been run for this repository"]
        return [f"the lifecycle policy preview could not be read ({code})"]
    status = resp.get("status", "?")
    hit = next((r for r in resp.get("previewResults") or () if r.get("imageDigest") == image.digest), None)
    same = _same_policy(resp.get("lifecyclePolicyText"), policy_text)
    of = "of the current policy" if same else "of a different (draft) policy text"
    if hit is None:
        return [f"the last lifecycle policy preview ({status}, {of}) does not list this image"]
    action = (hit.get("action") or {}).get("type", "EXPIRE")
    return [f"the last lifecycle policy preview ({status}, {of}) lists this image: {action} by rule "
            f"{hit.get('appliedRulePriority')}"]


def _same_policy(a: Optional[str], b: str) -> bool:
    try:
        return bool(a) and json.loads(a or "") == json.loads(b)
    except ValueError:
        return a == b


def _lifecycle_fix(ctx: Context, gone: bool) -> Fix:
    repo = ctx.image.repository if ctx.image else "<repository>"
    commands = [f"aws ecr get-lifecycle-policy --repository-name {repo} {_cli(ctx)} --query lifecyclePolicyText "
                "--output text"]
    if gone:
        commands.append(f"aws cloudtrail lookup-events --region {_region(ctx)} --lookup-attributes "
                        "AttributeKey=EventName,AttributeValue=PolicyExecutionEvent")
    text = ("Add a rule with a lower rulePriority that selects the tags you deploy and keeps them (tagPatternList), "
            "or change the rule; " + ("push the image again: CloudTrail's PolicyExecutionEvent shows what the policy "
                                      "removed." if gone else "check it with a lifecycle policy preview."))
    return Fix(text, tuple(commands))


@check("ecr.lifecycle", title="Did or will a lifecycle rule expire this image?", requires=["ecr.repository"],
       applies_when=_private_image, network=True, timeout=10)
def ecr_lifecycle(ctx: Context) -> Outcome:
    """Evaluates the repository's lifecycle policy (GetLifecyclePolicy) locally against its images
    (DescribeImages, paginated), with ECR's own rules: rule priority order, tagStatus, tagPrefixList
    and tagPatternList (`*` wildcards), imageCountMoreThan and sinceImagePushed, expire or archive;
    an image identified by a higher-priority rule is never expired by a lower one.

    A tag that "used to work" and is now `manifest unknown` was often removed by a lifecycle rule;
    a tag that works today may be due to go within 24 hours. For the target it names the one rule
    that decides its fate (priority and description) and whether that rule expires it now, on which
    date (sinceImagePushed) or after how many more pushes (imageCountMoreThan). An existing lifecycle
    policy preview (GetLifecyclePolicyPreview, filtered to the image) is read as supporting
    evidence; ecrdoctor never starts one.

    Decides: pass when there is no policy, when no rule selects the image, or when its expiry is
    more than 7 days or more than one push away; warn when a rule expires (or archives) it now or
    within 7 days or at the next push, and when the tag is gone and a rule selects it (the likely
    cause: CloudTrail PolicyExecutionEvent confirms); info when the deciding rule's count type is
    not evaluated locally; skip when the repository does not exist or the policy cannot be read;
    error when the policy text cannot be parsed.

    References: aws-side.md B5 IMG-LIFECYCLE-EXPIRED and C15 (PolicyExecutionEvent); ECR user guide
    LifecyclePolicies ("Lifecycle policy evaluation rules") and lifecycle_policy_examples; ECR API
    GetLifecyclePolicy, GetLifecyclePolicyPreview.
    """
    ref = ctx.image
    assert ref is not None
    lookup = _existing_repository(ctx)
    text = _policy(ctx, lookup)
    if text is None:
        return passed(f"{lookup.name} has no lifecycle policy: no rule expires its images",
                      evidence={"policy": False})
    try:
        policy: LifecyclePolicy = parse_policy(text)
    except LifecyclePolicyError as exc:
        return error(f"the lifecycle policy of {lookup.name} could not be evaluated: {exc}")
    try:
        listing = repository_images(ctx)
    except Exception as exc:
        raise _api_failure(exc, "what the lifecycle policy does to the image") from None
    rules = [f"{r.label} {r.criterion}" for r in policy.rules]
    evidence: dict[str, Any] = {"policy": True, "rules": len(policy.rules), "images": len(listing.images)}
    note = [f"evaluated on the first {len(listing.images)} images only"] if listing.truncated else []
    target = _find(listing.images, ref.digest, ref.tag or "latest")
    if target is None:
        return _gone(ctx, policy, rules + note, evidence)
    now = ctx.now()
    outcome = fate(policy, listing.images, now, target.digest)
    rule = outcome.rule
    evidence.update(fate=outcome.kind, rule_priority=rule.priority if rule else None, digest=target.digest)
    if rule is None:
        return passed(f"no rule of the lifecycle policy of {lookup.name} selects {_target(ctx)} "
                      f"({len(policy.rules)} rules)", details=rules + note, evidence=evidence)
    details = [f"deciding rule: {rule.label} {rule.criterion}"] + note + _preview(ctx, lookup, target, text)
    verb = "archives" if rule.action == "transition" else "expires"
    if outcome.kind == "marked":
        return warn(f"lifecycle {rule.label} {verb} {_target(ctx)} now: ECR acts within 24 hours",
                    details=details, fix=_lifecycle_fix(ctx, gone=False), evidence=evidence)
    if outcome.kind == "expires-at" and outcome.when is not None:
        evidence["expires_at"] = outcome.when.isoformat()
        summary = f"lifecycle {rule.label} {verb} {_target(ctx)} on {_when(outcome.when)}"
        if outcome.when - now <= SOON:
            return warn(summary, details=details, fix=_lifecycle_fix(ctx, gone=False), evidence=evidence)
        return passed(summary, details=details, evidence=evidence)
    if outcome.kind == "expires-after-pushes" and outcome.pushes is not None:
        evidence["pushes_left"] = outcome.pushes
        summary = (f"lifecycle {rule.label} keeps {_target(ctx)} as number {outcome.kept_rank} of "
                   f"{rule.count_number}; it {verb} it after {outcome.pushes} more matching push"
                   + ("es" if outcome.pushes != 1 else ""))
        if outcome.pushes <= 1:
            return warn(summary, details=details, fix=_lifecycle_fix(ctx, gone=False), evidence=evidence)
        return passed(summary, details=details, evidence=evidence)
    return info(f"lifecycle {rule.label} selects {_target(ctx)} by {rule.count_type}, which ecrdoctor does not "
                "evaluate locally", details=details, evidence=evidence)


def _find(images: Sequence[Image], digest: Optional[str], tag: str) -> Optional[Image]:
    if digest:
        return next((img for img in images if img.digest == digest), None)
    return next((img for img in images if tag in img.tags), None)


def _gone(ctx: Context, policy: LifecyclePolicy, rules: Iterable[str], evidence: dict[str, Any]) -> Outcome:
    """The image is not in the repository: would the policy have taken it?"""
    ref = ctx.image
    assert ref is not None
    evidence["fate"] = "gone"
    if ref.digest:
        return warn(f"{_target(ctx)} is gone and the lifecycle policy of {ref.repository} removes images "
                    f"({len(policy.rules)} rules); it may have taken this one",
                    details=list(rules), fix=_lifecycle_fix(ctx, gone=True), evidence=evidence)
    tag = ref.tag or "latest"
    rule = policy.first_rule_for_tag(tag)
    if rule is None:
        return passed(f"tag '{tag}' is gone, but no rule of the lifecycle policy of {ref.repository} selects it",
                      details=list(rules), evidence=evidence)
    evidence["rule_priority"] = rule.priority
    return warn(f"tag '{tag}' is gone and lifecycle {rule.label} selects it: the policy probably expired it",
                details=[f"{rule.label} {rule.criterion}"], fix=_lifecycle_fix(ctx, gone=True), evidence=evidence)
