"""The AudioSet feature reader and writer, against shards written by TensorFlow (tools/make_audioset_fixtures.py)."""

import json
import struct

import numpy as np
import pytest

from refzsl.datasets import audioset, tfrecord
from refzsl.datasets.audioset import Shard, clip_means, dequantize, quantize, read_folder, read_shard, write_shard
from refzsl.datasets.tfrecord import CorruptRecordError, decode_sequence_example, frame_record, masked_crc32c


@pytest.fixture(scope="module")
def tf_fixtures(fixtures_dir):
    folder = fixtures_dir / "audioset"
    return folder, json.loads((folder / "expected.json").read_text(encoding="utf-8"))


def _clips_of(shard):
    return [(shard.video_ids[i], shard.start_seconds[i], shard.end_seconds[i], shard.clip_labels(i),
             shard.clip_frames(i)) for i in range(len(shard))]


def test_reader_equals_tensorflow_field_by_field(tf_fixtures):
    folder, expected = tf_fixtures
    assert len(expected["shards"]) == 3
    for name, recorded in expected["shards"].items():
        shard = read_shard(folder / name, dequantize=False)
        assert len(shard) == len(recorded["clips"]) and shard.skipped == []
        for index, clip in enumerate(recorded["clips"]):
            assert shard.video_ids[index] == clip["video_id"]
            assert float(shard.start_seconds[index]) == clip["start_time_seconds"]
            assert float(shard.end_seconds[index]) == clip["end_time_seconds"]
            assert shard.clip_labels(index).tolist() == clip["labels"]
            assert [row.tobytes().hex() for row in shard.clip_frames(index)] == clip["audio_embedding"]


def test_fixtures_cover_the_edge_cases(tf_fixtures):
    folder, _ = tf_fixtures
    clips = read_folder(folder, dequantize=False)
    assert len(clips) == 9 and clips.paths == [str(folder / n) for n in ("a.tfrecord", "b.tfrecord", "c.tfrecord")]
    assert 0 in clips.n_labels and 1 in clips.n_labels and clips.n_labels.max() == 4
    assert {0, 1, 3, 9, 10} <= set(clips.n_frames.tolist())
    assert clips.frames.min() == 0 and clips.frames.max() == 255 and 526 in clips.labels


def test_writer_bytes_equal_tensorflow(tf_fixtures, tmp_path):
    folder, expected = tf_fixtures
    for name in expected["shards"]:
        shard = read_shard(folder / name, dequantize=False)
        out = tmp_path / name
        assert write_shard(out, _clips_of(shard)) == len(shard)
        assert out.read_bytes() == (folder / name).read_bytes(), name


def test_dequantised_frames_follow_the_formula(tf_fixtures):
    folder, expected = tf_fixtures
    as_uint8 = read_shard(folder / "a.tfrecord", dequantize=False)
    as_float = read_shard(folder / "a.tfrecord")
    assert as_float.frames.dtype == np.float32 and as_uint8.frames.dtype == np.uint8
    np.testing.assert_array_equal(as_float.frames, as_uint8.frames.astype(np.float32) * np.float32(4 / 255)
                                  + np.float32(-2))
    extremes = as_float.clip_frames(3)
    assert extremes[0].tolist() == [-2.0] * 128 and extremes[1].tolist() == [2.0] * 128


def test_quantize_inverts_dequantize_within_the_bin():
    q = np.arange(256, dtype=np.uint8)
    # The quantiser truncates: the dequantised value is the bin's lower edge, the bin's middle maps back to q.
    np.testing.assert_array_equal(quantize(dequantize(q) + np.float32(2 / 255)), q)
    assert quantize(np.array([-5.0, 5.0])).tolist() == [0, 255]
    with pytest.raises(TypeError, match="uint8"):
        dequantize(np.zeros(3, np.float32))


def test_masked_crc32c_matches_tensorflow_framing(tf_fixtures):
    folder, _ = tf_fixtures
    data = (folder / "b.tfrecord").read_bytes()
    length, length_crc = struct.unpack_from("<QI", data, 0)
    assert masked_crc32c(data[:8]) == length_crc
    assert masked_crc32c(b"") == 0xA282EAD8
    assert frame_record(data[12:12 + length]) == data[:12 + length + 4]


def _corrupt(data, position):
    damaged = bytearray(data)
    damaged[position] ^= 0x01
    return bytes(damaged)


