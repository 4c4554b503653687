"""Optional access restriction for the metrics endpoint: client networks and a bearer token.

Both are off by default. The token is read from a file (METRICS_BEARER_TOKEN_FILE) because unit
files and process environments are readable by other users; it is compared in constant time.
"""

import hmac
import ipaddress

from app_instrumentation.settings import ALLOWED_NETWORKS, BEARER_TOKEN_FILE

BEARER_TOKEN_FILE_ENV_VAR = BEARER_TOKEN_FILE.environment

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """Parse comma-separated CIDRs (the settings table's rule); empty allows every client."""
    return ALLOWED_NETWORKS.parse(text)


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
        return cls(ALLOWED_NETWORKS.read(), read_token(BEARER_TOKEN_FILE.read()))

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
