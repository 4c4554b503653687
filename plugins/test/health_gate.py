"""The health gate's one condition, used by its retry loop and by the assertion after it."""

import re


def gate_passed(result: dict, workers: int) -> bool:
    """True if the scrape answered 200 with every configured worker live."""
    live = re.compile(rf"^sanic_workers_live {int(workers)}(\.0)?$", re.MULTILINE)
    return result.get("status") == 200 and bool(live.search(result.get("content") or ""))


class TestModule:
    def tests(self):
        return {"sanic_service_gate_passed": gate_passed}
