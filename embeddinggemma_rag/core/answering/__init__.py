"""Answering: passages in, a cited answer out. The answer prompt numbers the retrieved
passages, the GGUF chat model writes in its own child process, and the answer's citations are
checked against the passages it was given.
"""
