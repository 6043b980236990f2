"""EmbeddingGemma RAG: ask questions about your own documents, answered offline with citations."""

__version__ = "0.1.0"
APP_NAME = "EmbeddingGemma RAG"
