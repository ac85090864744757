"""MLSpec: the open Protocol Buffers contract for the stages of an ML pipeline.

The generated contract lives in ``mlspec.<area>.v1`` (messages in ``*_pb2``, gRPC stubs in
``*_pb2_grpc``); ``mlspec.yaml_format`` reads and writes any message as YAML.
"""
