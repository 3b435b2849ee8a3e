"""The daemon around a Worker: signals, systemd readiness and watchdog, the GC policy, logs."""
