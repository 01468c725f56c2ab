"""Command groups of the copytui CLI, one module each."""
