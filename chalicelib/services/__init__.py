"""Use cases: one function per command. They import domain and ports only."""
