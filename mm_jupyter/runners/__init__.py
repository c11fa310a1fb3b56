"""Runners, registered by URL scheme: ``local`` (``runners/local.py``: a process group per attempt on
this machine) and ``dask`` (``runners/dask.py``: a task per attempt on a Dask scheduler). See
``runners/base.py`` for the interface and ``mm_jupyter.registry`` for how they are found."""
