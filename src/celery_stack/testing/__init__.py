"""Drivers the project's own tests, chaos suite and benchmark share (not used at run time)."""
