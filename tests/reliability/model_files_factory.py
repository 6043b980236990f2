"""Tampered copies of the tiny models, made without onnx or gguf (test-only dependencies).

`with_chat_template` rewrites one metadata string of a GGUF file; `with_external_data_at`
points an ONNX graph's external weights elsewhere by rewriting the location strings in place.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

from embeddinggemma_rag.core.models.model_files import EMBEDDING_GRAPH

# GGUF value types (ggml's gguf.h) and the sizes of the fixed-width ones.
_STRING, _ARRAY = 8, 9
_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
TEMPLATE_KEY = "tokenizer.chat_template"
EXTERNAL_DATA_NAME = b"model_q4.onnx_data"


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return int(value)

    def string(self) -> bytes:
        length = self.take("<Q")
        self.at += length
        return self.data[self.at - length : self.at]

    def skip_value(self, kind: int) -> None:
        if kind == _STRING:
            self.string()
        elif kind == _ARRAY:
            item, count = self.take("<I"), self.take("<Q")
            for _ in range(count):
                self.skip_value(item)
        else:
            self.at += _FIXED[kind]


def _string(value: bytes) -> bytes:
    return struct.pack("<Q", len(value)) + value


def with_chat_template(source: Path, target: Path, template: str) -> Path:
    """A copy of the GGUF `source` whose chat template is `template`."""
    data = source.read_bytes()
    if data[:4] != b"GGUF":
        raise ValueError(f"{source} is not a GGUF file")
    reader = _Reader(data)
    reader.at = 8  # past the magic and the version
    tensors, kvs = reader.take("<Q"), reader.take("<Q")
    out = bytearray(data[:24])
    alignment = 32
    for _ in range(kvs):
        start = reader.at
        key = reader.string()
        kind = reader.take("<I")
        value_at = reader.at
        reader.skip_value(kind)
        if key == TEMPLATE_KEY.encode() and kind == _STRING:
            out += data[start:value_at] + _string(template.encode("utf-8"))
        else:
            out += data[start : reader.at]
        if key == b"general.alignment":
            alignment = struct.unpack_from("<I", data, value_at)[0]
    infos_start = reader.at
    for _ in range(tensors):
        reader.string()
        dims = reader.take("<I")
        reader.at += 8 * dims + 4 + 8  # dims, type, offset (relative to the data section)
    out += data[infos_start : reader.at]
    old_data = -(-reader.at // alignment) * alignment
    out += bytes(-len(out) % alignment)
    out += data[old_data:]
    target.write_bytes(bytes(out))
    return target


def with_external_data_at(source_dir: Path, target_dir: Path, location: str) -> Path:
    """A copy of the embedding model folder whose graph reads its weights from `location`
    (same length as the original name, so the protobuf needs no other change)."""
    encoded = location.encode()
    if len(encoded) != len(EXTERNAL_DATA_NAME):
        raise ValueError(f"location must be {len(EXTERNAL_DATA_NAME)} bytes long")
    shutil.copytree(source_dir, target_dir)
    graph = target_dir / EMBEDDING_GRAPH
    graph.write_bytes(graph.read_bytes().replace(EXTERNAL_DATA_NAME, encoded))
    return target_dir
