"""Everything that is not GUI, laid out the way data flows: `intake` (files in, passages
out), `models` (model files and the embedding model), `library` (what is kept and how it is
found) and `answering` (passages in, a cited answer out); the engine and its records at the
top are the one door into them.

Nothing under this package may import Qt; the GUI, the CLI and the MCP server all drive
`core.engine.Engine`.
"""
