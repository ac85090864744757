"""The reference gRPC metadata service: composition root, dispatch and error mapping."""
