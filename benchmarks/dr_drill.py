"""Run the disaster-recovery drills (notebook 08.04) and fail loudly if one fails.

    python benchmarks/dr_drill.py [--scale 1]

Prints RTO/RPO per recovery mode; exits 1 if no backup verified (``RecoveryError``), if
the restored backup differs from its recorded digest (``digest_ok``) or if the measured
RPO is outside its prediction.
A scheduled CI job can run exactly this.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from redislab.errors import RecoveryError
from redislab.persistence import drill_table, recovery_drill


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="redislab-drill-") as root:
        try:
            drills = [
                recovery_drill(root, mode=m, keys=int(20_000 * args.scale), load_s=2.0 * args.scale)
                for m in ("standby", "backup")
            ]
        except RecoveryError as exc:
            print(f"DRILL FAILED: {exc}", file=sys.stderr)
            return 1
    print(drill_table(drills).round(3).to_string())
    backup = drills[1]
    if backup.digest_ok is not True:  # recovery_drill returns a mismatch, it does not raise
        print("DRILL FAILED: the restored backup differs from its record", file=sys.stderr)
        return 1
    if abs(backup.rpo_writes - backup.predicted_rpo_writes) > 1:
        print("DRILL FAILED: backup RPO outside its prediction", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
