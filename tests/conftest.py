"""Shared fixtures: the test PKI, timestamp and revocation services (tests/conftest_pki.py)."""

pytest_plugins = ["conftest_pki", "conftest_signers"]
