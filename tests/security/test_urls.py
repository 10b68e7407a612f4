"""The outbound URL guard: what ForceBridge may call, and every trick that must be refused."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forcebridge.errors import ConfigurationError, ValidationFailed
from forcebridge.security.urls import check_outbound_url, check_resolved_address

SANDBOX = ("127.0.0.1:8443", "localhost:9443")

REFUSED_URLS = [
    # scheme
    ("http://acme.atlassian.net/rest/api/3/myself", "plain http"),
    ("ftp://acme.atlassian.net/", "scheme 'ftp'"),
    ("file:///etc/passwd", "scheme 'file'"),
    ("gopher://acme.atlassian.net:70/_GET", "scheme 'gopher'"),
    ("javascript:alert(1)", "scheme 'javascript'"),
    ("//acme.atlassian.net/rest", "scheme '(none)'"),
    ("acme.atlassian.net", "scheme '(none)'"),
    ("", "empty"),
    # userinfo and fragment tricks
    ("https://acme.atlassian.net@evil.com/", "user information"),
    ("https://x.atlassian.net@evil.com", "user information"),
    ("https://user:pass@acme.atlassian.net/", "user information"),
    ("https://evil.com#@x.atlassian.net", "fragment"),
    ("https://evil.com?@x.atlassian.net", "not a Jira Cloud or Salesforce host"),
    ("https://evil.com\\@x.atlassian.net", "backslash"),
    ("https://acme.atlassian.net/ path", "whitespace"),
    ("https://acme.atlassian.net/\r\nHost: evil", "whitespace"),
    # suffix tricks
    ("https://x.atlassian.net.evil.com/", "not a Jira Cloud or Salesforce host"),
    ("https://acme.atlassian.net.evil.test", "not a Jira Cloud or Salesforce host"),
    ("https://evilatlassian.net/", "not a Jira Cloud or Salesforce host"),
    ("https://atlassian.net/", "not a Jira Cloud or Salesforce host"),
    ("https://salesforce.com/", "not a Jira Cloud or Salesforce host"),
    ("https://evil.test/.atlassian.net", "not a Jira Cloud or Salesforce host"),
    ("https://acme.atlassian.net./", "ends with a dot"),
    ("https://metadata.google.internal/computeMetadata/v1/", "not a Jira Cloud"),
    ("https://localhost/", "not a Jira Cloud or Salesforce host"),
    # IDN / homograph (Cyrillic "а" in atlassian), full-width and ideographic dots
    ("https://acme.\u0430tlassian.net/", "non-ASCII"),
    ("https://acme.atlassian\u3002net/", "non-ASCII"),
    ("https://\uff41cme.atlassian.net/", "non-ASCII"),
    ("https://acme.xn--tlassian-2fg.net/", "not a Jira Cloud or Salesforce host"),
    ("https://ac%6de.atlassian.net/", "not a valid host name"),
    # ports
    ("https://acme.atlassian.net:8443/", "port 8443"),
    ("https://acme.my.salesforce.com:22/", "port 22"),
    ("https://acme.atlassian.net:99999/", "port is not a number"),
    ("https://acme.atlassian.net:0/", "port 0"),
    # IP literals
    ("https://127.0.0.1/", "loopback"),
    ("https://127.0.0.1:8444/", "loopback"),  # the sandbox's neighbour port is not allowed
    ("https://0.0.0.0/", "unspecified"),
    ("https://[::1]/", "loopback"),
    ("https://[::]/", "unspecified"),
    ("https://10.0.0.1/", "private"),
    ("https://172.16.0.1/", "private"),
    ("https://192.168.1.1/", "private"),
    ("https://100.64.0.1/", "non-public"),
    ("https://[fe80::1]/", "link-local"),
    ("https://[fc00::1]/", "private"),
    ("https://224.0.0.1/", "multicast"),
    ("https://240.0.0.1/", "reserved"),
    ("https://8.8.8.8/", "public address; IP addresses are not allowed"),
    ("https://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("https://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
    ("https://169.254.1.1/", "link-local"),
    # encoded IPv4
    ("https://2130706433/", "encoded form of 127.0.0.1"),
    ("https://017700000001/", "encoded form of 127.0.0.1"),
    ("https://0177.0.0.1/", "encoded form of 127.0.0.1"),
    ("https://0x7f000001/", "encoded form of 127.0.0.1"),
    ("https://0x7f.1/", "encoded form of 127.0.0.1"),
    ("https://127.1/", "encoded form of 127.0.0.1"),
    ("https://0xa9.0xfe.0xa9.0xfe/", "cloud metadata"),
    ("https://2852039166/", "cloud metadata"),
    ("https://[::ffff:127.0.0.1]/", "embeds 127.0.0.1"),
    ("https://[::ffff:7f00:1]/", "embeds 127.0.0.1"),
    ("https://[::ffff:169.254.169.254]/", "cloud metadata"),
    ("https://[64:ff9b::a00:1]/", "embeds 10.0.0.1"),
    ("https://1.2.3.999/", "encoded IP address"),
    ("https://acme.atlassian.99/", "encoded IP address"),
]

ACCEPTED_URLS = [
    ("https://acme.atlassian.net", "https://acme.atlassian.net"),
    (
        "https://acme.atlassian.net/rest/api/3/myself",
        "https://acme.atlassian.net/rest/api/3/myself",
    ),
    ("HTTPS://ACME.Atlassian.NET/rest/api/3/Issue", "https://acme.atlassian.net/rest/api/3/Issue"),
    ("https://acme.atlassian.net:443/x?y=1", "https://acme.atlassian.net/x?y=1"),
    ("https://acme.jira.com/", "https://acme.jira.com/"),
    ("https://api.atlassian.com/ex/jira/abc/rest", "https://api.atlassian.com/ex/jira/abc/rest"),
    ("https://auth.atlassian.com/oauth/token", "https://auth.atlassian.com/oauth/token"),
    ("https://acme.my.salesforce.com/services/data/v62.0/", None),
    ("https://acme--uat.sandbox.my.salesforce.com/", None),
    ("https://login.salesforce.com/services/oauth2/token", None),
    ("https://test.salesforce.com/services/oauth2/token", None),
    ("https://acme.lightning.force.com/", None),
    ("https://na1.cloudforce.com/", None),
    ("https://xn--80ak6aa92e.atlassian.net/", None),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED_URLS)
def test_refuses_url_with_a_reason_naming_the_trick(url: str, reason: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_outbound_url(url, SANDBOX)
    assert reason in raised.value.message
    assert raised.value.status_code == 422


def test_the_bad_url_table_covers_at_least_forty_tricks() -> None:
    assert len({url for url, _ in REFUSED_URLS}) >= 40


@pytest.mark.parametrize(("url", "normalised"), ACCEPTED_URLS)
def test_accepts_vendor_hosts_over_https_and_normalises_them(
    url: str, normalised: str | None
) -> None:
    assert check_outbound_url(url) == (normalised or url)


def test_allowed_host_with_port_permits_that_port_over_http_and_https() -> None:
    assert check_outbound_url("http://127.0.0.1:8443/rest", SANDBOX) == "http://127.0.0.1:8443/rest"
    assert check_outbound_url("https://127.0.0.1:8443/", SANDBOX) == "https://127.0.0.1:8443/"
    assert check_outbound_url("https://LOCALHOST:9443/x", SANDBOX) == "https://localhost:9443/x"


def test_allowed_host_with_port_does_not_open_other_ports_of_the_same_host() -> None:
    with pytest.raises(ValidationFailed, match="loopback"):
        check_outbound_url("https://127.0.0.1/", SANDBOX)
    with pytest.raises(ValidationFailed, match="not a Jira Cloud"):
        check_outbound_url("https://localhost:9444/", SANDBOX)


def test_allowed_host_without_port_permits_only_the_default_port() -> None:
    allowed = ["jira.internal.example"]
    assert check_outbound_url("https://jira.internal.example/x", allowed)
    assert check_outbound_url("http://jira.internal.example/x", allowed)
    with pytest.raises(ValidationFailed, match="not a Jira Cloud"):
        check_outbound_url("https://jira.internal.example:8080/x", allowed)


def test_an_encoded_spelling_of_an_allowed_ip_is_normalised_to_it() -> None:
    assert check_outbound_url("http://127.1:8443/x", SANDBOX) == "http://127.0.0.1:8443/x"


def test_allowed_ipv6_host_with_port() -> None:
    assert check_outbound_url("https://[::1]:8443/", ["[::1]:8443"]) == "https://[::1]:8443/"


@pytest.mark.parametrize("host", ["169.254.169.254", "[::ffff:169.254.169.254]"])
def test_metadata_address_is_refused_even_when_an_administrator_allows_it(host: str) -> None:
    with pytest.raises(ValidationFailed, match="cloud metadata"):
        check_outbound_url(f"http://{host}/latest/", [host])


def test_malformed_allowed_hosts_entry_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="not 'host' or 'host:port'"):
        check_outbound_url("https://acme.atlassian.net/", ["https://user@host/path"])


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.10",
        "169.254.169.254",
        "::1",
        "fe80::1%eth0",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",
        "100.64.1.1",
        "0.0.0.0",
    ],
)
def test_vendor_name_resolving_to_an_internal_address_is_refused(address: str) -> None:
    with pytest.raises(ValidationFailed, match="resolved to"):
        check_resolved_address("acme.atlassian.net", address, SANDBOX)


def test_vendor_name_resolving_to_a_public_address_is_allowed() -> None:
    check_resolved_address("acme.atlassian.net", "104.192.142.1", SANDBOX)
    check_resolved_address("acme.my.salesforce.com", "2a01:111:f400::1", SANDBOX)


def test_allowed_name_may_resolve_to_loopback_but_never_to_metadata() -> None:
    check_resolved_address("localhost", "127.0.0.1", SANDBOX)
    with pytest.raises(ValidationFailed, match="metadata"):
        check_resolved_address("localhost", "169.254.169.254", SANDBOX)


def test_resolution_to_a_non_address_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="not an IP address"):
        check_resolved_address("acme.atlassian.net", "not-an-ip", ())


@given(st.text(max_size=300))
def test_arbitrary_text_is_either_refused_cleanly_or_lands_on_an_allowed_host(text: str) -> None:
    try:
        normalised = check_outbound_url(text, SANDBOX)
    except ValidationFailed:
        return
    host_part = normalised.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
    assert host_part in {"127.0.0.1:8443", "localhost:9443"} or host_part.endswith(
        (
            ".atlassian.net",
            ".jira.com",
            ".atlassian.com",
            ".salesforce.com",
            ".force.com",
            ".cloudforce.com",
            ".database.com",
        )
    )


@given(st.sampled_from(["https://", "http://"]), st.text(max_size=80), st.text(max_size=40))
def test_url_like_text_never_raises_anything_but_validation_failed(
    scheme: str, host: str, path: str
) -> None:
    with contextlib.suppress(ValidationFailed):
        check_outbound_url(f"{scheme}{host}/{path}", SANDBOX)


def test_refusal_message_never_echoes_a_password_or_query_string() -> None:
    for url in (
        "https://admin:SENTINEL-pw@evil.test/x",
        "https://evil.test/file?token=SENTINEL-presigned",
    ):
        with pytest.raises(ValidationFailed) as raised:
            check_outbound_url(url)
        assert "SENTINEL" not in raised.value.message
        assert "SENTINEL" not in str(raised.value.details)
