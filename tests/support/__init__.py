"""Test infrastructure: real Postgres databases, real HTTP servers, real signed tokens."""
