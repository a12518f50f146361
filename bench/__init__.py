"""Load benchmark of the API server: see bench/README.md."""
