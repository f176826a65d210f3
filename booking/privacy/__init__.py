"""Personal data in bookings, tickets and the reception desk: what is held about a citizen (their rights),
anonymisation and the retention job."""
