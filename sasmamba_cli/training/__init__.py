"""Training a lifter on motion capture with virtual cameras, and its evaluation protocol."""
