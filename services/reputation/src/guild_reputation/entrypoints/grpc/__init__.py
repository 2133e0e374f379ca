"""gRPC servicers, one module per proto file, with its mapping beside it."""
