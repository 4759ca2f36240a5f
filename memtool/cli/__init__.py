"""Thin Typer commands: parse options, call the core, print with rich. Heavy imports stay inside."""
