"""Istio traffic objects of a model: DestinationRule (subsets, resilience) and VirtualService."""
from __future__ import annotations

from collections.abc import Sequence

import cdk8s

from constructs import Construct
from imports.io.istio import networking as istio
from model_serving.fleet.names import labels
from model_serving.fleet.resilience import (
    ConnectionPool,
    Fault,
    LoadBalancer,
    OutlierDetection,
    Retries,
)
from model_serving.fleet.routes import Destination, RoutePlan, edge_routes
from model_serving.fleet.traffic import Mirror, StringMatch

LB = istio.DestinationRuleSpecTrafficPolicyLoadBalancerSimple
MUTUAL = istio.DestinationRuleSpecTrafficPolicyTlsMode.ISTIO_UNDERSCORE_MUTUAL
LB_SIMPLE = {"LEAST_REQUEST": LB.LEAST_UNDERSCORE_REQUEST, "ROUND_ROBIN": LB.ROUND_UNDERSCORE_ROBIN, "RANDOM": LB.RANDOM}


class ModelDestinationRule(Construct):
    """DestinationRule named after the model (Resource): one subset per version, serving-grade policy.

    Props: `app`, `namespace`, `host` (the Service's FQDN), `versions` (subset names, each selecting
    pods labelled `version: <name>`); `connection_pool`, `outlier_detection` and `load_balancer`
    default to the fleet's defaults (see fleet.resilience). mTLS is always ISTIO_MUTUAL.
    `export_to`: the namespaces whose proxies see it (default all, Istio's default).
    """

    def __init__(
        self, scope: Construct, id: str, *, app: str, namespace: str, host: str, versions: Sequence[str],
        connection_pool: ConnectionPool = ConnectionPool(), outlier_detection: OutlierDetection = OutlierDetection(),
        load_balancer: LoadBalancer = LoadBalancer(), export_to: Sequence[str] | None = None,
    ) -> None:
        super().__init__(scope, id)
        if not versions:
            raise ValueError(f"DestinationRule {app} needs at least one version; pass versions=[...]")
        istio.DestinationRule(
            self, "Resource",
            metadata=cdk8s.ApiObjectMetadata(name=app, namespace=namespace, labels=labels(app)),
            spec=istio.DestinationRuleSpec(
                host=host,
                export_to=list(export_to) if export_to else None,
                traffic_policy=istio.DestinationRuleSpecTrafficPolicy(
                    tls=istio.DestinationRuleSpecTrafficPolicyTls(mode=MUTUAL),
                    connection_pool=_pool(connection_pool),
                    outlier_detection=_outlier(outlier_detection),
                    load_balancer=_balancer(load_balancer),
                ),
                subsets=[istio.DestinationRuleSpecSubsets(name=v, labels={"version": v}) for v in versions],
            ),
        )


def _pool(pool: ConnectionPool) -> istio.DestinationRuleSpecTrafficPolicyConnectionPool | None:
    # Unset caps stay unset: Istio's default is unlimited (a 0 would mean the same to istiod).
    tcp = istio.DestinationRuleSpecTrafficPolicyConnectionPoolTcp(
        max_connections=pool.max_connections) if pool.max_connections else None
    http = istio.DestinationRuleSpecTrafficPolicyConnectionPoolHttp(
        http1_max_pending_requests=pool.max_pending_requests,
        http2_max_requests=pool.max_requests,
        max_requests_per_connection=pool.max_requests_per_connection or None,
    ) if pool.max_pending_requests or pool.max_requests or pool.max_requests_per_connection else None
    if tcp is None and http is None:
        return None
    return istio.DestinationRuleSpecTrafficPolicyConnectionPool(tcp=tcp, http=http)


def _outlier(outlier: OutlierDetection) -> istio.DestinationRuleSpecTrafficPolicyOutlierDetection:
    return istio.DestinationRuleSpecTrafficPolicyOutlierDetection(
        consecutive5_xx_errors=outlier.consecutive_5xx_errors,
        consecutive_gateway_errors=outlier.consecutive_gateway_errors,
        split_external_local_origin_errors=outlier.split_external_local_origin_errors or None,
        consecutive_local_origin_failures=outlier.consecutive_local_origin_failures,
        interval=outlier.interval,
        base_ejection_time=outlier.base_ejection_time,
        max_ejection_percent=outlier.max_ejection_percent,
    )


def _balancer(balance: LoadBalancer) -> istio.DestinationRuleSpecTrafficPolicyLoadBalancer:
    hashing = balance.consistent_hash
    if hashing is None:
        return istio.DestinationRuleSpecTrafficPolicyLoadBalancer(simple=LB_SIMPLE[balance.simple])
    cookie = istio.DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookie(
        name=hashing.cookie, ttl=hashing.cookie_ttl or "0s"  # 0s: Envoy generates a session cookie
    ) if hashing.cookie else None
    return istio.DestinationRuleSpecTrafficPolicyLoadBalancer(
        consistent_hash=istio.DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHash(
            http_header_name=hashing.header, http_cookie=cookie, use_source_ip=hashing.source_ip or None,
        )
    )


