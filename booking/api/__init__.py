"""The public JSON API, version 1: shared plumbing here, each feature's routes in its own module."""
