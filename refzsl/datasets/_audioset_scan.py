"""Compiled scan of AudioSet SequenceExample records: the fast path of :func:`refzsl.datasets.audioset.read_shard`.

:func:`scan_records` parses every record of a shard (the payload spans of a file already checked by
:func:`refzsl.datasets.tfrecord.iter_records`) in one call, and reports per record where its video id,
times, labels and frames are. It is a real wire-format parser (fields in any order, map entries in any
order, numbers packed or not, unknown fields skipped), but it only accepts the plain shape of an AudioSet
clip: each of the five keys at most once, one kind per feature. Anything else, valid or not, gets a
non-zero status, and the caller decodes that shard with the pure-Python decoder, which either reads it or
names what is wrong. Written once, undecorated (the plain twin, used by tests); :func:`jitted` compiles it
with Numba (``cache=True``).
"""

import numpy as np

__all__ = ["KEYS", "scan_records", "jitted"]

#: Map keys the scan looks for, in the order of its ``key_index`` codes.
KEYS = (b"video_id", b"start_time_seconds", b"end_time_seconds", b"labels", b"audio_embedding")
_FRAME_BYTES = 128


def _varint(buf, pos, end):
    """(value, next position), next position -1 when the varint is cut short or too long."""
    value = 0
    shift = 0
    while True:
        if pos >= end or shift > 63:
            return 0, -1
        byte = buf[pos]
        pos += 1
        value |= np.int64(byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _skip(buf, pos, end, wire_type):
    """Position after a field's value, or -1."""
    if wire_type == 0:
        _, pos = _varint(buf, pos, end)
        return pos
    if wire_type == 1:
        return pos + 8 if pos + 8 <= end else -1
    if wire_type == 5:
        return pos + 4 if pos + 4 <= end else -1
    if wire_type == 2:
        length, pos = _varint(buf, pos, end)
        if pos < 0 or pos + length > end:
            return -1
        return pos + length
    return -1


def _key_code(buf, start, stop, keys, key_offsets):
    """Index of the key buf[start:stop] in KEYS (packed in ``keys``), or -1."""
    for code in range(len(key_offsets) - 1):
        first, last = key_offsets[code], key_offsets[code + 1]
        if last - first != stop - start:
            continue
        same = True
        for i in range(last - first):
            if buf[start + i] != keys[first + i]:
                same = False
                break
        if same:
            return code
    return -1


def _length_field(buf, pos, end):
    """(value start, value end) of a length-delimited value at pos, or (-1, -1)."""
    length, pos = _varint(buf, pos, end)
    if pos < 0 or pos + length > end:
        return -1, -1
    return pos, pos + length


def _feature(buf, pos, end):
    """(kind 1/2/3 or 0 for none, list start, list end) of a Feature message; kind -1 if unusual/bad."""
    kind, list_start, list_end = 0, 0, 0
    while pos < end:
        key, pos = _varint(buf, pos, end)
        if pos < 0:
            return -1, 0, 0
        number, wire_type = key >> 3, key & 7
        if wire_type == 2 and 1 <= number <= 3:
            if kind != 0:
                return -1, 0, 0  # a second kind, or the same one twice: leave it to the generic decoder
            kind = number
            list_start, list_end = _length_field(buf, pos, end)
            if list_start < 0:
                return -1, 0, 0
            pos = list_end
        else:
            pos = _skip(buf, pos, end, wire_type)
            if pos < 0:
                return -1, 0, 0
    return kind, list_start, list_end


def scan_records(buf, starts, ends, keys, key_offsets, status, id_span, time_pos, label_counts, labels,
                 frame_counts, frame_pos):
    """Parse the records ``buf[starts[i]:ends[i]]``; fill the outputs; return (labels used, frames used).

    Outputs per record: ``status`` (0 = read, else: decode generically), ``id_span`` (start, length of
    the video id), ``time_pos`` (byte positions of the start and end float32), ``label_counts`` and
    ``frame_counts``; ``labels`` and ``frame_pos`` (start of each 128-byte frame) are filled in record
    order. ``labels`` and ``frame_pos`` must have room for the worst case (one per payload byte / per
    131 payload bytes).
    """
    n_labels = 0
    n_frames = 0
    for record in range(len(starts)):
        pos, end = starts[record], ends[record]
        seen = np.zeros(5, np.int64)
        bad = 0
        label_first, frame_first = n_labels, n_frames
        while pos < end and bad == 0:
            key, pos = _varint(buf, pos, end)
            if pos < 0:
                bad = 1
                break
            number, wire_type = key >> 3, key & 7
            if wire_type != 2 or (number != 1 and number != 2):
                pos = _skip(buf, pos, end, wire_type)
                if pos < 0:
                    bad = 1
                continue
            section_start, section_end = _length_field(buf, pos, end)
            if section_start < 0:
                bad = 1
                break
            pos = section_end
            inner = section_start
            while inner < section_end and bad == 0:  # map entries
                entry_key, inner = _varint(buf, inner, section_end)
                if inner < 0:
                    bad = 1
                    break
                if entry_key >> 3 != 1 or entry_key & 7 != 2:
                    inner = _skip(buf, inner, section_end, entry_key & 7)
                    if inner < 0:
                        bad = 1
                    continue
                entry_start, entry_end = _length_field(buf, inner, section_end)
                if entry_start < 0:
                    bad = 1
                    break
                inner = entry_end
                code, value_start, value_end, n_values, at = -1, -1, -1, 0, entry_start
                while at < entry_end:
                    field_key, at = _varint(buf, at, entry_end)
                    if at < 0:
                        bad = 1
                        break
                    if field_key & 7 == 2 and (field_key >> 3 == 1 or field_key >> 3 == 2):
                        span_start, span_end = _length_field(buf, at, entry_end)
                        if span_start < 0:
                            bad = 1
                            break
                        if field_key >> 3 == 1:
                            code = _key_code(buf, span_start, span_end, keys, key_offsets)
                        else:
                            value_start, value_end = span_start, span_end
                            n_values += 1
                        at = span_end
                    else:
                        at = _skip(buf, at, entry_end, field_key & 7)
                        if at < 0:
                            bad = 1
                            break
                if bad or code < 0:
                    continue  # unknown keys are ignored, as by the generic decoder
                if n_values != 1 or seen[code] or (code == 4) != (number == 2):
                    bad = 2
                    break
                seen[code] = 1
                if code == 4:  # FeatureList: Feature{bytes_list{value}} per frame
                    at = value_start
                    while at < value_end:
                        field_key, at = _varint(buf, at, value_end)
                        if at < 0:
                            bad = 1
                            break
                        if field_key != 10:  # field 1, length-delimited
                            at = _skip(buf, at, value_end, field_key & 7)
                            if at < 0:
                                bad = 1
                                break
                            continue
                        feature_start, feature_end = _length_field(buf, at, value_end)
                        if feature_start < 0:
                            bad = 1
                            break
                        at = feature_end
                        kind, list_start, list_end = _feature(buf, feature_start, feature_end)
                        if kind != 1:
                            bad = 2
                            break
                        count, look = 0, list_start
                        while look < list_end:
                            value_key, look = _varint(buf, look, list_end)
                            if look < 0:
                                bad = 1
                                break
                            if value_key == 10:
                                frame_start, frame_end = _length_field(buf, look, list_end)
                                if frame_start < 0 or frame_end - frame_start != _FRAME_BYTES:
                                    bad = 2
                                    break
                                if count == 0:
                                    frame_pos[n_frames] = frame_start
                                count += 1
                                look = frame_end
                            else:
                                look = _skip(buf, look, list_end, value_key & 7)
                                if look < 0:
                                    bad = 1
                                    break
                        if bad == 0 and count != 1:
                            bad = 2
                        if bad:
                            break
                        n_frames += 1
                    continue
                kind, list_start, list_end = _feature(buf, value_start, value_end)
                if kind < 0:
                    bad = 2
                    break
                count, look = 0, list_start
                while look < list_end and bad == 0:
                    value_key, look = _varint(buf, look, list_end)
                    if look < 0:
                        bad = 1
                        break
                    if value_key >> 3 != 1:
                        look = _skip(buf, look, list_end, value_key & 7)
                        if look < 0:
                            bad = 1
                        continue
                    wire_type = value_key & 7
                    if code == 0:  # video_id: bytes
                        if kind != 1 or wire_type != 2:
                            bad = 2
                            break
                        value_first, value_last = _length_field(buf, look, list_end)
                        if value_first < 0:
                            bad = 1
                            break
                        id_span[record, 0] = value_first
                        id_span[record, 1] = value_last - value_first
                        count += 1
                        look = value_last
                    elif code == 1 or code == 2:  # times: one float, packed or not
                        if kind != 2:
                            bad = 2
                            break
                        if wire_type == 5:
                            time_pos[record, code - 1] = look
                            count += 1
                            look += 4
                            if look > list_end:
                                bad = 1
                        elif wire_type == 2:
                            value_first, value_last = _length_field(buf, look, list_end)
                            if value_first < 0 or (value_last - value_first) % 4 != 0:
                                bad = 2
                                break
                            if value_last > value_first:
                                time_pos[record, code - 1] = value_first
                            count += (value_last - value_first) // 4
                            look = value_last
                        else:
                            bad = 2
                    else:  # labels: int64, packed or not
                        if kind != 3:
                            bad = 2
                            break
                        if wire_type == 0:
                            label, look = _varint(buf, look, list_end)
                            if look < 0:
                                bad = 1
                                break
                            labels[n_labels] = label
                            n_labels += 1
                        elif wire_type == 2:
                            value_first, value_last = _length_field(buf, look, list_end)
                            if value_first < 0:
                                bad = 1
                                break
                            at = value_first
                            while at < value_last:
                                label, at = _varint(buf, at, value_last)
                                if at < 0:
                                    bad = 1
                                    break
                                labels[n_labels] = label
                                n_labels += 1
                            look = value_last
                        else:
                            bad = 2
                if bad == 0 and code != 3 and count != 1:
                    bad = 2
        if bad == 0 and (seen[0] == 0 or seen[1] == 0 or seen[2] == 0 or seen[3] == 0):
            bad = 2  # a required context feature is missing: the generic decoder names it
        if bad == 0:
            for i in range(label_first, n_labels):
                if labels[i] < 0 or labels[i] > 526:
                    bad = 2
        status[record] = bad
        label_counts[record] = n_labels - label_first
        frame_counts[record] = n_frames - frame_first
        if bad:
            n_labels, n_frames = label_first, frame_first
    return n_labels, n_frames


_JITTED = {}


def jitted():
    """:func:`scan_records` compiled by Numba (on first call; machine code cached on disk)."""
    if not _JITTED:
        import numba
        from numba.extending import register_jitable

        for helper in (_varint, _skip, _key_code, _length_field, _feature):
            register_jitable(helper)
        _JITTED["scan"] = numba.njit(cache=True, nogil=True)(scan_records)
    return _JITTED["scan"]
