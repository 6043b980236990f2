"""Generators and tools for the embedding and chat models used in tests and benchmarks."""
