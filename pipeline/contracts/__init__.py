"""JSON Schema contracts shipped with the Lambda code (events/schemas/ links here)."""
