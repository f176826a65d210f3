"""The whole configuration as one JSON document: export, validate, import."""
