"""The one read layer: every read a face (CLI, Python API, widgets, server) or the scheduler makes.

- ``executions``: the executions listing (the one search rule), detail, metric points since an id
- ``catalog``: models, versions, datasets, saved filters, services with health, adapters, and the
  starting values of a launch form (the one default-subset rule)
- ``health``: a service's health (level, code, reason)
- ``items``: dataset items through a selection (tag, folder, saved filter, DQL query)
- ``dql``: the DQL filter language, checked and compiled to parameterized SQL
- ``queue``: what the scheduler reads (queues, running attempts, lost runs)
- ``changes``: what the live event stream polls
- ``evaluations``: an evaluation's summary, worst-items pages, item images and per-slice values
- ``compare``: the comparison of 2–5 versions or executions (curves, best final metrics, config
  diff, per-slice deltas with intervals)

Modules are imported by name (``from mm_jupyter.queries import executions``); this package file
imports nothing, so reading one part never loads the others.
"""
