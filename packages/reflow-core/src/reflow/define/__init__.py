"""The definition layer: tasks, their parameters, resources and wiring, and the graph.

It imports nothing above it (no cache, store, executor or engine): a workflow can be
defined, validated and described without any of them.
"""
