"""Staff accounts, roles, sign-in and the role check every staff view uses."""
