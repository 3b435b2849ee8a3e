"""The SWF edge: everything the worker knows of SWF's wire, its errors and its admin calls.

`api` is the protocol the pipeline calls (a leaf), `faults` classifies every error once into the
typed faults of `asyncworker.errors`, `plain` and `fast` implement the protocol over aiobotocore,
`connect` builds the clients and picks the implementation; `admin` and `backlog` are the calls
around the work (domain and type registration, pending-task counts).
"""
