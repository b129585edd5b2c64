"""Zero-shot sound event detection from segment-level scores: activity curves, events, and their scores.

A temporal-attention model (:class:`refzsl.models.attention.TemporalAttentionZSL`) gives, per
segment t and candidate class y, a compatibility s_t(y) and an attention weight a_t(y) with
Σ_t a_t(y) = 1; the clip score is S(y) = Σ_t a_t(y) s_t(y). The **activity curve**

    c_t(y) = T · a_t(y) · s_t(y)

is each segment's share of the clip score, scaled so that its mean over time is S(y). For
uniform pooling (a_t = 1/T) it is the segment score itself. A curve is turned into events by a
threshold (chosen on validation data): every run of consecutive segments above it is one event.
A segment stands for the part of the clip nearest its centre, so consecutive segments tile the
clip (:func:`segment_spans`).

Scores follow the field's definitions (Mesaros, Heittola & Virtanen 2016, the ``sed_eval``
toolbox): :func:`segment_f1` is sed_eval's overall segment-based F1 (micro-averaged over
fixed-length segments and classes), computed here in NumPy so that a threshold search can call it
many times; :func:`sed_eval_scores` gives sed_eval's own segment- and event-based F1.
"""

import numpy as np

__all__ = ["activity_curves", "segment_spans", "curves_to_events", "segment_f1", "sed_eval_scores"]


def activity_curves(segment_scores, attention):
    """Activity curves c_t(y) = T · a_t(y) · s_t(y).

    Parameters
    ----------
    segment_scores, attention : np.ndarray [shape=(n_clips, T, n_classes)]
        s_t(y) and a_t(y) (each (clip, class) of ``attention`` sums to 1 over t).

    Returns
    -------
    np.ndarray [shape=(n_clips, T, n_classes)], mean over t equal to the clip score S(y)

    Raises
    ------
    ValueError
        If the shapes differ or are not 3-D.
    """
    segment_scores, attention = np.asarray(segment_scores), np.asarray(attention)
    if segment_scores.shape != attention.shape or segment_scores.ndim != 3:
        raise ValueError(f"segment_scores {segment_scores.shape} and attention {attention.shape} must share one "
                         "shape (n_clips, n_segments, n_classes)")
    return segment_scores.shape[1] * attention * segment_scores


def segment_spans(n_segments, *, hop_seconds, window_seconds, duration_seconds):
    """The time span each segment of a clip stands for: the part of the clip nearest its centre.

    Segment t covers [t·hop, t·hop + window]; its centre is t·hop + window/2. The spans are cut
    half-way between consecutive centres, the first starts at 0 and the last ends at the clip's end.

    Returns
    -------
    starts, ends : np.ndarray [shape=(n_segments,)]
    """
    centres = np.arange(n_segments) * hop_seconds + window_seconds / 2
    cuts = (centres[1:] + centres[:-1]) / 2
    starts = np.concatenate([[0.0], cuts])
    ends = np.concatenate([cuts, [max(duration_seconds, cuts[-1] if cuts.size else 0.0)]])
    return starts, ends


def curves_to_events(curves, threshold, *, starts, ends, class_names):
    """Events where curves exceed a threshold: each run of consecutive segments above it.

    Parameters
    ----------
    curves : np.ndarray [shape=(n_clips, T, n_classes)]
    threshold : float
    starts, ends : np.ndarray [shape=(T,)]
        Span of every segment (:func:`segment_spans`).
    class_names : sequence of str [length n_classes]

    Returns
    -------
    list (per clip) of list of (onset, offset, class name)
    """
    curves = np.asarray(curves)
    if curves.ndim != 3 or curves.shape[1] != len(starts) or curves.shape[2] != len(class_names):
        raise ValueError(f"curves of shape {curves.shape} do not match {len(starts)} segments and "
                         f"{len(class_names)} classes")
    active = curves > threshold
    edges = np.diff(np.pad(active, ((0, 0), (1, 1), (0, 0))).astype(np.int8), axis=1)  # +1 rise, -1 fall
    events = [[] for _ in range(curves.shape[0])]
    for clip, onset_index, cls in zip(*np.nonzero(edges == 1)):
        offset_index = onset_index + np.argmax(edges[clip, onset_index:, cls] == -1)
        events[clip].append((float(starts[onset_index]), float(ends[offset_index - 1]), class_names[cls]))
    for clip_events in events:
        clip_events.sort()
    return events


