"""Domain rules of the reference service, independent of gRPC and of storage."""
