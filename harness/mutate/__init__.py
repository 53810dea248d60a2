"""Mutation testing of the firmware: mutants of its C from the syntax tree
(generate), a copy of the tree with one applied and built (sandbox), and
``python -m harness mutate`` (cli)."""
