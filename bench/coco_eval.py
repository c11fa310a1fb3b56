"""Benchmark: coco_evaluate vs pycocotools and faster-coco-eval, whole set and with 50 slices, and the
cost of the bootstrap confidence intervals.

Run: ``python bench/coco_eval.py`` (about a minute on 2 cores). Generates ~2,000 images / 8,000 gt boxes /
24,000 detections deterministically, checks that our mAP equals pycocotools', and prints times and the
ratios pycocotools/ours (target >= 5) and ours_50slices/ours_whole (target <= 1.5) — the metrics alone
(``bootstrap=0``) — and ours_whole+50slices+bootstrap / ours_whole+50slices (the default number of
bootstrap replicates; target <= 2.0: median over interleaved rounds, with its spread), all measured in this
run. Exits non-zero when ours differs from pycocotools or the bootstrap ratio misses its target.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import time
from collections.abc import Callable

import numpy as np

from mm_jupyter.metrics.bootstrap import DEFAULT_REPLICATES
from mm_jupyter.metrics.detection import coco_evaluate
from mm_jupyter.metrics.slices import build_slices

BOOTSTRAP_TARGET = 2.0


def make_set(n_images: int = 2000, n_gt: int = 8000, n_det: int = 24000, n_cats: int = 20,
             seed: int = 0) -> tuple[dict, list[dict], list[dict]]:
    """COCO gt, detections (2/3 jittered true boxes, 1/3 random) and item records for slicing."""
    rng = np.random.default_rng(seed)
    images = [{"id": i + 1, "width": 640, "height": 480} for i in range(n_images)]
    cats = [{"id": c + 1, "name": f"class{c}"} for c in range(n_cats)]
    g_img = rng.choice(np.flatnonzero(rng.random(n_images) >= 0.05) + 1, n_gt)  # ~5% images without gt
    g_cat = rng.integers(1, n_cats + 1, n_gt)
    g_box = np.concatenate([rng.uniform(0, 440, (n_gt, 2)), rng.uniform(5, 200, (n_gt, 2))], 1)
    crowd = rng.random(n_gt) < 0.02
    anns = [{"id": j + 1, "image_id": int(g_img[j]), "category_id": int(g_cat[j]), "bbox": g_box[j].tolist(),
             "area": float(g_box[j, 2] * g_box[j, 3]), "iscrowd": int(crowd[j])} for j in range(n_gt)]
    n_tp = n_det * 2 // 3
    src = rng.integers(0, n_gt, n_tp)
    jitter = rng.normal(0, 0.15, (n_tp, 4))
    tp_box = g_box[src].copy()
    tp_box[:, :2] += jitter[:, :2] * tp_box[:, 2:]
    tp_box[:, 2:] *= np.exp(jitter[:, 2:])
    fp_box = np.concatenate([rng.uniform(0, 440, (n_det - n_tp, 2)), rng.uniform(5, 200, (n_det - n_tp, 2))], 1)
    d_box = np.concatenate([tp_box, fp_box])
    d_img = np.concatenate([g_img[src], rng.integers(1, n_images + 1, n_det - n_tp)])
    d_cat = np.concatenate([np.where(rng.random(n_tp) < 0.9, g_cat[src], rng.integers(1, n_cats + 1, n_tp)),
                            rng.integers(1, n_cats + 1, n_det - n_tp)])
    score = np.concatenate([rng.beta(5, 2, n_tp), rng.beta(2, 5, n_det - n_tp)])
    dets = [{"image_id": int(d_img[j]), "category_id": int(d_cat[j]), "bbox": d_box[j].tolist(),
             "score": float(score[j])} for j in range(n_det)]
    items = [{"id": im["id"], "dir": f"camera{i % 10}", "tags": [["indoor", "outdoor", "synthetic"][i % 3]],
              "name": f"{im['id']}.jpg", "metadata": {"lighting": ["day", "dusk", "night"][(i // 7) % 3],
                                                      "size": float(rng.lognormal(3, 0.5))}}
             for i, im in enumerate(images)]
    return {"images": images, "annotations": anns, "categories": cats}, dets, items


def interleaved(runs: dict[str, tuple[int, Callable[[], object]]]
                ) -> tuple[dict[str, list[float]], dict[str, object]]:
    """{name: (repeat, fn)} run in interleaved rounds: every wall time per method, and its last result."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    outs: dict[str, object] = {}
    for r in range(max(n for n, _ in runs.values())):
        for name, (n, fn) in runs.items():
            if r < n:
                t0 = time.perf_counter()
                outs[name] = fn()
                times[name].append(time.perf_counter() - t0)
    return times, outs


