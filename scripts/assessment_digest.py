"""One digest of many assessments, to show two installs answer byte for byte alike.

    python scripts/assessment_digest.py [--cases N]

Prints ``build=<python|mypyc> assessments=<count> sha256=<digest>``: the SHA-256 of
``Assessment.to_json()`` for the bench's seeded cases under both screen policies, plus the
oracle's assessments of the first 300, each without its provenance (versions, paths and the
packs installed, which differ between environments, not between builds). CI runs it in the
test venv (pure Python, editable) and in the venv of the compiled wheel, and fails if the
digests differ. Run it from outside the repository to measure an installed calfrules (from
its root, the source is imported).
"""

from __future__ import annotations

import argparse
import hashlib
import json

from calfrules.engine.engine import load_engine
from calfrules.tooling.bench import DEFAULT_SEED, builtin_plugins, generate_cases, golden_findings
from calfrules.tooling.build_info import build_kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=3000, help="bench cases per screen policy (default 3000)")
    args = parser.parse_args()
    digest = hashlib.sha256()
    count = 0
    for screen in ("prompt", "require"):
        with load_engine(isolation="none", allow=builtin_plugins(), screen=screen) as engine:
            cases = generate_cases(engine.vocabulary, args.cases, DEFAULT_SEED, golden_findings(engine))
            assessments = [engine.assess(case) for case in cases]
            assessments += [engine.assess(case, evaluator="oracle") for case in cases[:300]]
            for assessment in assessments:
                answer = json.loads(assessment.to_json())
                del answer["provenance"]
                digest.update(json.dumps(answer).encode() + b"\n")
            count += len(assessments)
    print(f"build={build_kind()} assessments={count} sha256={digest.hexdigest()}")


if __name__ == "__main__":
    main()
