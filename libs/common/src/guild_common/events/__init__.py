"""Domain events: CloudEvents over NATS JetStream, the outbox relay and durable consumers."""
