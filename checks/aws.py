"""AWS credentials and identity: who ecrdoctor (and the credential helper beside it) would be in AWS."""

from __future__ import annotations

from typing import Optional

from ecrdoctor.api import Fix, Outcome, check, fail, info, passed
from ecrdoctor.aws import CredentialFacts, client_error_code, client_error_message
from ecrdoctor.context import Context

# botocore's names for the providers of its chain, as a user would say them.
PROVIDERS = {
    "env": "environment variables AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
    "shared-credentials-file": "the shared credentials file (~/.aws/credentials)",
    "config-file": "the AWS config file (~/.aws/config)",
    "sso": "IAM Identity Center (SSO) cached login",
    "assume-role": "a role assumed from the profile's source credentials",
    "assume-role-with-web-identity": "web identity (AWS_WEB_IDENTITY_TOKEN_FILE, e.g. IRSA)",
    "container-role": "the container credentials endpoint (ECS task role / EKS Pod Identity)",
    "iam-role": "the EC2 instance profile, through IMDS",
    "custom-process": "credential_process in the AWS config file",
    "explicit": "credentials passed explicitly",
}

SSO_ERRORS = ("UnauthorizedSSOTokenError", "SSOTokenLoadError", "SSOError", "PendingAuthorizationExpiredError")


def _profile_hint(ctx: Context) -> Optional[str]:
    return ctx.options.profile or ctx.host.env.get("AWS_PROFILE") or ctx.host.env.get("AWS_DEFAULT_PROFILE")


def _no_credentials_fix(ctx: Context) -> Fix:
    region = ctx.aws.region() or "<region>"
    imds_off = ctx.host.env.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true"
    if ctx.host.on_ec2() and imds_off:
        return Fix(
            "This is an EC2 instance, but AWS_EC2_METADATA_DISABLED=true stops the SDKs (and the credential "
            "helper) from asking IMDS for the instance role's credentials. Unset it where docker runs.",
            ("unset AWS_EC2_METADATA_DISABLED",),
        )
    if ctx.host.on_ec2():
        return Fix(
            "Attach an instance profile whose role allows ECR pulls (the managed policy "
            "AmazonEC2ContainerRegistryReadOnly covers GetAuthorizationToken and pulls).",
            (
                f"aws ec2 associate-iam-instance-profile --region {region} --instance-id "
                f"{ctx.host.ec2_instance_id() or '<instance-id>'} --iam-instance-profile Name=<instance-profile-name>",
            ),
        )
    return Fix(
        "Give this shell AWS credentials: configure keys or a profile, or log in with IAM Identity Center.",
        ("aws configure", "aws sso login --profile <profile>"),
    )


@check("aws.credentials", title="Which AWS credentials would be used?", network=True, timeout=8)
def aws_credentials(ctx: Context) -> Outcome:
    """Resolves AWS credentials through botocore's own provider chain, as the AWS CLI and SDKs do.

    The credential helper, the AWS CLI and ecrdoctor all walk the same chain: environment variables,
    the shared credentials and config files (profiles, SSO, assume-role, credential_process), web
    identity, the container credentials endpoint, and the EC2 instance profile through IMDS. Without
    credentials there is no ECR token, and docker reports only `no basic auth credentials`.

    Decides: pass when a provider supplies credentials (named, with the access key's last four
    characters); fail when none does, when the selected profile does not exist, when an SSO login
    has expired, or when a provider needs an interactive MFA code. Fixes: an instance profile on
    EC2, `aws configure` or `aws sso login` elsewhere.

    References: botocore credentials.py (the provider chain); docs.aws.amazon.com/sdkref
    ("Standardized credential providers"); the ECR user guide, "Private registry authentication".
    """
    facts: CredentialFacts = ctx.aws.credentials()
    profile = _profile_hint(ctx)
    evidence = {"provider": facts.method, "profile": profile, "access_key": facts.access_key_hint}
    if facts.error_type == "ProfileNotFound":
        return fail(
            f"the AWS profile '{profile}' is not defined in ~/.aws/config or ~/.aws/credentials",
            fix=Fix("Create the profile, or select one that exists.",
                    (f"aws configure --profile {profile}", "aws configure list-profiles")),
            evidence=evidence,
        )
    if facts.error_type in SSO_ERRORS:
        return fail(
            f"the IAM Identity Center (SSO) login for profile '{profile or 'default'}' has expired or is missing",
            details=[facts.error or ""],
            fix=Fix("Log in again; the helper and docker pick up the new session.",
                    (f"aws sso login --profile {profile or 'default'}",)),
            evidence=evidence,
        )
    if facts.error is not None:
        mfa = "MFA code" in facts.error or "mfa" in facts.error.lower()
        return fail(
            "AWS credentials could not be loaded: "
            + ("the profile needs an interactive MFA code, which docker's credential helper cannot ask for"
               if mfa else f"{facts.error_type}: {facts.error}"),
            details=[facts.error],
            fix=Fix("Get temporary session credentials first and export them in the shell that runs docker.",
                    ("aws sts get-session-token --serial-number <mfa-arn> --token-code <code>",))
            if mfa else _no_credentials_fix(ctx),
            evidence=evidence,
        )
    if facts.method is None:
        details = []
        if ctx.host.env.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
            details.append("AWS_EC2_METADATA_DISABLED=true is set, so an instance profile cannot be used")
        if ctx.host.sudo_user:
            details.append(f"running under sudo (from {ctx.host.sudo_user}): sudo drops AWS_* variables and "
                           "uses root's ~/.aws")
        return fail(
            "no AWS credentials found: environment, ~/.aws files, SSO, container endpoint and instance "
            "profile all came up empty",
            details=details,
            fix=_no_credentials_fix(ctx),
            evidence=evidence,
        )
    source = PROVIDERS.get(facts.method, facts.method)
    suffix = f", profile '{profile}'" if profile else ""
    return passed(f"credentials from {source}{suffix} (access key {facts.access_key_hint})", evidence=evidence)


