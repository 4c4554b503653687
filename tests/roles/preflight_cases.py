"""What the tests of sanic_service preflight's checks share: a resolved service, and the rule
every refusal follows (it names the host, the variable and what is allowed)."""

HOST = "app-1"


def service(**keys):
    resolved = {
        "name": "api",
        "user": "api",
        "group": "api",
        "port": 8080,
        "bind_address": "127.0.0.1",
        "metrics_path": "/metrics",
        "app_source": "/src/api",
        "allow_privileged_user": False,
    }
    return {**resolved, **keys}


def assert_named(errors, *words):
    """Every message starts with the host and names the variable and what is allowed."""
    assert errors
    for message in errors:
        assert message.startswith(f"{HOST}: ")
        for word in words:
            assert word in message
        assert any(what in message for what in ("allowed", "use ", "needs its own"))


def assert_each_class_tried_over_many_values(values_tried: dict):
    """Each class of value is tried over at least 40 generated values, allowed and refused."""
    assert min(values_tried.values()) >= 40, values_tried
