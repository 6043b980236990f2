"""Reading and rewriting ONNX graph files on protobuf's wire format, without the onnx package.

onnx is not a run-time dependency, and the app needs two things from an embedding graph: to
set `accuracy_level` on its 4-bit MatMuls (in memory: the user's file keeps its SHA-256), and
to know how many token ids its embedding table holds (to check the tokenizer against it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

# Graph rewriting, on protobuf's wire format: onnx (the package) is not a run-time dependency,
# and only three nested messages are touched: ModelProto.graph (7) > GraphProto.node (1) >
# NodeProto.attribute (5). Everything else is copied byte for byte.
_MAX_GRAPH_BYTES = 64 << 20  # published q4 graph: about 1 MB; weights live in the data file


def with_accuracy_level(graph: Path, level: int) -> bytes | None:
    """The graph file's bytes with `accuracy_level` set on every MatMulNBits node; None when
    there is none (an fp32 graph) or the file is not what this reader understands."""
    try:
        if graph.stat().st_size > _MAX_GRAPH_BYTES:
            return None
        model = graph.read_bytes()
        out = bytearray()
        changed = 0
        for number, start, end, payload in _fields(model):
            if number == 7 and payload is not None:
                rewritten, changed = _rewrite_graph(model[payload[0] : payload[1]], level)
                out += _length_delimited(7, rewritten)
            else:
                out += model[start:end]
    except (OSError, ValueError, IndexError):
        return None  # loading the file as it is stays possible
    return bytes(out) if changed else None


def op_types(graph: Path) -> set[str]:
    """The graph's operator names; empty when the file is not what this reader understands."""
    try:
        if graph.stat().st_size > _MAX_GRAPH_BYTES:
            return set()
        model = graph.read_bytes()
        found = set()
        for number, _, _, payload in _fields(model):
            if number == 7 and payload is not None:
                body = model[payload[0] : payload[1]]
                for field, _, _, node in _fields(body):
                    if field == 1 and node is not None:
                        op_type = _field_bytes(body[node[0] : node[1]], 4)
                        if op_type is not None:
                            found.add(op_type.decode())
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        return set()
    return found


def has_nbits_matmuls(graph: Path) -> bool:
    """Whether the graph has 4-bit MatMuls, whose compute (fp32 or int8) can be chosen."""
    return with_accuracy_level(graph, 0) is not None


def _rewrite_graph(graph: bytes, level: int) -> tuple[bytes, int]:
    out = bytearray()
    changed = 0
    for number, start, end, payload in _fields(graph):
        if number == 1 and payload is not None:
            node = graph[payload[0] : payload[1]]
            if _field_bytes(node, 4) == b"MatMulNBits":
                out += _length_delimited(1, _set_int_attribute(node, "accuracy_level", level))
                changed += 1
                continue
        out += graph[start:end]
    return bytes(out), changed


def _set_int_attribute(node: bytes, name: str, value: int) -> bytes:
    wanted = name.encode()
    kept = bytearray()
    for number, start, end, payload in _fields(node):
        # An AttributeProto (5) whose name (1) is `name`: dropped, the new one is added below.
        if number == 5 and payload and _field_bytes(node[payload[0] : payload[1]], 1) == wanted:
            continue
        kept += node[start:end]
    # AttributeProto: name (1), i (3), type (20) = INT (2).
    attribute = _length_delimited(1, wanted)
    attribute += _varint(3 << 3) + _varint(value) + _varint(20 << 3) + _varint(2)
    return bytes(kept + _length_delimited(5, attribute))


def _fields(message: bytes) -> Iterator[tuple[int, int, int, tuple[int, int] | None]]:
    """(field number, start, end, payload span for length-delimited fields) of each field."""
    position = 0
    while position < len(message):
        start = position
        key, position = _read_varint(message, position)
        number, wire_type = key >> 3, key & 7
        payload = None
        if wire_type == 0:
            _, position = _read_varint(message, position)
        elif wire_type == 1:
            position += 8
        elif wire_type == 5:
            position += 4
        elif wire_type == 2:
            length, position = _read_varint(message, position)
            payload = (position, position + length)
            position += length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
        if position > len(message):
            raise ValueError("truncated protobuf message")
        yield number, start, position, payload


def _field_bytes(message: bytes, wanted: int) -> bytes | None:
    for number, _, _, payload in _fields(message):
        if number == wanted and payload is not None:
            return message[payload[0] : payload[1]]
    return None


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, position
        shift += 7


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def embedding_rows(graph: Path) -> int | None:
    """Rows of the embedding table that `input_ids` index; None when it cannot be told.

    The table is the data input of the Gather (fp32) or GatherBlockQuantized (4-bit) node fed
    by `input_ids`; its first dimension is the vocabulary the graph was trained with.
    """
    try:
        if graph.stat().st_size > _MAX_GRAPH_BYTES:
            return None
        body = _field_bytes(graph.read_bytes(), 7)
        if body is None:
            return None
        table = None
        for number, _, _, payload in _fields(body):
            if number == 1 and payload is not None:  # NodeProto
                node = body[payload[0] : payload[1]]
                inputs = _repeated_bytes(node, 1)
                kind = _field_bytes(node, 4)
                if kind in (b"Gather", b"GatherBlockQuantized") and inputs[1:2] == [b"input_ids"]:
                    table = inputs[0]
                    break
        if table is None:
            return None
        for number, _, _, payload in _fields(body):
            if number == 5 and payload is not None:  # TensorProto initializer
                tensor = body[payload[0] : payload[1]]
                if _field_bytes(tensor, 8) == table:
                    dims = _repeated_ints(tensor, 1)
                    return dims[0] if dims else None
    except (OSError, ValueError, IndexError):
        return None
    return None


def _repeated_bytes(message: bytes, wanted: int) -> list[bytes]:
    return [
        message[payload[0] : payload[1]]
        for number, _, _, payload in _fields(message)
        if number == wanted and payload is not None
    ]


def _repeated_ints(message: bytes, wanted: int) -> list[int]:
    """A repeated int64 field, packed (one length-delimited run) or not."""
    values: list[int] = []
    for number, start, _, payload in _fields(message):
        if number != wanted:
            continue
        if payload is not None:
            position = payload[0]
            while position < payload[1]:
                value, position = _read_varint(message, position)
                values.append(value)
        else:
            key_end = _read_varint(message, start)[1]
            values.append(_read_varint(message, key_end)[0])
    return values
