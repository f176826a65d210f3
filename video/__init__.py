"""Video consultations: Jitsi Meet rooms and signed join tokens."""
