"""The fleet: serving.yaml's schema, loading and the decisions made from it (plain Python, no jsii)."""
