"""Personal data in bookings, tickets and the reception desk: anonymisation and the retention job."""
