"""Runs: their identifiers, their records, the graph recorded with them, and who advances them."""
