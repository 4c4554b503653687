"""What the tests, the fault tests and the benchmark share to drive app_instrumentation for real.

- `service`: a real `sanic --workers N` service on 127.0.0.1, and an HTTP/1.1 client for it;
- `worker_farm`: real prometheus_client writers in multiprocess mode, one process per worker;
- `load`, `http_probe`: the load client and metrics probe, stdlib only, which Molecule also copies
  onto the app containers and runs there as plain scripts.
"""
