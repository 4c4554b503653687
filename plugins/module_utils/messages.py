"""How preflight's messages name a service and quote a value, the same in every check."""


def service_label(service: dict) -> str:
    """The service as the inventory finds it: `sanic_services[name=<name>]`."""
    return f"sanic_services[name={service['name']}]"


def quoted(value) -> str:
    """A value as the messages quote it: strings in double quotes, like `to_json`."""
    return '"{}"'.format(str(value).replace("\\", "\\\\").replace('"', '\\"'))
