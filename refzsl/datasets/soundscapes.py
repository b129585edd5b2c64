"""Seeded, strongly labelled 10 s soundscapes of short ESC-50 events over ESC-50 ambiences, mixed by scaper.

The sequence benchmark (:mod:`refzsl.datasets.mixtures`) places whole ESC-50 clips one after
the other, so every class fills 5 s of a 10 s clip and the mean of the segments already carries
it. P3 evaluates on AudioSet, where events are short and sit on top of other sound; these
soundscapes pose that case, the way the DCASE synthetic sets are made (scaper, Salamon et al.
2017):

- **Background**: one ESC-50 clip of an ambient class (:data:`BACKGROUND_CLASSES`: rain, wind,
  sea waves, crackling fire, crickets, insects, engine), at least ``min_background_activity``
  active, looped by scaper to the soundscape's duration at ``background_lufs`` LUFS. These
  classes are never foreground events.
- **Events**: 1-3 per soundscape (``n_events``), of distinct classes; each a cut of
  ``event_seconds`` (0.5-3 s, uniform) from the active part of one ESC-50 clip (its span
  between the first and last sample within ``trim_top_db`` dB of the peak,
  ``librosa.effects.trim``), with an event-to-background ratio drawn from ``ebr_db``
  (-6, 0, +6 dB; scaper's loudness-based SNR) and a uniform onset. With
  ``allow_overlap=False`` the events are laid out in a random order with uniform gaps, so no
  two overlap.

Every draw comes from ``numpy.random.default_rng(random_state)`` (:func:`draw_soundscapes`);
scaper only mixes: each value reaches it as a ``("const", value)`` distribution. The mixed WAV,
its JAMS annotation and a tab-separated event list (onset, offset, label) are kept in a folder
under a key of the recipe, so a rerun re-uses them.

ESC-50's Ogg files decode past ±1 and sox (scaper's mixer) wraps such samples into clicks, so
scaper is given mono 16 kHz WAV copies of the sources scaled to a 0.99 peak; event loudness is
set by scaper (LUFS), so the scale changes nothing else.
"""

import hashlib
import json
import os
import sys
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .._util.checks import check_positive_int
from .._util.files import atomic_write

__all__ = ["BACKGROUND_CLASSES", "SoundscapeRecipe", "Event", "SoundscapeSpec", "Soundscapes",
           "active_spans", "draw_soundscapes", "mix_soundscapes", "read_event_list"]

#: ESC-50 classes used as backgrounds (ambiences that last the whole clip); never foreground events.
BACKGROUND_CLASSES = ("rain", "wind", "sea waves", "crackling fire", "crickets", "insects", "engine")

# Bump when a change to preparing sources or mixing changes the audio: old soundscapes then stop matching.
SOUNDSCAPE_VERSION = 1
# Sources are scaled to this peak before sox sees them (see the module docstring).
_SOURCE_PEAK = 0.99


