"""The engine layer: the only code that talks to a container engine (SDK, docker/podman/compose CLIs,
the grader's own helper containers). It labels and removes what it makes and returns facts; the
sentences a learner reads are made from those facts by the layers above."""
