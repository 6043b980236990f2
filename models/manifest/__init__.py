"""The model manifest, shipped inside the package as `embeddinggemma_rag.manifest`."""
