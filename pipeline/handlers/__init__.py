"""Lambda handlers: thin. Parse the event, call logic, shape the result (DESIGN.md D5)."""
