"""The expert's workspace: the day and week of consultations, and the calendar feed."""