@dataclass(frozen=True)
class SoundscapeRecipe:
    """How soundscapes are drawn and mixed (all durations in seconds).

    Parameters
    ----------
    duration_seconds : float > 0
    sample_rate_hz : int > 0
    n_events : tuple of int >= 1
        Allowed numbers of foreground events, drawn uniformly.
    event_seconds : (float, float)
        Range of an event's duration, drawn uniformly (capped by the source's active span).
    ebr_db : tuple of float
        Event-to-background ratios (dB, loudness-based) drawn uniformly.
    allow_overlap : bool
        Whether foreground events may overlap in time.
    background_lufs : float
        Loudness of the background (scaper's ``ref_db``).
    trim_top_db : float > 0
        Threshold below the peak that delimits a clip's active span.
    min_background_activity : float in (0, 1]
        Fraction of a background clip that must lie in its active span.
    """

    duration_seconds: float = 10.0
    sample_rate_hz: int = 16000
    n_events: tuple = (1, 2, 3)
    event_seconds: tuple = (0.5, 3.0)
    ebr_db: tuple = (-6.0, 0.0, 6.0)
    allow_overlap: bool = True
    background_lufs: float = -30.0
    trim_top_db: float = 40.0
    min_background_activity: float = 0.9

    def check(self):
        """Raise ValueError naming the first inconsistent field; return ``self``."""
        low, high = self.event_seconds
        if not 0 < low <= high:
            raise ValueError(f"event_seconds must be (low, high) with 0 < low <= high, got {self.event_seconds}")
        if not self.n_events or min(self.n_events) < 1:
            raise ValueError(f"n_events must hold numbers >= 1, got {self.n_events}")
        if max(self.n_events) * high > self.duration_seconds and not self.allow_overlap:
            raise ValueError(f"{max(self.n_events)} events of up to {high} s do not fit without overlap in "
                             f"duration_seconds={self.duration_seconds}")
        if high > self.duration_seconds:
            raise ValueError(f"event_seconds {self.event_seconds} exceed duration_seconds={self.duration_seconds}")
        if not self.ebr_db:
            raise ValueError("ebr_db must hold at least one ratio")
        if not 0 < self.min_background_activity <= 1:
            raise ValueError(f"min_background_activity must be in (0, 1], got {self.min_background_activity}")
        return self


@dataclass(frozen=True)
class Event:
    """One foreground event: ``duration_seconds`` of ``clip`` from ``source_seconds``, played at ``onset_seconds``."""

    target: int
    clip: int
    source_seconds: float
    duration_seconds: float
    onset_seconds: float
    ebr_db: float

    @property
    def offset_seconds(self):
        return self.onset_seconds + self.duration_seconds


@dataclass(frozen=True)
class SoundscapeSpec:
    """Everything drawn for one soundscape: the background clip and its class, and the events."""

    background_clip: int
    background_target: int
    events: tuple = field(default_factory=tuple)


def active_spans(waveforms, *, sample_rate_hz, top_db=40.0):
    """Start and end (seconds) of each waveform's active part (``librosa.effects.trim``).

    Parameters
    ----------
    waveforms : iterable of np.ndarray [shape=(n,)]
    sample_rate_hz : int > 0
    top_db : float > 0
        Samples more than ``top_db`` below the peak (frame RMS) at either end are trimmed.

    Returns
    -------
    np.ndarray [shape=(n_waveforms, 2), dtype=float64]
    """
    import librosa

    spans = []
    for waveform in waveforms:
        _, (start, end) = librosa.effects.trim(np.asarray(waveform, dtype=np.float32), top_db=top_db)
        spans.append((start / sample_rate_hz, end / sample_rate_hz))
    return np.array(spans, dtype=np.float64).reshape(-1, 2)


