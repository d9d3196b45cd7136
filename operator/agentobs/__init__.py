"""agentobs: LLM token usage of AI agents on Kubernetes.

Data flows client -> receiver -> store -> projector -> AgentObservation status and
Prometheus metrics. Each stage is a subpackage; lower stages never import higher
ones (an import-linter contract in pyproject.toml enforces it).
"""
