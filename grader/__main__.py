"""`python -m grader ...` hands its arguments to the CLI."""

import sys

from grader.startup import importing, leaving

with importing():
    from grader.cli import main

sys.exit(leaving(main()))
