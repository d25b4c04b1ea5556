"""Privacy: deletions that stay deleted (tombstones, the identity map) and consent."""
