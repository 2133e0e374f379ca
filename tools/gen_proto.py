"""Generate Python code for every proto under protos/ into libs/proto/src.

Only files whose content changes are rewritten, so a running process never sees a half-written tree.

``--check`` generates into a temporary folder and fails if the committed code differs.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT_ROOT = ROOT / "libs" / "proto" / "src"
BIN = Path(sys.executable).parent
WELL_KNOWN = Path(protoc.__file__).parent / "_proto"
# The descriptor set with source info, inside the package (guild_common.grpc.reflection serves it).
DESCRIPTOR_SET = "descriptors.binpb"


def generate(out: Path) -> None:
    """Run protoc with the Python, gRPC and mypy plugins over all protos."""
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    (out / "guild").mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{WELL_KNOWN}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out=quiet:{out}",
        f"--mypy_grpc_out=quiet:{out}",
        f"--plugin=protoc-gen-mypy={BIN / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={BIN / 'protoc-gen-mypy_grpc'}",
        # Every file with its comments, for server reflection (grpcurl describe prints them).
        f"--descriptor_set_out={out / 'guild' / DESCRIPTOR_SET}",
        "--include_source_info",
        "--include_imports",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for package_dir in {p.parent for p in out.rglob("*.py")}:
        current = package_dir
        while current != out:
            (current / "__init__.py").touch()
            current = current.parent
    (out / "guild" / "py.typed").touch()


def _generated(path: Path) -> bool:
    return path.is_file() and "__pycache__" not in path.parts


def differences(left: Path, right: Path) -> list[str]:
    """Relative paths that differ between two trees."""
    result: list[str] = []
    left_files = {p.relative_to(left) for p in left.rglob("*") if _generated(p)}
    right_files = {p.relative_to(right) for p in right.rglob("*") if _generated(p)}
    for rel in sorted(left_files ^ right_files):
        result.append(str(rel))
    for rel in sorted(left_files & right_files):
        if not filecmp.cmp(left / rel, right / rel, shallow=False):
            result.append(str(rel))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if generated code is stale")
    args = parser.parse_args()
    target = OUT_ROOT / "guild"
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            generate(Path(tmp))
            stale = differences(Path(tmp) / "guild", target)
        if stale:
            print("generated code is stale; run `make proto`:", *stale, sep="\n  ", file=sys.stderr)
            return 1
        print("generated code is fresh")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh = Path(tmp) / "guild"
        for rel in differences(fresh, target):
            source, destination = fresh / rel, target / rel
            if source.exists():
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, destination)
            else:
                destination.unlink()
    print(f"generated into {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
