"""Recipes and the rest ("Untitled"): proper anchor boxes (RC-10).

Each seed draws a fresh set of box shapes from a skewed lognormal mixture (fixtures/boxes.py); anchors
are judged by YOLOv2's mean best IoU, and YOLOv5's best possible recall is recorded beside it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import allure
from hypothesis import given
from hypothesis import strategies as st

from fixtures.boxes import SKEWS, best_possible_recall, draw_boxes, kmeans_anchors, mean_best_iou, scaled_anchors
from instincts import NonInferior, Superior, claim
from instincts.experiment import RunContext

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


@dataclass(frozen=True)
class Anchors:
    """Anchors for a freshly drawn box set: "iou" / "euclidean" k-means, or "hand-picked" (YOLOv3, scaled)."""

    method: str
    skew: str
    k: int = 5
    boxes: int = 2000

    def run(self, seeds: list[int], context: RunContext) -> list[dict[str, float]]:
        out = []
        for seed in seeds:
            boxes = draw_boxes(seed, context.budget.scaled(self.boxes), self.skew)
            if self.method == "hand-picked":
                anchors = scaled_anchors(boxes)
            else:
                anchors = kmeans_anchors(boxes, self.k, self.method, seed)
            out.append({"mean_best_iou": mean_best_iou(boxes, anchors), "bpr": best_possible_recall(boxes, anchors),
                        "anchors": float(len(anchors))})
        return out


def attach_bpr(experiment, arms: dict[str, Anchors]) -> None:
    """A per-seed table of best possible recall for each arm (from the cached runs)."""
    seeds = experiment.seeds()
    columns = {name: experiment.values(arm, "bpr", seeds, name) for name, arm in arms.items()}
    rows = ["seed\t" + "\t".join(f"BPR {name}" for name in columns)]
    rows += [f"{s}\t" + "\t".join(f"{col[i]:.4f}" for col in columns.values()) for i, s in enumerate(seeds)]
    rows.append("mean\t" + "\t".join(f"{col.mean():.4f}" for col in columns.values()))
    allure.attach("\n".join(rows), name="best possible recall (YOLOv5, threshold 4)",
                  attachment_type=allure.attachment_type.TSV)


def attach_anchor_plot(skew: str, seed: int = 0) -> None:
    """Seed 0's boxes (log-log w, h) with the three anchor sets: what the numbers summarise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    boxes = draw_boxes(seed, 2000, skew)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(boxes[:, 0], boxes[:, 1], s=2, alpha=0.25, color="#90a4ae", label="boxes")
    for (name, anchors), marker in zip({"IoU k-means k=5": kmeans_anchors(boxes, 5, "iou", seed),
                                        "Euclidean k-means k=5": kmeans_anchors(boxes, 5, "euclidean", seed),
                                        "hand-picked 9 (YOLOv3, scaled)": scaled_anchors(boxes)}.items(), "o^s"):
        label = f"{name}: {mean_best_iou(boxes, anchors):.3f}"
        ax.scatter(anchors[:, 0], anchors[:, 1], s=60, marker=marker, label=label)
    ax.set(xscale="log", yscale="log", xlabel="width (px)", ylabel="height (px)",
           title=f"'{skew}' boxes, seed {seed}: mean best IoU")
    ax.legend(fontsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    allure.attach(buf.getvalue(), name=f"boxes and anchors ({skew}, seed {seed})",
                  attachment_type=allure.attachment_type.PNG)


skews = st.sampled_from(sorted(SKEWS))


@claim("RC-10", "IoU k-means anchors (k=5) give a mean best IoU no worse (1pp margin) than 9 hand-picked anchors",
       section=SECTION, question=QUESTION, anchors=ANCHORS, method=METHOD + " NonInferior, margin 1pp.")
@given(skew=skews)
def test_kmeans_anchors_match_hand_picked(experiment, skew):
    kmeans, hand = Anchors("iou", skew), Anchors("hand-picked", skew, k=9)
    verdict = experiment.compare(kmeans, hand, metric="mean_best_iou", expect=NonInferior(margin=0.01),
                                 unit="pp", config={"skew": skew}, labels=("IoU k-means, k=5", "hand-picked 9"))
    attach_bpr(experiment, {"IoU k-means k=5": kmeans, "hand-picked 9": hand})
    attach_anchor_plot(skew)
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
