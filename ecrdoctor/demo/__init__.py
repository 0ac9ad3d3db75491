"""Demo scenarios: realistic broken pulls, recorded as bundles and shipped in the package (SPEC §3, §6).

Each scenario is a bundle in `scenarios/<name>.tar.gz` that `scripts/make-demo-bundles` recorded from real
parts: a host laid out under a temporary --root, AWS answered by a moto server on loopback, a loopback
instance-metadata service and docker engine. `ecrdoctor demo NAME` replays it exactly as
`ecrdoctor check --from-bundle` would, so no AWS account and no network are needed.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
IMAGE = f"{HOST}/team/app:1.4"


@dataclass(frozen=True)
class Scenario:
    """One broken pull: what the user saw, and what ecrdoctor names as its cause."""

    name: str
    title: str
    story: str  # two or three sentences: what the user did and saw
    diagnosis: Tuple[Tuple[str, str], ...]  # the report's diagnosis in order: (check id, words of its summary)
    image: str = IMAGE
    simulated: Tuple[str, ...] = ()  # recorded host facts this builder could not be live, and what they say

    @property
    def path(self) -> Path:
        return SCENARIO_DIR / f"{self.name}.tar.gz"


AS_EC2_USER = "host.current_user answers ec2-user, uid 1000 (the recording ran as another user)"

SCENARIOS: Tuple[Scenario, ...] = (
    Scenario(
        "sudo-root-config",
        "`sudo docker pull` reads root's docker config, which has no credential helper",
        "ec2-user set up the ECR credential helper in ~/.docker/config.json, but is not in the docker group, so "
        "they ran `sudo docker pull`. Under sudo, docker reads /root/.docker/config.json and answers "
        "`no basic auth credentials`.",
        (("docker.sudo", "docker run with sudo reads /root/.docker/config.json, which has no credentials"),
         ("docker.credentials", "docker has no credentials for")),
    ),
    Scenario(
        "expired-login",
        "a `docker login` token from three days ago",
        "Someone ran `aws ecr get-login-password | docker login` on this instance three days ago. Today the pull "
        "fails with `denied: Your authorization token has expired. Reauthenticate and try again.`",
        (("docker.token", "expired"),),
        simulated=(AS_EC2_USER,),
    ),
    Scenario(
        "helper-not-installed",
        "credHelpers names ecr-login, but the credential helper was never installed",
        "The instance's user data put `\"credHelpers\": {\"" + HOST + "\": \"ecr-login\"}` into ec2-user's "
        "docker config, but nobody installed amazon-ecr-credential-helper. docker 25 says only "
        "`no basic auth credentials`.",
        (("docker.credsstore", "which is not on docker's PATH"),
         ("helper.installed", "docker-credential-ecr-login is not installed")),
        simulated=(AS_EC2_USER,),
    ),
    Scenario(
        "helper-wrong-name",
        "the credential helper was installed as `ecr-login`",
        "The helper's binary was downloaded and saved as /usr/local/bin/ecr-login, the name credHelpers uses. "
        "docker runs docker-credential-ecr-login, does not find it, and pulls without credentials: "
        "`no basic auth credentials`.",
        (("docker.credsstore", "which is not on docker's PATH"),
         ("helper.installed", "the helper is installed as /usr/local/bin/ecr-login")),
        simulated=(AS_EC2_USER,),
    ),
    Scenario(
        "imds-hop-limit",
        "IMDSv2 with a hop limit of 1: a CI container gets no instance-role credentials",
        "A GitLab CI job pulls inside its docker:25-cli container on an EC2 runner, with the instance's docker "
        "socket mounted. The instance requires IMDSv2 and keeps the PUT response hop limit at 1, so the token "
        "never reaches the container and the credential helper finds no credentials: `no basic auth credentials`.",
        (("aws.imds", "the instance's PUT response hop limit is 1"),
         ("aws.credentials", "no AWS credentials found")),
    ),
    Scenario(
        "no-auth-token-permission",
        "the instance role may pull, but not call ecr:GetAuthorizationToken",
        "The instance role app-node-role got a hand-written policy with the pull actions but without "
        "ecr:GetAuthorizationToken. Every pull since the instance started has failed with "
        "`no basic auth credentials`.",
        (("helper.log", "failed: AccessDenied on ecr:GetAuthorizationToken"),
         ("iam.auth-token", "may not call ecr:GetAuthorizationToken")),
        simulated=(AS_EC2_USER,),
    ),
    Scenario(
        "ptc-first-pull-denied",
        "the first pull through a pull-through cache, by a read-only instance role",
        "The registry caches Docker Hub under the prefix docker-hub. The first "
        "`docker pull " + HOST + "/docker-hub/library/nginx:1.27` fails with `repository ... not found`: the "
        "instance role has only the read-only ECR policy.",
        (("iam.pull-through", "is not allowed ecr:BatchImportUpstreamImage and ecr:CreateRepository"),),
        image=f"{HOST}/docker-hub/library/nginx:1.27",
        simulated=(AS_EC2_USER,),
    ),
    Scenario(
        "ptc-missing-library",
        "a Docker Hub official image without `library/` through a cache rule",
        "`docker pull " + HOST + "/docker-hub/nginx:latest` fails with `not found`, though docker-hub/library/nginx "
        "is cached and pulls fine. Official images live under library/ on Docker Hub, which the docker CLI adds "
        "only when it talks to Docker Hub itself.",
        (("ptc.path", "Docker Hub official image without library/"),),
        image=f"{HOST}/docker-hub/nginx:latest",
        simulated=(AS_EC2_USER,),
    ),
    Scenario(
        "lifecycle-expired-tag",
        "tag 1.4 was expired by the repository's lifecycle rule",
        "A rollback to release 1.4 fails with `manifest for " + HOST + "/team/app:1.4 not found: manifest "
        "unknown`. The repository keeps only the two newest `1.*` tags, and 1.5 and 1.6 were pushed since.",
        (("ecr.image", "tag '1.4' does not exist in team/app"),),
        simulated=(AS_EC2_USER,),
    ),
    Scenario(
        "arm64-amd64-only",
        "a Graviton (arm64) instance pulls an image built for amd64 only",
        "The service moved to a Graviton instance; its image index was built for linux/amd64 only. "
        "`docker pull` says `no matching manifest for linux/arm64/v8 in the manifest list entries`.",
        (("ecr.platform", "has no linux/arm64/v8 image"),),
        simulated=("host.platform answers machine aarch64 (the recording ran on x86_64)", AS_EC2_USER),
    ),
)

FLAGSHIP = "sudo-root-config"  # `ecrdoctor demo` without a name: sudo, two configs, the helper, one screen


def get(name: str) -> Optional[Scenario]:
    """The scenario of that name, or None."""
    return next((s for s in SCENARIOS if s.name == name), None)


def names() -> Tuple[str, ...]:
    return tuple(s.name for s in SCENARIOS)


def listing() -> str:
    """`ecrdoctor demo --list`: name and title, one scenario a line."""
    width = max(len(s.name) for s in SCENARIOS)
    return "".join(f"{s.name:<{width}}  {s.title}\n" for s in SCENARIOS)


def header(scenario: Scenario, width: int = 100) -> str:
    """What `ecrdoctor demo NAME` prints before the report: the scenario, its story, and what it is."""
    lines = [f"Demo {scenario.name}: {scenario.title}"]
    lines += textwrap.wrap(scenario.story, width=max(40, width), initial_indent="  ", subsequent_indent="  ")
    note = ("A recorded bundle, replayed as `ecrdoctor check --from-bundle` does: simulated host and AWS account, "
            "no network.")
    if scenario.simulated:
        note += " Simulated host facts: " + "; ".join(scenario.simulated) + "."
    lines += textwrap.wrap(note, width=max(40, width), initial_indent="  ", subsequent_indent="  ")
    return "\n".join(lines) + "\n\n"


LIST_HINT = "More broken pulls: `ecrdoctor demo --list`, then `ecrdoctor demo NAME`."
