"""Offline faces of the decision: `replay`, `find_lr`, plots and the CLI."""
