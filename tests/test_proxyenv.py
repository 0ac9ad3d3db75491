"""Proxy variables as Go programs (the credential helper, dockerd) and botocore (the AWS CLI) read them: the cases
where they agree, and every case where they part ways. The botocore side is checked against botocore and urllib
themselves, the Go side against golang.org/x/net/http/httpproxy's documented rules."""

from __future__ import annotations

import os
import urllib.request
from typing import Dict, Optional

import pytest

from ecrdoctor.proxyenv import (
    ProxyEnvError,
    add_to_no_proxy,
    display_proxy,
    go_decide,
    go_no_proxy_entry,
    go_settings,
    parse_proxy_url,
    python_decide,
    python_no_proxy_entry,
    python_settings,
    same_proxy,
    strip_credentials,
)

API = "https://api.ecr.us-east-1.amazonaws.com/"
IMDS = "http://169.254.169.254/latest/api/token"


def _botocore_proxy(env: Dict[str, str], url: str, monkeypatch: pytest.MonkeyPatch) -> Optional[str]:
    """What botocore itself picks for `url` in `env` (its get_environ_proxies, then proxies[scheme])."""
    from botocore.httpsession import ProxyConfiguration
    from botocore.utils import get_environ_proxies

    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name == "REQUEST_METHOD":
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    proxy: Optional[str] = ProxyConfiguration(proxies=get_environ_proxies(url)).proxy_url_for(url)
    return proxy


# -- reading the variables ----------------------------------------------------------------------------------


def test_upper_case_wins_for_go_lower_case_for_botocore() -> None:
    env = {"HTTPS_PROXY": "http://upper:3128", "https_proxy": "http://lower:3128"}
    assert go_settings(env).https_proxy == "http://upper:3128"
    assert go_settings(env).name("https") == "HTTPS_PROXY"
    assert python_settings(env).https_proxy == "http://lower:3128"
    assert python_settings(env).name("https") == "https_proxy"


def test_an_empty_lower_case_variable_unsets_the_upper_case_one_for_botocore_only() -> None:
    env = {"HTTPS_PROXY": "http://upper:3128", "https_proxy": ""}
    assert go_settings(env).https_proxy == "http://upper:3128"
    assert python_settings(env).https_proxy is None


def test_botocore_reads_the_same_as_urllib(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"HTTPS_PROXY": "http://a:1", "http_proxy": "http://b:2", "NO_PROXY": "x", "no_proxy": "y",
           "ALL_PROXY": "socks5://c:3"}
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    real = urllib.request.getproxies_environment()
    mine = python_settings(env)
    assert (mine.https_proxy, mine.http_proxy, mine.no_proxy) == (real.get("https"), real.get("http"), real.get("no"))


def test_cgi_environment_drops_upper_case_http_proxy() -> None:
    env = {"HTTP_PROXY": "http://evil:80", "REQUEST_METHOD": "GET"}
    assert python_settings(env).http_proxy is None
    assert go_decide(go_settings(env), "http://example.com/").proxy is None
    assert "CGI" in go_decide(go_settings(env), "http://example.com/").reason


def test_https_urls_use_only_the_https_proxy_for_both() -> None:
    env = {"HTTP_PROXY": "http://proxy:3128"}
    assert go_decide(go_settings(env), API).proxy is None
    assert python_decide(python_settings(env), API).proxy is None
    assert go_decide(go_settings(env), IMDS).proxy == "http://proxy:3128"
    assert python_decide(python_settings(env), IMDS).proxy == "http://proxy:3128"


