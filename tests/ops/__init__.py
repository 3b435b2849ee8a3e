"""Offline validation of deploy/ and dashboards/: Kubernetes, systemd, Prometheus, Grafana."""
