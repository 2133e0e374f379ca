"""Guild notify service: the in-app inbox."""
