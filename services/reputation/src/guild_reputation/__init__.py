"""Guild reputation service: points ledger, leaderboards and badges."""
