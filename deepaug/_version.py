"""The version of deepaug; pyproject.toml carries the same number (tests/test_package.py checks)."""
__version__ = "0.1.0"
