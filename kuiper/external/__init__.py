"""External functions: call REST, gRPC and msgpack-rpc services from SQL by configuration alone.

Entry point: `kuiper.external.manager.ServiceManager(root, registry).load_all()`; see
docs/external-functions.md. Importing this package loads nothing (grpcio and friends are
imported when a service needs them).
"""