def draw_soundscapes(n_soundscapes, *, targets, event_clips, background_clips, spans, clip_seconds,
                     recipe=SoundscapeRecipe(), random_state=None):
    """Draw the recipes of ``n_soundscapes`` soundscapes (no audio is touched).

    Parameters
    ----------
    n_soundscapes : int >= 1
    targets : np.ndarray [shape=(n_clips,)], int
        Class of every clip of the dataset.
    event_clips, background_clips : sequence of int
        Clips (indices into ``targets``) eligible as events and as backgrounds; their classes
        must be disjoint.
    spans : np.ndarray [shape=(n_clips, 2)]
        Active span (start, end) of every clip, seconds (:func:`active_spans`).
    clip_seconds : np.ndarray [shape=(n_clips,)]
        Duration of every clip, seconds.
    recipe : SoundscapeRecipe
    random_state : int, SeedSequence, Generator or None

    Returns
    -------
    list of SoundscapeSpec
        Events of distinct classes, in onset order.

    Raises
    ------
    ValueError
        If ``n_soundscapes`` is not a positive integer, event and background classes overlap, no clip is eligible (an event clip needs an
        active span of at least ``event_seconds[0]``, a background one ``min_background_activity``),
        or there are fewer event classes than ``max(n_events)``.
    """
    check_positive_int(n_soundscapes, "n_soundscapes")
    recipe.check()
    rng = np.random.default_rng(random_state)
    targets, spans = np.asarray(targets), np.asarray(spans, dtype=np.float64)
    clip_seconds = np.asarray(clip_seconds, dtype=np.float64)
    event_clips, background_clips = np.asarray(event_clips, int), np.asarray(background_clips, int)
    shared = sorted(set(targets[event_clips].tolist()) & set(targets[background_clips].tolist()))
    if shared:
        raise ValueError(f"classes {shared} are both event and background classes")
    active = spans[:, 1] - spans[:, 0]
    low, high = recipe.event_seconds
    event_clips = event_clips[active[event_clips] >= low]
    background_clips = background_clips[active[background_clips] >= recipe.min_background_activity
                                        * clip_seconds[background_clips]]
    if background_clips.size == 0:
        raise ValueError(f"no background clip is at least {recipe.min_background_activity:.0%} active")
    event_classes = np.unique(targets[event_clips])
    if event_classes.size < max(recipe.n_events):
        raise ValueError(f"{event_classes.size} event classes with a clip active >= {low} s, "
                         f"fewer than the {max(recipe.n_events)} events a soundscape may hold")
    clips_of = {int(c): event_clips[targets[event_clips] == c] for c in event_classes}
    specs = []
    for _ in range(n_soundscapes):
        background = int(rng.choice(background_clips))
        n_events = int(rng.choice(recipe.n_events))
        classes = rng.choice(event_classes, size=n_events, replace=False)
        cuts = []
        for target in classes:
            clip = int(rng.choice(clips_of[int(target)]))
            start, end = spans[clip]
            duration = float(rng.uniform(low, min(high, end - start)))
            cuts.append((int(target), clip, float(rng.uniform(start, end - duration)), duration))
        onsets = _onsets([cut[3] for cut in cuts], recipe, rng)
        ratios = rng.choice(np.asarray(recipe.ebr_db, dtype=np.float64), size=n_events)
        events = sorted((Event(target, clip, round(source, 6), round(duration, 6), round(onset, 6), float(ebr))
                         for (target, clip, source, duration), onset, ebr in zip(cuts, onsets, ratios)),
                        key=lambda event: event.onset_seconds)
        specs.append(SoundscapeSpec(background, int(targets[background]), tuple(events)))
    return specs


def _onsets(durations, recipe, rng):
    """Uniform onsets; without overlap, a random order with the free time split at uniform points."""
    durations = np.asarray(durations)
    if recipe.allow_overlap:
        return rng.uniform(0.0, recipe.duration_seconds - durations)
    free = recipe.duration_seconds - durations.sum()
    gaps = np.diff(np.concatenate([[0.0], np.sort(rng.uniform(0.0, free, size=durations.size))]))
    order = rng.permutation(durations.size)
    onsets = np.empty(durations.size)
    now = 0.0
    for index, gap in zip(order, gaps):
        onsets[index] = now + gap
        now = onsets[index] + durations[index]
    return onsets


