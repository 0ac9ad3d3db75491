"""The network endpoints one ECR pull touches, what a genuine answer from them looks like, and the resolver.

Pure functions: host names from a registry host (research aws-side.md A1 "What one pull touches", A2 "Registry
host names"), the VPC endpoint service names that serve them (B4), how to read an address a name resolved to
(private = an interface endpoint with private DNS, B4 NET-DKR-UNREACHABLE), the issuer and subject of a
server certificate (DER, as a TLS handshake returns it) and whether Amazon issued it (host-side.md D3), and
/etc/resolv.conf (B4 NET-DNS).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from ecrdoctor.reference import RegistryHost

HTTPS_PORT = 443

# VPC interface/gateway endpoint service names (aws-side.md B4). The China partition's service names carry the
# reverse-DNS prefix `cn.com.amazonaws` (`aws ec2 describe-vpc-endpoint-services` in cn-north-1).
_VPCE_PREFIX = {"aws-cn": "cn.com.amazonaws"}

# The Amazon-provided DNS resolver every VPC offers at a link-local address (EC2 user guide, "Amazon DNS
# server"); the VPC base+2 address is the same resolver, but which address that is depends on the VPC CIDR.
AMAZON_RESOLVERS = ("169.254.169.253", "fd00:ec2::253")
SYSTEMD_RESOLVED_STUB = "127.0.0.53"

# RFC 1918, RFC 6598 (carrier-grade NAT, used by some VPCs) and IPv6 unique-local ranges: addresses a VPC
# interface endpoint gets; a public ECR answer is never in them.
_PRIVATE_NETS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"))


class CertificateError(ValueError):
    """Bytes that are not a DER X.509 certificate this parser can read."""


@dataclass(frozen=True)
class Endpoint:
    """One host a pull talks to on 443: who talks to it, and the VPC endpoint service that can serve it privately."""

    role: str  # "api" | "registry" | "layers"
    host: str
    port: int
    client: str  # who connects: "the credential helper and the AWS CLI" or "dockerd"
    vpce_service: Optional[str] = None  # com.amazonaws.<region>.ecr.api / .ecr.dkr / .s3
    vpce_type: Optional[str] = None  # "Interface" | "Gateway"

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


def vpce_service_name(region: str, service: str, partition: Optional[str] = "aws") -> str:
    """`com.amazonaws.us-east-1.ecr.dkr`; `cn.com.amazonaws.cn-north-1.ecr.dkr` in China."""
    return f"{_VPCE_PREFIX.get(partition or 'aws', 'com.amazonaws')}.{region}.{service}"


def _host_port(host: str) -> Tuple[str, int]:
    """A registry host as docker dials it: the name, and 443 unless the reference names a port."""
    bare = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", host.strip()).split("/", 1)[0]
    m = re.match(r"^(.*):(\d+)$", bare)
    if m and not bare.endswith("]"):
        return m.group(1).lower(), int(m.group(2))
    return bare.lower(), HTTPS_PORT


def api_host(reg: RegistryHost) -> Optional[str]:
    """The ECR API host the credential helper asks for a token for this registry (aws-side.md A2).

    Standard `api.ecr.<r>.amazonaws.com`; FIPS `ecr-fips.<r>.amazonaws.com`; dual-stack `ecr.<r>.api.aws`
    (FIPS `ecr-fips.<r>.api.aws`); China `api.ecr.cn-north-1.amazonaws.com.cn` (dual-stack
    `ecr.cn-north-1.api.amazonwebservices.com.cn`); ECR Public `api.ecr-public.us-east-1.amazonaws.com`.
    """
    return reg.api_host


def layer_bucket_host(region: str, dns_suffix: str = "amazonaws.com") -> str:
    """The S3 bucket ECR serves a region's layers from, virtual-hosted on the region's S3 endpoint.

    `prod-<region>-starport-layer-bucket.s3.<region>.amazonaws.com` (aws-side.md A1, real download URLs), with
    the partition's DNS suffix: `.amazonaws.com.cn` in China, `.amazonaws.eu` in the EU sovereign cloud, the
    ISO suffixes there. The dual-stack registry names (`on.aws`) still get this IPv4 host: whether ECR hands out
    dual-stack or FIPS S3 URLs is not confirmed (aws-side.md B4 NET-DUALSTACK-PRIVATELINK, Part E).
    """
    return f"prod-{region}-starport-layer-bucket.s3.{region}.{dns_suffix}"


def _ipv4_suffix(reg: RegistryHost) -> str:
    suffix = reg.dns_suffix or "amazonaws.com"
    return {"on.aws": "amazonaws.com", "on.amazonwebservices.com.cn": "amazonaws.com.cn"}.get(suffix, suffix)


def registry_endpoints(reg: RegistryHost) -> Tuple[Endpoint, ...]:
    """The hosts a pull from this registry touches, in the order a pull touches them (aws-side.md A1):
    the API (token), the registry (manifest, layer redirects), the S3 layer bucket (layer bytes).

    ECR Public serves layers from CloudFront hosts that are not fixed, so it has no layer endpoint here."""
    if not reg.is_ecr:
        return ()
    out = []
    api = api_host(reg)
    helper = "the credential helper and the AWS CLI"
    host, port = _host_port(reg.host)
    if reg.kind == "public":
        if api:
            out.append(Endpoint("api", api, HTTPS_PORT, helper))
        out.append(Endpoint("registry", host, port, "dockerd"))
        return tuple(out)
    region, partition = reg.region or "", reg.partition
    if api:
        out.append(Endpoint("api", api, HTTPS_PORT, helper, vpce_service_name(region, "ecr.api", partition),
                            "Interface"))
    out.append(Endpoint("registry", host, port, "dockerd", vpce_service_name(region, "ecr.dkr", partition),
                        "Interface"))
    out.append(Endpoint("layers", layer_bucket_host(region, _ipv4_suffix(reg)), HTTPS_PORT, "dockerd",
                        vpce_service_name(region, "s3", partition), "Gateway"))
    return tuple(out)


# -- addresses ------------------------------------------------------------------------------------------


def address_scope(address: str) -> str:
    """"private" (inside a VPC: an interface endpoint answers), "public", "loopback", "link-local", or "invalid"."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0].strip("[]"))
    except ValueError:
        return "invalid"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if any(ip in net for net in _PRIVATE_NETS if net.version == ip.version):
        return "private"
    return "public"


