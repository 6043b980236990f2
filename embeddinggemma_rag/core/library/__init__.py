"""The library: what is kept and how it is found. SQLite holds the documents, passages, pages
and full vectors (the truth); the FAISS vector index and the keyword index are built from it;
search fuses the vector and keyword lists into ranked passages. Saved conversations live here
too.
"""
