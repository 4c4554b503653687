"""Prometheus durations ("1m30s") as Prometheus parses them (model.ParseDuration)."""

import re

DURATION = re.compile(r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$")
# Seconds of each unit, largest first, in DURATION's order.
DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


def duration_seconds(text):
    """Seconds of a Prometheus duration, None when it is not one."""
    match = DURATION.match(str(text))
    if not match or not str(text):
        return None
    counts = match.groups()[1::2]
    return sum(
        int(count) * unit for count, unit in zip(counts, DURATION_UNITS, strict=True) if count
    )
