"""The manual's tests: README.md and the docs/ pages it links to name only real commands, files,
alerts, metrics and role variables (markdown.py reads the pages, commands.py checks their commands,
example.py is the example inventory as Ansible and the roles read it)."""
