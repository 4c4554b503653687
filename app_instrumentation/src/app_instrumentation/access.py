"""Optional access restriction for the metrics endpoint: client networks and a bearer token.

Both are off by default. The token is read from a file (METRICS_BEARER_TOKEN_FILE) because unit
files and process environments are readable by other users; it is compared in constant time.
"""

import hmac
import ipaddress
import os

ALLOWED_NETWORKS_ENV_VAR = "METRICS_ALLOWED_NETWORKS"
BEARER_TOKEN_FILE_ENV_VAR = "METRICS_BEARER_TOKEN_FILE"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def split_networks(text: str) -> list[str]:
    """The comma-separated entries of METRICS_ALLOWED_NETWORKS, blanks dropped."""
    return [part for part in (p.strip() for p in text.split(",")) if part]


def parse_network(part: str) -> IPNetwork:
    """One CIDR; raises ValueError. The deploy role's preflight calls this same function."""
    return ipaddress.ip_network(part)


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """Parse comma-separated CIDRs; an empty value allows every client."""
    networks = []
    for part in split_networks(text):
        try:
            networks.append(parse_network(part))
        except ValueError as error:
            raise SystemExit(
                f"app_instrumentation: error: {ALLOWED_NETWORKS_ENV_VAR} holds {part!r}: {error}; "
                "fix: use comma-separated CIDRs with zero host bits, e.g. 10.0.0.0/8,127.0.0.1/32"
            ) from None
    return tuple(networks)


def address_in_networks(client_ip: str, networks: tuple[IPNetwork, ...]) -> bool:
    """True if the client address is in one of the networks; an IPv4-mapped IPv6 address
    (a dual-stack socket's view of an IPv4 client) is compared as the IPv4 address it maps."""
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def read_token(path: str) -> bytes | None:
    """Read the bearer token from a file; an empty path means no token is required."""
    if not path:
        return None
    try:
        with open(path, "rb") as token_file:
            token = token_file.read().strip()
    except OSError as error:
        raise SystemExit(
            f"app_instrumentation: error: {BEARER_TOKEN_FILE_ENV_VAR}={path} cannot be read "
            f"({error.strerror}); fix: make the file readable by the service user"
        ) from None
    if not token:
        raise SystemExit(
            f"app_instrumentation: error: {BEARER_TOKEN_FILE_ENV_VAR}={path} is empty; "
            "fix: write the token into the file or unset the variable"
        )
    return token


class AccessPolicy:
    """Decides whether a scrape may read the metrics: 200, 403 (network) or 401 (token)."""

    def __init__(self, networks: tuple[IPNetwork, ...] = (), token: bytes | None = None) -> None:
        self.networks = networks
        self.token = token

    @classmethod
    def from_environment(cls) -> "AccessPolicy":
        return cls(
            parse_networks(os.environ.get(ALLOWED_NETWORKS_ENV_VAR, "")),
            read_token(os.environ.get(BEARER_TOKEN_FILE_ENV_VAR, "")),
        )

    def client_allowed(self, client_ip: str) -> bool:
        return not self.networks or address_in_networks(client_ip, self.networks)

    def token_accepted(self, authorization: str | None) -> bool:
        if self.token is None:
            return True
        scheme, _, credentials = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credentials.strip().encode(), self.token)

    def status_for(self, client_ip: str, authorization: str | None) -> int:
        """Return the HTTP status the scrape gets before any metric is read."""
        if not self.client_allowed(client_ip):
            return 403
        if not self.token_accepted(authorization):
            return 401
        return 200
