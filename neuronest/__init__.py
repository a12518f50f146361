"""NeuroNest: accounts, isolated code runtimes and orchestration of LLM work."""
