"""The AgentObservation resource as the Kubernetes API serves it."""

GROUP = "agentobs.dev"
VERSION = "v1alpha1"
PLURAL = "agentobservations"
KIND = "AgentObservation"
