"""The wheel's own tests run against the installed distribution: its binaries come from the
environment's scripts folder, its fixture from the `pytest11` entry point (nothing here
imports the source tree)."""