def _second_record_offset(data):
    (length,) = struct.unpack_from("<Q", data, 0)
    return 12 + length + 4


def test_data_crc_mismatch_names_shard_and_offset_or_is_skipped(tf_fixtures, tmp_path):
    folder, _ = tf_fixtures
    data = (folder / "a.tfrecord").read_bytes()
    second = _second_record_offset(data)
    path = tmp_path / "bad.tfrecord"
    path.write_bytes(_corrupt(data, second + 12 + 20))
    with pytest.raises(CorruptRecordError, match=rf"bad\.tfrecord: record at byte offset {second}: data CRC") as error:
        read_shard(path)
    assert error.value.offset == second and error.value.path == str(path)
    shard = read_shard(path, on_error="skip")
    assert len(shard) == 3 and [entry[1] for entry in shard.skipped] == [second]
    assert shard.video_ids.tolist() == ["--4gqARaEJE", "-0Gj8-vB1q4", "-0RWZT-miFs"]


def test_corrupt_header_and_truncation_end_the_shard_under_skip(tf_fixtures, tmp_path):
    folder, _ = tf_fixtures
    data = (folder / "a.tfrecord").read_bytes()
    second = _second_record_offset(data)
    header = tmp_path / "header.tfrecord"
    header.write_bytes(_corrupt(data, second + 1))
    with pytest.raises(CorruptRecordError, match="length CRC"):
        read_shard(header)
    shard = read_shard(header, on_error="skip")
    assert len(shard) == 1 and shard.skipped[0][1] == second
    truncated = tmp_path / "truncated.tfrecord"
    truncated.write_bytes(data[:-10])
    with pytest.raises(CorruptRecordError, match="truncated record"):
        read_shard(truncated)
    assert len(read_shard(truncated, on_error="skip")) == 3
    short_header = tmp_path / "short.tfrecord"
    short_header.write_bytes(data + b"\x01\x02")
    with pytest.raises(CorruptRecordError, match="truncated header"):
        read_shard(short_header)


def test_record_that_is_not_a_clip(tmp_path):
    path = tmp_path / "garbage.tfrecord"
    good = audioset.encode_clip("ok", 0, 10, [1], np.zeros((2, 128), np.uint8))
    missing_id = tfrecord.encode_sequence_example({"labels": ("int64", [1])}, {})
    bad_label = audioset.encode_clip("x", 0, 10, [527], np.zeros((1, 128), np.uint8))
    short_frame = tfrecord.encode_sequence_example(
        {"video_id": ("bytes", [b"y"]), "start_time_seconds": ("float", [0.0]),
         "end_time_seconds": ("float", [1.0]), "labels": ("int64", [1])},
        {"audio_embedding": [("bytes", [b"\x00" * 127])]})
    payloads = [good, b"\xff\xff\xff", missing_id, bad_label, short_frame]
    path.write_bytes(b"".join(frame_record(p) for p in payloads))
    with pytest.raises(CorruptRecordError, match="not an AudioSet clip: varint"):
        read_shard(path)
    shard = read_shard(path, on_error="skip")
    assert len(shard) == 1 and len(shard.skipped) == 4
    reasons = " | ".join(reason for _, _, reason in shard.skipped)
    for text in ("varint", "'video_id' is missing", "outside 0..526", "128-byte"):
        assert text in reasons


def _varint(value):
    out = bytearray()
    value &= (1 << 64) - 1
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


def _field(number, body):
    return _varint(number << 3 | 2) + _varint(len(body)) + body


def test_decoder_accepts_unpacked_numbers_any_key_order_and_unknown_fields():
    unknown = _varint(9 << 3 | 0) + _varint(300) + _varint(10 << 3 | 5) + b"\x00\x00\x80\x3f"
    labels = _field(3, b"".join(_varint(1 << 3 | 0) + _varint(v) for v in (5, 3, -1)) + unknown)
    start = _field(2, _varint(1 << 3 | 5) + struct.pack("<f", 1.5))
    entry = lambda key, value: _field(1, unknown + _field(2, value) + _field(1, key))  # value before key
    context = entry(b"labels", labels) + entry(b"start_time_seconds", start)
    frames = _field(1, _field(1, _field(1, b"ab")) + unknown)  # FeatureList{Feature{BytesList{"ab"}}}
    message = unknown + _field(2, entry(b"audio_embedding", frames)) + _field(1, context)
    ctx, lists = decode_sequence_example(message)
    assert ctx == {"labels": ("int64", [5, 3, -1]), "start_time_seconds": ("float", [1.5])}
    assert lists == {"audio_embedding": [("bytes", [b"ab"])]}
    packed = tfrecord.encode_sequence_example({"labels": ("int64", [5, 3, -1]),
                                               "start_time_seconds": ("float", [1.5])},
                                              {"audio_embedding": [("bytes", [b"ab"])]})
    assert decode_sequence_example(packed) == (ctx, lists)


