"""Fleet scale: many dumps in one run, a summary across them, dumps read where they lie.

batch.py    `pcicrash --jsonl OUT DUMP|DIR|GLOB...`: one JSON record per dump
summary.py  `pcicrash --summarize OUT.jsonl`: counts across the records
listing.py  which s3:// gs:// http(s):// objects a DUMP argument names (read with
            crash_ext_c.remote.RangeSource: fsspec ranged reads)
cluster.py  the same batch on a Dask distributed scheduler (--scheduler tcp://...)
command.py  the options cli.py adds, and the dispatch to the above

Only the standard library is needed for local batches and summaries; fsspec,
dask and pyarrow (crash_ext_c/extras.py says which is missing) come with `pip install 'pcicrash[fleet]'`.
"""
