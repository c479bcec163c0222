"""Python client of delta-sidecar (deltasidecar.v1).

`deltasidecar.rows` encodes and decodes the packed row format of RecordBatch;
`deltasidecar.wire` is the low-level gRPC client the higher layers build on.
"""
