"""Staff: the ready-made roles (permission groups) and creating a member of staff in one step."""
