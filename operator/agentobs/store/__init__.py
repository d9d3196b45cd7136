"""The Postgres store: the single source of truth for every token total."""