class Soundscapes:
    """Drawn soundscapes with their labels, and (once mixed) their audio and annotation files.

    Parameters
    ----------
    specs : list of SoundscapeSpec
    n_classes : int
        Number of classes of the dataset (label columns).
    recipe : SoundscapeRecipe
    """

    def __init__(self, specs, *, n_classes, recipe=SoundscapeRecipe()):
        self.specs = list(specs)
        self.n_classes = int(n_classes)
        self.recipe = recipe
        self.audio_paths = None
        self.jams_paths = None
        self.event_list_paths = None

    def __len__(self):
        return len(self.specs)

    @property
    def labels(self):
        """Clip-level labels, np.ndarray [shape=(n, n_classes), dtype=bool] (events only, not the background)."""
        labels = np.zeros((len(self), self.n_classes), dtype=bool)
        for row, spec in enumerate(self.specs):
            labels[row, [event.target for event in spec.events]] = True
        return labels

    def segment_labels(self, starts, ends):
        """Strong labels of segments spanning [starts[t], ends[t]) seconds: the class of every event overlapping it.

        Returns
        -------
        np.ndarray [shape=(n, T, n_classes), dtype=bool]
        """
        starts, ends = np.asarray(starts, np.float64), np.asarray(ends, np.float64)
        labels = np.zeros((len(self), starts.size, self.n_classes), dtype=bool)
        for row, spec in enumerate(self.specs):
            for event in spec.events:
                labels[row, :, event.target] |= (starts < event.offset_seconds) & (ends > event.onset_seconds)
        return labels

    def event_table(self):
        """One row per event: soundscape index, class, duration (s) and event-to-background ratio (dB).

        Returns
        -------
        dict of np.ndarray
            ``"soundscape"``, ``"target"``, ``"duration_seconds"``, ``"ebr_db"``.
        """
        rows = [(row, event.target, event.duration_seconds, event.ebr_db)
                for row, spec in enumerate(self.specs) for event in spec.events]
        columns = np.array(rows, dtype=np.float64).reshape(-1, 4)
        return {"soundscape": columns[:, 0].astype(np.int64), "target": columns[:, 1].astype(np.int64),
                "duration_seconds": columns[:, 2], "ebr_db": columns[:, 3]}

    def reference_events(self, class_names):
        """Per soundscape, its events as (onset, offset, class name) tuples."""
        return [[(event.onset_seconds, event.offset_seconds, class_names[event.target]) for event in spec.events]
                for spec in self.specs]


def _import_scaper():
    """scaper, importable on NumPy 2 (scaper 1.6.5 still reads the removed alias ``np.Inf``)."""
    if not hasattr(np, "Inf"):
        np.Inf = np.inf
    try:
        import scaper
    except ImportError as error:
        raise ImportError("Soundscapes are mixed with scaper: pip install 'refzsl[soundscapes]' "
                          "(and the sox program, e.g. apt-get install sox)") from error
    return scaper


def _source_folder_name(class_name):
    return class_name.replace(" ", "_")


def _prepare_source(path, destination, sample_rate_hz):
    """A mono WAV copy of an audio file at ``sample_rate_hz``, peak-scaled to 0.99 (written once)."""
    import soundfile

    from ..audio.io import load_audio

    if not destination.exists():
        waveform = load_audio(path, sample_rate_hz=sample_rate_hz).astype(np.float64)
        peak = np.max(np.abs(waveform))
        if peak > 0:
            waveform *= _SOURCE_PEAK / peak
        destination.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(destination, lambda stream: soundfile.write(stream, waveform.astype(np.float32),
                                                                  sample_rate_hz, format="WAV", subtype="FLOAT"))
    return destination


def _soundscape_key(spec, recipe, clip_ids):
    """Content key of one soundscape: its draws, the recipe, the source clips and the version."""
    description = {"version": SOUNDSCAPE_VERSION, "recipe": asdict(recipe), "spec": asdict(spec),
                   "clips": {"background": clip_ids[spec.background_clip],
                             "events": [clip_ids[event.clip] for event in spec.events]}}
    return hashlib.sha256(json.dumps(description, sort_keys=True, default=list).encode()).hexdigest()