# -- NO_PROXY: Go rules ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("no_proxy, host, port, entry", [
    ("amazonaws.com", "api.ecr.us-east-1.amazonaws.com", 443, "amazonaws.com"),
    ("amazonaws.com", "amazonaws.com", 443, "amazonaws.com"),
    (".amazonaws.com", "api.ecr.us-east-1.amazonaws.com", 443, ".amazonaws.com"),
    (".amazonaws.com", "amazonaws.com", 443, None),  # a leading dot: subdomains only
    ("*.amazonaws.com", "api.ecr.us-east-1.amazonaws.com", 443, "*.amazonaws.com"),
    ("*.amazonaws.com", "amazonaws.com", 443, None),
    ("AMAZONAWS.COM", "api.ecr.us-east-1.amazonaws.com", 443, "amazonaws.com"),
    ("notamazonaws.com", "amazonaws.com", 443, None),
    ("x.com, *", "api.ecr.us-east-1.amazonaws.com", 443, "*"),  # `*` anywhere in the list
    ("api.ecr.us-east-1.amazonaws.com:443", "api.ecr.us-east-1.amazonaws.com", 443,
     "api.ecr.us-east-1.amazonaws.com:443"),
    ("api.ecr.us-east-1.amazonaws.com:8443", "api.ecr.us-east-1.amazonaws.com", 443, None),
    ("169.254.0.0/16", "169.254.169.254", 80, "169.254.0.0/16"),
    ("169.254.169.254", "169.254.169.254", 80, "169.254.169.254"),
    ("169.254.169.254:80", "169.254.169.254", 80, "169.254.169.254:80"),
    ("169.254.169.254:8080", "169.254.169.254", 80, None),
    ("[fd00:ec2::254]:80", "fd00:ec2::254", 80, "[fd00:ec2::254]:80"),
    ("fd00:ec2::/32", "fd00:ec2::254", 80, "fd00:ec2::/32"),
    ("10.0.0.0/8", "api.ecr.us-east-1.amazonaws.com", 443, None),  # ranges only match addresses
    ("", "api.ecr.us-east-1.amazonaws.com", 443, None),
])
def test_go_no_proxy_entries(no_proxy: str, host: str, port: int, entry: Optional[str]) -> None:
    assert go_no_proxy_entry(no_proxy, host, port) == entry


def test_go_never_proxies_loopback_or_localhost() -> None:
    settings = go_settings({"HTTPS_PROXY": "http://proxy:3128"})
    assert go_decide(settings, "https://127.0.0.1:8443/").proxy is None
    assert go_decide(settings, "https://localhost/").proxy is None
    assert go_decide(settings, API).proxy == "http://proxy:3128"


# -- NO_PROXY: botocore rules, against botocore itself ------------------------------------------------------------


