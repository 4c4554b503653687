# Entry points; the scripts under scripts/ do the work and print what they do.
.PHONY: test lab lab-down setup images bench converge verify check docs dashboards

test:  ## everything CI runs: set-up, lint, tests, benchmark smoke, Molecule fleet
	scripts/test.sh

lab:  ## bring up the lab fleet with ansible-playbook site.yml and leave it running
	scripts/lab.sh up

lab-down:  ## destroy the lab fleet
	scripts/lab.sh down

setup:  ## install Debian packages, start dockerd, create the venv, build images
	scripts/setup.sh

images:  ## build (or reuse) the systemd base images
	scripts/images.sh

bench:  ## full benchmark table and the charts of docs/FIGURES.md
	.venv/bin/python app_instrumentation/bench/run.py --charts docs/figures

converge:  ## create the Molecule fleet if needed and converge it (development loop)
	scripts/molecule.sh converge

verify:  ## run the Molecule verify step against the converged fleet: every fleet check
	scripts/molecule.sh verify

check:  ## run fleet checks by name against the converged fleet: make check CHECK="alerting crash_loop"
	.venv/bin/python scripts/fleet_checks.py $(CHECK)

docs:  ## regenerate docs/ROLE_VARIABLES.md from each role's meta/argument_specs.yml and settings.py
	.venv/bin/python scripts/role_docs.py --write

dashboards:  ## regenerate dashboards/sanic.json from the dashboard's code in dashboards/
	PYTHONPATH=.cache/collections .venv/bin/python -m dashboards.build
