"""A deployment's REST predict vs ultralytics' in-process ``predict`` with the same weights on the same
images (YOLOv8n trained here from its yaml on generated shapes).

1. Latency per image, one client: for each image, plain ``YOLO(weights).predict(path)`` in this process
   and ``POST /mm-jupyter/api/deployments/<id>/predict`` (multipart, Jupyter's token) interleaved
   (A B A B), ``--repeats`` passes over the test images. Also the deployment's own port without
   Jupyter (what the server's proxy adds). Target: REST p50 <= 1.5 x plain p50 + 20 ms (the fixed
   HTTP cost: Jupyter's handler, the proxy hop, base64, the kernel's execute round trip).
2. Throughput with 4 concurrent clients (each its own HTTP session) vs plain predict one image after
   another in one thread: concurrent requests are answered together by the adapter's batched
   ``predict``.

    .venv/bin/python bench/predict_latency.py [--repeats 3] [--epochs 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

RATIO = 1.5
FIXED_MS = 20.0
CLIENTS = 4


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def spread(values: list[float]) -> str:
    return f"p50 {pct(values, 50):.1f} ms (p10 {pct(values, 10):.1f}, p90 {pct(values, 90):.1f}, n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="mm-bench-predict-"))
    os.environ["MM_HOME"] = str(home)

    import requests
    from support.server_util import start_server

    import mm_jupyter as mm
    from mm_jupyter import serving
    from mm_jupyter.shapes import generate_shapes

    store = mm.connect()
    data = generate_shapes(home / "data", flavour="detect", n_train=32, n_val=8, n_test=24, size=160, seed=0)
    mm.register_dataset(store, data, name="shapes")
    mm.register_model("det", "yolo")
    exe = mm.create_and_train("det", dataset="shapes", config={"epochs": args.epochs, "batch": 8, "imgsz": 160},
                              wait=True)
    if exe["status"] != "success":
        print(f"training failed: {exe['error']}")
        return 1
    snap = store.get("snapshots", exe["snapshot_id"])
    config = snap["config"]
    images = sorted(str(p) for p in (Path(data) / "images" / "test").glob("*.png"))
    dep = mm.deploy(snap["id"])
    server = start_server(home / "jupyter", home)
    try:
        os.environ.update(YOLO_OFFLINE="1", YOLO_CONFIG_DIR=str(home / "ultralytics"), YOLO_VERBOSE="False")
        from ultralytics import YOLO

        model = YOLO(str(Path(snap["weights_uri"]) / "model.pt"), task="detect")

        def plain(path: str) -> int:
            result = model.predict(path, conf=config["conf"], iou=config["iou"], max_det=config["max_det"],
                                   imgsz=config["imgsz"], device="cpu", verbose=False)[0]
            return len(result.boxes)

        session = requests.Session()
        url = server.api(f"deployments/{dep['id']}/predict")
        headers = {"Authorization": f"token {server.token}"}

        def rest(path: str, sess: requests.Session = session) -> int:
            with open(path, "rb") as fh:
                resp = sess.post(url, files={"image": (Path(path).name, fh.read(), "image/png")}, headers=headers,
                                 timeout=60)
            resp.raise_for_status()
            return len(resp.json()["predictions"][0]["boxes"])

        def direct(path: str) -> int:
            doc = serving.call_deployment(store, dep, [(Path(path).name, Path(path).read_bytes())])
            return len(doc["predictions"][0]["boxes"])

        for path in images[:3]:  # warm both: first calls pay lazy imports and allocations
            plain(path), rest(path), direct(path)
        times: dict[str, list[float]] = {"plain": [], "rest": [], "direct": []}
        mismatched = 0
        for _ in range(args.repeats):
            for path in images:
                counts = {}
                for name, fn in (("plain", plain), ("rest", rest), ("direct", direct)):
                    start = time.perf_counter()
                    counts[name] = fn(path)
                    times[name].append((time.perf_counter() - start) * 1000)
                mismatched += len(set(counts.values())) > 1

        # throughput: 4 clients at once vs one thread of plain predict
        n_each = len(images) // 2
        start = time.perf_counter()
        for path in images[: n_each * CLIENTS // 2] * 2:
            plain(path)
        plain_rate = n_each * CLIENTS / (time.perf_counter() - start)

        def client(k: int) -> None:
            sess = requests.Session()
            for path in images[k::CLIENTS][:n_each] + images[:max(0, n_each - len(images[k::CLIENTS]))]:
                rest(path, sess)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rest_rate = n_each * CLIENTS / (time.perf_counter() - start)
    finally:
        server.stop()
        mm.undeploy(dep["id"])

    p_plain, p_rest, p_direct = (pct(times[k], 50) for k in ("plain", "rest", "direct"))
    fixed = p_rest - p_plain
    limit = RATIO * p_plain + FIXED_MS
    print(f"YOLOv8n ({args.epochs} epochs from yaml), {len(images)} test images of 160 px, imgsz {config['imgsz']}, "
          f"CPU; {args.repeats} interleaved passes")
    print(f"  plain ultralytics predict (in process): {spread(times['plain'])}")
    print(f"  REST predict through Jupyter:           {spread(times['rest'])}")
    print(f"  the deployment's own port (no Jupyter): {spread(times['direct'])}")
    print(f"  fixed HTTP cost (REST p50 - plain p50): {fixed:.1f} ms; Jupyter's proxy alone "
          f"{p_rest - p_direct:.1f} ms")
    print(f"  ratio REST/plain p50: {p_rest / p_plain:.2f}; target REST p50 <= {RATIO} x plain + {FIXED_MS:g} ms "
          f"= {limit:.1f} ms: {'met' if p_rest <= limit else 'MISSED'}")
    print(f"  boxes differ between the paths on {mismatched} of {len(images) * args.repeats} images")
    print(f"  throughput, {CLIENTS} concurrent REST clients: {rest_rate:.1f} images/s vs plain one thread "
          f"{plain_rate:.1f} images/s (ratio {rest_rate / plain_rate:.2f})")
    return 0 if p_rest <= limit and mismatched == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
