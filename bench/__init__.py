"""The platform's benchmark: `make bench` (or `python -m bench`). See README.md here."""
