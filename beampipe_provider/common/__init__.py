"""Small helpers every room shares: canonical JSON and hashes, sans-I/O steps, YAML models, text tables."""