def _match_value(match: StringMatch) -> istio.VirtualServiceSpecHttpMatchHeaders:
    return istio.VirtualServiceSpecHttpMatchHeaders(exact=match.exact, prefix=match.prefix, regex=match.regex)


def _retries(retries: Retries | None) -> istio.VirtualServiceSpecHttpRetries:
    # Always explicit: Istio's implicit default (2 attempts, incl. 503) would replay GPU work.
    if retries is None or retries.attempts == 0:
        return istio.VirtualServiceSpecHttpRetries(attempts=0)
    return istio.VirtualServiceSpecHttpRetries(
        attempts=retries.attempts,
        per_try_timeout=retries.per_try_timeout,
        retry_on=retries.retry_on,
        backoff=retries.backoff,
    )


def _match(plan: RoutePlan) -> list[istio.VirtualServiceSpecHttpMatch] | None:
    if not plan.has_match:
        return None
    uri = plan.uri
    return [
        istio.VirtualServiceSpecHttpMatch(
            headers={k: _match_value(v) for k, v in plan.headers.items()} or None,
            query_params={k: istio.VirtualServiceSpecHttpMatchQueryParams(exact=v.exact, prefix=v.prefix, regex=v.regex)
                          for k, v in plan.query_params.items()} or None,
            uri=istio.VirtualServiceSpecHttpMatchUri(exact=uri.exact, prefix=uri.prefix, regex=uri.regex) if uri else None,
            gateways=[plan.gateway] if plan.gateway else None,
        )
    ]


def _fault(fault: Fault | None) -> istio.VirtualServiceSpecHttpFault | None:
    if fault is None:
        return None
    return istio.VirtualServiceSpecHttpFault(
        delay=istio.VirtualServiceSpecHttpFaultDelay(
            fixed_delay=fault.delay, percentage=istio.VirtualServiceSpecHttpFaultDelayPercentage(value=fault.delay_percent)
        ) if fault.delay else None,
        abort=istio.VirtualServiceSpecHttpFaultAbort(
            http_status=fault.abort_status,
            percentage=istio.VirtualServiceSpecHttpFaultAbortPercentage(value=fault.abort_percent),
        ) if fault.abort_status else None,
    )


def _destination(d: Destination, *, host: str, port: int) -> istio.VirtualServiceSpecHttpRoute:
    return istio.VirtualServiceSpecHttpRoute(
        destination=istio.VirtualServiceSpecHttpRouteDestination(
            host=host, subset=d.version, port=istio.VirtualServiceSpecHttpRouteDestinationPort(number=port)
        ),
        weight=d.weight,
        headers=istio.VirtualServiceSpecHttpRouteHeaders(
            response=istio.VirtualServiceSpecHttpRouteHeadersResponse(add={"Set-Cookie": d.set_cookie})
        ) if d.set_cookie else None,
    )


def _mirror(mirror: Mirror | None, *, host: str, port: int) -> list[istio.VirtualServiceSpecHttpMirrors] | None:
    if mirror is None:
        return None
    return [
        istio.VirtualServiceSpecHttpMirrors(
            destination=istio.VirtualServiceSpecHttpMirrorsDestination(
                host=host, subset=mirror.version, port=istio.VirtualServiceSpecHttpMirrorsDestinationPort(number=port),
            ),
            percentage=istio.VirtualServiceSpecHttpMirrorsPercentage(value=mirror.percent),
        )
    ]


def http_route(plan: RoutePlan, *, host: str, port: int) -> istio.VirtualServiceSpecHttp:
    """Translate one RoutePlan into an Istio HTTPRoute."""
    return istio.VirtualServiceSpecHttp(
        name=plan.name,
        match=_match(plan),
        route=[_destination(d, host=host, port=port) for d in plan.destinations],
        mirrors=_mirror(plan.mirror, host=host, port=port),
        rewrite=istio.VirtualServiceSpecHttpRewrite(uri=plan.rewrite) if plan.rewrite else None,
        timeout=plan.timeout,
        retries=_retries(plan.retries),
        fault=_fault(plan.fault),
    )


def _metadata(name: str, namespace: str, app: str) -> cdk8s.ApiObjectMetadata:
    # No Argo CD sync wave: a later wave waits for every earlier one to be healthy, so a weight-only
    # rollback would wait behind the very Deployment it rolls back from. Make-before-break comes
    # from the two-step removal that synth enforces (checks/guard.py) instead.
    return cdk8s.ApiObjectMetadata(name=name, namespace=namespace, labels=labels(app))


