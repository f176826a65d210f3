"""Follow-up tickets: the answer owed after a consultation, due within N working days."""