def run_pycocotools(gt: dict, dets: list[dict]) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        cgt = COCO()
        cgt.dataset = gt
        cgt.createIndex()
        ev = COCOeval(cgt, cgt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def run_faster(gt: dict, dets: list[dict]) -> np.ndarray:
    from faster_coco_eval import COCO, COCOeval_faster

    cgt = COCO(gt)
    ev = COCOeval_faster(cgt, cgt.loadRes(dets), "bbox", print_function=lambda *a, **k: None)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return ev.stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7, help="interleaved runs of ours")
    parser.add_argument("--ref-repeat", type=int, default=2, help="runs of pycocotools / faster-coco-eval")
    parser.add_argument("--bootstrap", type=int, default=DEFAULT_REPLICATES, help="bootstrap replicates")
    args = parser.parse_args()
    scale = args.images / 2000
    gt, dets, items = make_set(args.images, int(8000 * scale), int(24000 * scale))
    # 50 overlapping slices as build_slices makes them (each image in 5), and 50 disjoint ones
    slices = build_slices(items, ["dir", "tag", "metadata.lighting", "metadata.size", "dir*metadata.lighting"])
    disjoint = {f"part{p}": [im["id"] for im in gt["images"][p::50]] for p in range(50)}
    print(f"set: {len(gt['images'])} images, {len(gt['annotations'])} gt boxes, {len(dets)} detections, "
          f"{len(gt['categories'])} classes; {len(slices)} slices covering "
          f"{sum(map(len, slices.values())) / len(gt['images']):.1f}x the images")

    coco_evaluate(gt, dets, bootstrap=0)  # warm-up (imports)
    # The references mutate their input, so each run gets fresh copies, made outside the timed region.
    copies = {name: [copy.deepcopy((gt, dets)) for _ in range(args.ref_repeat)] for name in ("ref", "fce")}
    times, out = interleaved({
        "ref": (args.ref_repeat, lambda: run_pycocotools(*copies["ref"].pop())),
        "fce": (args.ref_repeat, lambda: run_faster(*copies["fce"].pop())),
        "whole": (args.repeat, lambda: coco_evaluate(gt, dets, bootstrap=0)),
        "sliced": (args.repeat, lambda: coco_evaluate(gt, dets, slices=slices, bootstrap=0)),
        "disjoint": (args.repeat, lambda: coco_evaluate(gt, dets, slices=disjoint, bootstrap=0)),
        "boot": (args.repeat, lambda: coco_evaluate(gt, dets, slices=slices, bootstrap=args.bootstrap)),
    })
    # the minimum wall time per method: the run least disturbed by other load on the machine
    t = {name: min(ts) for name, ts in times.items()}
    ref_stats, fce_stats, whole, sliced = out["ref"], out["fce"], out["whole"], out["sliced"]
    boot = out["boot"]
    t_ref, t_fce, t_whole, t_sliced = t["ref"], t["fce"], t["whole"], t["sliced"]

    diff = max(abs(whole["map50_95"] - ref_stats[0]), abs(whole["map50"] - ref_stats[1]),
               abs(sliced["map50_95"] - ref_stats[0]), abs(boot["map50_95"] - ref_stats[0]))
    print(f"mAP50-95 {whole['map50_95']:.6f} mAP50 {whole['map50']:.6f} (pycocotools {ref_stats[0]:.6f} "
          f"{ref_stats[1]:.6f}; faster-coco-eval {fce_stats[0]:.6f}); max |ours - pycocotools| = {diff:.1e}")
    ci = boot["ci"]
    print(f"95% intervals ({args.bootstrap} replicates): "
          f"mAP50-95 [{ci['map50_95'][0]:.4f}, {ci['map50_95'][1]:.4f}] mAP50 [{ci['map50'][0]:.4f}, {ci['map50'][1]:.4f}]; "
          f"{sum(bool(r['worse']) for r in boot['slices'].values())} of {len(slices)} slices flagged worse")
    print(f"pycocotools            {t_ref:8.3f} s   (best of {args.ref_repeat}; all runs interleaved)")
    print(f"faster-coco-eval alone {t_fce:8.3f} s   (best of {args.ref_repeat})")
    print(f"ours, whole set        {t_whole:8.3f} s   (best of {args.repeat})")
    print(f"ours, + {len(slices)} slices      {t_sliced:8.3f} s   (best of {args.repeat}; overlapping)")
    print(f"ours, + 50 disjoint slices {t['disjoint']:.3f} s   (best of {args.repeat})")
    print(f"ours, + {len(slices)} slices + bootstrap {t['boot']:.3f} s   (best of {args.repeat}; "
          f"{args.bootstrap} replicates)")
    print(f"ratio pycocotools / ours_whole        = {t_ref / t_whole:6.2f}  (target >= 5)")
    print(f"ratio ours_{len(slices)}slices / ours_whole     = {t_sliced / t_whole:6.2f}  (target <= 1.5)")
    print(f"ratio ours_50disjoint / ours_whole    = {t['disjoint'] / t_whole:6.2f}")
    # the bootstrap's cost: each round's ratio (the two runs of a round saw the same load)
    ratios = np.asarray(times["boot"]) / np.asarray(times["sliced"])
    median = float(np.median(ratios))
    print(f"ratio ours_whole+{len(slices)}slices+bootstrap / ours_whole+{len(slices)}slices = {median:6.2f}  "
          f"(median of {len(ratios)} rounds, spread {ratios.min():.2f}..{ratios.max():.2f}; "
          f"best-of ratio {t['boot'] / t_sliced:.2f}; target <= {BOOTSTRAP_TARGET})")
    if diff > 1e-9:
        raise SystemExit("ours differs from pycocotools")
    if median > BOOTSTRAP_TARGET:
        raise SystemExit(f"the bootstrap costs {median:.2f}x the metrics alone "
                         f"(target <= {BOOTSTRAP_TARGET})")


if __name__ == "__main__":
    main()
