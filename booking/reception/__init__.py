"""The reception desk: check-in, walk-ins, calling visitors and no-shows on reception days."""
