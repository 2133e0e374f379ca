"""Write (or with ``--check``, verify) deploy/k8s/infra/nats/auth.conf: the NATS users of the Guild services,
with the durable consumers of every slice deployed by deploy/k8s (the base and each overlay's
GUILD_REGION_FILTER and GUILD_PROGRAMME_FILTER), their passwords read from the servers' environment."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from guild_common.nats_access import WHOLE, Slice, render_from_env

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
AUTH_CONF = K8S / "infra" / "nats" / "auth.conf"
_FILTER = re.compile(r"GUILD_(REGION|PROGRAMME)_FILTER=(\S+)")


def deployed_slices() -> list[Slice]:
    slices = [WHOLE]
    for kustomization in sorted(K8S.glob("overlays/*/kustomization.yaml")):
        found = dict(_FILTER.findall(kustomization.read_text()))
        slices.append(Slice(found.get("REGION", "*"), found.get("PROGRAMME", "*")))
    return list(dict.fromkeys(slices))


def rendered() -> str:
    return render_from_env(deployed_slices())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed file is stale")
    args = parser.parse_args()
    text = rendered()
    if args.check:
        if AUTH_CONF.read_text() != text:
            stale = AUTH_CONF.relative_to(ROOT)
            print(f"{stale} is stale: run python tools/k8s/nats_auth.py", file=sys.stderr)
            return 1
        return 0
    AUTH_CONF.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
