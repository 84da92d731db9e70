"""Fleet scale: many dumps in one run, a summary across them, dumps read where they lie.

batch.py    `pcicrash --jsonl OUT DUMP|DIR|GLOB...`: one JSON record per dump
summary.py  `pcicrash --summarize OUT.jsonl`: counts across the records
remote.py   s3:// gs:// http(s):// dumps through fsspec ranged reads (RangeSource)
cluster.py  the same batch on a Dask distributed scheduler (--scheduler tcp://...)
extras.py   the optional packages (the `fleet` extra) and the message when one is missing
command.py  the options cli.py adds, and the dispatch to the above

Only the standard library is needed for local batches and summaries; fsspec,
dask and pyarrow come with `pip install 'pcicrash[fleet]'`.
"""
