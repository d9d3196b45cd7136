"""Heartbeat payloads as validated models, shared by the receiver and the store."""