def mix_soundscapes(soundscapes, *, paths, clip_ids, class_names, folder, seed=0, progress=False):
    """Mix drawn soundscapes with scaper into ``folder`` (skipping those already there).

    Parameters
    ----------
    soundscapes : Soundscapes
        Drawn soundscapes; their ``audio_paths``, ``jams_paths`` and ``event_list_paths`` are set.
    paths, clip_ids : sequence
        Audio file and id of every clip of the dataset (index = clip in the specs).
    class_names : sequence of str
        Name of every class (index = target).
    folder : str or Path
        Holds ``sources/`` (the prepared WAV copies) and ``mixed/`` (WAV, JAMS and event list of
        every soundscape, named by its content key).
    seed : int
        scaper's random state (every value it mixes is fixed, so it only seeds scaper's own
        bookkeeping).
    progress : bool

    Returns
    -------
    Soundscapes
        The same object.
    """
    scaper = _import_scaper()
    recipe = soundscapes.recipe
    folder = Path(folder)
    foreground, background = folder / "sources" / "foreground", folder / "sources" / "background"
    mixed = folder / "mixed"
    audio_paths, jams_paths, list_paths = [], [], []
    for count, spec in enumerate(soundscapes.specs, 1):
        key = _soundscape_key(spec, recipe, clip_ids)
        stem = mixed / key[:2] / key
        audio, annotation, event_list = (stem.with_suffix(suffix) for suffix in (".wav", ".jams", ".txt"))
        if not (audio.exists() and annotation.exists() and event_list.exists()):
            stem.parent.mkdir(parents=True, exist_ok=True)
            _mix_one(scaper, spec, recipe, class_names, paths, clip_ids, foreground, background, stem, seed)
        audio_paths.append(audio)
        jams_paths.append(annotation)
        list_paths.append(event_list)
        if progress and (count % 50 == 0 or count == len(soundscapes)):
            print(f"\rmixed {count}/{len(soundscapes)} soundscapes", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    soundscapes.audio_paths, soundscapes.jams_paths, soundscapes.event_list_paths = audio_paths, jams_paths, list_paths
    return soundscapes


def _mix_one(scaper, spec, recipe, class_names, paths, clip_ids, foreground, background, stem, seed):
    """Mix one soundscape with scaper; WAV, JAMS and event list appear atomically (renamed into place)."""
    def source(root, clip, target):
        name = _source_folder_name(class_names[target])
        return _prepare_source(paths[clip], root / name / f"{clip_ids[clip]}.wav", recipe.sample_rate_hz)

    background_path = source(background, spec.background_clip, spec.background_target)
    event_paths = [source(foreground, event.clip, event.target) for event in spec.events]
    mixer = scaper.Scaper(recipe.duration_seconds, str(foreground), str(background), random_state=seed)
    mixer.sr = recipe.sample_rate_hz
    mixer.n_channels = 1
    mixer.ref_db = recipe.background_lufs
    mixer.add_background(label=("const", _source_folder_name(class_names[spec.background_target])),
                         source_file=("const", str(background_path)), source_time=("const", 0.0))
    for event, path in zip(spec.events, event_paths):
        mixer.add_event(label=("const", _source_folder_name(class_names[event.target])),
                        source_file=("const", str(path)), source_time=("const", event.source_seconds),
                        event_time=("const", event.onset_seconds), event_duration=("const", event.duration_seconds),
                        snr=("const", event.ebr_db), pitch_shift=None, time_stretch=None)
    partial = stem.with_name(stem.name + f".partial{os.getpid()}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scaper warns on every const draw it cannot vary
        mixer.generate(audio_path=str(partial.with_suffix(".wav")), jams_path=str(partial.with_suffix(".jams")),
                       txt_path=str(partial.with_suffix(".txt")), allow_repeated_label=False, reverb=None,
                       fix_clipping=True, disable_sox_warnings=True, disable_instantiation_warnings=True)
    for suffix in (".wav", ".jams", ".txt"):
        os.replace(partial.with_suffix(suffix), stem.with_suffix(suffix))


def read_event_list(path):
    """Events of a scaper event list (``onset<TAB>offset<TAB>label`` per line) as (onset, offset, label) tuples."""
    events = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        try:
            events.append((float(parts[0]), float(parts[1]), parts[2]))
        except (IndexError, ValueError):
            raise ValueError(f"{str(path)!r} line {number} is not 'onset<TAB>offset<TAB>label': {line!r}") from None
    return events
