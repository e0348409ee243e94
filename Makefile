# Docker-for-ML lab kit. `make` (or `make help`) lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Base images the exercises build FROM; pulled, or built as local stand-ins.
BASE_IMAGES ?= python:3.11-slim
export BASE_IMAGES

VENV   := .venv
PYTHON := $(VENV)/bin/python

.PHONY: help setup demo test test-podman clean

help: ## list the targets
	@echo "Targets:"
	@grep -E '^[a-z][a-zA-Z_-]*:.*## ' $(firstword $(MAKEFILE_LIST)) \
	  | awk -F':.*## ' '{ printf "  make %-8s %s\n", $$1, $$2 }'
	@echo "Variables: BASE_IMAGES=\"$(BASE_IMAGES)\" (override from the environment)"

setup: ## engine, base images and .venv (idempotent; a few seconds when ready)
	@scripts/setup.sh

demo: setup ## grade the reference solution of exercise 01
	$(PYTHON) -m grader exercise-01 --path solutions/exercise-01

# Podman's Docker-compatible API service that scripts/podman.sh starts.
PODMAN_SOCKET ?= /run/labkit-podman/podman.sock

test: setup ## run the test suite (pytest), then the exercises' tests on Podman
	$(PYTHON) -m ruff check .
	$(PYTHON) -m pytest -q -ra tests
	@$(MAKE) --no-print-directory test-podman

test-podman: ## the exercises' integration tests on Podman's Docker API (skipped without it, failed under CI)
	DOCKER_HOST=unix://$(PODMAN_SOCKET) LABKIT_ENGINE=podman \
	  $(PYTHON) -m pytest -q -ra tests/integration/test_exercise01.py tests/integration/test_exercise_0*.py

clean: ## remove the grader's images, containers and build cache
	@if [ -x $(PYTHON) ]; then $(PYTHON) -m grader clean; \
	 else echo "no $(VENV): nothing to clean (run 'make setup' first)"; fi
