"""Finding records and the catalogue of codes the analyzer can emit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

ERROR: Final = "Error"
WARNING: Final = "Warning"
INFO: Final = "Info"

# Lower sorts first: errors lead the report, as in `istioctl analyze`.
LEVEL_RANK: Final[dict[str, int]] = {ERROR: 0, WARNING: 1, INFO: 2}


@dataclass(frozen=True)
class Code:
    """One kind of finding: its code, a CamelCase name and its fixed level."""

    code: str
    name: str
    level: str


# Istio's own codes, reused where the meaning is the same (Istio 1.30 message catalogue).
REFERENCED_RESOURCE_NOT_FOUND: Final = Code("IST0101", "ReferencedResourceNotFound", ERROR)
NAMESPACE_NOT_INJECTED: Final = Code("IST0102", "NamespaceNotInjected", INFO)
CONFLICTING_MESH_VS_HOSTS: Final = Code("IST0109", "ConflictingMeshGatewayVirtualServiceHosts", ERROR)
DESTINATION_PORT_REQUIRED: Final = Code("IST0112", "VirtualServiceDestinationPortSelectorRequired", ERROR)
PORT_NAME_CONVENTION: Final = Code("IST0118", "PortNameIsNotUnderNamingConvention", INFO)
MULTIPLE_INJECTION_LABELS: Final = Code("IST0123", "NamespaceMultipleInjectionLabels", WARNING)
NO_MATCHING_WORKLOADS: Final = Code("IST0127", "NoMatchingWorkloadsFound", WARNING)
NO_CERT_VERIFICATION_DESTINATION: Final = Code("IST0128", "NoServerCertificateVerificationDestinationLevel", WARNING)
NO_CERT_VERIFICATION_PORT: Final = Code("IST0129", "NoServerCertificateVerificationPortLevel", WARNING)
VS_HOST_NOT_IN_GATEWAY: Final = Code("IST0132", "VirtualServiceHostNotFoundInGateway", WARNING)
SUBSET_SELECTS_NO_PODS: Final = Code("IST0173", "DestinationRuleSubsetNotSelectPods", ERROR)
UNKNOWN_DESTINATION_RULE_HOST: Final = Code("IST0174", "UnknownDestinationRuleHost", WARNING)

# House codes for what Istio does not analyze.
INVALID_ROUTE_WEIGHT: Final = Code("MS1001", "InvalidRouteWeight", ERROR)
ROUTE_WEIGHTS_NOT_100: Final = Code("MS1002", "RouteWeightsDoNotSumTo100", ERROR)
MTLS_MODE_CONFLICT: Final = Code("MS1003", "MTLSModeConflict", ERROR)
RETRIES_WITH_FAULT: Final = Code("MS1004", "RetriesWithFaultInjection", WARNING)
# A Warning, not an Error, for now: counted right (attempts + 1 tries) it fires on our own output,
# whose fix belongs to the output code; the route still works, only the last retries never run.
RETRIES_EXCEED_TIMEOUT: Final = Code("MS1005", "RetriesExceedRouteTimeout", WARNING)
INVALID_DURATION: Final = Code("MS1006", "InvalidDuration", ERROR)
REFERENCE_OUTSIDE_INPUT: Final = Code("MS1007", "ReferenceOutsideInput", INFO)
SERVICE_WITHOUT_PORTS: Final = Code("MS1008", "ServiceWithoutPorts", ERROR)
GATEWAY_NOT_BOUND: Final = Code("MS1009", "GatewayNotBoundByVirtualService", WARNING)
# Production behaviour of YAML someone else wrote (issue 12): valid to Istio, wrong for model serving.
GATEWAY_HOST_NOT_SCOPED: Final = Code("MS1010", "GatewayHostWithoutNamespace", WARNING)
HTTPS_REDIRECT_301: Final = Code("MS1011", "HttpsRedirectAnswers301", WARNING)
PER_TRY_TIMEOUT_RETRIED: Final = Code("MS1012", "PerTryTimeoutRetriesGeneration", WARNING)
GRPC_RETRY_ON_HTTP_PORT: Final = Code("MS1013", "GrpcRetryOnNonGrpcPort", WARNING)
OUTLIER_COUNTS_LOCAL_TIMEOUTS: Final = Code("MS1014", "OutlierDetectionCountsLocalTimeouts", WARNING)
STREAMING_MATCH_ON_ACCEPT: Final = Code("MS1015", "StreamingMatchOnAcceptHeader", WARNING)
SYNC_WAVE_AFTER_WORKLOADS: Final = Code("MS1016", "VirtualServiceSyncWaveAfterWorkloads", WARNING)
STICKY_COOKIE_PARTIAL: Final = Code("MS1017", "StickyCookieOnSomeDestinations", WARNING)
MODEL_HEADER_NEVER_SET: Final = Code("MS1018", "ModelHeaderWithoutTrafficExtension", ERROR)
MODEL_LIST_ROUTE_MISSING: Final = Code("MS1019", "ModelListRouteMissing", WARNING)
MODEL_NAME_COLLISION: Final = Code("MS1020", "ModelNameCollision", ERROR)

ALL_CODES: Final[tuple[Code, ...]] = (
    REFERENCED_RESOURCE_NOT_FOUND,
    NAMESPACE_NOT_INJECTED,
    CONFLICTING_MESH_VS_HOSTS,
    DESTINATION_PORT_REQUIRED,
    PORT_NAME_CONVENTION,
    MULTIPLE_INJECTION_LABELS,
    NO_MATCHING_WORKLOADS,
    NO_CERT_VERIFICATION_DESTINATION,
    NO_CERT_VERIFICATION_PORT,
    VS_HOST_NOT_IN_GATEWAY,
    SUBSET_SELECTS_NO_PODS,
    UNKNOWN_DESTINATION_RULE_HOST,
    INVALID_ROUTE_WEIGHT,
    ROUTE_WEIGHTS_NOT_100,
    MTLS_MODE_CONFLICT,
    RETRIES_WITH_FAULT,
    RETRIES_EXCEED_TIMEOUT,
    INVALID_DURATION,
    REFERENCE_OUTSIDE_INPUT,
    SERVICE_WITHOUT_PORTS,
    GATEWAY_NOT_BOUND,
    GATEWAY_HOST_NOT_SCOPED,
    HTTPS_REDIRECT_301,
    PER_TRY_TIMEOUT_RETRIED,
    GRPC_RETRY_ON_HTTP_PORT,
    OUTLIER_COUNTS_LOCAL_TIMEOUTS,
    STREAMING_MATCH_ON_ACCEPT,
    SYNC_WAVE_AFTER_WORKLOADS,
    STICKY_COOKIE_PARTIAL,
    MODEL_HEADER_NEVER_SET,
    MODEL_LIST_ROUTE_MISSING,
    MODEL_NAME_COLLISION,
)


@dataclass(frozen=True)
class Finding:
    """One problem found in the manifests, in the shape `istioctl analyze` prints."""

    code: str
    level: str
    resource: str
    message: str
    fix: str

    def __str__(self) -> str:
        text = f"{self.level} [{self.code}] ({self.resource}) {self.message.rstrip('.')}. Fix: {self.fix}"
        # A finding is always one line, whatever ended up in a host name or label.
        return " ".join(text.splitlines())

    @classmethod
    def of(cls, code: Code, resource: str, message: str, fix: str) -> Finding:
        """Build a finding whose code and level come from the catalogue entry `code`."""
        return cls(code=code.code, level=code.level, resource=resource, message=message, fix=fix)

    def sort_key(self) -> tuple[int, str, str, str]:
        """Order: severity, then resource, then code (message keeps ties stable)."""
        return (LEVEL_RANK.get(self.level, len(LEVEL_RANK)), self.resource, self.code, self.message)
