"""Recipes and the rest ("Untitled"): proper anchor boxes (RC-10).

Each seed draws a fresh set of box shapes from a skewed lognormal mixture (fixtures/boxes.py); anchors
are judged by YOLOv2's mean best IoU, and YOLOv5's best possible recall is recorded beside it.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fixtures.anchor_report import attach_anchor_plot, attach_bpr
from fixtures.arms.anchors import Anchors
from fixtures.boxes import SKEWS
from instincts import NonInferior, Superior, claim

SECTION = "Recipes and the rest"
QUESTION = "Proper anchor boxes: do anchors fitted to the data beat hand-picked ones?"
ANCHORS = ["Redmon & Farhadi 2017 (YOLOv2): avg IoU 61.0 with 5 IoU-k-means clusters vs 60.9 with 9 hand-picked "
           "anchors; 67.2 with 9 clusters",
           "YOLOv5 autoanchor: recomputes anchors when best possible recall (ratio rule, threshold 4) < 0.98"]
METHOD = ("Per seed a fresh set of 2,000 x the budget's data scale box shapes (w, h) on a 640 px image, from a "
          "lognormal mixture of sizes and aspect ratios ('mixed': small square, tall and wide clusters; 'small': "
          "mostly tiny boxes; 'elongated': tall and wide bars), drawn by hypothesis. k-means: Lloyd's algorithm "
          "over (w, h), 100 iterations at most, means as centres, one start from k distinct boxes drawn with the "
          "seed (shared by both distances). Hand-picked: YOLOv3's 9 COCO anchors rescaled by one factor so that "
          "their geometric-mean size equals the box set's. Metric: mean over boxes of the best IoU with an "
          "anchor (shapes aligned at the centre). Best possible recall (YOLOv5: both side ratios within 1/4..4 "
          "of some anchor) is recorded in the attached table.")


skews = st.sampled_from(sorted(SKEWS))


@claim("RC-10", "IoU k-means anchors (k=5) give a mean best IoU no worse (1pp margin) than 9 hand-picked anchors",
       section=SECTION, question=QUESTION, anchors=ANCHORS, method=METHOD + " NonInferior, margin 1pp.")
@given(skew=skews)
def test_kmeans_anchors_match_hand_picked(experiment, skew):
    kmeans, hand = Anchors("iou", skew), Anchors("hand-picked", skew, k=9)
    verdict = experiment.compare(kmeans, hand, metric="mean_best_iou", expect=NonInferior(margin=0.01),
                                 unit="pp", config={"skew": skew}, labels=("IoU k-means, k=5", "hand-picked 9"))
    attach_bpr(experiment, {"IoU k-means k=5": kmeans, "hand-picked 9": hand})
    attach_anchor_plot(experiment, skew)
    assert verdict


@claim("RC-10", "k-means with the IoU distance gives a higher mean best IoU than Euclidean k-means (k=5)",
       section=SECTION, question=QUESTION, anchors=ANCHORS, method=METHOD + " Superior, paired by box set and start.")
@given(skew=skews)
def test_iou_distance_beats_euclidean(experiment, skew):
    iou, euclid = Anchors("iou", skew), Anchors("euclidean", skew)
    verdict = experiment.compare(iou, euclid, metric="mean_best_iou", expect=Superior(), unit="pp",
                                 config={"skew": skew}, labels=("IoU k-means", "Euclidean k-means"))
    attach_bpr(experiment, {"IoU k-means": iou, "Euclidean k-means": euclid})
    assert verdict
