"""The API gateway: the platform's one public door. Verifies identity, then proxies."""
