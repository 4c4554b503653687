"""The rules of the settings table (settings.py). A rule takes a value as the service's
environment holds it (the text the unit writes) and returns it parsed, or raises Refused with what
is wrong and what is allowed; settings.py words the message for the service or for preflight.

Imported on the control node too, where it needs nothing but the standard library.
"""

import ipaddress
import json
import math
import re
from collections.abc import Callable, Iterable


class Refused(ValueError):
    """A value a rule refuses: what is wrong with it (`problem`), and what is allowed."""

    def __init__(self, problem: str, allowed: str) -> None:
        super().__init__(f"{problem}; allowed: {allowed}")
        self.problem = problem
        self.allowed = allowed


# A rule takes the value as the service's environment holds it (the text the unit writes) and
# returns it parsed, or raises Refused.
Rule = Callable[[str], object]


def pattern(regex: str, problem: str, allowed: str) -> Rule:
    compiled = re.compile(regex)

    def rule(text: str) -> str:
        if not compiled.fullmatch(text):
            raise Refused(problem, allowed)
        return text

    return rule


def whole_number(minimum: int, maximum: int | None, problem: str, allowed: str) -> Rule:
    def rule(text: str) -> int:
        # ASCII digits only: int() would take " 5", "+5", "5_0" and other scripts' digits.
        if not re.fullmatch(r"[0-9]+", text):
            raise Refused(problem, allowed)
        number = int(text)
        if number < minimum or (maximum is not None and number > maximum):
            raise Refused(problem, allowed)
        return number

    return rule


def one_of(choices: Iterable[str]) -> Rule:
    choices = tuple(choices)
    return pattern(
        "|".join(map(re.escape, choices)), "is not a choice", " or ".join(map(json.dumps, choices))
    )


def is_ip_literal(address: str) -> bool:
    """An IPv4 or IPv6 address, IPv6 with or without a pair of brackets."""
    bracketed = address.startswith("[") and address.endswith("]")
    try:
        literal = ipaddress.ip_address(address[1:-1] if bracketed else address)
    except ValueError:
        return False
    return literal.version == 6 or not bracketed


def listen_address(text: str) -> str:
    """What a socket unit can listen on: an IP literal, or "" for every address."""
    if text != "" and not is_ip_literal(text):
        raise Refused(
            "is not an IP address",
            "an IPv4 or IPv6 address of this host (e.g. 127.0.0.1, 0.0.0.0, ::1) or '' or '::'"
            " for every IPv4 and IPv6 address (systemd's ListenStream= takes no host names)",
        )
    return text


def metrics_path(text: str) -> str:
    allowed = "a URL path of its own starting with /, e.g. /metrics"
    if not re.fullmatch(r"/\S*", text):
        raise Refused("is not a URL path", allowed)
    if text.rstrip("/") == "":
        raise Refused(
            "would answer for the app's root",
            "a path of its own, not / (it would answer for the app's root), e.g. /metrics",
        )
    return text


def split_networks(text: str) -> list[str]:
    """The comma-separated entries of METRICS_ALLOWED_NETWORKS, blanks dropped."""
    return [part for part in (p.strip() for p in text.split(",")) if part]


def networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated CIDRs; empty allows every client."""
    parsed = []
    for part in split_networks(text):
        try:
            parsed.append(ipaddress.ip_network(part))
        except ValueError as error:
            raise Refused(
                f"holds {part!r}: {error}",
                "comma-separated CIDRs with zero host bits, e.g. 10.0.0.0/8,127.0.0.1/32 (not a"
                f" CIDR: {part})",
            ) from None
    return tuple(parsed)


def absolute_file_or_empty(text: str) -> str:
    if text and not text.startswith("/"):
        raise Refused("is not an absolute path", "the absolute path of a file on the host, or ''")
    return text


def duration_buckets(text: str) -> tuple[float, ...]:
    allowed = "comma-separated seconds, positive and increasing, such as 0.01,0.1,1"
    try:
        buckets = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise Refused("is not a list of numbers", allowed) from None
    if not all(math.isfinite(b) and b > 0 for b in buckets) or list(buckets) != sorted(
        set(buckets)
    ):
        raise Refused("must be positive and strictly increasing", allowed)
    return buckets


def positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise Refused("is not a number of seconds > 0", "seconds > 0, such as 10")
    return seconds
