"""gRPC plumbing: server bootstrap, interceptors, status mapping and channels."""
