"""A declared rehearsal expectation: `rehearse:` entries of serving.yaml.

    rehearse:
      - name: beta users get v2
        model: ai-model
        request: {headers: {x-user-cohort: beta}}
        expect: {v2: 100}

`model-serving rehearse` (without request options) sends each entry's request through the real
proxy and checks the share of responses per version against `expect`, with a statistical
tolerance (see model_serving.rehearse.expectations).
"""
from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from model_serving.fleet.base import Spec


class ExpectedRequest(Spec):
    """The request an expectation sends (every one of its requests is the same)."""

    headers: dict[str, str] = Field(default_factory=dict, description="Request headers, by name.")
    cookies: dict[str, str] = Field(default_factory=dict, description="Cookies the client starts with, by name.")
    query: dict[str, str] = Field(default_factory=dict, description="Query parameters, by name.")
    body: Any = Field(None, description="A JSON body (mapping, list, number...); a string is sent as it is.")
    path: str = Field("/", description="The request path, starting with '/'.")
    method: str | None = Field(None, description="The HTTP method (default: POST with a body, else GET).")

    @model_validator(mode="after")
    def _path(self) -> ExpectedRequest:
        if not self.path.startswith("/"):
            raise ValueError(f"path {self.path!r} does not start with '/'; fix: write it as /{self.path}")
        return self


class Expectation(Spec):
    """Who should get which version: a request, and the share of responses per version."""

    name: str = Field(description="A name for the expectation; a failing one is reported by it.")
    model: str | None = Field(None, description="Send to this model's in-mesh host (mesh routes).")
    host: str | None = Field(None, description="Send through the gateway for this external host.")
    request: ExpectedRequest = Field(ExpectedRequest.model_validate({}), description="The request to send (default: GET /).")
    expect: dict[str, float] = Field(description="Percent of responses per version (`v2` or `model/v2`).")
    requests: int | None = Field(None, ge=1, le=100_000, description="How many requests (default 2000).")

    @model_validator(mode="after")
    def _consistent(self) -> Expectation:
        if (self.model is None) == (self.host is None):
            raise ValueError(f"expectation {self.name!r} needs exactly one of model or host; fix: set one of them")
        if not self.expect:
            raise ValueError(f"expectation {self.name!r} expects nothing; fix: add e.g. expect: {{v2: 100}}")
        bad = [k for k, v in self.expect.items() if not 0 <= v <= 100]
        if bad:
            raise ValueError(f"expect.{bad[0]} is not a percentage; fix: use a number from 0 to 100")
        if sum(self.expect.values()) > 100 + 1e-9:
            raise ValueError(f"expectation {self.name!r} expects more than 100 %; fix: make the shares add up to 100 at most")
        return self
