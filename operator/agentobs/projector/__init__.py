"""The status projector: writes store totals into AgentObservation status and metrics."""
