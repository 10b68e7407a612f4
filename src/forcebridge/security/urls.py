"""The SSRF guard: which hosts ForceBridge may call, checked before any request and at connect time.

Every outbound URL (a Jira site, a Salesforce ``instance_url``, a ``nextRecordsUrl``, an
attachment link) passes :func:`check_outbound_url` before a request is built, and every resolved
address passes :func:`check_resolved_address` when the socket is opened (DNS rebinding).

The policy (OWASP SSRF Prevention Cheat Sheet; reliability-security.md §3):

- https only, on the default port, to a host under one of :data:`VENDOR_HOST_SUFFIXES`;
- anything else only when the administrator listed it in ``allowed_hosts`` (``host`` for the
  default port, ``host:port`` for another one); such hosts may also use plain http (the sandbox);
- never userinfo, fragments, whitespace, backslashes, non-ASCII host names, trailing dots,
  or IP literals in any spelling (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``,
  ``[::ffff:127.0.0.1]``) unless that exact literal is allowed;
- never a cloud metadata address, even when allowed.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from forcebridge.errors import ConfigurationError, ValidationFailed

# Host names ForceBridge calls without any configuration. An entry starting with "." matches
# sub-domains only (``acme.atlassian.net``, not ``atlassian.net``); the others match exactly.
# Salesforce My Domain host formats vary by org type and Salesforce advises against hard-coding
# them (developer.salesforce.com ... packaging-instanceless-url), so the whole vendor domains are
# trusted: ``acme.my.salesforce.com``, ``acme--uat.sandbox.my.salesforce.com``,
# ``login.salesforce.com``, ``test.salesforce.com``, legacy ``*.force.com`` / ``*.cloudforce.com``.
VENDOR_HOST_SUFFIXES: tuple[str, ...] = (
    ".atlassian.net",
    ".jira.com",
    "api.atlassian.com",
    "auth.atlassian.com",
    # Jira answers attachment downloads with a 303 to a pre-signed media URL on this host.
    "api.media.atlassian.com",
    ".salesforce.com",
    ".my.salesforce.com",
    ".force.com",
    ".cloudforce.com",
    ".database.com",
)

# Instance metadata services hand out cloud credentials: refused even when an admin allows them.
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, ...
        ipaddress.ip_address("169.254.170.2"),  # AWS ECS task credentials
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    }
)

# The vendors' own ceiling: Salesforce refuses a URI over 16,384 bytes (414; "Request Size
# Limits", REST API Developer Guide), and a bulk read's ``WHERE Id IN (...)`` of 200 ids takes
# ~7,000 characters once percent-encoded. Anything longer could not be a valid vendor call.
MAX_URL_LENGTH = 16_384
_DEFAULT_PORTS = {"https": 443, "http": 80}
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Anything whose last label is numeric or hex is an IPv4 spelling to the C resolver
# (inet_aton accepts 127.1, 0x7f.1, 0177.0.0.1 and 2130706433), never a DNS name under a vendor.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_FORBIDDEN_CHARACTERS = re.compile(r"[\s\\\x00-\x1f\x7f]")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class _AllowedHost:
    host: str
    port: int | None  # None: the scheme's default port only


def check_outbound_url(url: str, allowed_hosts: Sequence[str] = ()) -> str:
    """Return ``url`` normalised (lower-case scheme and host, no default port) or refuse it.

    Raises :class:`~forcebridge.errors.ValidationFailed` whose message names the reason.
    """
    if not isinstance(url, str) or not url:
        raise _refuse(url, "it is empty")
    if len(url) > MAX_URL_LENGTH:
        raise _refuse(url[:80] + "...", f"it is longer than {MAX_URL_LENGTH} characters")
    if _FORBIDDEN_CHARACTERS.search(url):
        raise _refuse(url, "it contains whitespace, a backslash or a control character")
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise _refuse(url, f"it is not a valid URL ({error})") from None

    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise _refuse(url, f"the scheme {scheme or '(none)'!r} is not allowed; use https")
    if "@" in parts.netloc:
        raise _refuse(url, "it carries user information ('user@host'); put credentials in headers")
    if parts.fragment or url.endswith("#"):
        raise _refuse(url, "it has a fragment ('#...')")

    host, port = _split_host_and_port(url, parts)
    allowed = parse_allowed_hosts(allowed_hosts)
    explicitly_allowed = _is_explicitly_allowed(host, port, scheme, allowed)

    literal = _parse_ip_literal(host)
    if literal is not None and {literal, _embedded_ipv4(literal)} & METADATA_ADDRESSES:
        raise _refuse(url, f"{literal} is a cloud metadata address")
    if not explicitly_allowed:
        if literal is not None:
            raise _refuse(url, _describe_ip_literal(host, literal))
        _check_host_name_syntax(url, host)
        if not _is_vendor_host(host):
            raise _refuse(
                url,
                f"{host!r} is not a Jira Cloud or Salesforce host; an administrator can allow it "
                "in FORCEBRIDGE_ALLOWED_HOSTS",
            )
        if scheme != "https":
            raise _refuse(url, "plain http is allowed only for hosts listed in allowed_hosts")
        if port is not None and port != _DEFAULT_PORTS[scheme]:
            raise _refuse(
                url,
                f"port {port} is not the https port; list '{host}:{port}' in allowed_hosts "
                "to allow it",
            )

    netloc = _format_host(host, literal)
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, parts.path, parts.query, ""))


def check_resolved_address(host: str, address: str, allowed_hosts: Sequence[str]) -> None:
    """Refuse to connect to ``address`` (what ``host`` resolved to) unless it is public.

    The DNS-rebinding guard: a vendor-looking name that resolves to a loopback, private,
    link-local, shared, reserved or metadata address is refused at connect time. Hosts an
    administrator listed in ``allowed_hosts`` (any port) may resolve anywhere
    but to a metadata address.
    """
    try:
        resolved = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        raise ValidationFailed(
            f"Refusing to connect to {host!r}: it resolved to {address!r}, not an IP address."
        ) from None
    embedded = _embedded_ipv4(resolved)
    if resolved in METADATA_ADDRESSES or embedded in METADATA_ADDRESSES:
        raise ValidationFailed(
            f"Refusing to connect to {host!r}: it resolved to {address}, a cloud metadata address."
        )
    normalised_host = host.lower().strip("[]")
    if any(entry.host == normalised_host for entry in parse_allowed_hosts(allowed_hosts)):
        return
    for candidate in (resolved, embedded):
        if candidate is not None and not _is_public(candidate):
            raise ValidationFailed(
                f"Refusing to connect to {host!r}: it resolved to {address}, "
                f"{_address_kind(candidate)} address (possible DNS rebinding).",
                hint="Only hosts in FORCEBRIDGE_ALLOWED_HOSTS may resolve to internal addresses.",
            )


def parse_allowed_hosts(allowed_hosts: Sequence[str]) -> tuple[_AllowedHost, ...]:
    """Parse ``host`` / ``host:port`` / ``[v6]:port`` entries; a malformed one is a config error."""
    parsed: list[_AllowedHost] = []
    for raw_entry in allowed_hosts:
        entry = raw_entry.strip().lower()
        if not entry:
            continue
        try:
            parts = urlsplit(f"//{entry}")
            host = parts.hostname
            port = parts.port
        except ValueError:
            host = None
            port = None
        if not host or "@" in entry or parts.path or parts.query or parts.fragment:
            raise ConfigurationError(
                f"allowed_hosts entry {raw_entry!r} is not 'host' or 'host:port'.",
                hint="Set FORCEBRIDGE_ALLOWED_HOSTS to a comma-separated list like "
                "'127.0.0.1:8443,jira.internal.example'.",
            )
        literal = _parse_ip_literal(host)
        parsed.append(_AllowedHost(host=_format_host(host, literal).strip("[]"), port=port))
    return tuple(parsed)


def _split_host_and_port(url: str, parts: SplitResult) -> tuple[str, int | None]:
    netloc = parts.netloc
    if not netloc:
        raise _refuse(url, "it has no host")
    try:
        port = parts.port
    except ValueError:
        raise _refuse(url, "its port is not a number between 0 and 65535") from None
    if port == 0:
        raise _refuse(url, "port 0 is not a valid destination")
    if netloc.endswith(":"):
        raise _refuse(url, "it has an empty port")
    host = parts.hostname or ""
    if not host:
        raise _refuse(url, "it has no host")
    if "[" in netloc and not netloc.startswith("["):
        raise _refuse(url, "its host is not valid")
    return host.lower(), port


def _check_host_name_syntax(url: str, host: str) -> None:
    if not host.isascii():
        raise _refuse(
            url,
            f"the host {host!r} has non-ASCII characters (look-alike letters); "
            "write it in ASCII (punycode)",
        )
    if host.endswith("."):
        raise _refuse(url, "the host ends with a dot")
    labels = host.split(".")
    if any(not _HOST_LABEL.match(label) for label in labels):
        raise _refuse(url, f"{host!r} is not a valid host name")
    if _NUMERIC_LABEL.match(labels[-1]):
        raise _refuse(url, f"{host!r} is an encoded IP address, not a host name")


def _is_vendor_host(host: str) -> bool:
    for suffix in VENDOR_HOST_SUFFIXES:
        if suffix.startswith("."):
            if host.endswith(suffix) and len(host) > len(suffix):
                return True
        elif host == suffix:
            return True
    return False


def _is_explicitly_allowed(
    host: str, port: int | None, scheme: str, allowed: Sequence[_AllowedHost]
) -> bool:
    effective_port = port if port is not None else _DEFAULT_PORTS[scheme]
    literal = _parse_ip_literal(host)
    comparable = _format_host(host, literal).strip("[]")
    for entry in allowed:
        if entry.host != comparable:
            continue
        if entry.port is None and effective_port == _DEFAULT_PORTS[scheme]:
            return True
        if entry.port == effective_port:
            return True
    return False


def _parse_ip_literal(host: str) -> IPAddress | None:
    """Decode ``host`` if any resolver would read it as an IP address, in any spelling."""
    candidate = host.strip("[]")
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        pass
    labels = candidate.rstrip(".").split(".")
    if not candidate.isascii() or not labels or not _NUMERIC_LABEL.match(labels[-1]):
        return None
    if not all(_NUMERIC_LABEL.match(label) for label in labels):
        return None
    try:
        # inet_aton implements the BSD forms: a, a.b, a.b.c with octal and hex parts.
        return ipaddress.IPv4Address(socket.inet_aton(candidate.rstrip(".")))
    except OSError:
        return None


def _format_host(host: str, literal: IPAddress | None) -> str:
    if literal is None:
        return host
    if isinstance(literal, ipaddress.IPv6Address):
        return f"[{literal.compressed}]"
    return str(literal)


def _describe_ip_literal(host: str, literal: IPAddress) -> str:
    canonical = str(literal)
    spelled = host.strip("[]")
    encoded = isinstance(literal, ipaddress.IPv4Address) and spelled != canonical
    embedded = _embedded_ipv4(literal)
    target = embedded if embedded is not None else literal
    if encoded:
        prefix = f"{host!r} is an encoded form of {canonical}, {_address_kind(target)} address"
    elif embedded is not None:
        prefix = f"{host!r} embeds {embedded}, {_address_kind(target)} address"
    else:
        prefix = f"{canonical} is {_address_kind(target)} address"
    return f"{prefix}; IP addresses are not allowed, use the vendor's host name"


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden in an IPv4-mapped, 6to4, Teredo or NAT64 IPv6 address."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")


def _is_public(address: IPAddress) -> bool:
    return address.is_global and not address.is_multicast


def _address_kind(address: IPAddress) -> str:
    if address in METADATA_ADDRESSES:
        return "a cloud metadata"
    if address.is_unspecified:
        return "an unspecified"
    if address.is_loopback:
        return "a loopback"
    if address.is_link_local:
        return "a link-local"
    if address.is_multicast:
        return "a multicast"
    # Before is_private: the standard library counts 240.0.0.0/4 among its "private" networks.
    if address.is_reserved:
        return "a reserved"
    if address.is_private:
        return "a private"
    if not address.is_global:
        return "a non-public"
    return "a public"


def _refuse(url: object, reason: str) -> ValidationFailed:
    shown = _displayable(url)
    return ValidationFailed(
        f"Refusing outbound URL {shown!r}: {reason}.",
        hint="ForceBridge only calls Jira Cloud and Salesforce over https, plus hosts an "
        "administrator lists in FORCEBRIDGE_ALLOWED_HOSTS.",
        details={"url": shown, "reason": reason},
    )


def _displayable(url: object) -> str:
    """The URL as it may appear in an error: no password, no query (pre-signed links carry
    tokens there), at most 200 characters."""
    if not isinstance(url, str):
        return repr(url)[:200]
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0][:200]
    netloc = parts.netloc
    userinfo, at, host_and_port = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{host_and_port}"
    query = "..." if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))[:200]
