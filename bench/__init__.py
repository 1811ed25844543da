"""The platform's benchmark: `make bench` (or `python -m bench --help`); the README's
"Performance" section tells what it measures and what the numbers bought."""
