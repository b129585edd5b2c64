"""TFRecord files and the protobuf wire format of ``tf.train.SequenceExample``, without TensorFlow.

A TFRecord file is a sequence of records, each framed as (TensorFlow's
``core/lib/io/record_writer.cc``)::

    uint64 length            little-endian
    uint32 masked_crc32c(length bytes)
    byte   data[length]
    uint32 masked_crc32c(data)

with ``masked_crc32c(x) = ((c >> 15) | (c << 17)) + 0xa282ead8 (mod 2**32)``, ``c`` the CRC-32C
(Castagnoli) of ``x``, computed by the maintained ``google-crc32c`` package (C extension).

The payloads here are ``tf.train.SequenceExample`` messages (``tensorflow/core/example/*.proto``)::

    SequenceExample { Features context = 1; FeatureLists feature_lists = 2; }
    Features        { map<string, Feature> feature = 1; }
    FeatureLists    { map<string, FeatureList> feature_list = 1; }
    FeatureList     { repeated Feature feature = 1; }
    Feature         { oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
    BytesList { repeated bytes value = 1; }  FloatList { repeated float value = 1 [packed]; }
    Int64List { repeated int64 value = 1 [packed]; }

:func:`decode_sequence_example` reads exactly these messages from the wire format: map entries in
any order, numbers packed or not, unknown fields skipped (as protobuf parsers do), a repeated
message field merged the protobuf way only where the messages above need it (a key given twice: the
last wins). :func:`encode_sequence_example` writes what TensorFlow's deterministic serialisation
writes (map keys sorted, numbers packed); ``reference_tests/fixtures/audioset`` holds shards written by
TensorFlow itself to check both.
"""

import struct

import numpy as np

from ..exceptions import MissingDependencyError, RefzslError

__all__ = ["CorruptRecordError", "ON_ERROR", "masked_crc32c", "iter_records", "frame_record", "write_records",
           "decode_sequence_example", "decode_feature_list", "encode_sequence_example"]

#: What readers do with a corrupt record: raise :class:`CorruptRecordError`, or skip it and count it.
ON_ERROR = ("raise", "skip")

_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")
_MASK_DELTA = 0xA282EAD8
_UINT32 = 0xFFFFFFFF


class CorruptRecordError(RefzslError, ValueError):
    """A TFRecord file holds a record that fails its CRC check, is truncated, or is not the expected message.

    Attributes
    ----------
    path : str
        The file.
    offset : int
        Byte offset of the record's header in the file.
    """

    def __init__(self, message, *, path, offset):
        super().__init__(f"{path}: record at byte offset {offset}: {message}")
        self.path = str(path)
        self.offset = int(offset)


def _crc32c():
    try:
        import google_crc32c
    except ImportError as error:  # a core dependency; only a broken install gets here
        raise MissingDependencyError("Reading TFRecord files needs google-crc32c: pip install google-crc32c") \
            from error
    return google_crc32c.value


def masked_crc32c(data):
    """TensorFlow's masked CRC-32C of ``data`` (bytes-like), as an int in [0, 2**32).

    Examples
    --------
    >>> hex(masked_crc32c(b""))
    '0xa282ead8'
    """
    crc = _crc32c()(bytes(data))
    return ((((crc >> 15) | (crc << 17)) & _UINT32) + _MASK_DELTA) & _UINT32


def frame_record(payload):
    """One TFRecord record (header, payload, footer) as bytes."""
    payload = bytes(payload)
    length = struct.pack("<Q", len(payload))
    return length + struct.pack("<I", masked_crc32c(length)) + payload + struct.pack("<I", masked_crc32c(payload))


def write_records(path, payloads):
    """Write ``payloads`` (iterable of bytes) as a TFRecord file at ``path``; returns the record count."""
    count = 0
    with open(path, "wb") as stream:
        for payload in payloads:
            stream.write(frame_record(payload))
            count += 1
    return count


