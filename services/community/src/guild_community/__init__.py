"""Guild community service: communities, membership and roles."""
