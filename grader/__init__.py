"""Docker-for-ML lab grader: builds, inspects and runs a learner's image and scores it."""

__version__ = "0.1.0"
