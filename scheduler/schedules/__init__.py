"""Working patterns as data: weekly availability, date overrides and reception days."""
