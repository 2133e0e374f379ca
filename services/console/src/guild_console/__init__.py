"""Guild insights console: one web page of a community's or programme's figures, read through the
community and reputation gRPC APIs with the viewer's own token."""
