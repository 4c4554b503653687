"""Demo Sanic service used by the tests, the lab and Molecule; it knows nothing about metrics."""
