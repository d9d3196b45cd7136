"""The projector's advisory lock key must not be any other lock's key."""

from agentobs.projector import leader
from agentobs.store import migrations


def test_leader_lock_differs_from_migration_lock() -> None:
    assert leader.LOCK_KEY != migrations.MIGRATION_LOCK_KEY
    assert 0 < leader.LOCK_KEY < 2**63
