"""The constructs: a validated fleet as real cdk8s constructs (a thin translation, no policy)."""