# -- /etc/resolv.conf -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvConf:
    """What glibc (and Go's resolver) take from resolv.conf: up to three nameservers, search list, options."""

    nameservers: Tuple[str, ...] = ()
    search: Tuple[str, ...] = ()
    options: Tuple[str, ...] = ()

    @property
    def stub(self) -> bool:
        """Only systemd-resolved's stub listener: the real upstreams are in /run/systemd/resolve/resolv.conf."""
        return bool(self.nameservers) and all(ns == SYSTEMD_RESOLVED_STUB for ns in self.nameservers)


def parse_resolv_conf(text: str) -> ResolvConf:
    """resolv.conf(5): `nameserver`, `search`/`domain` (the last one wins), `options`; # and ; comments."""
    servers: list[str] = []
    search: Tuple[str, ...] = ()
    options: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        words = line.split()
        if len(words) < 2:
            continue
        key, values = words[0], words[1:]
        if key == "nameserver":
            if len(servers) < 3 and address_scope(values[0]) != "invalid":  # glibc MAXNS = 3
                servers.append(values[0])
        elif key in ("search", "domain"):
            search = tuple(values)
        elif key == "options":
            options.extend(values)
    return ResolvConf(tuple(servers), search, tuple(options))


def resolver_kind(nameserver: str) -> str:
    """How a nameserver relates to the VPC's Amazon-provided resolver (aws-side.md B4 NET-DNS).

    "amazon" (169.254.169.253 / fd00:ec2::253), "stub" (systemd-resolved at 127.0.0.53), "vpc-base+2" (a private
    address ending in .2, which is what the VPC resolver at the CIDR base + 2 looks like — not verified without the
    VPC's CIDR), "loopback" (a local cache), or "custom" (anything else: it must forward to the VPC resolver for
    interface endpoints' private names to resolve)."""
    if nameserver in AMAZON_RESOLVERS:
        return "amazon"
    if nameserver == SYSTEMD_RESOLVED_STUB:
        return "stub"
    scope = address_scope(nameserver)
    if scope == "loopback":
        return "loopback"
    if scope == "private" and nameserver.endswith(".2"):
        return "vpc-base+2"
    return "custom"


