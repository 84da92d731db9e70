"""The front ends (standalone command, crash command, drgn) and the one entry point they share (run.py)."""
