"""Call a Guild RPC from another Python system with the generated SDK (the ``guild-proto`` package).

    # guild-proto is not published to a public index: build the wheel from this repository
    uv build --wheel libs/proto -o dist && pip install dist/guild_proto-*.whl
    python examples/sdk_call.py --target community.guild.svc:50051 --token "$TOKEN" --region emea

Prints the communities the token's subject can see, one JSON object per line; exits 1 with the gRPC
status on an error (e.g. UNAUTHENTICATED for a bad token).
"""

from __future__ import annotations

import argparse
import sys

import grpc
from google.protobuf import json_format

from guild.community.v1 import community_service_pb2 as api
from guild.community.v1 import community_service_pb2_grpc as rpc


def list_communities(target: str, token: str, region: str = "") -> list[str]:
    with grpc.insecure_channel(target) as channel:  # grpc.secure_channel(...) behind TLS
        stub = rpc.CommunityServiceStub(channel)
        response = stub.ListCommunities(
            api.ListCommunitiesRequest(region=region, page_size=50),
            metadata=[("authorization", f"Bearer {token}")],
            timeout=10,
        )
    return [json_format.MessageToJson(c, indent=None) for c in response.communities]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--target", default="127.0.0.1:50051", help="host:port of the community service")
    parser.add_argument("--token", required=True, help="a JWT the deployment accepts")
    parser.add_argument("--region", default="", help="only communities of this region")
    args = parser.parse_args(argv)
    try:
        lines = list_communities(args.target, args.token, args.region)
    except grpc.RpcError as exc:
        print(f"{exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