class ModelRoutes(Construct):
    """The model's VirtualService (Resource) for the mesh and, when exposed, `<model>-edge` (Edge) for the gateway.

    Two objects because the two differ: the external host is bound to the gateway only, so
    sidecars never learn it; the gateway serves the model under its prefix (when shared) and speaks
    HTTPS, so its cohort cookies carry `Secure`, which in-mesh plain-HTTP clients would drop.
    Routes limited to in-mesh callers (`only="mesh"`) stay out of the edge; routes keyed on a JWT
    claim (`only="gateway"`) stay out of the mesh, where no JWT has been validated.

    Props: `app`, `namespace`, `host` (the Service's FQDN), `port`, `routes` (the decided
    RoutePlans, in match order); `external_host`, `prefix` and `gateway` ("ns/name") when the
    model is exposed (default: mesh-only); `secure_cookies` when the gateway speaks HTTPS (default
    false); `export_to` (namespaces whose sidecars see the mesh routes) and `edge_export_to` (the
    gateway's namespace) (default all, Istio's default).
    """

    def __init__(
        self, scope: Construct, id: str, *, app: str, namespace: str, host: str, port: int,
        routes: Sequence[RoutePlan], external_host: str | None = None, prefix: str | None = None,
        gateway: str | None = None, secure_cookies: bool = False,
        export_to: Sequence[str] | None = None, edge_export_to: Sequence[str] | None = None,
    ) -> None:
        super().__init__(scope, id)
        if external_host and not gateway:
            raise ValueError(f"routes of {app}: external host {external_host} needs a gateway; pass gateway='ns/name'")
        istio.VirtualService(
            self, "Resource",
            metadata=_metadata(app, namespace, app),
            spec=istio.VirtualServiceSpec(
                hosts=[host], gateways=["mesh"], export_to=list(export_to) if export_to else None,
                http=[http_route(r, host=host, port=port) for r in routes if r.only != "gateway"],
            ),
        )
        if external_host is not None and gateway is not None:
            edge = edge_routes([r for r in routes if r.only != "mesh"], prefix=prefix, gateway=gateway, secure=secure_cookies)
            istio.VirtualService(
                self, "Edge",
                metadata=_metadata(f"{app}-edge", namespace, app),
                spec=istio.VirtualServiceSpec(
                    hosts=[external_host], gateways=[gateway],
                    export_to=list(edge_export_to) if edge_export_to else None,
                    http=[http_route(r, host=host, port=port) for r in edge],
                ),
            )


class ModelInboundLimit(Construct):
    """A Sidecar `<model>-inbound` (Resource) selecting the model's pods, whose inbound connection
    pool holds each pod to `concurrency` requests at once; more wait in the pod's proxy.

    The caller-side DestinationRule caps apply per calling proxy, so only the pod's own proxy can
    enforce a per-pod limit: istiod applies `Sidecar.inboundConnectionPool` to the pod's inbound
    clusters, over the DestinationRule's pool (which it otherwise copies there). No ingress
    listeners are declared, so inbound capture stays as istiod builds it. The queue is unbounded on
    purpose: an overflow 503 would look like a broken replica to every caller's outlier detection.
    HTTP/1.1 carries one request per connection, so connections are the limit; for gRPC (HTTP/2),
    one stream per connection makes them so too.

    Props: `app`, `namespace`, `protocol` ("http" or "grpc"), `concurrency`, `egress_hosts` (a
    Sidecar that selects workloads replaces the namespace's for them, and one without egress would
    import `*/*`, so it states egress; default `./*` and `istio-system/*`).
    """

    def __init__(
        self, scope: Construct, id: str, *, app: str, namespace: str, protocol: str, concurrency: int,
        egress_hosts: Sequence[str] = ("./*", "istio-system/*"),
    ) -> None:
        super().__init__(scope, id)
        pool: dict[str, object] = {"tcp": {"maxConnections": concurrency}}
        if protocol == "grpc":
            pool["http"] = {"maxConcurrentStreams": 1}
        # A plain ApiObject: imports/ holds no generated Sidecar class.
        resource = cdk8s.ApiObject(
            self, "Resource", api_version="networking.istio.io/v1", kind="Sidecar",
            metadata=cdk8s.ApiObjectMetadata(name=f"{app}-inbound", namespace=namespace, labels=labels(app)),
        )
        resource.add_json_patch(cdk8s.JsonPatch.add("/spec", {
            "workloadSelector": {"labels": {"app": app}},
            "inboundConnectionPool": pool,
            "egress": [{"hosts": list(egress_hosts)}],
        }))
