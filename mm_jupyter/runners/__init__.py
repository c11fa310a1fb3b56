"""Runners start executions: ``local`` (a process group per execution) is the embedded default."""
