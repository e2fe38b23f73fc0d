"""cdk8s entry point (`cdk8s synth`, `make synth`): serving.yaml -> checked manifests in dist/."""
import os
import sys

from model_serving.commands.cli import main

if __name__ == "__main__":
    # cdk8s wipes CDK8S_OUTDIR before running us: it is scratch, and the synth command stages,
    # checks and swaps the manifests into dist/ itself (then links them here for the CLI's listing).
    outdir = os.environ.get("CDK8S_OUTDIR")
    sys.exit(main(["synth", *(["--link-into", outdir] if outdir else []), *sys.argv[1:]]))
