"""Everything that is not GUI: parsing, chunking, embedding, indexing, search, answering.

Nothing under this package may import Qt; the GUI and the CLI both drive `core.engine.Engine`.
"""
