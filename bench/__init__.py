"""``make bench``: measured numbers, never timed tests."""
