"""Matryoshka truncation: cut EmbeddingGemma vectors to fewer dimensions, then normalise again."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def truncate_and_normalize(vectors: npt.ArrayLike, dimension: int) -> npt.NDArray[np.float32]:
    """Keep the first `dimension` components of each row and rescale it to unit length.

    Without the second normalisation an inner product of cut vectors is no longer a cosine.
    """
    array = np.asarray(vectors, dtype=np.float32)
    squeeze = array.ndim == 1
    if squeeze:
        array = array[None, :]
    if dimension > array.shape[1]:
        raise ValueError(f"cannot cut {array.shape[1]}-d vectors to {dimension} dimensions")
    # Always a copy: cut to the full width, a view would be normalised in the caller's array.
    cut = np.array(array[:, :dimension], dtype=np.float32, order="C")
    norms = np.linalg.norm(cut, axis=1, keepdims=True)
    cut /= np.maximum(norms, 1e-12)
    return cut[0] if squeeze else cut


def cosines_at(
    vectors: npt.ArrayLike, query: npt.ArrayLike, dimension: int
) -> npt.NDArray[np.float32]:
    """Each row's cosine with `query` at the first `dimension` components, both cut and
    normalised: the score the vector index gives, for rows read outside it (the full vectors
    SQLite keeps)."""
    return truncate_and_normalize(vectors, dimension) @ truncate_and_normalize(query, dimension)
