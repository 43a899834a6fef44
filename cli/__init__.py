"""entropykit.cli."""
