"""The batch on Dask distributed: `pcicrash --jsonl OUT --scheduler tcp://HOST:8786 DUMP...`.

Why Dask rather than Ray: it is pure Python and pip-installs in seconds on the
same interpreter (Ray is a large native wheel with its own object store and
daemons), a scheduler is named by a plain tcp:// address, it runs the same
module-level function we run in the local pool, and it shares fsspec with the
remote readers (the same project family, the same configuration variables).
Nothing is scheduled here: the planner's tasks go to the scheduler in chunks
(client.map), results come back as they finish (as_completed) and are
written by the caller; a chunk lost with its worker (after Dask's own
retries) becomes one error record per dump in it.

Workers need pcicrash installed (with the fleet extra for remote dumps) and
must see the dump paths: shared storage, or object-store URLs.
"""

from __future__ import annotations

from typing import Callable, List

from .batch import Task, error_record, process_chunk
from crash_ext_c.extras import need

CHUNK = 16            # dumps per Dask task: scheduling costs ~1 ms a task, a small dump ~5 ms


def run_on_dask(tasks: List[Task], scheduler: str, emit: Callable[[str], None], *,
                chunk: int = CHUNK, retries: int = 1, connect_timeout: str = "30s") -> None:
    distributed = need("distributed", "--scheduler (Dask)")
    chunks = [tasks[i:i + chunk] for i in range(0, len(tasks), chunk)]
    if not chunks:
        return
    try:
        client = distributed.Client(scheduler, timeout=connect_timeout, set_as_default=False)
    except Exception as exc:
        from crash_ext_c.errors import UsageError
        raise UsageError("cannot reach the Dask scheduler at %s: %s: %s"
                         % (scheduler, type(exc).__name__, exc)) from None
    try:
        futures = client.map(process_chunk, chunks, pure=False, retries=retries)
        which = {f.key: c for f, c in zip(futures, chunks)}
        for fut in distributed.as_completed(futures, loop=client.loop):
            try:
                lines = fut.result()
            except Exception as exc:       # e.g. KilledWorker: the chunk took workers down
                lines = [error_record(t, "Dask lost this dump's task: %s: %s"
                                      % (type(exc).__name__, exc)) for t in which[fut.key]]
            for line in lines:
                emit(line)
            fut.release()
    finally:
        client.close()
