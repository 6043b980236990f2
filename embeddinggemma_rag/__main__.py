"""`python -m embeddinggemma_rag` runs the same command line as `embeddinggemma-rag`."""

import sys

from embeddinggemma_rag.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
