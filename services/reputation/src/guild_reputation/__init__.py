"""Guild reputation service: points ledger and leaderboards."""
