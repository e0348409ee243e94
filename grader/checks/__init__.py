"""The check families, one module per thing inspected; importing this package registers every kind (grader/kinds.py)."""

from grader.checks import (  # noqa: F401  (each family registers its kinds when imported)
    build, cache_context, commands_replay, compose_stack, configuration, dockerfile_rules, efficiency, image, lint, multistage,
    registry_publish, runtime, serving,
)
