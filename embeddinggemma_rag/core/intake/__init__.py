"""Intake: files in, passages out. The folder walk finds a library's files, the parsers read
each one into text in a sandboxed child process (`parsing/`), chunking cuts the text into
passages that fit the embedding model, and ingestion drives the whole flow into the library.
"""
