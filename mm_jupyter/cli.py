"""The ``mm`` command: models, snapshots, datasets, train/evaluate executions, logs and metrics.

Commands that only read or change the store import neither torch nor ultralytics.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from .errors import InvalidInput, MMError, one_line
from .textfmt import EXECUTION_COLUMNS, ProgressPrinter, clip, execution_rows, safe, table, when

# --- helpers ---------------------------------------------------------------------------------


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """One JSON document with ``--json`` (escaped by JSON itself), else the text."""
    print(json.dumps(data, indent=1, default=str) if args.json else text)


def parse_kv(pairs: list[str] | None) -> dict:
    """``k=v`` pairs; values are read as JSON when they parse (numbers, booleans, lists), else text."""
    out: dict = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--config expects key=value, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


HEALTH_WIDTH = 100  # the services table's HEALTH column; --json has the whole reason


SERVICE_KEYS = ("kernel_name", "concurrency", "max_instances", "queue_size", "execution_timeout", "on_reset",
                "max_attempts", "drain_time", "runner", "gpus", "tracking_url")


def service_settings(args: argparse.Namespace) -> dict:
    return {k: getattr(args, k) for k in SERVICE_KEYS if getattr(args, k, None) is not None}


# --- commands -----------------------------------------------------------------------------------


def cmd_models(args: argparse.Namespace) -> int:
    from . import api

    if args.action == "add":
        model = api.register_model(args.name, args.adapter, labels=args.labels.split(",") if args.labels else None,
                                   config=parse_kv(args.config), description=args.description or "",
                                   codebase=args.codebase)
        emit(args, model, model["id"])
        return 0
    if args.action == "set":
        if not args.name or args.codebase is None:
            raise InvalidInput("mm models set needs the model and --codebase (PATH or git+URL@REVISION)")
        if args.labels or args.config or args.description:
            raise InvalidInput("mm models set changes a model's codebase (and --adapter) only")
        model = api.set_model_codebase(args.name, args.codebase, adapter=args.adapter)
        cb = model["codebase"]
        emit(args, model, f"{model['id']}: adapter {model['adapter']} from codebase sha256 {cb['hash'][:16]}"
                          + (f", revision {cb['revision']}" if cb["revision"] else "")
                          + " (versions trained from now on use it; trained ones keep theirs)")
        return 0
    rows = api.models()
    emit(args, rows, table(rows, ("id", "name", "adapter", "labels")))
    return 0


def _prediction_text(record: dict) -> str:
    if record.get("task") == "classification":
        return f"{safe(record['image'])}: {safe(record['label'])} {record['score']:.3f}" + "".join(
            f"  {safe(t['label'])} {t['score']:.3f}" for t in record["top_k"][1:])
    boxes = record.get("boxes") or []
    lines = [f"{safe(record['image'])}: {len(boxes)} box{'es' if len(boxes) != 1 else ''}"]
    lines += [f"  {safe(b['label'])} {b['score']:.3f} [{', '.join(f'{v:.1f}' for v in b['box'])}]" for b in boxes]
    return "\n".join(lines)


def cmd_predict(args: argparse.Namespace) -> int:
    from . import api

    records = api.predict(args.snapshot, args.paths, top_k=args.top_k)
    emit(args, records, "\n".join(_prediction_text(r) for r in records))
    return 0


DEPLOYMENT_COLUMNS = ("id", "snapshot_name", "model_name", "status", "health", "kernel_name", "address", "restarts")


def _deployment_rows(rows: list[dict]) -> str:
    return table([{**r, "health": (r["health"] or {}).get("level", "") + (
        f": {r['health']['reason']}" if r["health"] and r["health"]["reason"] else "")} for r in rows],
        DEPLOYMENT_COLUMNS)


def cmd_deploy(args: argparse.Namespace) -> int:
    from . import api

    dep = api.deploy(args.snapshot, kernel=args.kernel, runner=args.runner, secrets=args.secrets,
                     wait=not args.no_wait)
    emit(args, dep, f"{dep['id']} {dep['status']}: version {safe(dep['snapshot_name'])} on kernel "
                    f"{safe(dep['kernel_name'])}" + (f" at {dep['address']}" if dep.get("address") else ""))
    return 0


def cmd_deployments(args: argparse.Namespace) -> int:
    from . import api

    rows = api.deployments(all=args.all)
    emit(args, rows, _deployment_rows(rows) if rows else "(no deployments)")
    return 0


def cmd_undeploy(args: argparse.Namespace) -> int:
    from . import api

    dep = api.undeploy(args.id)
    emit(args, dep, f"{dep['id']} {dep['status']}")
    return 0


def cmd_snapshots(args: argparse.Namespace) -> int:
    from . import api

    if args.action == "add":
        if args.weights is not None:
            if any(v is not None for v in (args.dataset, args.train, args.validation, args.test, args.parent)):
                raise InvalidInput("--weights registers weights trained elsewhere: it takes --model, --name and "
                                   "--config only (evaluate it with mm evaluate VERSION --dataset D)")
            if not args.model:
                raise InvalidInput("mm versions add --weights needs --model (the model the weights are for)")
            snap = api.add_pretrained(args.model, args.weights, args.name, config=parse_kv(args.config))
        else:
            snap = api.create_snapshot(args.model, args.name, config=parse_kv(args.config), dataset=args.dataset,
                                       train=args.train, validation=args.validation, test=args.test,
                                       parent=args.parent)
        emit(args, snap, snap["id"])
        return 0
    if args.action != "tag" and args.remove:
        raise InvalidInput("--remove goes with mm versions tag ID TAG")
    if args.history and (args.action != "notes" or args.value is not None):
        raise InvalidInput("--history goes with mm versions notes ID (showing them, with no TEXT)")
    if args.search is not None and args.action != "list":
        raise InvalidInput("--search goes with mm versions (list)")
    if args.action in ("list", "add") and args.value is not None:
        raise InvalidInput(f"mm versions {args.action} takes no {'TEXT' if args.id else 'ID'} after it "
                           f"(got {args.value[:40]!r})")
    if args.action in ("remove", "show", "notes", "tag") and not args.id:
        raise InvalidInput(f"mm versions {args.action} needs a version ID")
    if args.action == "remove":
        removed = api.remove_snapshot(args.id)
        emit(args, {"removed": removed}, f"removed {removed}")
        return 0
    if args.action == "show":
        if args.value is not None:
            raise InvalidInput(f"mm versions show takes one version ID (got {args.value[:40]!r} after it)")
        page = api.version_page(args.id)
        emit(args, page, _version_text(page))
        return 0
    if args.action == "notes":
        return _notes(args)
    if args.action == "tag":
        if args.value is None:
            if args.remove:
                raise InvalidInput("mm versions tag ID --remove needs the TAG to remove")
            tags = api.version_page(args.id)["tags"]
        else:
            tags = (api.remove_tag if args.remove else api.add_tag)(args.id, args.value)
        emit(args, tags, safe(", ".join(tags)) if tags else "(no tags)")
        return 0
    rows = api.snapshots(args.model, search=args.search)
    emit(args, rows, table([{**r, "tags": ",".join(r["tags"])} for r in rows],
                           ("id", "name", "model_id", "status", "dataset_id", "parent_id", "tags")))
    return 0


def _notes(args: argparse.Namespace) -> int:
    """``mm versions notes ID [TEXT]``: show a version's notes (``--history``: every edit), or save new ones."""
    from . import api
    from .queries import catalog

    if args.value is None:
        snap = api.connect().get("snapshots", args.id)
        row = catalog.notes(api.connect(), snap["id"], history=args.history)
        if args.history:
            text = "\n\n".join(f"--- {when(h['edited_at'])}\n" + "\n".join(safe(line) for line in h["text"].split("\n"))
                               for h in row["history"]) or "(no notes)"
        else:
            text = "\n".join(safe(line) for line in row["text"].split("\n")) if row["edits"] else "(no notes)"
        emit(args, row, text)
        return 0
    text = sys.stdin.read() if args.value == "-" else args.value
    row = api.set_notes(args.id, text)
    emit(args, row, f"notes of {row['snapshot_id']} saved ({len(row['text']):,} characters; {row['edits']} "
                    f"edit{'s' if row['edits'] != 1 else ''} kept)")
    return 0


