"""agentobs_client: record LLM token usage in an agent and report it to agentobs."""
