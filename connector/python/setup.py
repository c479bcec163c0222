"""Generates the gRPC/protobuf modules when the package is built.

build_py runs grpcio-tools' protoc on the shipped copy of the API
(deltasidecar/proto/deltasidecar/v1/sidecar.proto) and writes
deltasidecar/v1/sidecar_pb2.py and sidecar_pb2_grpc.py into the build, so an
installed package never needs protoc. Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
PROTO_ROOT = HERE / "deltasidecar" / "proto"
PROTO_FILE = "deltasidecar/v1/sidecar.proto"


class BuildPyWithProtos(build_py):
    def run(self):
        super().run()
        from grpc_tools import protoc  # a build requirement (pyproject.toml)
        import grpc_tools

        out = Path(self.build_lib)
        include = Path(grpc_tools.__file__).resolve().parent / "_proto"
        rc = protoc.main(["grpc_tools.protoc", f"-I{PROTO_ROOT}", f"-I{include}",
                          f"--python_out={out}", f"--grpc_python_out={out}",
                          str(PROTO_ROOT / PROTO_FILE)])
        if rc != 0:
            raise RuntimeError(f"grpc_tools.protoc failed on {PROTO_ROOT / PROTO_FILE}")
        (out / "deltasidecar" / "v1" / "__init__.py").write_text(
            '"""Generated from deltasidecar/v1/sidecar.proto when the package was built."""\n')


setup(cmdclass={"build_py": BuildPyWithProtos})
