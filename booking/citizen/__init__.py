"""The citizen's pages: topics and free times, the booking wizard, the manage and personal pages."""
