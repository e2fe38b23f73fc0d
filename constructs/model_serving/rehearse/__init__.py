"""Rehearse synthesized Istio routes on a real Envoy against stand-in model servers.

- `translate`: Istio objects -> a static Envoy bootstrap, following istiod 1.30's rules.
- `standin`: asyncio stand-in model servers, one per pod replica.
- `runner`: starts both, drives requests with httpx and measures what happens.
- `expectations`: declared `rehearse:` expectations and their statistical checks.
"""
