"""The auth service: users, passwords and the access tokens the rest of the platform trusts."""
