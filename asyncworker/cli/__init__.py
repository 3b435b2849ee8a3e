"""The `asyncworker` command line (`cli.main`); each command imports only what it needs.

`asyncworker run` loads the worker and the daemon, never the rig's terminal and histogram
libraries or the local endpoint's HTTP parser: `local`, `loadtest` and `demo` are imported only
when named.
"""
