# Loads the harness's pytest plugin (options, fixtures, markers, artifacts).
pytest_plugins = ["harness.pytest_plugin"]
