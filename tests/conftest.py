"""pytest fixtures (none yet).  The shared test plumbing (where the real dumps are,
cached decompressions, peer checks) is tests/shared.py: `from tests.shared import ...`."""
