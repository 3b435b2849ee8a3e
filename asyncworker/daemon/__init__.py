"""The daemon around a Worker: signals, systemd readiness and watchdog, the collector policy, logs."""
