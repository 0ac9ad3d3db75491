"""Pre-flight: is the image reference an ECR reference at all, and which registry does it name?"""

from __future__ import annotations

from ecrdoctor.api import Fix, Outcome, check, fail, passed, skip, warn
from ecrdoctor.context import Context
from ecrdoctor.reference import find_near_miss


@check("target.reference", title="Is the image reference a well-formed ECR reference?")
def target_reference(ctx: Context) -> Outcome:
    """Parses IMAGE the way docker does, then reads the registry host the way the credential helper does.

    Every ECR host form is understood: private (`<account>.dkr.ecr.<region>.amazonaws.com`), FIPS,
    dual-stack (`dkr-ecr.<region>.on.aws`), China, the EU sovereign cloud, the ISO partitions, and
    ECR Public (`public.ecr.aws`). The account, region and partition found here drive every other
    check.

    Decides: pass for an ECR reference; fail for a near miss that docker would send somewhere
    else or that the helper would not recognise — a Docker Hub short name such as `team/app:1.4`,
    a host without region, the API host used as a registry, a mistyped `dkr.ecr`, an account id
    that is not 12 digits — showing the corrected reference; warn for an upper-case host (DNS
    accepts it, docker's credHelpers lookup does not) and for registries that are not ECR at all;
    skip when no IMAGE was given.

    References: amazon-ecr-credential-helper ecr-login/api/client.go (the host pattern);
    docs.aws.amazon.com/general/latest/gr/ecr.html (endpoints); distribution/reference (grammar).
    """
    spec = ctx.target_spec
    if spec is None:
        return skip("no IMAGE given: checking the host and the registries in the docker config")
    reg = spec.registry
    ref = spec.image
    if ref is not None:
        # --region is where the user means to pull from; it beats the SDK's own region, as in the AWS CLI
        miss = find_near_miss(ref, default_region=ctx.options.region or ctx.aws.configured_region())
        if miss is not None:
            fix = Fix("Pull with the corrected reference.", (f"docker pull {miss.corrected}",)) if miss.corrected \
                else Fix("Use the registry host exactly as the ECR console shows it.", ())
            evidence = {"kind": miss.kind, "registry": ref.registry, "corrected": miss.corrected}
            if miss.kind == "uppercase-host":
                return warn(miss.reason, fix=fix, evidence=evidence)
            return fail(miss.reason, fix=fix, evidence=evidence)
    where = f"; {ref.repository}:{ref.reference}" if ref and ref.digest is None else \
        (f"; {ref.repository}@{ref.digest}" if ref else "")  # a registry-only target names no repository
    if reg.kind == "private":
        variant = "".join([" FIPS" if reg.fips else "", " dual-stack" if reg.dualstack else ""])
        return passed(
            f"ECR private registry{variant} of account {reg.account} in {reg.region} ({reg.partition}){where}",
            evidence={"kind": "private", "account": reg.account, "region": reg.region,
                      "partition": reg.partition, "fips": reg.fips, "dualstack": reg.dualstack},
        )
    if reg.kind == "public":
        return passed(f"ECR Public ({reg.host}){where}; anonymous pulls need no login",
                      evidence={"kind": "public"})
    return warn(
        f"{spec.registry.host} is not an Amazon ECR registry; ecrdoctor's ECR and IAM checks do not apply",
        details=["ECR hosts look like <account>.dkr.ecr.<region>.amazonaws.com or public.ecr.aws"],
        evidence={"kind": "other", "registry": reg.host},
    )