def iter_records(data, *, path="<bytes>", on_error="raise", skipped=None):
    """Yield ``(offset, payload)`` for each record of a TFRecord file's bytes, checking both CRCs.

    Parameters
    ----------
    data : bytes
        The whole file (shards are read whole: a few MB each).
    path : str
        Named in errors.
    on_error : str in ON_ERROR
        ``"raise"``: a bad record raises :class:`CorruptRecordError`. ``"skip"``: a record whose data
        CRC fails is skipped; a header whose length CRC fails, or a record cut short by the end of the
        file, ends the file (its length cannot be trusted, so no later record can be found).
    skipped : list, optional
        Under ``"skip"``, ``(offset, reason)`` of each skipped record (or unreadable tail) is appended.

    Yields
    ------
    offset : int
        Byte offset of the record's header.
    payload : bytes
        The record's data.

    Raises
    ------
    CorruptRecordError
        Under ``on_error="raise"``, naming ``path`` and the offset.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    crc = _crc32c()
    view = bytes(data)  # google-crc32c takes bytes, not memoryviews; a slice copies one record (~1.4 KB)
    size, offset = len(view), 0

    def masked(chunk):
        value = crc(chunk)
        return ((((value >> 15) | (value << 17)) & _UINT32) + _MASK_DELTA) & _UINT32

    def bad(reason):
        if on_error == "raise":
            raise CorruptRecordError(reason, path=path, offset=offset)
        if skipped is not None:
            skipped.append((offset, reason))

    while offset < size:
        if size - offset < _HEADER.size:
            bad(f"truncated header ({size - offset} of {_HEADER.size} bytes before the end of the file)")
            return
        length, length_crc = _HEADER.unpack_from(view, offset)
        if masked(view[offset:offset + 8]) != length_crc:
            bad("length CRC mismatch (corrupt header)")
            return
        start = offset + _HEADER.size
        end = start + length
        if end + _FOOTER.size > size:
            bad(f"truncated record (length {length}, only {size - start} bytes left)")
            return
        payload = view[start:end]
        (data_crc,) = _FOOTER.unpack_from(view, end)
        if masked(payload) != data_crc:
            bad("data CRC mismatch (corrupt record)")
        else:
            yield offset, payload
        offset = end + _FOOTER.size


# -- protobuf wire format ---------------------------------------------------------------------------

class WireFormatError(ValueError):
    """The bytes are not a well-formed message of the expected kind (the reader adds file and offset)."""


_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


def _varint(buffer, position, end):
    """(value, next position) of the base-128 varint at ``position``."""
    value = shift = 0
    while True:
        if position >= end:
            raise WireFormatError("varint runs past the end of its message")
        byte = buffer[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7
        if shift > 63:
            raise WireFormatError("varint longer than 10 bytes")


def _fields(buffer, position, end):
    """Yield ``(field_number, wire_type, value_or_start, stop)`` of each field in ``buffer[position:end]``.

    For length-delimited fields the third item is the start of the value and ``stop`` its end; for
    varints it is the value; fixed32/fixed64 give their start (``stop`` = start + 4 or 8).
    """
    while position < end:
        key = buffer[position]
        if key < 0x80:  # one-byte keys and lengths are the common case: no call
            position += 1
        else:
            key, position = _varint(buffer, position, end)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireFormatError("field number 0")
        if wire_type == _VARINT:
            value, position = _varint(buffer, position, end)
            yield number, wire_type, value, position
        elif wire_type == _LENGTH:
            length = buffer[position] if position < end else 0x80
            if length < 0x80:
                position += 1
            else:
                length, position = _varint(buffer, position, end)
            stop = position + length
            if stop > end:
                raise WireFormatError(f"field {number}: length {length} runs past the end of its message")
            yield number, wire_type, position, stop
            position = stop
        elif wire_type in (_FIXED64, _FIXED32):
            stop = position + (8 if wire_type == _FIXED64 else 4)
            if stop > end:
                raise WireFormatError(f"field {number}: fixed-width value runs past the end of its message")
            yield number, wire_type, position, stop
            position = stop
        else:  # groups (3, 4) and the reserved types 6, 7 do not occur in these messages
            raise WireFormatError(f"field {number}: unsupported wire type {wire_type}")


def _signed64(value):
    return value - (1 << 64) if value >= 1 << 63 else value


def _decode_feature(buffer, position, end):
    """A ``Feature`` as ``(kind, values)``: kind "bytes" (list of bytes), "float" (list) or "int64" (list)."""
    kind, values = None, []
    for number, wire_type, start, stop in _fields(buffer, position, end):
        if wire_type != _LENGTH or number not in (1, 2, 3):
            continue  # unknown field
        # oneof: a later member replaces an earlier one; the same member merges (repeated values append).
        new_kind = ("bytes", "float", "int64")[number - 1]
        if new_kind != kind:
            kind, values = new_kind, []
        for value_number, value_type, value, value_stop in _fields(buffer, start, stop):
            if value_number != 1:
                continue
            if kind == "bytes":
                if value_type != _LENGTH:
                    raise WireFormatError("BytesList value is not length-delimited")
                values.append(bytes(buffer[value:value_stop]))
            elif kind == "float":
                if value_type == _LENGTH:  # packed
                    if (value_stop - value) % 4:
                        raise WireFormatError("packed FloatList length is not a multiple of 4")
                    values.extend(np.frombuffer(buffer[value:value_stop], dtype="<f4").tolist())
                elif value_type == _FIXED32:
                    values.append(struct.unpack_from("<f", buffer, value)[0])
                else:
                    raise WireFormatError(f"FloatList value has wire type {value_type}")
            else:
                if value_type == _LENGTH:  # packed
                    position_in, packed_end = value, value_stop
                    while position_in < packed_end:
                        number_value, position_in = _varint(buffer, position_in, packed_end)
                        values.append(_signed64(number_value))
                elif value_type == _VARINT:
                    values.append(_signed64(value))
                else:
                    raise WireFormatError(f"Int64List value has wire type {value_type}")
    return kind, values


def _decode_map(buffer, position, end, decode_value, raw=()):
    """The entries ``{key: value}`` of a ``map<string, ...>`` field 1 of a message (last key wins);
    values of the keys in ``raw`` are left as their message bytes."""
    entries = {}
    for number, wire_type, start, stop in _fields(buffer, position, end):
        if number != 1 or wire_type != _LENGTH:
            continue
        key, value_span = "", None
        for entry_number, entry_type, entry_start, entry_stop in _fields(buffer, start, stop):
            if entry_type != _LENGTH:
                continue
            if entry_number == 1:
                key = bytes(buffer[entry_start:entry_stop]).decode("utf-8")
            elif entry_number == 2:
                value_span = (entry_start, entry_stop)
        if key in raw:
            entries[key] = bytes(buffer[value_span[0]:value_span[1]]) if value_span else b""
        else:
            entries[key] = decode_value(buffer, *value_span) if value_span else decode_value(buffer, 0, 0)
    return entries


def _decode_feature_list(buffer, position, end):
    return [_decode_feature(buffer, start, stop)
            for number, wire_type, start, stop in _fields(buffer, position, end)
            if number == 1 and wire_type == _LENGTH]


def decode_feature_list(body):
    """Decode a serialised ``FeatureList`` message body: its features as ``[(kind, values), ...]``."""
    return _decode_feature_list(body, 0, len(body))


def decode_sequence_example(payload, *, raw_feature_lists=()):
    """Decode a serialised ``tf.train.SequenceExample``.

    Parameters
    ----------
    payload : bytes-like
    raw_feature_lists : collection of str
        Feature lists returned undecoded, as their ``FeatureList`` message bytes (for a caller with a
        faster decoder of its own; :func:`decode_feature_list` decodes them).

    Returns
    -------
    context : dict[str, (str, list)]
        Each context feature as ``(kind, values)``, kind in "bytes", "float", "int64" (``None`` for a
        feature with no kind set).
    feature_lists : dict[str, list[(str, list)]]
        Each feature list as its features in order.

    Raises
    ------
    WireFormatError
        If the bytes are not a well-formed message.
    """
    buffer = payload if isinstance(payload, (bytes, bytearray)) else bytes(payload)
    context, feature_lists = {}, {}
    for number, wire_type, start, stop in _fields(buffer, 0, len(buffer)):
        if wire_type != _LENGTH:
            continue
        if number == 1:
            context.update(_decode_map(buffer, start, stop, _decode_feature))
        elif number == 2:
            feature_lists.update(_decode_map(buffer, start, stop, _decode_feature_list, raw=raw_feature_lists))
    return context, feature_lists


def _encode_varint(value):
    value &= (1 << 64) - 1  # negative int64 -> ten-byte two's complement, as protobuf writes it
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _length_field(number, body):
    return _encode_varint((number << 3) | _LENGTH) + _encode_varint(len(body)) + body


def _encode_feature(kind, values):
    if kind == "bytes":
        body = b"".join(_length_field(1, bytes(value)) for value in values)
        return _length_field(1, body)
    if kind == "float":
        packed = np.asarray(values, dtype="<f4").tobytes()
        return _length_field(2, _length_field(1, packed) if packed else b"")
    if kind == "int64":
        packed = b"".join(_encode_varint(int(value)) for value in values)
        return _length_field(3, _length_field(1, packed) if packed else b"")
    raise ValueError(f"Feature kind must be 'bytes', 'float' or 'int64', got {kind!r}")


def _encode_map(entries, encode_value):
    return b"".join(_length_field(1, _length_field(1, key.encode("utf-8")) + _length_field(2, encode_value(value)))
                    for key, value in sorted(entries.items()))


def encode_sequence_example(context, feature_lists):
    """Serialise a ``tf.train.SequenceExample`` as TensorFlow's deterministic serialisation does.

    Parameters
    ----------
    context : dict[str, (str, sequence)]
        Context features as ``(kind, values)``; kind in "bytes", "float", "int64".
    feature_lists : dict[str, sequence of (str, sequence) or bytes]
        Each list's features, or the list already serialised (a ``FeatureList`` message body).

    Returns
    -------
    bytes
        Map entries in key order, numbers packed, empty lists written as empty messages.
    """
    body = b""
    if context:
        body += _length_field(1, _encode_map(context, lambda feature: _encode_feature(*feature)))
    if feature_lists:
        body += _length_field(2, _encode_map(
            feature_lists, lambda features: features if isinstance(features, bytes)
            else b"".join(_length_field(1, _encode_feature(*f)) for f in features)))
    return body