# -- server certificates ------------------------------------------------------------------------------------

_NAME_OIDS = {
    bytes((0x55, 0x04, 0x03)): "CN",
    bytes((0x55, 0x04, 0x0A)): "O",
    bytes((0x55, 0x04, 0x0B)): "OU",
    bytes((0x55, 0x04, 0x06)): "C",
}
# Amazon Trust Services issues the certificates of ECR, S3 and the other AWS endpoints ("Amazon RSA 2048 M02",
# "Amazon ECC 256 M02", … with O=Amazon), chaining to the Amazon Root CAs and the Starfield Services root
# (S3 finished moving from DigiCert to ATS in June 2022: AWS storage blog, "S3 and CloudFront migrating to
# Amazon Trust Services"). Any other issuer on these hosts is a TLS-inspecting proxy (host-side.md D3).
_AMAZON_ISSUERS = ("amazon", "starfield")


@dataclass(frozen=True)
class CertificateNames:
    """The issuer and subject of a certificate as short attribute names: {"CN": …, "O": …}."""

    issuer: Dict[str, str]
    subject: Dict[str, str]


def _tlv(data: bytes, pos: int) -> Tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at `pos`."""
    if pos + 2 > len(data):
        raise CertificateError("truncated DER element")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise CertificateError("bad DER length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise CertificateError("DER element runs past the end")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[Tuple[int, int, int]]:
    out = []
    while start < end:
        tag, cstart, cend = _tlv(data, start)
        out.append((tag, cstart, cend))
        start = cend
    return out


def _string(tag: int, raw: bytes) -> str:
    if tag == 0x1E:  # BMPString
        return raw.decode("utf-16-be", errors="replace")
    if tag == 0x1C:  # UniversalString
        return raw.decode("utf-32-be", errors="replace")
    return raw.decode("utf-8" if tag == 0x0C else "latin-1", errors="replace")


def _name(data: bytes, start: int, end: int) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for set_tag, s_start, s_end in _children(data, start, end):
        if set_tag != 0x31:
            raise CertificateError("a Name holds SETs")
        for seq_tag, a_start, a_end in _children(data, s_start, s_end):
            parts = _children(data, a_start, a_end)
            if seq_tag != 0x30 or len(parts) != 2 or parts[0][0] != 0x06:
                raise CertificateError("bad attribute in a Name")
            key = _NAME_OIDS.get(data[parts[0][1]:parts[0][2]])
            if key and key not in out:
                out[key] = _string(parts[1][0], data[parts[1][1]:parts[1][2]])
    return out


def certificate_names(der: bytes) -> CertificateNames:
    """Issuer and subject of a DER certificate (what `getpeercert(binary_form=True)` returns, even unverified)."""
    tag, start, end = _tlv(der, 0)
    if tag != 0x30:
        raise CertificateError("not a DER certificate")
    tbs_tag, t_start, t_end = _tlv(der, start)
    if tbs_tag != 0x30:
        raise CertificateError("no TBSCertificate")
    fields = _children(der, t_start, t_end)
    if fields and fields[0][0] == 0xA0:  # [0] EXPLICIT version
        fields = fields[1:]
    # serialNumber, signature, issuer, validity, subject
    if len(fields) < 5 or fields[2][0] != 0x30 or fields[4][0] != 0x30:
        raise CertificateError("TBSCertificate is missing its issuer or subject")
    return CertificateNames(issuer=_name(der, fields[2][1], fields[2][2]),
                            subject=_name(der, fields[4][1], fields[4][2]))


def issued_by_amazon(issuer: Dict[str, str]) -> bool:
    """Whether a certificate's issuer is Amazon Trust Services (or the Starfield root it chains to)."""
    text = f"{issuer.get('O', '')} {issuer.get('CN', '')}".lower()
    return any(word in text for word in _AMAZON_ISSUERS)


def describe_name(name: Dict[str, str]) -> str:
    """`CN=Zscaler Intermediate Root CA, O=Zscaler Inc.` (the parts that identify it)."""
    parts = [f"{k}={name[k]}" for k in ("CN", "O", "OU") if name.get(k)]
    return ", ".join(parts) or "(no name)"
