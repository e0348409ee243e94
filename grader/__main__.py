"""`python -m grader ...` hands its arguments to the CLI."""

import sys

from grader.cli import main

sys.exit(main())
