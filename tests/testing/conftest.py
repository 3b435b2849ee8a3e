"""pytester runs users' test files in temporary projects."""

pytest_plugins = ["pytester"]
