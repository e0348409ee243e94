"""The check families, one module per thing inspected; importing this package registers every kind (grader/kinds.py)."""

from grader.checks import (  # noqa: F401  (each family registers its kinds when imported)
    dockerfile_text, lint, build, image_config, image_contents, container, http_answers, second_run,
    compose_file, compose_run, commands_file, replay, registry_publish,
)
