"""Test harness: real FerretDB and NATS servers on free loopback ports with throwaway data."""
