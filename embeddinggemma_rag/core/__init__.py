"""Everything that is not GUI: parsing, chunking, embedding, indexing, search, answering.

Nothing under this package may import Qt; the GUI, the CLI and the MCP server all drive
`core.engine.Engine`.
"""
