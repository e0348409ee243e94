"""The renderers: one module per output format, each reading only core (the result model and the gradebook's rows).

registry.py lists the batch's formats and writes them all; common.py holds what the formats share.
Nothing is imported here, so that a format module never imports its own package back.
"""