@check("aws.identity", title="Who is the caller in AWS?", requires=["aws.credentials"], network=True, timeout=10)
def aws_identity(ctx: Context) -> Outcome:
    """Calls sts:GetCallerIdentity with the resolved credentials: account, principal ARN, partition.

    It proves the credentials work at all (GetCallerIdentity needs no IAM permission, so a failure
    here is the keys, the session or the network, never a policy), and names the principal that the
    IAM checks judge. When the image lives in another account, it says so: such pulls need a
    repository policy that grants this principal.

    Decides: info with the identity; fail for invalid or expired keys, a bad signature (wrong secret
    key or a skewed clock), or an STS endpoint that cannot be reached.

    References: STS API reference, GetCallerIdentity ("No permissions are required");
    the ECR user guide, "Private repository policies" (cross-account access).
    """
    try:
        ident = ctx.caller_identity()
    except Exception as exc:
        code = client_error_code(exc)
        message = client_error_message(exc)
        return fail(*_identity_failure(ctx, code, message), evidence={"error_code": code})
    arn = ident.get("Arn", "")
    account = ident.get("Account", "")
    partition = arn.split(":")[1] if arn.count(":") >= 2 else None
    details = []
    target_account = ctx.registry.account if ctx.registry else None
    if target_account and target_account != account:
        details.append(
            f"the image is in account {target_account}, the caller in {account}: a cross-account pull needs "
            f"a repository policy in {target_account} that allows this principal"
        )
    return info(f"{arn} (account {account})", details=details,
                evidence={"account": account, "arn": arn, "partition": partition})


def _identity_failure(ctx: Context, code: str, message: str) -> tuple[str, list[str], Fix]:
    region = ctx.aws.region() or "<region>"
    if code in ("InvalidClientTokenId", "UnrecognizedClientException"):
        return (f"AWS rejected the access key as invalid ({code}): deleted, rotated, or from another partition",
                [message], Fix("Replace the keys with current ones, or use a role instead of static keys.",
                               ("aws configure",)))
    if code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired"):
        return (f"the session credentials have expired ({code})", [message],
                Fix("Refresh the session (log in again, or re-assume the role).",
                    ("aws sso login --profile <profile>",)))
    if code in ("SignatureDoesNotMatch", "InvalidSignatureException"):
        return (f"AWS rejected the request signature ({code}): the secret key is wrong or the clock is skewed",
                [message], Fix("Check the secret key, and resync the clock.",
                               ("aws configure", "sudo chronyc makestep")))
    if code in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError",
                "ProxyConnectionError", "SSLError"):
        return (f"cannot reach AWS STS in {region}: {code}", [message],
                Fix("Check the network path to AWS (proxy, NAT, VPC endpoint for sts).", ()))
    return (f"sts:GetCallerIdentity failed: {code}: {message}", [],
            Fix("Check the credentials and network; `aws sts get-caller-identity` should succeed.",
                (f"aws sts get-caller-identity --region {region}",)))
