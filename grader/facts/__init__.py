"""What several check families read about one grading, worked out once (grading layer, below the checks).

Each module here turns what the grading holds (the inspect documents, a `docker save` stream, the
replay of the learner's commands, the stack run) into facts, computed once per grading and kept
in ctx.memo when more than one check asks. No check module imports another: what two families
share lives here or in the core modules (grader/dockerfile.py, grader/text.py).
Not to be confused with ctx.facts, the figures a report shows.
"""