@pytest.mark.parametrize("env, url", [
    ({"HTTPS_PROXY": "http://p:3128", "NO_PROXY": ".amazonaws.com"}, API),
    ({"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "amazonaws.com"}, API),
    ({"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "*.amazonaws.com"}, API),  # `*.` is not understood
    ({"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "x.com,*"}, API),  # `*` only as the whole value
    ({"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "*"}, API),
    ({"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "api.ecr.us-east-1.amazonaws.com:443"}, API),
    ({"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "api.ecr.us-east-1.amazonaws.com:443"},
     "https://api.ecr.us-east-1.amazonaws.com:443/"),
    ({"HTTP_PROXY": "http://p:3128", "NO_PROXY": "169.254.0.0/16"}, IMDS),  # no CIDR
    ({"HTTP_PROXY": "http://p:3128", "NO_PROXY": "169.254.169.254"}, IMDS),
    ({"HTTPS_PROXY": "http://p:3128"}, "https://127.0.0.1:8443/"),  # loopback is proxied
    ({"HTTPS_PROXY": "p:3128"}, API),  # no scheme: http:// assumed
    ({"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:2"}, API),
    ({"https_proxy": "http://p:3128", "no_proxy": "AMAZONAWS.COM"}, API),
])
def test_python_decide_matches_botocore(env: Dict[str, str], url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _botocore_proxy(env, url, monkeypatch)
    decided = python_decide(python_settings(env), url).proxy
    assert (parse_proxy_url(decided).display if decided else None) == \
        (parse_proxy_url(expected).display if expected else None)


@pytest.mark.parametrize("no_proxy, netloc, entry", [
    (".amazonaws.com", "amazonaws.com", ".amazonaws.com"),  # leading dots ignored: the domain itself too
    ("*.amazonaws.com", "api.ecr.us-east-1.amazonaws.com", None),
    ("x.com,*", "api.ecr.us-east-1.amazonaws.com", None),
    ("*", "anything", "*"),
    ("169.254.0.0/16", "169.254.169.254", None),
    ("api.ecr.us-east-1.amazonaws.com:443", "api.ecr.us-east-1.amazonaws.com", None),
    ("api.ecr.us-east-1.amazonaws.com:443", "api.ecr.us-east-1.amazonaws.com:443",
     "api.ecr.us-east-1.amazonaws.com:443"),
])
def test_python_no_proxy_entries(no_proxy: str, netloc: str, entry: Optional[str]) -> None:
    assert python_no_proxy_entry(no_proxy, netloc) == entry


# -- where Go and botocore part ways ---------------------------------------------------------------------------------


@pytest.mark.parametrize("env, url", [
    ({"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "*.amazonaws.com"}, API),
    ({"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "ecr.io,*"}, API),
    ({"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "api.ecr.us-east-1.amazonaws.com:443"}, API),
    ({"HTTP_PROXY": "http://p:3128", "NO_PROXY": "169.254.0.0/16"}, IMDS),
    ({"HTTPS_PROXY": "http://p:3128"}, "https://127.0.0.1/"),
])
def test_the_helper_goes_direct_where_the_aws_cli_uses_the_proxy(env: Dict[str, str], url: str) -> None:
    assert go_decide(go_settings(env), url).proxy is None
    assert python_decide(python_settings(env), url).proxy == "http://p:3128"


def test_the_reason_names_the_entry_that_exempts() -> None:
    decision = go_decide(go_settings({"HTTPS_PROXY": "http://p:3128", "no_proxy": "localhost,.amazonaws.com"}), API)
    assert decision.proxy is None and decision.reason == "no_proxy entry '.amazonaws.com' exempts it: direct"
    via = go_decide(go_settings({"HTTPS_PROXY": "http://user:secret@p:3128"}), API)
    assert via.reason == "HTTPS_PROXY=http://p:3128" and "secret" not in via.reason


# -- proxy URLs --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, display, creds", [
    ("http://proxy.corp:3128", "http://proxy.corp:3128", False),
    ("proxy.corp:3128", "http://proxy.corp:3128", False),
    ("10.0.0.5:3128", "http://10.0.0.5:3128", False),
    ("http://proxy.corp", "http://proxy.corp:80", False),
    ("https://proxy.corp", "https://proxy.corp:443", False),
    ("socks5://proxy.corp", "socks5://proxy.corp:1080", False),
    ("http://bob:s3cret@proxy.corp:3128/", "http://proxy.corp:3128", True),
    ("http://[fd00::5]:3128", "http://[fd00::5]:3128", False),
])
def test_proxy_urls_as_go_reads_them(value: str, display: str, creds: bool) -> None:
    url = parse_proxy_url(value)
    assert url.display == display
    assert (url.username is not None) is creds


@pytest.mark.parametrize("value", ["", "http://proxy:notaport", "http://:3128"])
def test_unusable_proxy_values(value: str) -> None:
    with pytest.raises(ProxyEnvError):
        parse_proxy_url(value)


def test_credentials_never_shown() -> None:
    assert strip_credentials("http://bob:s3cret@proxy:3128/x") == "http://proxy:3128/x"
    assert strip_credentials("bob:p@ss@proxy:3128") == "proxy:3128"
    assert display_proxy("http://bob:s3cret@proxy:3128") == "http://proxy:3128"
    assert display_proxy("http://bob:s3cret@proxy:notaport") == "http://proxy:notaport"
    assert display_proxy(None) == "-"


def test_same_proxy_ignores_credentials_and_default_ports() -> None:
    assert same_proxy("http://proxy:80", "proxy")
    assert same_proxy("http://a:b@proxy:3128", "http://proxy:3128/")
    assert not same_proxy("http://proxy:3128", "http://proxy:8080")
    assert same_proxy(None, "")
    assert not same_proxy(None, "http://proxy:3128")


def test_add_to_no_proxy_keeps_what_is_there_once() -> None:
    assert add_to_no_proxy("localhost, .corp", "169.254.169.254", "LOCALHOST") == "localhost,.corp,169.254.169.254"
    assert add_to_no_proxy(None, ".amazonaws.com") == ".amazonaws.com"
