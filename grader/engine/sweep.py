"""Removing what the grader made, by label: the sweep after an interrupted grading, and removals that never wait on a stop."""

from __future__ import annotations

import docker
import docker.errors

from grader.engine.connect import is_podman
from grader.engine.limits import PODMAN_CACHE_REPOSITORY, SESSION_LABEL
from grader.engine.signals import quietly


def sweep(client: docker.DockerClient, labels: dict[str, str] | None = None, prune_cache: bool = False) -> tuple[int, int, int]:
    """Remove every container, image and network carrying the grader's label (or these labels); how many of each went."""
    selector = [f"{k}={v}" for k, v in labels.items()] if labels else [SESSION_LABEL]
    removed_containers = removed_images = 0
    # The low-level list calls: the high-level ones inspect each item, which races with
    # another grader removing it (NotFound in the middle of a listing).
    for container in client.api.containers(all=True, filters={"label": selector}):
        try:
            remove_container(client, container["Id"])
            removed_containers += 1
        except docker.errors.APIError:  # already gone, or being removed by its own grader
            pass
    for image in client.api.images(all=True, filters={"label": selector}):
        try:
            client.api.remove_image(image["Id"], force=True, noprune=not prune_cache)
            removed_images += 1
        except docker.errors.APIError:
            pass
    if prune_cache and not labels and is_podman(client):
        for image in client.api.images(name=PODMAN_CACHE_REPOSITORY):
            for tag in image.get("RepoTags") or []:  # untagging the last tag prunes the chain it kept
                quietly(lambda: client.api.remove_image(tag))
    removed_networks = 0
    for network in client.api.networks(filters={"label": selector}):  # once their containers are gone
        try:
            client.api.remove_network(network["Id"])
            removed_networks += 1
        except docker.errors.APIError:
            pass
    return removed_containers, removed_images, removed_networks


def remove_container(client: docker.DockerClient, container_id: str, volumes: bool = False) -> None:
    """Force-remove a container (with its anonymous volumes when asked) without waiting for its stop signal to be ignored.

    Docker's forced removal kills at once; Podman's (4.3, through Docker's API) first sends the
    stop signal and waits the 10 s a Python PID 1 ignores it for. Its own endpoint takes a timeout.
    """
    api = client.api
    if is_podman(client):
        params = {"force": True, "timeout": 0, "volumes": volumes}
        api._raise_for_status(api._delete(api._url("/libpod/containers/{0}", container_id), params=params))
        return
    api.remove_container(container_id, force=True, v=volumes)
