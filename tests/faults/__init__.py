"""Fault injection: kills, crashing tools, a full disk, a locked database, a dead gateway."""
