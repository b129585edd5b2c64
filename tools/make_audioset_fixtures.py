"""Write small AudioSet-format feature shards with TensorFlow itself, and their expected contents.

Run once, in an environment with TensorFlow (not a refzsl dependency)::

    python3 -m venv /tmp/venv-tf && /tmp/venv-tf/bin/pip install tensorflow-cpu numpy
    /tmp/venv-tf/bin/python tools/make_audioset_fixtures.py reference_tests/fixtures/audioset

It writes, with ``tf.train.SequenceExample`` and ``tf.io.TFRecordWriter`` (the way Google's release
was written), three shards whose clips cover: multi-label clips, a single-label clip, an empty label
list, short clips (1 and 3 frames), a clip with no frames, frames holding the bytes 0 and 255, a
label 526 (the last), and non-ASCII text in a video id. ``a.tfrecord`` and ``b.tfrecord`` use
protobuf's deterministic serialisation (map keys sorted); ``c.tfrecord`` uses the default one and
inserts its map keys in reverse order (TensorFlow 2.21 / protobuf 7.36 still wrote them sorted; the
reader's tolerance of other key orders is tested on hand-built bytes). ``expected.json`` records every field as TensorFlow reads it back
(``tf.io.parse_single_sequence_example``), each frame as hex, each shard's sha256, and the TensorFlow
and protobuf versions. refzsl's tests compare its reader (and its writer's bytes) with these.
"""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from google import protobuf


def clips(seed):
    """The fixture clips: (shard name, [(video_id, start, end, labels, uint8 frames [n, 128])])."""
    rng = np.random.default_rng(seed)

    def frames(n):
        return rng.integers(0, 256, size=(n, 128), dtype=np.uint8)

    extremes = np.stack([np.zeros(128, np.uint8), np.full(128, 255, np.uint8),
                         np.arange(128, dtype=np.uint8) * 2 + 1])
    return [
        ("a", [
            ("--4gqARaEJE", 0.0, 10.0, [73, 361, 74, 72], frames(10)),   # multi-label, unsorted labels
            ("--BfvyPmVMo", 20.0, 30.0, [419], frames(10)),              # single label
            ("-0Gj8-vB1q4", 30.0, 40.0, [], frames(10)),                 # empty label list
            ("-0RWZT-miFs", 420.0, 430.0, [0, 526], extremes),           # short: 3 frames, bytes 0 and 255
        ]),
        ("b", [
            ("-1nGJ7Lrb-I", 5.5, 6.5, [137], frames(1)),                 # short: 1 frame
            ("-2PDE7hUArE", 0.0, 10.0, [500, 0, 1], frames(10)),
            ("vid\u00e9o-\u00fc", 1.25, 2.0, [7], np.zeros((0, 128), np.uint8)),  # no frames, non-ASCII id
        ]),
        ("c", [
            ("-5px8DVPl8A", 30.0, 40.0, [16, 18, 20, 23], frames(10)),
            ("-5xOcMJpTUk", 90.0, 100.0, [300], frames(9)),
        ]),
    ]


def sequence_example(video_id, start, end, labels, frames, *, reverse_maps):
    example = tf.train.SequenceExample()
    context = {
        "video_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[video_id.encode("utf-8")])),
        "start_time_seconds": tf.train.Feature(float_list=tf.train.FloatList(value=[start])),
        "end_time_seconds": tf.train.Feature(float_list=tf.train.FloatList(value=[end])),
        "labels": tf.train.Feature(int64_list=tf.train.Int64List(value=labels)),
    }
    for key in sorted(context, reverse=reverse_maps):
        example.context.feature[key].CopyFrom(context[key])
    frame_list = example.feature_lists.feature_list["audio_embedding"]
    for row in frames:
        frame_list.feature.add().bytes_list.value.append(row.tobytes())
    return example


def main(out_dir):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    expected = {"tensorflow": tf.__version__, "protobuf": protobuf.__version__, "shards": {}}
    for name, shard_clips in clips(seed=15):
        deterministic = name != "c"
        path = out_dir / f"{name}.tfrecord"
        with tf.io.TFRecordWriter(str(path)) as writer:
            for clip in shard_clips:
                example = sequence_example(*clip, reverse_maps=not deterministic)
                writer.write(example.SerializeToString(deterministic=deterministic))
        records = []
        for raw in tf.data.TFRecordDataset(str(path)):  # read back with TensorFlow's own parser
            context, lists = tf.io.parse_single_sequence_example(
                raw, context_features={
                    "video_id": tf.io.FixedLenFeature([], tf.string),
                    "start_time_seconds": tf.io.FixedLenFeature([], tf.float32),
                    "end_time_seconds": tf.io.FixedLenFeature([], tf.float32),
                    "labels": tf.io.VarLenFeature(tf.int64)},
                sequence_features={"audio_embedding": tf.io.FixedLenSequenceFeature([], tf.string)})
            frames = [bytes(value).hex() for value in lists["audio_embedding"].numpy()]
            records.append({
                "video_id": context["video_id"].numpy().decode("utf-8"),
                "start_time_seconds": float(context["start_time_seconds"].numpy()),
                "end_time_seconds": float(context["end_time_seconds"].numpy()),
                "labels": [int(v) for v in tf.sparse.to_dense(context["labels"]).numpy()],
                "audio_embedding": frames,
            })
        expected["shards"][path.name] = {"deterministic_serialisation": deterministic,
                                         "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                                         "bytes": path.stat().st_size, "clips": records}
    (out_dir / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n",
                                           encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "reference_tests/fixtures/audioset")