def _segment_roll(events, class_index, n_segments, resolution):
    """Binary activity of fixed-length segments as sed_eval rolls events: floor(onset) to ceil(offset)."""
    roll = np.zeros((n_segments, len(class_index)), dtype=bool)
    for onset, offset, label in events:
        first = int(np.floor(onset / resolution))
        last = int(np.ceil(offset / resolution))
        roll[first:last, class_index[label]] = True
    return roll


def segment_f1(reference, estimated, *, class_names, resolution_seconds=1.0):
    """Overall segment-based F1 (sed_eval's definition), micro-averaged over segments and classes.

    Parameters
    ----------
    reference, estimated : list (per clip) of list of (onset, offset, class name)
    class_names : sequence of str
        The evaluated classes (events of other classes are ignored).
    resolution_seconds : float > 0
        Segment length.

    Returns
    -------
    float
        2·TP / (2·TP + FP + FN) over all clips, segments and classes (0 when nothing is active).
    """
    if len(reference) != len(estimated):
        raise ValueError(f"{len(reference)} reference clips but {len(estimated)} estimated clips")
    class_index = {name: index for index, name in enumerate(class_names)}
    true_positives = false_positives = false_negatives = 0
    for reference_events, estimated_events in zip(reference, estimated):
        reference_events = [event for event in reference_events if event[2] in class_index]
        estimated_events = [event for event in estimated_events if event[2] in class_index]
        last = max([event[1] for event in reference_events + estimated_events], default=0.0)
        n_segments = int(np.ceil(last / resolution_seconds))
        truth = _segment_roll(reference_events, class_index, n_segments, resolution_seconds)
        guess = _segment_roll(estimated_events, class_index, n_segments, resolution_seconds)
        true_positives += int(np.sum(truth & guess))
        false_positives += int(np.sum(guess & ~truth))
        false_negatives += int(np.sum(truth & ~guess))
    denominator = 2 * true_positives + false_positives + false_negatives
    return 2 * true_positives / denominator if denominator else 0.0


def sed_eval_scores(reference, estimated, *, class_names, resolution_seconds=1.0, collar_seconds=0.2):
    """Segment- and event-based F1 from the ``sed_eval`` toolbox.

    Parameters
    ----------
    reference, estimated : list (per clip) of list of (onset, offset, class name)
    class_names : sequence of str
    resolution_seconds : float
        Segment length of the segment-based metrics.
    collar_seconds : float
        Onset collar (and offset collar, or 20 % of the event's length if larger) of the
        event-based metrics (DCASE's 200 ms by default).

    Returns
    -------
    dict
        ``segment_f1``, ``segment_error_rate``, ``event_f1``, ``event_error_rate`` (overall,
        micro-averaged) and ``event_f1_onset_only``.

    Raises
    ------
    ImportError
        If sed_eval is not installed (``pip install 'refzsl[soundscapes]'``).
    """
    try:
        import sed_eval
    except ImportError as error:
        raise ImportError("SED scores need sed_eval: pip install 'refzsl[soundscapes]'") from error
    import dcase_util

    labels = list(class_names)
    segment = sed_eval.sound_event.SegmentBasedMetrics(event_label_list=labels, time_resolution=resolution_seconds)
    event = sed_eval.sound_event.EventBasedMetrics(event_label_list=labels, t_collar=collar_seconds,
                                                   percentage_of_length=0.2)
    onset_only = sed_eval.sound_event.EventBasedMetrics(event_label_list=labels, t_collar=collar_seconds,
                                                        evaluate_offset=False)

    def container(events, clip):
        return dcase_util.containers.MetaDataContainer(
            [{"filename": f"clip{clip}", "event_onset": onset, "event_offset": offset, "event_label": label}
             for onset, offset, label in events if label in labels])

    for clip, (reference_events, estimated_events) in enumerate(zip(reference, estimated)):
        truth, guess = container(reference_events, clip), container(estimated_events, clip)
        for metric in (segment, event, onset_only):
            metric.evaluate(reference_event_list=truth, estimated_event_list=guess)
    segment_results, event_results = segment.results_overall_metrics(), event.results_overall_metrics()
    return {"segment_f1": float(segment_results["f_measure"]["f_measure"]),
            "segment_error_rate": float(segment_results["error_rate"]["error_rate"]),
            "event_f1": float(event_results["f_measure"]["f_measure"]),
            "event_error_rate": float(event_results["error_rate"]["error_rate"]),
            "event_f1_onset_only": float(onset_only.results_overall_metrics()["f_measure"]["f_measure"])}
