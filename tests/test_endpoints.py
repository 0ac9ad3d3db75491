"""The hosts a pull touches per partition, VPC endpoint service names, address scopes, resolv.conf, and the names in
a server certificate (real DER made by openssl)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from ecrdoctor.endpoints import (
    CertificateError,
    address_scope,
    api_host,
    certificate_names,
    describe_name,
    issued_by_amazon,
    layer_bucket_host,
    parse_resolv_conf,
    registry_endpoints,
    resolver_kind,
    vpce_service_name,
)
from ecrdoctor.reference import parse_registry_host
from tests.net_fixtures import Pki, pki  # noqa: F401  (the session's certificate authorities)


@pytest.mark.parametrize("host, api, layers", [
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com", "api.ecr.us-east-1.amazonaws.com",
     "prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com"),
    ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "ecr-fips.us-gov-west-1.amazonaws.com",
     "prod-us-gov-west-1-starport-layer-bucket.s3.us-gov-west-1.amazonaws.com"),
    ("123456789012.dkr-ecr.us-west-2.on.aws", "ecr.us-west-2.api.aws",
     "prod-us-west-2-starport-layer-bucket.s3.us-west-2.amazonaws.com"),
    ("123456789012.dkr-ecr-fips.us-west-2.on.aws", "ecr-fips.us-west-2.api.aws",
     "prod-us-west-2-starport-layer-bucket.s3.us-west-2.amazonaws.com"),
    ("210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn", "api.ecr.cn-north-1.amazonaws.com.cn",
     "prod-cn-north-1-starport-layer-bucket.s3.cn-north-1.amazonaws.com.cn"),
    ("210987654321.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn", "ecr.cn-north-1.api.amazonwebservices.com.cn",
     "prod-cn-north-1-starport-layer-bucket.s3.cn-north-1.amazonaws.com.cn"),
    ("123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu", "api.ecr.eusc-de-east-1.amazonaws.eu",
     "prod-eusc-de-east-1-starport-layer-bucket.s3.eusc-de-east-1.amazonaws.eu"),
])
def test_each_partition_form_names_its_api_registry_and_layer_hosts(host: str, api: str, layers: str) -> None:
    reg = parse_registry_host(host)
    eps = registry_endpoints(reg)
    assert [e.role for e in eps] == ["api", "registry", "layers"]
    assert [e.host for e in eps] == [api, host, layers]
    assert all(e.port == 443 for e in eps)
    assert api_host(reg) == api
    assert [e.client for e in eps] == ["the credential helper and the AWS CLI", "dockerd", "dockerd"]


def test_vpc_endpoint_services_are_ecr_api_ecr_dkr_and_the_s3_gateway() -> None:
    eps = registry_endpoints(parse_registry_host("123456789012.dkr.ecr.eu-west-1.amazonaws.com"))
    assert [(e.vpce_service, e.vpce_type) for e in eps] == [
        ("com.amazonaws.eu-west-1.ecr.api", "Interface"), ("com.amazonaws.eu-west-1.ecr.dkr", "Interface"),
        ("com.amazonaws.eu-west-1.s3", "Gateway")]


def test_china_vpc_endpoint_service_names_carry_the_cn_prefix() -> None:
    assert vpce_service_name("cn-north-1", "ecr.dkr", "aws-cn") == "cn.com.amazonaws.cn-north-1.ecr.dkr"
    eps = registry_endpoints(parse_registry_host("210987654321.dkr.ecr.cn-northwest-1.amazonaws.com.cn"))
    assert eps[0].vpce_service == "cn.com.amazonaws.cn-northwest-1.ecr.api"


def test_ecr_public_has_an_api_and_a_registry_but_no_fixed_layer_host() -> None:
    eps = registry_endpoints(parse_registry_host("public.ecr.aws"))
    assert [(e.role, e.host) for e in eps] == [("api", "api.ecr-public.us-east-1.amazonaws.com"),
                                               ("registry", "public.ecr.aws")]


def test_a_registry_reference_with_a_port_is_dialled_on_that_port() -> None:
    eps = registry_endpoints(parse_registry_host("123456789012.dkr.ecr.us-east-1.amazonaws.com:8443"))
    assert (eps[1].host, eps[1].port) == ("123456789012.dkr.ecr.us-east-1.amazonaws.com", 8443)
    assert eps[1].label == "123456789012.dkr.ecr.us-east-1.amazonaws.com:8443"


def test_other_registries_have_no_ecr_endpoints() -> None:
    assert registry_endpoints(parse_registry_host("ghcr.io")) == ()


def test_layer_bucket_host_of_the_china_partition() -> None:
    assert layer_bucket_host("cn-north-1", "amazonaws.com.cn") == \
        "prod-cn-north-1-starport-layer-bucket.s3.cn-north-1.amazonaws.com.cn"


@pytest.mark.parametrize("address, scope", [
    ("10.0.3.17", "private"), ("172.31.5.9", "private"), ("192.168.1.2", "private"), ("100.64.0.10", "private"),
    ("fd12:3456::1", "private"), ("52.94.1.10", "public"), ("2600:1f18::1", "public"), ("127.0.0.1", "loopback"),
    ("::1", "loopback"), ("169.254.169.254", "link-local"), ("not-an-ip", "invalid"), ("172.32.0.1", "public"),
])
def test_address_scope_tells_an_interface_endpoint_from_a_public_answer(address: str, scope: str) -> None:
    assert address_scope(address) == scope


def test_resolv_conf_keeps_three_nameservers_the_last_search_and_options() -> None:
    conf = parse_resolv_conf("# generated\nnameserver 10.0.0.2\nnameserver 169.254.169.253 # amazon\n"
                             "domain old.example\nsearch ec2.internal corp.example\nnameserver 8.8.8.8\n"
                             "nameserver 1.1.1.1\nnameserver bogus\noptions timeout:2 attempts:5\n")
    assert conf.nameservers == ("10.0.0.2", "169.254.169.253", "8.8.8.8")
    assert conf.search == ("ec2.internal", "corp.example")
    assert conf.options == ("timeout:2", "attempts:5")
    assert not conf.stub


def test_systemd_resolved_stub_is_recognised() -> None:
    assert parse_resolv_conf("nameserver 127.0.0.53\noptions edns0 trust-ad\n").stub
    assert parse_resolv_conf("").nameservers == ()


@pytest.mark.parametrize("ns, kind", [("169.254.169.253", "amazon"), ("fd00:ec2::253", "amazon"),
                                      ("127.0.0.53", "stub"), ("10.0.0.2", "vpc-base+2"), ("172.31.0.2", "vpc-base+2"),
                                      ("10.20.30.40", "custom"), ("8.8.8.8", "custom"), ("127.0.0.1", "loopback")])
def test_resolver_kind(ns: str, kind: str) -> None:
    assert resolver_kind(ns) == kind


def _der(pem: Path) -> bytes:
    first = pem.read_text().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    return ssl.PEM_cert_to_DER_cert(first)


def test_certificate_names_of_an_amazon_looking_and_an_intercepting_certificate(pki: Pki) -> None:  # noqa: F811
    amazon = certificate_names(_der(pki.amazon.leaf_pem))
    assert amazon.issuer == {"C": "US", "O": "Amazon", "CN": "Amazon RSA 2048 M02"}
    assert amazon.subject == {"CN": "api.ecr.us-east-1.amazonaws.com"}
    assert issued_by_amazon(amazon.issuer)
    corp = certificate_names(_der(pki.corp.leaf_pem))
    assert corp.issuer["O"] == "Zscaler Inc." and not issued_by_amazon(corp.issuer)
    assert describe_name(corp.issuer) == "CN=Zscaler Intermediate Root CA, O=Zscaler Inc."


def test_starfield_root_counts_as_amazon() -> None:
    assert issued_by_amazon({"O": "Starfield Technologies, Inc.", "CN": "Starfield Services Root Certificate "
                                                                       "Authority - G2"})
    assert not issued_by_amazon({"O": "Netskope Inc", "CN": "ca.corp.goskope.com"})
    assert describe_name({}) == "(no name)"


@pytest.mark.parametrize("data", [b"", b"\x30", b"\x02\x01\x00", b"\x30\x82\xff\xff\x00", b"\x30\x03\x02\x01\x00",
                                  b"\x30\x05\x30\x03\x02\x01\x00"])
def test_junk_is_not_a_certificate(data: bytes) -> None:
    with pytest.raises(CertificateError):
        certificate_names(data)
