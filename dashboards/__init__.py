"""The Grafana dashboard of the Sanic services as code; `make dashboards` writes sanic.json."""
