"""Preflight's check of every per-service setting, and the environment each unit passes, from
app_instrumentation's settings table (the package is installed on the control node): the rules
the service runs at start run here, before any change, worded for the inventory."""

from app_instrumentation.settings import NAME, SETTINGS, service_errors


def settings_errors(services: list[dict], host: str) -> list[str]:
    """Every value of the host's services (to run or to remove) that the settings table refuses;
    a service whose name is refused is named by its place in sanic_services."""
    errors = []
    for index, service in enumerate(services):
        name = service.get("name")
        label = f"[name={name}]" if NAME.refusal(name) is None else f"[{index}]"
        errors += service_errors(service, f"{host}: sanic_services{label}")
    return errors


def _passed(setting, service: dict) -> bool:
    if setting.passed_when is None:
        return True
    key, value = setting.passed_when
    return service[key] == value


def settings_environment(service: dict) -> dict:
    """The variables a service's unit passes from its keys, as the table's rules parse them, in
    the table's order."""
    return {
        setting.environment: setting.rule(str(service[setting.key]))
        for setting in SETTINGS
        if setting.key and setting.environment and _passed(setting, service)
    }


class FilterModule:
    def filters(self):
        return {
            "sanic_service_settings_environment": settings_environment,
        }