def _version_text(page: dict) -> str:
    """The version page as terminal text (``mm versions show``)."""
    def brief(v: dict | None) -> str:
        return "-" if v is None else f"{v['id']} {v['name'] or ''} ({v['status']})"

    ds = page["dataset"]
    weights = page["weights"]
    lines = [f"{page['name']}  {page['id']}  ({page['status']})",
             f"model: {page['model_name']} ({page['model_id']}), adapter {page['adapter'] or '-'}",
             f"created: {when(page['created_at'])}",
             f"parent: {brief(page['parent'])}",
             "children: " + (", ".join(brief(c) for c in page["children"]) or "-"),
             "tags: " + (", ".join(page["tags"]) or "-"),
             "labels: " + (", ".join(page["labels"]) or "-"),
             "config: " + (", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(page["config"].items())) or "-")]
    if ds is None:
        lines.append("dataset: -")
    else:
        state = {True: "CHANGED since training", False: "unchanged since training", None: "not trained on yet"}
        lines.append(f"dataset: {ds['name']} ({ds['id']}): {state[ds['changed']]}"
                     + (f" (content hash {ds['trained_hash'][:12]}… then, {ds['current_hash'][:12]}… now)"
                        if ds["changed"] else ""))
    if weights["available"]:
        lines.append(f"weights: {weights['size']:,} bytes in {len(weights['files'])} file(s) "
                     f"({', '.join(f['name'] for f in weights['files'])}), sha256 {(weights['hash'] or '-')[:16]}")
    else:
        lines.append(f"weights: {weights['message']}")
    repro = page["repro"]
    if page["recorded"]:
        lines.append(f"record: python {repro.get('python')}, git {(repro.get('git_revision') or '-')[:12]}, seed "
                     f"{repro.get('seed')}, packages " + ", ".join(f"{k} {v}" for k, v in
                                                                 sorted((repro.get("packages") or {}).items()) if v))
    if repro.get("codebase_hash"):
        lines.append(f"codebase: {clip(str(repro.get('codebase_source')), 120)}, sha256 {repro['codebase_hash'][:16]}"
                     + (f", revision {repro['codebase_revision']}" if repro.get("codebase_revision") else ""))
    notes = page["notes"]["text"]
    lines.append("notes: " + (notes.split("\n")[0][:100] + (" …" if "\n" in notes or len(notes) > 100 else "")
                              if notes else "-"))
    lines.append(f"executions ({page['executions_total']}):")
    lines += ["  " + line for line in table(execution_rows(page["executions"]),
                                            ("id", "kind", "created", "status", "service")).splitlines()]
    return "\n".join(safe(line) for line in lines)


def cmd_datasets(args: argparse.Namespace) -> int:
    from . import api, datasets
    from .queries import catalog

    if args.action == "add":
        if not args.path:
            raise InvalidInput("mm datasets add needs a PATH")
        ds = datasets.register_dataset(api.connect(), args.path, name=args.name, format=args.format)
        emit(args, ds, ds["id"])
        return 0
    if args.action == "shapes":
        from .shapes import generate_shapes

        out = generate_shapes(args.path or "shapes", flavour=args.flavour, seed=args.seed)
        print(out)
        return 0
    rows = catalog.datasets(api.connect())
    emit(args, rows, table(rows, ("id", "name", "format", "n_items", "labels", "root")))
    return 0


def _follow(args: argparse.Namespace, exe: dict) -> int:
    from . import api

    if not args.wait:
        emit(args, exe, exe["id"])
        return 0
    print(exe["id"], file=sys.stderr)

    show = ProgressPrinter(force=args.progress)
    final = api.wait_for(exe["id"], on_update=show)
    show.done()
    if args.json:
        print(json.dumps(final, indent=1, default=str))
    else:
        print(safe(f"{final['id']} {final['status']}" + (f": {final['error']}" if final.get("error") else "")))
    return 0 if final["status"] == "success" else 1


def cmd_train(args: argparse.Namespace) -> int:
    from . import api

    if args.model:  # a new version and its training, created together (a refused launch creates nothing)
        if args.snapshot:
            raise InvalidInput("give a SNAPSHOT to train or --model to create one, not both")
        exe = api.create_and_train(args.model, args.name, config=parse_kv(args.config), dataset=args.dataset,
                                   train=args.train, validation=args.validation, test=args.test, parent=args.parent,
                                   service=service_settings(args), idempotency_key=args.idempotency_key,
                                   notebook=args.notebook, secrets=args.secrets)
        return _follow(args, exe)
    if not args.snapshot:
        raise InvalidInput("mm train needs a SNAPSHOT id or --model to create one")
    if args.config:
        raise InvalidInput("--config goes with --model (a new version); use mm rerun ID --config to clone")
    exe = api.train(args.snapshot, service=service_settings(args), idempotency_key=args.idempotency_key,
                    notebook=args.notebook, secrets=args.secrets)
    return _follow(args, exe)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from . import api

    exe = api.evaluate(args.snapshot, dataset=args.dataset, test=args.test, service=service_settings(args),
                       idempotency_key=args.idempotency_key, notebook=args.notebook, slice_by=args.slice_by,
                       secrets=args.secrets)
    return _follow(args, exe)


def cmd_executions(args: argparse.Namespace) -> int:
    from . import api

    rows = api.list_executions(kind=args.kind, status=args.status, search=args.search, service=args.service,
                               limit=args.limit, offset=args.offset)
    emit(args, rows, table(execution_rows(rows), EXECUTION_COLUMNS))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from . import api
    from .errors import NotFound
    from .queries import executions as q_exe

    store = api.connect()
    table_name = {"m": "models", "s": "snapshots", "d": "datasets", "e": "executions"}.get(args.id[:1])
    if not table_name or args.id[1:2] != "-":
        table_name = "executions"
    try:
        row = store.get(table_name, args.id)
    except NotFound:
        for other in ("models", "snapshots", "datasets"):
            try:
                row, table_name = store.get(other, args.id), other
                break
            except NotFound:
                continue
        else:
            raise
    if table_name == "executions":
        row = {**row, **q_exe.execution(store, row["id"])}
        row["notebook"] = str(store.execution_dir(row) / "notebook.ipynb")
    if table_name == "snapshots":
        row["data_changed_since_training"] = _data_changed(store, row)
    text = "\n".join(safe(f"{k:>16}: {json.dumps(v, default=str) if isinstance(v, dict | list) else v}")
                     for k, v in row.items() if k != "events")
    if table_name == "executions":
        text += "\n" + "\n".join(safe(f"{when(e['ts'])} {e['level']:<5} {e['message']}") for e in row["events"])
    if row.get("data_changed_since_training"):
        trained, now_hash = row["data_changed_since_training"]
        text += (f"\nnote: dataset {row['dataset_id']} changed since this version was trained "
                 f"(content hash {trained[:12]}… then, {now_hash[:12]}… now)")
    emit(args, row, text)
    return 0


def _data_changed(store: Any, version: dict) -> tuple[str, str] | None:
    """``(hash when trained, hash now)`` when the version's dataset changed since its training."""
    from .datasets import refresh_dataset

    trained = (version.get("repro") or {}).get("dataset_hash")
    if not (version.get("weights_uri") and trained and version.get("dataset_id")):
        return None
    current = refresh_dataset(store, version["dataset_id"])["content_hash"]
    return (trained, current) if current != trained else None


def cmd_abort(args: argparse.Namespace) -> int:
    from . import api

    row = api.abort(args.id)
    emit(args, row, f"{row['id']} {row['status']}")
    return 0


def cmd_rerun(args: argparse.Namespace) -> int:
    from . import api

    exe = api.rerun(args.id, config=parse_kv(args.config) or None, idempotency_key=args.idempotency_key)
    return _follow(args, exe)


def cmd_remove(args: argparse.Namespace) -> int:
    from . import api

    removed = api.remove(args.id)  # the full id, whatever prefix was given
    emit(args, {"removed": removed}, f"removed {removed}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from . import api
    from .executions import FINISHED

    store = api.connect()
    exe = store.get("executions", args.id)
    path = api.log_path(exe["id"], store=store)
    pos = 0
    while True:
        if path.exists():
            with open(path, errors="replace") as fh:
                fh.seek(pos)
                chunk = fh.read()
                pos = fh.tell()
            sys.stdout.write(chunk)
            sys.stdout.flush()
        if not args.follow or store.get("executions", exe["id"])["status"] in FINISHED:
            if args.follow and path.exists():
                with open(path, errors="replace") as fh:
                    fh.seek(pos)
                    sys.stdout.write(fh.read())
            return 0
        time.sleep(0.5)


def cmd_metrics(args: argparse.Namespace) -> int:
    from . import api

    rows = api.metrics(args.id, attempt=args.attempt)
    if args.name:
        rows = [r for r in rows if r["name"] == args.name]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    last: dict[str, dict] = {}
    for r in rows:
        last[r["name"]] = r
    print(table([{"name": n, "epoch": r["epoch"], "step": r["step"], "value": f"{r['value']:.5g}"}
                 for n, r in last.items()], ("name", "epoch", "step", "value")))
    print(f"({len(rows)} points; --json for all)")
    return 0


def cmd_services(args: argparse.Namespace) -> int:
    from . import api, scheduler
    from .queries import catalog

    store = api.connect()
    if args.action != "list" and not args.name:
        raise InvalidInput(f"mm services {args.action} needs a service NAME")
    if args.action in ("pause", "resume"):
        row = scheduler.set_paused(store, args.name, args.action == "pause")
        emit(args, row, f"{row['name']} {'paused' if row['paused'] else 'running'}")
        return 0
    if args.action == "stop":
        row = scheduler.stop(store, args.name, drain_time=args.drain_time, wait=not args.no_wait)
        emit(args, row, f"{row['name']} stopped (paused; mm services resume {row['name']} to start it again)")
        return 0
    if args.action == "set":
        settings = service_settings(args)
        if args.secrets and args.no_secrets:
            raise InvalidInput("give --secret NAME (the service's secrets) or --no-secrets (none), not both")
        if args.secrets or args.no_secrets:
            settings["secrets"] = [] if args.no_secrets else args.secrets
        if not settings:
            raise InvalidInput("mm services set needs at least one setting (--concurrency, --runner, ...)")
        row = scheduler.configure(store, args.name, settings)
        emit(args, row, f"{row['name']} updated")
        return 0
    rows = [catalog.service(store, args.name, wait=True)] if args.name else catalog.services(store, wait=True)
    shown = [{**r, "health": clip(f"{r['health']['level']}: {r['health']['reason']}", HEALTH_WIDTH)
              if r["health"]["reason"] else r["health"]["level"]} for r in rows]
    emit(args, rows, table(shown, ("name", "runner", "gpus", "kernel_name", "concurrency", "max_instances",
                                   "queue_size", "on_reset", "max_attempts", "paused", "health")))
    return 0


def _read_secret_value(name: str) -> str:
    """A secret's value from standard input: typed unseen at a terminal, else piped (one trailing
    newline stripped). Never from the command line, where other users' ``ps`` would see it."""
    if sys.stdin is None or sys.stdin.closed:
        raise InvalidInput(f"mm secrets set {name}: pipe the value on standard input "
                           f"(e.g. printf %s \"$TOKEN\" | mm secrets set {name})")
    if sys.stdin.isatty():
        import getpass

        value = getpass.getpass(f"value of {name} (not shown): ")
    else:
        value = sys.stdin.read()
        value = value[:-2] if value.endswith("\r\n") else value[:-1] if value.endswith("\n") else value
    if not value:
        raise InvalidInput(f"mm secrets set {name}: no value on standard input: pipe the value "
                           f"(e.g. printf %s \"$TOKEN\" | mm secrets set {name})")
    return value


def cmd_secrets(args: argparse.Namespace) -> int:
    from . import api

    if args.extra:
        raise InvalidInput(SECRET_ON_ARGV)
    if args.action == "list":
        rows = api.list_secrets()
        emit(args, rows, table([{"name": r["name"], "set_at": when(r["set_at"])} for r in rows], ("name", "set_at"))
             if rows else "no secrets (mm secrets set NAME, the value on standard input)")
        return 0
    if not args.name:
        raise InvalidInput(f"mm secrets {args.action} needs a secret NAME")
    if args.action == "set":
        from .secrets import check_name

        check_name(args.name)  # before reading a value for nothing
        row = api.set_secret(args.name, _read_secret_value(args.name))
        emit(args, row, f"secret {row['name']} set")
        return 0
    name = api.remove_secret(args.name)
    emit(args, {"removed": name}, f"secret {name} removed")
    return 0


CONFIG_KEYS = ("artifact_root",)


def cmd_config(args: argparse.Namespace) -> int:
    """``mm config show`` / ``set KEY VALUE`` / ``unset KEY``: store-wide settings (the artifact root)."""
    from . import api
    from .artifact_root import configure, configured

    store = api.connect()
    if args.action != "show":
        if args.key not in CONFIG_KEYS:
            raise InvalidInput(f"mm config {args.action} needs a setting: {', '.join(CONFIG_KEYS)} (got {args.key!r})")
        if args.action == "set" and not args.value:
            raise InvalidInput("mm config set artifact_root needs a URL (file:///PATH, s3://BUCKET/PREFIX, "
                               "gs://BUCKET/PREFIX)")
        if args.action == "unset" and args.value:
            raise InvalidInput("mm config unset artifact_root takes no value")
        configure(store, args.value if args.action == "set" else None)
    row = configured(store)
    emit(args, row, f"artifact_root  {safe(row['artifact_root'])}" + ("  (default)" if row["default"] else ""))
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def cmd_serve(args: argparse.Namespace) -> int:
    """``mm serve``: the runner API (remote workers report there) and the reconcile timer, until
    interrupted."""
    from .serve import serve

    serve(args.host, args.port)
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    """``mm cluster up``: a Dask LocalCluster on this machine, until interrupted."""
    import signal

    from .runners.dask import local_cluster, runner_address

    try:
        cluster = local_cluster(args.workers, threads_per_worker=args.threads, gpu_workers=args.gpu_workers,
                                gpus_per_worker=args.gpus_per_worker, host=args.host, port=args.port)
    except (OSError, RuntimeError) as exc:
        raise InvalidInput(f"cannot start the Dask cluster: {exc}") from None
    address = runner_address(cluster)
    print(address, flush=True)
    print(f"Dask LocalCluster: {args.workers} worker processes ({args.gpu_workers} declaring GPU="
          f"{args.gpus_per_worker}) x {args.threads} thread(s). Use it with: mm services set NAME --runner "
          f"{address}  (or mm train ... --runner {address}). Ctrl-C stops it.", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.close()
    return 0


def cmd_filters(args: argparse.Namespace) -> int:
    """Saved filters: list, add, show (with the versions that use it), edit (a new query under the same
    name, for versions trained from now on) and remove (refused while a version that is not trained
    yet uses it; see ``api.delete_filter``)."""
    from . import api
    from .queries import catalog

    store = api.connect()
    if args.action == "list" and args.name:
        raise InvalidInput(f"mm filters list takes no NAME (mm filters show {args.name} shows one)")
    if args.action in ("add", "edit") and not (args.name and args.query):
        raise InvalidInput(f"mm filters {args.action} needs NAME and a JSON QUERY")
    if args.action in ("show", "remove") and (not args.name or args.query):
        raise InvalidInput(f"mm filters {args.action} needs a filter NAME (and nothing after it)")
    if args.action == "add":
        row = api.save_filter(store, args.name, args.query)
        emit(args, row, row["name"])
        return 0
    if args.action == "edit":
        row = api.edit_filter(store, args.name, args.query)
        emit(args, row, f"{row['name']} updated (versions trained from now on use the new query)")
        return 0
    if args.action == "remove":
        api.delete_filter(store, args.name)
        emit(args, {"removed": args.name}, f"removed {args.name}")
        return 0
    if args.action == "show":
        row = catalog.filter_detail(store, args.name)
        emit(args, row, _filter_text(row))
        return 0
    rows = catalog.filters(store)
    emit(args, rows, table([{**r, "dataset": r["dataset_id"] or "(any)", "query": clip(json.dumps(r["query"]), 100)}
                            for r in rows], ("name", "dataset", "query")))
    return 0


def _filter_text(row: dict) -> str:
    lines = [f"name: {row['name']}", f"dataset: {row['dataset_id'] or '(any)'}", f"saved: {when(row['created_at'])}",
             f"query: {json.dumps(row['query'])}"]
    versions = row["versions"]
    if not versions:
        lines.append("versions: none use it")
    else:
        lines.append(f"versions ({len(versions)}; those marked 'recorded' keep the query they trained on):")
        lines += ["  " + line for line in table([
            {**v, "roles": ",".join(v["roles"]),
             "record": "recorded" if v["recorded"] else "by name" + ("" if v["trained"] else " (not trained yet)")}
            for v in versions], ("id", "name", "model_id", "status", "roles", "record")).splitlines()]
    return "\n".join(safe(line) for line in lines)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(epochs=args.epochs, folder=args.data)


# --- parser -------------------------------------------------------------------------------------

ID_HELP = "an id, or a unique prefix of one (4+ characters); output shows the full id"

# ``mm --help`` ends with these: one group per line of work, every command in at least one example
# (tests/test_cli_newcomer.py checks both, and that every example parses).
EXAMPLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("try it", (
        "mm demo --epochs 5                          # shapes data, a YOLO model, train and evaluate",
    )),
    ("data", (
        "mm datasets shapes ./shapes                 # generate a small detection dataset",
        "mm datasets add ./shapes --name shapes      # register a dataset (yolo, coco or imagefolder)",
        "mm filters add dark '{\"metadata.lighting\": \"dark\"}'",
        "mm filters show dark                        # its query and the versions that use it",
        "mm filters edit dark '{\"metadata.lighting\": {\"$in\": [\"dark\", \"dim\"]}}'",
        "mm filters remove dark",
    )),
    ("models and versions", (
        "mm models add det --adapter yolo --labels circle,square",
        "mm snapshots add --model det --dataset shapes --config epochs=5 --train filter:dark",
        "mm snapshots --model det",
        "mm snapshots remove s-1a2b",
        "mm versions show s-1a2b                     # lineage, record, weights, executions, notes, tags",
        "mm versions notes s-1a2b 'baseline for the spring data'",
        "mm versions tag s-1a2b best                 # then mm executions --search best finds its runs",
    )),
    ("train and evaluate", (
        "mm train --model det --dataset shapes --config epochs=5 --wait",
        "mm train s-1a2b --kernel python3            # train a version made with mm snapshots add",
        "mm evaluate s-1a2b --test tag:test --wait",
        "mm rerun e-1a2b --config epochs=10          # train again as a new version, one setting changed",
    )),
    ("predict and deploy", (
        "mm predict s-1a2b photo.jpg --json           # one record per image: boxes, or label and top-k",
        "mm deploy s-1a2b                            # a warm kernel answering REST predict; the version shows deployed",
        "mm deployments                              # with health",
        "mm undeploy dp-1a2b",
        "mm versions add --model det --weights best.pt   # weights trained elsewhere: pre-trained",
    )),
    ("follow executions", (
        "mm executions --status in-progress",
        "mm show e-1a2b                              # an execution (or a model, version, dataset)",
        "mm logs -f e-1a2b",
        "mm metrics e-1a2b --name loss --json",
        "mm abort e-1a2b",
        "mm remove e-1a2b                            # an ended execution and its artifacts",
    )),
    ("services (where executions run)", (
        "mm services",
        "mm services set mgmt-train-m-1a2b --concurrency 2 --kernel python3",
        "mm services stop mgmt-train-m-1a2b --drain-time 60",
        "mm cluster up --workers 2                   # then: mm services set NAME --runner dask://HOST:PORT",
        "mm serve --host 0.0.0.0                     # remote workers report here: --tracking-url http://HOST:8890",
        "mm config set artifact_root s3://bucket/mm  # where weights, notebooks and logs go (checked writable)",
        "mm config show",
    )),
    ("secrets (values never on the command line, in the store, notebooks or logs)", (
        "mm secrets set HF_TOKEN                     # the value on standard input (piped, or typed unseen)",
        "mm secrets list",
        "mm train e-1a2b --secret HF_TOKEN           # os.environ['HF_TOKEN'] in the kernel",
        "mm services set mgmt-train-m-1a2b --secret HF_TOKEN",
    )),
)
EPILOG = ("examples (IDs may be given as a unique prefix, e.g. e-1a2b; every command prints full ids):\n"
          + "\n".join(f"\n  {group}:\n" + "\n".join(f"    {line}" for line in lines) for group, lines in EXAMPLES)
          + "\n\nmm COMMAND --help shows a command's options. Exit codes: 0 ok, 1 a waited execution did not "
          "succeed,\n2 bad input, 3 unknown id or name, 4 not allowed in the current state.")


def _add_settings_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kernel", dest="kernel_name", help="Jupyter kernel the executions run on (the service's machine "
                   "type; jupyter kernelspec list shows them; default python3)")
    p.add_argument("--concurrency", type=int, help="executions at once per instance (default 1)")
    p.add_argument("--max-instances", type=int, dest="max_instances",
                   help="instances (slots = concurrency x this; default 1)")
    p.add_argument("--queue-size", type=int, dest="queue_size", help="pending executions at most (default 1000)")
    p.add_argument("--execution-timeout", type=float, dest="execution_timeout", metavar="SECONDS",
                   help="an attempt running longer is stopped and failed (default 3600)")
    p.add_argument("--drain-time", type=float, dest="drain_time", metavar="SECONDS",
                   help="how long `mm services stop` lets running executions finish (default 300 for "
                   "training, 600 for evaluation)")
    p.add_argument("--on-reset", choices=("fail", "rerun"), dest="on_reset",
                   help="when a kernel, runner or worker dies: fail the execution (default) or queue it again")
    p.add_argument("--max-attempts", type=int, dest="max_attempts",
                   help="attempts at most with --on-reset rerun (default 3)")
    p.add_argument("--runner", help="local (default) or dask://host:port (a Dask scheduler)")
    p.add_argument("--gpus", type=int, help="GPUs per execution, asked of Dask workers as resources={'GPU': n}")
    p.add_argument("--tracking-url", dest="tracking_url", metavar="URL",
                   help="with a dask:// runner: workers share nothing with this machine and report to this Jupyter "
                   "server or `mm serve` (http://host:port); '' goes back to workers that open this store")


def _add_service_flags(p: argparse.ArgumentParser) -> None:
    _add_settings_flags(p)
    p.add_argument("--idempotency-key", help="a token: submitting it twice starts one execution")
    p.add_argument("--notebook", help="run your own notebook (same parameters cell) instead of the template")
    p.add_argument("--wait", action="store_true", help="block with a progress bar; exit 1 unless success")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not a TTY")
    p.add_argument("--secret", action="append", dest="secrets", metavar="NAME",
                   help="a secret (mm secrets set NAME) put into the kernel's environment as $NAME (repeatable); "
                   "its value is redacted from the notebook and the log")


def _add_snapshot_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", help="the version's name (default <model>-v<n>)")
    p.add_argument("--config", action="append", metavar="K=V",
                   help="a config value of the version, checked against the adapter (repeatable; values are read "
                   "as JSON when they parse: epochs=5, lr=0.01, augment=true)")
    p.add_argument("--dataset", help="the dataset to train on (id, name or id prefix)")
    p.add_argument("--train", help="train subset: tag:NAME, dir:PATH, filter:NAME or a JSON query (default: the "
                   "model's saved filter <model>.train, else items tagged train)")
    p.add_argument("--validation", help="validation subset (same forms)")
    p.add_argument("--test", help="test subset (same forms)")
    p.add_argument("--parent", help="parent version to fine-tune from (its weights are the start)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mm", description="mm-jupyter: model management inside Jupyter",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="what to do (mm COMMAND --help for its options)")

    def add(name: str, func, help_text: str, json_flag: bool = True, aliases: Sequence[str] = ()) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, aliases=list(aliases))
        p.set_defaults(func=func)
        if json_flag:
            p.add_argument("--json", action="store_true", help="one JSON document on stdout")
        return p

    p = add("demo", cmd_demo, "generate shapes data, train and evaluate a YOLO model", json_flag=False)
    p.add_argument("--epochs", type=int, default=40, help="training epochs (default 40)")
    p.add_argument("--data", help="folder for the generated data (default $MM_HOME/data)")

    p = add("models", cmd_models, "list, add models, or set a model's codebase")
    p.add_argument("action", nargs="?", choices=("list", "add", "set"), default="list",
                   help="list (default), add, or set (a new --codebase for the versions trained from now on)")
    p.add_argument("name", nargs="?", help="add: the new model's name; set: the model")
    p.add_argument("--codebase", metavar="PATH|git+URL@REV",
                   help="where the adapter's code comes from: a folder or a git repository at a branch, tag or "
                   "commit, copied into the store by content hash (--adapter names module:Class inside it)")
    p.add_argument("--adapter", help="module:Class, yolo or torch-classifier")
    p.add_argument("--labels", help="comma-separated predefined labels")
    p.add_argument("--config", action="append", metavar="K=V",
                   help="a default config value of the model's versions (repeatable; JSON values when they parse)")
    p.add_argument("--description", help="free text about the model")

    p = add("snapshots", cmd_snapshots, "list, add, remove or show versions (snapshots); their notes and tags",
            aliases=["versions"])
    p.add_argument("action", nargs="?", choices=("list", "add", "remove", "show", "notes", "tag"), default="list",
                   help="list (default), add, remove, show (lineage, record, weights, executions, notes, tags), "
                   "notes (show or set a version's notes) or tag (add or --remove a tag)")
    p.add_argument("id", nargs="?", help=f"remove, show, notes, tag: the version; {ID_HELP}")
    p.add_argument("value", nargs="?", metavar="TEXT", help="notes: the new notes, at most 10,000 characters ('-' "
                   "reads them from standard input; without it the notes are shown); tag: the tag (1-50 "
                   "characters; without it the tags are shown)")
    p.add_argument("--model", help="list: only this model's versions; add: the model of the new version")
    p.add_argument("--search", help="list: only versions whose or whose model's name holds this, whose id starts "
                   "with it, or that have it as a tag (case-insensitive)")
    p.add_argument("--remove", action="store_true", help="tag: remove the tag instead of adding it")
    p.add_argument("--history", action="store_true", help="notes: every saved edit, newest first")
    p.add_argument("--weights", metavar="FILE_OR_DIR", help="add: weights trained elsewhere, checked by loading them "
                   "through the model's adapter and copied into the store (status pre-trained)")
    _add_snapshot_flags(p)

    p = add("datasets", cmd_datasets, "list, add (register) datasets, or generate the shapes set")
    p.add_argument("action", nargs="?", choices=("list", "add", "shapes"), default="list",
                   help="list (default), add (register a folder) or shapes (generate a demo dataset)")
    p.add_argument("path", nargs="?", help="add: the dataset's folder; shapes: where to write it (default ./shapes)")
    p.add_argument("--name", help="add: the dataset's name (default: the folder's name)")
    p.add_argument("--format", choices=("yolo", "coco", "imagefolder"), help="add: the layout (default: detected)")
    p.add_argument("--flavour", choices=("detect", "classify"), default="detect",
                   help="shapes: boxes in YOLO layout (detect, default) or one shape per image in class folders")
    p.add_argument("--seed", type=int, default=0, help="shapes: random seed (default 0)")

    p = add("train", cmd_train, "train a snapshot (or create one with --model)")
    p.add_argument("snapshot", nargs="?", help=f"the version to train (never trained before); {ID_HELP}")
    p.add_argument("--model", help="create a new version of this model and train it (instead of SNAPSHOT)")
    _add_snapshot_flags(p)
    _add_service_flags(p)

    p = add("evaluate", cmd_evaluate, "evaluate a trained snapshot")
    p.add_argument("snapshot", help=f"the trained version to evaluate; {ID_HELP}")
    p.add_argument("--dataset", help="the dataset to evaluate on (default: the version's own)")
    p.add_argument("--test", help="test subset: tag:NAME, dir:PATH, filter:NAME or a JSON query")
    p.add_argument("--slice-by", action="append", dest="slice_by", metavar="FIELD[*FIELD]",
                   help="slice the metrics by dir, tag or metadata.<field>, two crossed as a*b (repeatable; "
                        "default: dir, tag and every metadata field)")
    _add_service_flags(p)

    p = add("executions", cmd_executions, "list executions, newest first")
    p.add_argument("--status", help="only executions with this status (created, pending, in-progress, success, "
                   "failed, aborted, terminated, rerun)")
    p.add_argument("--search", help="a substring of the execution's, model's or version's name, or a prefix of "
                   "one of their ids (case-insensitive)")
    p.add_argument("--kind", choices=("train", "evaluate"), help="only trainings or only evaluations")
    p.add_argument("--service", help="only executions of this service")
    p.add_argument("--limit", type=int, default=50, help="rows per page (default 50, at most 500)")
    p.add_argument("--offset", type=int, default=0, help="rows to skip (paging)")

    p = add("show", cmd_show, "show an execution (or a model, snapshot, dataset)")
    p.add_argument("id", help=f"an execution, model, version or dataset: {ID_HELP}")
    p = add("abort", cmd_abort, "abort an execution (terminated)")
    p.add_argument("id", help=f"the execution to abort; {ID_HELP}")
    p = add("rerun", cmd_rerun, "run an ended execution again as a new execution with its stored parameters "
            "(not the 'rerun' status, which is a retry the service queues by itself)")
    p.add_argument("id", help=f"the ended execution to run again; {ID_HELP}")
    p.add_argument("--config", action="append", metavar="K=V",
                   help="a training: config edits for the new version it trains")
    p.add_argument("--idempotency-key", help="a token: running it twice starts one execution")
    p.add_argument("--wait", action="store_true", help="block with a progress bar; exit 1 unless success")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not a TTY")
    p = add("remove", cmd_remove, "remove an ended execution and its artifacts")
    p.add_argument("id", help=f"the ended execution to remove; {ID_HELP}")
    p = add("logs", cmd_logs, "print an execution's log", json_flag=False)
    p.add_argument("id", help=f"the execution; {ID_HELP}")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until the execution ends")
    p = add("metrics", cmd_metrics, "an execution's metrics (its latest attempt's)")
    p.add_argument("id", help=f"the execution; {ID_HELP}")
    p.add_argument("--name", help="only this metric")
    p.add_argument("--attempt", type=int, help="the points of this attempt (default: the latest)")
    p = add("services", cmd_services, "list services (with health), pause, resume, stop (drain) or set them")
    p.add_argument("action", nargs="?", choices=("list", "pause", "resume", "stop", "set"), default="list",
                   help="list (default), pause, resume, stop (pause and drain the running executions) or set "
                   "(change settings)")
    p.add_argument("name", nargs="?", help="the service, mgmt-<train|evaluate>-<model id> (list: only this one)")
    _add_settings_flags(p)
    p.add_argument("--no-wait", action="store_true", help="stop: return at once; the drain ends on its own")
    p.add_argument("--secret", action="append", dest="secrets", metavar="NAME",
                   help="set: a secret every execution of the service gets as $NAME (repeatable; replaces the "
                   "service's list)")
    p.add_argument("--no-secrets", action="store_true", help="set: the service's executions get no secrets")
    p = add("secrets", cmd_secrets, "set, list or remove secrets (values kept in MM_HOME/secrets.json, mode 0600)")
    p.add_argument("action", nargs="?", choices=("list", "set", "remove"), default="list",
                   help="list (default: names only), set NAME (the value on standard input, never an argument) "
                   "or remove NAME")
    p.add_argument("name", nargs="?", help="set, remove: the secret's name (an environment variable name, not MM_*)")
    p.add_argument("extra", nargs="*", metavar="VALUE", help="refused: a value is never an argument (ps shows "
                   "arguments to every user); pipe it on standard input")
    p = add("config", cmd_config, "show or set store-wide settings: artifact_root (where weights, notebooks and logs "
            "are stored: file:///PATH, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX)")
    p.add_argument("action", nargs="?", choices=("show", "set", "unset"), default="show",
                   help="show (default), set KEY VALUE (checked: a probe file must be writable there) or unset KEY "
                   "(back to the default, file://$MM_HOME/artifacts)")
    p.add_argument("key", nargs="?", help="the setting: artifact_root")
    p.add_argument("value", nargs="?", help="set: the new value")
    p = add("cluster", cmd_cluster, "start a Dask LocalCluster to run services on (mm cluster up)", json_flag=False)
    p.add_argument("action", choices=("up",), help="up: start it and print its address (Ctrl-C stops it)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--threads", type=int, default=1, help="threads (executions at once) per worker")
    p.add_argument("--gpu-workers", type=int, default=0, help="how many of the workers declare GPUs")
    p.add_argument("--gpus-per-worker", type=int, default=1, help="GPUs each GPU worker declares (default 1)")
    p.add_argument("--host", default="127.0.0.1", help="address the scheduler listens on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8786, help="scheduler port (0: any free port)")
    p = add("serve", cmd_serve, "serve the runner API for remote workers (a service's --tracking-url) without "
            "Jupyter, with the reconcile timer (Ctrl-C stops it)", json_flag=False)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0: every "
                   "interface, for workers on other machines)")
    p.add_argument("--port", type=int, default=8890, help="port (default 8890; 0: any free port)")
    p = add("predict", cmd_predict, "predict images with a trained version (its deployment's warm kernel if one "
            "serves it, else a short-lived kernel)")
    p.add_argument("snapshot", metavar="VERSION", help=f"the version with weights; {ID_HELP}")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files (JPEG, PNG, BMP, GIF, WEBP, TIFF)")
    p.add_argument("--top-k", type=int, default=5, dest="top_k", help="classification: classes per image (default 5)")
    p = add("deploy", cmd_deploy, "keep a version loaded in a warm kernel answering predictions (REST and mm predict)")
    p.add_argument("snapshot", metavar="VERSION", help=f"the version with weights; {ID_HELP}")
    p.add_argument("--kernel", help="the kernel (the 'image') to run it in (default: the model's evaluate service's, "
                   "else python3)")
    p.add_argument("--runner", help="where: local (default, this machine) or dask://host:port (a worker that proved "
                   "it opens this store)")
    p.add_argument("--secret", action="append", dest="secrets", metavar="NAME",
                   help="a secret put into the kernel's environment as $NAME (repeatable)")
    p.add_argument("--no-wait", action="store_true", help="return at once (status starting) instead of when it answers")
    p = add("deployments", cmd_deployments, "list deployments with their health")
    p.add_argument("--all", action="store_true", help="stopped and failed ones too")
    p = add("undeploy", cmd_undeploy, "stop a deployment (the version shows as trained again)")
    p.add_argument("id", help="the deployment (dp-…, or a unique prefix)")
    p = add("filters", cmd_filters, "list, add, show, edit or remove saved filters (named DQL queries over items)")
    p.add_argument("action", nargs="?", choices=("list", "add", "show", "edit", "remove"), default="list",
                   help="list (default); add NAME QUERY; show NAME (its query and the versions that use it); "
                   "edit NAME QUERY (replace its query for versions trained from now on); remove NAME")
    p.add_argument("name", nargs="?", help="the filter's name (letters, digits, '_', '.', '-')")
    p.add_argument("query", nargs="?", help='add, edit: a JSON DQL query, e.g. \'{"tags": "hard"}\' or '
                   '\'{"metadata.lighting": {"$in": ["dark", "dim"]}}\'')
    return parser


NO_STORE = {"cluster"}  # commands that never touch the store


SECRET_ON_ARGV = ("a secret's value is never given on the command line (others can see it in ps): pipe it, "
                  "e.g. printf %s \"$TOKEN\" | mm secrets set NAME")


def _value_on_argv(argv: Sequence[str]) -> bool:
    """``mm secrets set NAME`` followed by anything but ``--json``: refused before argparse, which would
    echo an unknown ``--value=…`` in its error."""
    return len(argv) >= 2 and tuple(argv[:2]) == ("secrets", "set") and len([a for a in argv[2:] if a != "--json"]) > 1


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if _value_on_argv(argv):
        print(f"mm: error: {SECRET_ON_ARGV}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        if args.command not in NO_STORE and not (args.command == "datasets" and args.action == "shapes"):
            from . import api

            api.reconcile()  # runs whose runner died, drains that ran out, queued runs to start
        return args.func(args)
    except MMError as exc:
        print(f"mm: error: {safe(one_line(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `mm executions | head`: the reader left; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())

