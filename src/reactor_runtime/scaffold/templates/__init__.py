"""The files `reactor init` copies: real, runnable modules whose `StarterModel` is renamed."""
