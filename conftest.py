# The harness's pytest plugin (options, fixtures, markers, artifacts) is
# loaded through its pytest11 entry point (pyproject.toml), as it is for any
# project that installs the harness: nothing to do here.
