"""The detection confusion matrix: matching rule, background cells, the threshold, and how the
evaluation records it (results, per-item pairs, the view's cell filter)."""

from __future__ import annotations

import numpy as np

from mm_jupyter.metrics.confusion import box_iou, confusion_matrix, image_pairs

A, B = 0, 1
BOX = [10.0, 10.0, 50.0, 50.0]


def test_a_found_object_counts_on_the_diagonal_and_a_misnamed_one_off_it():
    assert image_pairs([BOX], [A], [BOX], [0.9], [A], conf=0.5) == [(A, A)]
    assert image_pairs([BOX], [A], [[12, 12, 50, 50]], [0.9], [B], conf=0.5) == [(A, B)]


def test_unmatched_predictions_and_boxes_go_to_the_background():
    far = [100.0, 100.0, 120.0, 120.0]
    assert image_pairs([BOX], [A], [far], [0.9], [B], conf=0.5) == [(None, B), (A, None)]
    # below the confidence threshold a prediction is not counted at all
    assert image_pairs([BOX], [A], [BOX], [0.3], [A], conf=0.5) == [(A, None)]
    # an overlap under the IoU threshold is no match
    assert image_pairs([BOX], [A], [[30, 30, 70, 70]], [0.9], [A], conf=0.5) == [(None, A), (A, None)]


def test_the_higher_score_takes_the_box_and_the_duplicate_is_background():
    pairs = image_pairs([BOX], [A], [BOX, BOX], [0.6, 0.95], [B, A], conf=0.5)
    assert pairs == [(A, A), (None, B)]


def test_each_prediction_takes_the_box_it_overlaps_most():
    left, right = [0.0, 0.0, 40.0, 40.0], [30.0, 0.0, 70.0, 40.0]
    pred = [28.0, 0.0, 68.0, 40.0]  # overlaps both, the right one most
    assert image_pairs([left, right], [A, B], [pred], [0.9], [B], conf=0.5) == [(B, B), (A, None)]


def test_matrix_rows_are_true_columns_predicted_background_last():
    m = confusion_matrix([(A, A), (A, B), (None, B), (B, None), (A, A)], 2)
    assert m == [[2, 1, 0], [0, 0, 1], [0, 1, 0]]
    assert sum(map(sum, m)) == 5


def test_box_iou_matches_the_definition():
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 50, (9, 2))
    boxes = np.hstack([corners, corners + rng.uniform(1, 30, (9, 2))])
    a, b = boxes[:5], boxes[5:]
    got = box_iou(a, b)
    for i in range(5):
        for j in range(4):
            w = max(0, min(a[i, 2], b[j, 2]) - max(a[i, 0], b[j, 0]))
            h = max(0, min(a[i, 3], b[j, 3]) - max(a[i, 1], b[j, 1]))
            inter = w * h
            union = (a[i, 2] - a[i, 0]) * (a[i, 3] - a[i, 1]) + (b[j, 2] - b[j, 0]) * (b[j, 3] - b[j, 1]) - inter
            assert abs(got[i, j] - inter / union) < 1e-12
