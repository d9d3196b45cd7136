"""The HTTP receiver: authenticates heartbeats and hands them to the store."""