def test_select_concatenate_and_clip_means(tf_fixtures):
    folder, _ = tf_fixtures
    clips = read_folder(folder)
    picked = clips.select([8, 0, 6])
    assert picked.video_ids.tolist() == [clips.video_ids[8], clips.video_ids[0], clips.video_ids[6]]
    np.testing.assert_array_equal(picked.clip_frames(1), clips.clip_frames(0))
    assert picked.clip_labels(0).tolist() == clips.clip_labels(8).tolist()
    means = clip_means(picked)
    np.testing.assert_allclose(means[1], clips.clip_frames(0).mean(axis=0), rtol=1e-6, atol=1e-6)  # float32 sums of 10 values in [-2, 2]
    assert picked.n_frames[2] == 0 and not means[2].any()
    empty = Shard.concatenate([])
    assert len(empty) == 0 and clip_means(empty).shape == (0, 128)
    both = Shard.concatenate([clips.select([0]), clips.select([1, 2])])
    np.testing.assert_array_equal(both.frames, clips.select([0, 1, 2]).frames)


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        audioset.list_shards(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no \\*.tfrecord shard"):
        audioset.list_shards(tmp_path)
    with pytest.raises(ValueError, match="on_error"):
        read_shard(tmp_path / "x.tfrecord", on_error="ignore")
    with pytest.raises(ValueError, match="must be uint8"):
        audioset.encode_clip("v", 0, 1, [], np.zeros((2, 127), np.uint8))


def test_frames_in_another_encoding_take_the_generic_path(tmp_path):
    frames = np.arange(256, dtype=np.uint8).reshape(2, 128)
    unknown = _varint(7 << 3 | 0) + _varint(1)
    # Each Feature carries an unknown field after its BytesList: not TensorFlow's byte layout, same message.
    body = b"".join(_field(1, _field(1, _field(1, row.tobytes())) + unknown) for row in frames)
    context = {"video_id": ("bytes", [b"v"]), "start_time_seconds": ("float", [0.0]),
               "end_time_seconds": ("float", [2.0]), "labels": ("int64", [3])}
    payload = tfrecord.encode_sequence_example(context, {"audio_embedding": body})
    assert payload != audioset.encode_clip("v", 0.0, 2.0, [3], frames)
    path = tmp_path / "other.tfrecord"
    path.write_bytes(frame_record(payload))
    np.testing.assert_array_equal(read_shard(path, dequantize=False).frames, frames)


def _odd_but_valid_records():
    """Clips encoded unlike TensorFlow: unpacked labels and float, keys in reverse order, unknown fields."""
    unknown = _varint(9 << 3 | 0) + _varint(300) + _varint(10 << 3 | 5) + b"\x00\x00\x80\x3f"
    entry = lambda key, value: _field(1, unknown + _field(2, value) + _field(1, key))  # value before key
    feature_bytes = lambda value: _field(1, _field(1, value))
    feature_float = lambda value: _field(2, _varint(1 << 3 | 5) + struct.pack("<f", value))
    labels = _field(3, b"".join(_varint(1 << 3 | 0) + _varint(v) for v in (526, 0, 12)) + unknown)
    context = (entry(b"video_id", feature_bytes(b"odd")) + entry(b"end_time_seconds", feature_float(7.5))
               + entry(b"labels", labels) + entry(b"start_time_seconds", feature_float(2.5))
               + entry(b"unused", feature_bytes(b"x")))
    frames = np.arange(3 * 128, dtype=np.uint32).astype(np.uint8).reshape(3, 128)
    frame_list = b"".join(_field(1, _field(1, _field(1, row.tobytes())) + unknown) for row in frames)
    odd = unknown + _field(2, entry(b"audio_embedding", frame_list)) + _field(1, context)
    # The same key twice (protobuf: the last wins): valid, left to the generic decoder by the scan.
    twice = audioset.encode_clip("twice", 0, 10, [5], frames[:1])
    twice = twice + _field(1, entry(b"video_id", feature_bytes(b"again")))
    return [odd, audioset.encode_clip("plain", 1.0, 11.0, [], frames[:2]), twice]


def test_compiled_scan_equals_its_plain_twin_and_the_generic_decoder(tf_fixtures, tmp_path):
    from refzsl.datasets import _audioset_scan

    folder, _ = tf_fixtures
    odd_path = tmp_path / "odd.tfrecord"
    odd_path.write_bytes(b"".join(frame_record(p) for p in _odd_but_valid_records()[:2]))
    for path in [folder / "a.tfrecord", folder / "b.tfrecord", folder / "c.tfrecord", odd_path]:
        data = path.read_bytes()
        offsets = np.array([offset for offset, _ in tfrecord.iter_records(data)], np.int64)
        compiled = audioset._scan_compiled(data, offsets, str(path))
        generic = audioset._decode_generic(data, str(path), "raise", [])
        assert compiled is not None, path  # every record here is in the shape the scan reads
        for name in ("video_ids", "start_seconds", "end_seconds", "label_offsets", "labels", "frame_offsets",
                     "frames", "record_offsets"):
            np.testing.assert_array_equal(getattr(compiled, name), getattr(generic, name), err_msg=f"{path} {name}")
        buffer = np.frombuffer(data, np.uint8)
        lengths = np.array([len(p) for _, p in tfrecord.iter_records(data)], np.int64)
        keys = np.frombuffer(b"".join(_audioset_scan.KEYS), np.uint8)
        key_offsets = np.cumsum([0] + [len(k) for k in _audioset_scan.KEYS]).astype(np.int64)
        outputs = []
        for scan in (_audioset_scan.scan_records, _audioset_scan.jitted()):
            arrays = [np.zeros(len(offsets), np.int8), np.zeros((len(offsets), 2), np.int64),
                      np.zeros((len(offsets), 2), np.int64), np.zeros(len(offsets), np.int64),
                      np.zeros(len(data), np.int64), np.zeros(len(offsets), np.int64), np.zeros(len(data), np.int64)]
            used = scan(buffer, offsets + 12, offsets + 12 + lengths, keys, key_offsets, *arrays)
            outputs.append((used, arrays))
        assert outputs[0][0] == outputs[1][0]
        for plain, jit in zip(outputs[0][1], outputs[1][1]):
            np.testing.assert_array_equal(plain, jit)
    odd = read_shard(odd_path, dequantize=False)
    assert odd.video_ids.tolist() == ["odd", "plain"] and odd.clip_labels(0).tolist() == [526, 0, 12]
    assert odd.start_seconds.tolist() == [2.5, 1.0] and odd.end_seconds.tolist() == [7.5, 11.0]


def test_records_the_scan_leaves_alone_are_read_generically(tmp_path):
    path = tmp_path / "twice.tfrecord"
    path.write_bytes(b"".join(frame_record(p) for p in _odd_but_valid_records()))
    data = path.read_bytes()
    offsets = np.array([offset for offset, _ in tfrecord.iter_records(data)], np.int64)
    assert audioset._scan_compiled(data, offsets, str(path)) is None
    shard = read_shard(path, dequantize=False)
    assert shard.video_ids.tolist() == ["odd", "plain", "again"] and shard.clip_labels(2).tolist() == [5]


@pytest.mark.parametrize("scheduler", ["pool", "dask"])
def test_shards_read_on_workers_come_back_in_path_order_and_equal(tf_fixtures, scheduler):
    # The reader takes the extraction's scheduler switch; what workers return equals one process, in order.
    if scheduler == "dask":
        pytest.importorskip("distributed")
    folder, _ = tf_fixtures
    here = list(audioset.iter_shards(folder, dequantize=False))
    there = list(audioset.iter_shards(folder, dequantize=False, scheduler=scheduler, workers=2))
    assert [shard.paths for shard in there] == [shard.paths for shard in here]
    for ours, theirs in zip(here, there):
        assert list(theirs.video_ids) == list(ours.video_ids)
        np.testing.assert_array_equal(theirs.frames, ours.frames)
        np.testing.assert_array_equal(theirs.frame_offsets, ours.frame_offsets)
