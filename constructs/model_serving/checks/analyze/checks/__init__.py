"""The registered checks: each takes the Index and yields Findings for one concept."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from ..findings import Finding
from ..index import Index
from .destinationrule import (
    check_destination_rule_hosts,
    check_outlier_detection_timeouts,
    check_subsets_select_pods,
    check_tls_certificates,
)
from .gateways import check_gateway_host_namespaces, check_https_redirect
from .openai import (
    check_model_header_is_set,
    check_model_list_route,
    check_model_name_collisions,
    check_streaming_accept_match,
)
from .resilience import (
    check_durations,
    check_fault_with_retries,
    check_grpc_retry_conditions,
    check_per_try_timeout_retries,
    check_retry_budget,
)
from .rollout import check_sticky_cohorts, check_sync_wave_order
from .routing import (
    check_gateway_hosts,
    check_gateway_references,
    check_gateways_bound,
    check_mesh_host_conflicts,
    check_route_destinations,
    check_route_weights,
)
from .security import check_mtls_consistency
from .workloads import (
    check_namespace_injection,
    check_service_port_names,
    check_service_ports,
    check_service_selectors,
)

Check = Callable[[Index], Iterable[Finding]]

CHECKS: Final[tuple[Check, ...]] = (
    check_route_destinations,
    check_gateway_references,
    check_gateway_hosts,
    check_gateways_bound,
    check_mesh_host_conflicts,
    check_route_weights,
    check_destination_rule_hosts,
    check_subsets_select_pods,
    check_tls_certificates,
    check_service_port_names,
    check_service_ports,
    check_service_selectors,
    check_namespace_injection,
    check_mtls_consistency,
    check_fault_with_retries,
    check_retry_budget,
    check_durations,
    check_gateway_host_namespaces,
    check_https_redirect,
    check_per_try_timeout_retries,
    check_grpc_retry_conditions,
    check_outlier_detection_timeouts,
    check_streaming_accept_match,
    check_sync_wave_order,
    check_sticky_cohorts,
    check_model_header_is_set,
    check_model_list_route,
    check_model_name_collisions,
)

__all__ = ["CHECKS", "Check"]
