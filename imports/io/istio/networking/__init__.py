from __future__ import annotations

from pkgutil import extend_path
__path__ = extend_path(__path__, __name__)

import abc
import builtins
import datetime
import enum
import typing

import jsii
import publication
import typing_extensions

from jsii._type_checking import cached_type_hints, check_type


from ._jsii import *

class _LazyImport:
    def __init__(self, module_name: str) -> None:
        self._module_name = module_name
        self._module: typing.Any = None
    def __getattr__(self, name: str) -> typing.Any:
        if self._module is None:
            import importlib
            self._module = importlib.import_module(self._module_name)
        return getattr(self._module, name)

if typing.TYPE_CHECKING:

    import cdk8s as _cdk8s_d3d9af27
    import constructs as _constructs_77d1e7e8
else:

    _cdk8s_d3d9af27 = _LazyImport("cdk8s")
    _constructs_77d1e7e8 = _LazyImport("constructs")


class DestinationRule(
    _cdk8s_d3d9af27.ApiObject,
    metaclass=jsii.JSIIMeta,
    jsii_type="ioistionetworking.DestinationRule",
):
    '''
    :schema: DestinationRule
    '''

    def __init__(
        self,
        scope: "_constructs_77d1e7e8.Construct",
        id: builtins.str,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["DestinationRuleSpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Defines a "DestinationRule" API object.

        :param scope: the scope in which to define this object.
        :param id: a scope-local name for the object.
        :param metadata: 
        :param spec: Configuration affecting load balancing, outlier detection, etc. See more details at: https://istio.io/docs/reference/config/networking/destination-rule.html
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__909ac56137d0ccb333e5bba20fa35df7a9bbd65da347eaa816625d224187a63e)
            check_type(argname="argument scope", value=scope, expected_type=type_hints["scope"])
            check_type(argname="argument id", value=id, expected_type=type_hints["id"])
        props = DestinationRuleProps(metadata=metadata, spec=spec)

        jsii.create(self.__class__, self, [scope, id, props])

    @jsii.member(jsii_name="manifest")
    @builtins.classmethod
    def manifest(
        cls,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["DestinationRuleSpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> typing.Any:
        '''Renders a Kubernetes manifest for "DestinationRule".

        This can be used to inline resource manifests inside other objects (e.g. as templates).

        :param metadata: 
        :param spec: Configuration affecting load balancing, outlier detection, etc. See more details at: https://istio.io/docs/reference/config/networking/destination-rule.html
        '''
        props = DestinationRuleProps(metadata=metadata, spec=spec)

        return typing.cast(typing.Any, jsii.sinvoke(cls, "manifest", [props]))

    @jsii.member(jsii_name="toJson")
    def to_json(self) -> typing.Any:
        '''Renders the object to Kubernetes JSON.'''
        return typing.cast(typing.Any, jsii.invoke(self, "toJson", []))

    @jsii.python.classproperty
    @jsii.member(jsii_name="GVK")
    def GVK(cls) -> "_cdk8s_d3d9af27.GroupVersionKind":
        '''Returns the apiVersion and kind for "DestinationRule".'''
        return typing.cast("_cdk8s_d3d9af27.GroupVersionKind", jsii.sget(cls, "GVK"))


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleProps",
    jsii_struct_bases=[],
    name_mapping={"metadata": "metadata", "spec": "spec"},
)
class DestinationRuleProps:
    def __init__(
        self,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["DestinationRuleSpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''
        :param metadata: 
        :param spec: Configuration affecting load balancing, outlier detection, etc. See more details at: https://istio.io/docs/reference/config/networking/destination-rule.html

        :schema: DestinationRule
        '''
        if isinstance(metadata, dict):
            metadata = _cdk8s_d3d9af27.ApiObjectMetadata(**metadata)
        if isinstance(spec, dict):
            spec = DestinationRuleSpec(**spec)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__c6797b64e535bf484e1f5e116bb20a535db5d3d3327d1079ccc5ac218fd2c16e)
            check_type(argname="argument metadata", value=metadata, expected_type=type_hints["metadata"])
            check_type(argname="argument spec", value=spec, expected_type=type_hints["spec"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if metadata is not None:
            self._values["metadata"] = metadata
        if spec is not None:
            self._values["spec"] = spec

    @builtins.property
    def metadata(self) -> typing.Optional["_cdk8s_d3d9af27.ApiObjectMetadata"]:
        '''
        :schema: DestinationRule#metadata
        '''
        result = self._values.get("metadata")
        return typing.cast(typing.Optional["_cdk8s_d3d9af27.ApiObjectMetadata"], result)

    @builtins.property
    def spec(self) -> typing.Optional["DestinationRuleSpec"]:
        '''Configuration affecting load balancing, outlier detection, etc.

        See more details at: https://istio.io/docs/reference/config/networking/destination-rule.html

        :schema: DestinationRule#spec
        '''
        result = self._values.get("spec")
        return typing.cast(typing.Optional["DestinationRuleSpec"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleProps(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpec",
    jsii_struct_bases=[],
    name_mapping={
        "host": "host",
        "export_to": "exportTo",
        "subsets": "subsets",
        "traffic_policy": "trafficPolicy",
        "workload_selector": "workloadSelector",
    },
)
class DestinationRuleSpec:
    def __init__(
        self,
        *,
        host: builtins.str,
        export_to: typing.Optional[typing.Sequence[builtins.str]] = None,
        subsets: typing.Optional[typing.Sequence[typing.Union["DestinationRuleSpecSubsets", typing.Dict[builtins.str, typing.Any]]]] = None,
        traffic_policy: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicy", typing.Dict[builtins.str, typing.Any]]] = None,
        workload_selector: typing.Optional[typing.Union["DestinationRuleSpecWorkloadSelector", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Configuration affecting load balancing, outlier detection, etc.

        See more details at: https://istio.io/docs/reference/config/networking/destination-rule.html

        :param host: The name of a service from the service registry.
        :param export_to: A list of namespaces to which this destination rule is exported.
        :param subsets: One or more named sets that represent individual versions of a service.
        :param traffic_policy: Traffic policies to apply (load balancing policy, connection pool sizes, outlier detection).
        :param workload_selector: Criteria used to select the specific set of pods/VMs on which this ``DestinationRule`` configuration should be applied.

        :schema: DestinationRuleSpec
        '''
        if isinstance(traffic_policy, dict):
            traffic_policy = DestinationRuleSpecTrafficPolicy(**traffic_policy)
        if isinstance(workload_selector, dict):
            workload_selector = DestinationRuleSpecWorkloadSelector(**workload_selector)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__87bc14ad38f93b7deedb046bcd32d53bcb67452428f2b9e825c85144e7dfa6f9)
            check_type(argname="argument host", value=host, expected_type=type_hints["host"])
            check_type(argname="argument export_to", value=export_to, expected_type=type_hints["export_to"])
            check_type(argname="argument subsets", value=subsets, expected_type=type_hints["subsets"])
            check_type(argname="argument traffic_policy", value=traffic_policy, expected_type=type_hints["traffic_policy"])
            check_type(argname="argument workload_selector", value=workload_selector, expected_type=type_hints["workload_selector"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "host": host,
        }
        if export_to is not None:
            self._values["export_to"] = export_to
        if subsets is not None:
            self._values["subsets"] = subsets
        if traffic_policy is not None:
            self._values["traffic_policy"] = traffic_policy
        if workload_selector is not None:
            self._values["workload_selector"] = workload_selector

    @builtins.property
    def host(self) -> builtins.str:
        '''The name of a service from the service registry.

        :schema: DestinationRuleSpec#host
        '''
        result = self._values.get("host")
        assert result is not None, "Required property 'host' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def export_to(self) -> typing.Optional[typing.List[builtins.str]]:
        '''A list of namespaces to which this destination rule is exported.

        :schema: DestinationRuleSpec#exportTo
        '''
        result = self._values.get("export_to")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def subsets(self) -> typing.Optional[typing.List["DestinationRuleSpecSubsets"]]:
        '''One or more named sets that represent individual versions of a service.

        :schema: DestinationRuleSpec#subsets
        '''
        result = self._values.get("subsets")
        return typing.cast(typing.Optional[typing.List["DestinationRuleSpecSubsets"]], result)

    @builtins.property
    def traffic_policy(self) -> typing.Optional["DestinationRuleSpecTrafficPolicy"]:
        '''Traffic policies to apply (load balancing policy, connection pool sizes, outlier detection).

        :schema: DestinationRuleSpec#trafficPolicy
        '''
        result = self._values.get("traffic_policy")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicy"], result)

    @builtins.property
    def workload_selector(
        self,
    ) -> typing.Optional["DestinationRuleSpecWorkloadSelector"]:
        '''Criteria used to select the specific set of pods/VMs on which this ``DestinationRule`` configuration should be applied.

        :schema: DestinationRuleSpec#workloadSelector
        '''
        result = self._values.get("workload_selector")
        return typing.cast(typing.Optional["DestinationRuleSpecWorkloadSelector"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpec(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsets",
    jsii_struct_bases=[],
    name_mapping={
        "name": "name",
        "labels": "labels",
        "traffic_policy": "trafficPolicy",
    },
)
class DestinationRuleSpecSubsets:
    def __init__(
        self,
        *,
        name: builtins.str,
        labels: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
        traffic_policy: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicy", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''
        :param name: Name of the subset.
        :param labels: Labels apply a filter over the endpoints of a service in the service registry.
        :param traffic_policy: Traffic policies that apply to this subset.

        :schema: DestinationRuleSpecSubsets
        '''
        if isinstance(traffic_policy, dict):
            traffic_policy = DestinationRuleSpecSubsetsTrafficPolicy(**traffic_policy)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__7e2b8d27f8b03a3405b6f44c394ab3fc0949eb11dbd78bce8ee9ba58dc86f1fc)
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument labels", value=labels, expected_type=type_hints["labels"])
            check_type(argname="argument traffic_policy", value=traffic_policy, expected_type=type_hints["traffic_policy"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "name": name,
        }
        if labels is not None:
            self._values["labels"] = labels
        if traffic_policy is not None:
            self._values["traffic_policy"] = traffic_policy

    @builtins.property
    def name(self) -> builtins.str:
        '''Name of the subset.

        :schema: DestinationRuleSpecSubsets#name
        '''
        result = self._values.get("name")
        assert result is not None, "Required property 'name' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def labels(self) -> typing.Optional[typing.Mapping[builtins.str, builtins.str]]:
        '''Labels apply a filter over the endpoints of a service in the service registry.

        :schema: DestinationRuleSpecSubsets#labels
        '''
        result = self._values.get("labels")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, builtins.str]], result)

    @builtins.property
    def traffic_policy(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicy"]:
        '''Traffic policies that apply to this subset.

        :schema: DestinationRuleSpecSubsets#trafficPolicy
        '''
        result = self._values.get("traffic_policy")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicy"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsets(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicy",
    jsii_struct_bases=[],
    name_mapping={
        "connection_pool": "connectionPool",
        "load_balancer": "loadBalancer",
        "outlier_detection": "outlierDetection",
        "port_level_settings": "portLevelSettings",
        "proxy_protocol": "proxyProtocol",
        "retry_budget": "retryBudget",
        "tls": "tls",
        "tunnel": "tunnel",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicy:
    def __init__(
        self,
        *,
        connection_pool: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyConnectionPool", typing.Dict[builtins.str, typing.Any]]] = None,
        load_balancer: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancer", typing.Dict[builtins.str, typing.Any]]] = None,
        outlier_detection: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyOutlierDetection", typing.Dict[builtins.str, typing.Any]]] = None,
        port_level_settings: typing.Optional[typing.Sequence[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettings", typing.Dict[builtins.str, typing.Any]]]] = None,
        proxy_protocol: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyProxyProtocol", typing.Dict[builtins.str, typing.Any]]] = None,
        retry_budget: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyRetryBudget", typing.Dict[builtins.str, typing.Any]]] = None,
        tls: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyTls", typing.Dict[builtins.str, typing.Any]]] = None,
        tunnel: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyTunnel", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Traffic policies that apply to this subset.

        :param connection_pool: 
        :param load_balancer: Settings controlling the load balancer algorithms.
        :param outlier_detection: 
        :param port_level_settings: Traffic policies specific to individual ports.
        :param proxy_protocol: The upstream PROXY protocol settings.
        :param retry_budget: Specifies a limit on concurrent retries in relation to the number of active requests.
        :param tls: TLS related settings for connections to the upstream service.
        :param tunnel: Configuration of tunneling TCP over other transport or application layers for the host configured in the DestinationRule.

        :schema: DestinationRuleSpecSubsetsTrafficPolicy
        '''
        if isinstance(connection_pool, dict):
            connection_pool = DestinationRuleSpecSubsetsTrafficPolicyConnectionPool(**connection_pool)
        if isinstance(load_balancer, dict):
            load_balancer = DestinationRuleSpecSubsetsTrafficPolicyLoadBalancer(**load_balancer)
        if isinstance(outlier_detection, dict):
            outlier_detection = DestinationRuleSpecSubsetsTrafficPolicyOutlierDetection(**outlier_detection)
        if isinstance(proxy_protocol, dict):
            proxy_protocol = DestinationRuleSpecSubsetsTrafficPolicyProxyProtocol(**proxy_protocol)
        if isinstance(retry_budget, dict):
            retry_budget = DestinationRuleSpecSubsetsTrafficPolicyRetryBudget(**retry_budget)
        if isinstance(tls, dict):
            tls = DestinationRuleSpecSubsetsTrafficPolicyTls(**tls)
        if isinstance(tunnel, dict):
            tunnel = DestinationRuleSpecSubsetsTrafficPolicyTunnel(**tunnel)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__151a1dee7b395a51095f42a2b08f9b9de6e1791cc63d903aeed28ea74e35440b)
            check_type(argname="argument connection_pool", value=connection_pool, expected_type=type_hints["connection_pool"])
            check_type(argname="argument load_balancer", value=load_balancer, expected_type=type_hints["load_balancer"])
            check_type(argname="argument outlier_detection", value=outlier_detection, expected_type=type_hints["outlier_detection"])
            check_type(argname="argument port_level_settings", value=port_level_settings, expected_type=type_hints["port_level_settings"])
            check_type(argname="argument proxy_protocol", value=proxy_protocol, expected_type=type_hints["proxy_protocol"])
            check_type(argname="argument retry_budget", value=retry_budget, expected_type=type_hints["retry_budget"])
            check_type(argname="argument tls", value=tls, expected_type=type_hints["tls"])
            check_type(argname="argument tunnel", value=tunnel, expected_type=type_hints["tunnel"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if connection_pool is not None:
            self._values["connection_pool"] = connection_pool
        if load_balancer is not None:
            self._values["load_balancer"] = load_balancer
        if outlier_detection is not None:
            self._values["outlier_detection"] = outlier_detection
        if port_level_settings is not None:
            self._values["port_level_settings"] = port_level_settings
        if proxy_protocol is not None:
            self._values["proxy_protocol"] = proxy_protocol
        if retry_budget is not None:
            self._values["retry_budget"] = retry_budget
        if tls is not None:
            self._values["tls"] = tls
        if tunnel is not None:
            self._values["tunnel"] = tunnel

    @builtins.property
    def connection_pool(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyConnectionPool"]:
        '''
        :schema: DestinationRuleSpecSubsetsTrafficPolicy#connectionPool
        '''
        result = self._values.get("connection_pool")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyConnectionPool"], result)

    @builtins.property
    def load_balancer(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancer"]:
        '''Settings controlling the load balancer algorithms.

        :schema: DestinationRuleSpecSubsetsTrafficPolicy#loadBalancer
        '''
        result = self._values.get("load_balancer")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancer"], result)

    @builtins.property
    def outlier_detection(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyOutlierDetection"]:
        '''
        :schema: DestinationRuleSpecSubsetsTrafficPolicy#outlierDetection
        '''
        result = self._values.get("outlier_detection")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyOutlierDetection"], result)

    @builtins.property
    def port_level_settings(
        self,
    ) -> typing.Optional[typing.List["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettings"]]:
        '''Traffic policies specific to individual ports.

        :schema: DestinationRuleSpecSubsetsTrafficPolicy#portLevelSettings
        '''
        result = self._values.get("port_level_settings")
        return typing.cast(typing.Optional[typing.List["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettings"]], result)

    @builtins.property
    def proxy_protocol(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyProxyProtocol"]:
        '''The upstream PROXY protocol settings.

        :schema: DestinationRuleSpecSubsetsTrafficPolicy#proxyProtocol
        '''
        result = self._values.get("proxy_protocol")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyProxyProtocol"], result)

    @builtins.property
    def retry_budget(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyRetryBudget"]:
        '''Specifies a limit on concurrent retries in relation to the number of active requests.

        :schema: DestinationRuleSpecSubsetsTrafficPolicy#retryBudget
        '''
        result = self._values.get("retry_budget")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyRetryBudget"], result)

    @builtins.property
    def tls(self) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyTls"]:
        '''TLS related settings for connections to the upstream service.

        :schema: DestinationRuleSpecSubsetsTrafficPolicy#tls
        '''
        result = self._values.get("tls")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyTls"], result)

    @builtins.property
    def tunnel(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyTunnel"]:
        '''Configuration of tunneling TCP over other transport or application layers for the host configured in the DestinationRule.

        :schema: DestinationRuleSpecSubsetsTrafficPolicy#tunnel
        '''
        result = self._values.get("tunnel")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyTunnel"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicy(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyConnectionPool",
    jsii_struct_bases=[],
    name_mapping={"http": "http", "tcp": "tcp"},
)
class DestinationRuleSpecSubsetsTrafficPolicyConnectionPool:
    def __init__(
        self,
        *,
        http: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttp", typing.Dict[builtins.str, typing.Any]]] = None,
        tcp: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcp", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''
        :param http: HTTP connection pool settings.
        :param tcp: Settings common to both HTTP and TCP upstream connections.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPool
        '''
        if isinstance(http, dict):
            http = DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttp(**http)
        if isinstance(tcp, dict):
            tcp = DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcp(**tcp)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__c2516818cfbbfbd47f104e8e3f12daae9ee0ffc1a7ee9d3d152e5bd7fb52b0f6)
            check_type(argname="argument http", value=http, expected_type=type_hints["http"])
            check_type(argname="argument tcp", value=tcp, expected_type=type_hints["tcp"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if http is not None:
            self._values["http"] = http
        if tcp is not None:
            self._values["tcp"] = tcp

    @builtins.property
    def http(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttp"]:
        '''HTTP connection pool settings.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPool#http
        '''
        result = self._values.get("http")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttp"], result)

    @builtins.property
    def tcp(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcp"]:
        '''Settings common to both HTTP and TCP upstream connections.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPool#tcp
        '''
        result = self._values.get("tcp")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcp"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyConnectionPool(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttp",
    jsii_struct_bases=[],
    name_mapping={
        "h2_upgrade_policy": "h2UpgradePolicy",
        "http1_max_pending_requests": "http1MaxPendingRequests",
        "http2_max_requests": "http2MaxRequests",
        "idle_timeout": "idleTimeout",
        "max_concurrent_streams": "maxConcurrentStreams",
        "max_requests_per_connection": "maxRequestsPerConnection",
        "max_retries": "maxRetries",
        "use_client_protocol": "useClientProtocol",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttp:
    def __init__(
        self,
        *,
        h2_upgrade_policy: typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttpH2UpgradePolicy"] = None,
        http1_max_pending_requests: typing.Optional[jsii.Number] = None,
        http2_max_requests: typing.Optional[jsii.Number] = None,
        idle_timeout: typing.Optional[builtins.str] = None,
        max_concurrent_streams: typing.Optional[jsii.Number] = None,
        max_requests_per_connection: typing.Optional[jsii.Number] = None,
        max_retries: typing.Optional[jsii.Number] = None,
        use_client_protocol: typing.Optional[builtins.bool] = None,
    ) -> None:
        '''HTTP connection pool settings.

        :param h2_upgrade_policy: Specify if http1.1 connection should be upgraded to http2 for the associated destination. Valid Options: DEFAULT, DO_NOT_UPGRADE, UPGRADE
        :param http1_max_pending_requests: Maximum number of requests that will be queued while waiting for a ready connection pool connection.
        :param http2_max_requests: Maximum number of active requests to a destination.
        :param idle_timeout: The idle timeout for upstream connection pool connections.
        :param max_concurrent_streams: The maximum number of concurrent streams allowed for a peer on one HTTP/2 connection.
        :param max_requests_per_connection: Maximum number of requests per connection to a backend.
        :param max_retries: Maximum number of retries that can be outstanding to all hosts in a cluster at a given time.
        :param use_client_protocol: If set to true, client protocol will be preserved while initiating connection to backend.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttp
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__0240fda000617fe5fd7123cf73549db621a76e08428a257fc3ecc85098fb0ae0)
            check_type(argname="argument h2_upgrade_policy", value=h2_upgrade_policy, expected_type=type_hints["h2_upgrade_policy"])
            check_type(argname="argument http1_max_pending_requests", value=http1_max_pending_requests, expected_type=type_hints["http1_max_pending_requests"])
            check_type(argname="argument http2_max_requests", value=http2_max_requests, expected_type=type_hints["http2_max_requests"])
            check_type(argname="argument idle_timeout", value=idle_timeout, expected_type=type_hints["idle_timeout"])
            check_type(argname="argument max_concurrent_streams", value=max_concurrent_streams, expected_type=type_hints["max_concurrent_streams"])
            check_type(argname="argument max_requests_per_connection", value=max_requests_per_connection, expected_type=type_hints["max_requests_per_connection"])
            check_type(argname="argument max_retries", value=max_retries, expected_type=type_hints["max_retries"])
            check_type(argname="argument use_client_protocol", value=use_client_protocol, expected_type=type_hints["use_client_protocol"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if h2_upgrade_policy is not None:
            self._values["h2_upgrade_policy"] = h2_upgrade_policy
        if http1_max_pending_requests is not None:
            self._values["http1_max_pending_requests"] = http1_max_pending_requests
        if http2_max_requests is not None:
            self._values["http2_max_requests"] = http2_max_requests
        if idle_timeout is not None:
            self._values["idle_timeout"] = idle_timeout
        if max_concurrent_streams is not None:
            self._values["max_concurrent_streams"] = max_concurrent_streams
        if max_requests_per_connection is not None:
            self._values["max_requests_per_connection"] = max_requests_per_connection
        if max_retries is not None:
            self._values["max_retries"] = max_retries
        if use_client_protocol is not None:
            self._values["use_client_protocol"] = use_client_protocol

    @builtins.property
    def h2_upgrade_policy(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttpH2UpgradePolicy"]:
        '''Specify if http1.1 connection should be upgraded to http2 for the associated destination.

        Valid Options: DEFAULT, DO_NOT_UPGRADE, UPGRADE

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttp#h2UpgradePolicy
        '''
        result = self._values.get("h2_upgrade_policy")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttpH2UpgradePolicy"], result)

    @builtins.property
    def http1_max_pending_requests(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of requests that will be queued while waiting for a ready connection pool connection.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttp#http1MaxPendingRequests
        '''
        result = self._values.get("http1_max_pending_requests")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def http2_max_requests(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of active requests to a destination.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttp#http2MaxRequests
        '''
        result = self._values.get("http2_max_requests")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def idle_timeout(self) -> typing.Optional[builtins.str]:
        '''The idle timeout for upstream connection pool connections.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttp#idleTimeout
        '''
        result = self._values.get("idle_timeout")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def max_concurrent_streams(self) -> typing.Optional[jsii.Number]:
        '''The maximum number of concurrent streams allowed for a peer on one HTTP/2 connection.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttp#maxConcurrentStreams
        '''
        result = self._values.get("max_concurrent_streams")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def max_requests_per_connection(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of requests per connection to a backend.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttp#maxRequestsPerConnection
        '''
        result = self._values.get("max_requests_per_connection")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def max_retries(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of retries that can be outstanding to all hosts in a cluster at a given time.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttp#maxRetries
        '''
        result = self._values.get("max_retries")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def use_client_protocol(self) -> typing.Optional[builtins.bool]:
        '''If set to true, client protocol will be preserved while initiating connection to backend.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttp#useClientProtocol
        '''
        result = self._values.get("use_client_protocol")
        return typing.cast(typing.Optional[builtins.bool], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttp(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttpH2UpgradePolicy"
)
class DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttpH2UpgradePolicy(
    enum.Enum,
):
    '''Specify if http1.1 connection should be upgraded to http2 for the associated destination.

    Valid Options: DEFAULT, DO_NOT_UPGRADE, UPGRADE

    :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttpH2UpgradePolicy
    '''

    DEFAULT = "DEFAULT"
    '''DEFAULT.'''
    DO_UNDERSCORE_NOT_UNDERSCORE_UPGRADE = "DO_UNDERSCORE_NOT_UNDERSCORE_UPGRADE"
    '''DO_NOT_UPGRADE.'''
    UPGRADE = "UPGRADE"
    '''UPGRADE.'''


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcp",
    jsii_struct_bases=[],
    name_mapping={
        "connect_timeout": "connectTimeout",
        "idle_timeout": "idleTimeout",
        "max_connection_duration": "maxConnectionDuration",
        "max_connections": "maxConnections",
        "tcp_keepalive": "tcpKeepalive",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcp:
    def __init__(
        self,
        *,
        connect_timeout: typing.Optional[builtins.str] = None,
        idle_timeout: typing.Optional[builtins.str] = None,
        max_connection_duration: typing.Optional[builtins.str] = None,
        max_connections: typing.Optional[jsii.Number] = None,
        tcp_keepalive: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcpTcpKeepalive", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Settings common to both HTTP and TCP upstream connections.

        :param connect_timeout: TCP connection timeout.
        :param idle_timeout: The idle timeout for TCP connections.
        :param max_connection_duration: The maximum duration of a connection.
        :param max_connections: Maximum number of HTTP1 /TCP connections to a destination host.
        :param tcp_keepalive: If set then set SO_KEEPALIVE on the socket to enable TCP Keepalives.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcp
        '''
        if isinstance(tcp_keepalive, dict):
            tcp_keepalive = DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcpTcpKeepalive(**tcp_keepalive)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__6e122da151b9826edf11fae783a6717e2135083b449260174801fd0c35b6b850)
            check_type(argname="argument connect_timeout", value=connect_timeout, expected_type=type_hints["connect_timeout"])
            check_type(argname="argument idle_timeout", value=idle_timeout, expected_type=type_hints["idle_timeout"])
            check_type(argname="argument max_connection_duration", value=max_connection_duration, expected_type=type_hints["max_connection_duration"])
            check_type(argname="argument max_connections", value=max_connections, expected_type=type_hints["max_connections"])
            check_type(argname="argument tcp_keepalive", value=tcp_keepalive, expected_type=type_hints["tcp_keepalive"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if connect_timeout is not None:
            self._values["connect_timeout"] = connect_timeout
        if idle_timeout is not None:
            self._values["idle_timeout"] = idle_timeout
        if max_connection_duration is not None:
            self._values["max_connection_duration"] = max_connection_duration
        if max_connections is not None:
            self._values["max_connections"] = max_connections
        if tcp_keepalive is not None:
            self._values["tcp_keepalive"] = tcp_keepalive

    @builtins.property
    def connect_timeout(self) -> typing.Optional[builtins.str]:
        '''TCP connection timeout.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcp#connectTimeout
        '''
        result = self._values.get("connect_timeout")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def idle_timeout(self) -> typing.Optional[builtins.str]:
        '''The idle timeout for TCP connections.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcp#idleTimeout
        '''
        result = self._values.get("idle_timeout")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def max_connection_duration(self) -> typing.Optional[builtins.str]:
        '''The maximum duration of a connection.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcp#maxConnectionDuration
        '''
        result = self._values.get("max_connection_duration")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def max_connections(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of HTTP1 /TCP connections to a destination host.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcp#maxConnections
        '''
        result = self._values.get("max_connections")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def tcp_keepalive(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcpTcpKeepalive"]:
        '''If set then set SO_KEEPALIVE on the socket to enable TCP Keepalives.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcp#tcpKeepalive
        '''
        result = self._values.get("tcp_keepalive")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcpTcpKeepalive"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcp(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcpTcpKeepalive",
    jsii_struct_bases=[],
    name_mapping={"interval": "interval", "probes": "probes", "time": "time"},
)
class DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcpTcpKeepalive:
    def __init__(
        self,
        *,
        interval: typing.Optional[builtins.str] = None,
        probes: typing.Optional[jsii.Number] = None,
        time: typing.Optional[builtins.str] = None,
    ) -> None:
        '''If set then set SO_KEEPALIVE on the socket to enable TCP Keepalives.

        :param interval: The time duration between keep-alive probes.
        :param probes: Maximum number of keepalive probes to send without response before deciding the connection is dead.
        :param time: The time duration a connection needs to be idle before keep-alive probes start being sent.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcpTcpKeepalive
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__1a60252ea7cf48d7fd331ec1cae433791d3a2cefa3f40275b2d899772d5119b3)
            check_type(argname="argument interval", value=interval, expected_type=type_hints["interval"])
            check_type(argname="argument probes", value=probes, expected_type=type_hints["probes"])
            check_type(argname="argument time", value=time, expected_type=type_hints["time"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if interval is not None:
            self._values["interval"] = interval
        if probes is not None:
            self._values["probes"] = probes
        if time is not None:
            self._values["time"] = time

    @builtins.property
    def interval(self) -> typing.Optional[builtins.str]:
        '''The time duration between keep-alive probes.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcpTcpKeepalive#interval
        '''
        result = self._values.get("interval")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def probes(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of keepalive probes to send without response before deciding the connection is dead.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcpTcpKeepalive#probes
        '''
        result = self._values.get("probes")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def time(self) -> typing.Optional[builtins.str]:
        '''The time duration a connection needs to be idle before keep-alive probes start being sent.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcpTcpKeepalive#time
        '''
        result = self._values.get("time")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcpTcpKeepalive(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyLoadBalancer",
    jsii_struct_bases=[],
    name_mapping={
        "consistent_hash": "consistentHash",
        "locality_lb_setting": "localityLbSetting",
        "simple": "simple",
        "warmup": "warmup",
        "warmup_duration_secs": "warmupDurationSecs",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyLoadBalancer:
    def __init__(
        self,
        *,
        consistent_hash: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHash", typing.Dict[builtins.str, typing.Any]]] = None,
        locality_lb_setting: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSetting", typing.Dict[builtins.str, typing.Any]]] = None,
        simple: typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerSimple"] = None,
        warmup: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerWarmup", typing.Dict[builtins.str, typing.Any]]] = None,
        warmup_duration_secs: typing.Optional[builtins.str] = None,
    ) -> None:
        '''Settings controlling the load balancer algorithms.

        :param consistent_hash: 
        :param locality_lb_setting: 
        :param simple: Valid Options: LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST.
        :param warmup: Represents the warmup configuration of Service.
        :param warmup_duration_secs: Deprecated: use ``warmup`` instead.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancer
        '''
        if isinstance(consistent_hash, dict):
            consistent_hash = DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHash(**consistent_hash)
        if isinstance(locality_lb_setting, dict):
            locality_lb_setting = DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSetting(**locality_lb_setting)
        if isinstance(warmup, dict):
            warmup = DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerWarmup(**warmup)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__ab9eb71f3e84c55784b373c28f6933610376cb7fa5c0e563870a6d93d3a6d9d7)
            check_type(argname="argument consistent_hash", value=consistent_hash, expected_type=type_hints["consistent_hash"])
            check_type(argname="argument locality_lb_setting", value=locality_lb_setting, expected_type=type_hints["locality_lb_setting"])
            check_type(argname="argument simple", value=simple, expected_type=type_hints["simple"])
            check_type(argname="argument warmup", value=warmup, expected_type=type_hints["warmup"])
            check_type(argname="argument warmup_duration_secs", value=warmup_duration_secs, expected_type=type_hints["warmup_duration_secs"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if consistent_hash is not None:
            self._values["consistent_hash"] = consistent_hash
        if locality_lb_setting is not None:
            self._values["locality_lb_setting"] = locality_lb_setting
        if simple is not None:
            self._values["simple"] = simple
        if warmup is not None:
            self._values["warmup"] = warmup
        if warmup_duration_secs is not None:
            self._values["warmup_duration_secs"] = warmup_duration_secs

    @builtins.property
    def consistent_hash(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHash"]:
        '''
        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancer#consistentHash
        '''
        result = self._values.get("consistent_hash")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHash"], result)

    @builtins.property
    def locality_lb_setting(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSetting"]:
        '''
        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancer#localityLbSetting
        '''
        result = self._values.get("locality_lb_setting")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSetting"], result)

    @builtins.property
    def simple(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerSimple"]:
        '''Valid Options: LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancer#simple
        '''
        result = self._values.get("simple")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerSimple"], result)

    @builtins.property
    def warmup(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerWarmup"]:
        '''Represents the warmup configuration of Service.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancer#warmup
        '''
        result = self._values.get("warmup")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerWarmup"], result)

    @builtins.property
    def warmup_duration_secs(self) -> typing.Optional[builtins.str]:
        '''Deprecated: use ``warmup`` instead.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancer#warmupDurationSecs
        '''
        result = self._values.get("warmup_duration_secs")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancer(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHash",
    jsii_struct_bases=[],
    name_mapping={
        "http_cookie": "httpCookie",
        "http_header_name": "httpHeaderName",
        "http_query_parameter_name": "httpQueryParameterName",
        "maglev": "maglev",
        "minimum_ring_size": "minimumRingSize",
        "ring_hash": "ringHash",
        "use_source_ip": "useSourceIp",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHash:
    def __init__(
        self,
        *,
        http_cookie: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookie", typing.Dict[builtins.str, typing.Any]]] = None,
        http_header_name: typing.Optional[builtins.str] = None,
        http_query_parameter_name: typing.Optional[builtins.str] = None,
        maglev: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashMaglev", typing.Dict[builtins.str, typing.Any]]] = None,
        minimum_ring_size: typing.Optional[jsii.Number] = None,
        ring_hash: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashRingHash", typing.Dict[builtins.str, typing.Any]]] = None,
        use_source_ip: typing.Optional[builtins.bool] = None,
    ) -> None:
        '''
        :param http_cookie: Hash based on HTTP cookie.
        :param http_header_name: Hash based on a specific HTTP header.
        :param http_query_parameter_name: Hash based on a specific HTTP query parameter.
        :param maglev: The Maglev load balancer implements consistent hashing to backend hosts.
        :param minimum_ring_size: Deprecated.
        :param ring_hash: The ring/modulo hash load balancer implements consistent hashing to backend hosts.
        :param use_source_ip: Hash based on the source IP address.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHash
        '''
        if isinstance(http_cookie, dict):
            http_cookie = DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookie(**http_cookie)
        if isinstance(maglev, dict):
            maglev = DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashMaglev(**maglev)
        if isinstance(ring_hash, dict):
            ring_hash = DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashRingHash(**ring_hash)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__02dd9a8a9ce590743b885aead6a7bb7a4965d0dbdd814f34a2080cdc21dcf070)
            check_type(argname="argument http_cookie", value=http_cookie, expected_type=type_hints["http_cookie"])
            check_type(argname="argument http_header_name", value=http_header_name, expected_type=type_hints["http_header_name"])
            check_type(argname="argument http_query_parameter_name", value=http_query_parameter_name, expected_type=type_hints["http_query_parameter_name"])
            check_type(argname="argument maglev", value=maglev, expected_type=type_hints["maglev"])
            check_type(argname="argument minimum_ring_size", value=minimum_ring_size, expected_type=type_hints["minimum_ring_size"])
            check_type(argname="argument ring_hash", value=ring_hash, expected_type=type_hints["ring_hash"])
            check_type(argname="argument use_source_ip", value=use_source_ip, expected_type=type_hints["use_source_ip"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if http_cookie is not None:
            self._values["http_cookie"] = http_cookie
        if http_header_name is not None:
            self._values["http_header_name"] = http_header_name
        if http_query_parameter_name is not None:
            self._values["http_query_parameter_name"] = http_query_parameter_name
        if maglev is not None:
            self._values["maglev"] = maglev
        if minimum_ring_size is not None:
            self._values["minimum_ring_size"] = minimum_ring_size
        if ring_hash is not None:
            self._values["ring_hash"] = ring_hash
        if use_source_ip is not None:
            self._values["use_source_ip"] = use_source_ip

    @builtins.property
    def http_cookie(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookie"]:
        '''Hash based on HTTP cookie.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHash#httpCookie
        '''
        result = self._values.get("http_cookie")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookie"], result)

    @builtins.property
    def http_header_name(self) -> typing.Optional[builtins.str]:
        '''Hash based on a specific HTTP header.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHash#httpHeaderName
        '''
        result = self._values.get("http_header_name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def http_query_parameter_name(self) -> typing.Optional[builtins.str]:
        '''Hash based on a specific HTTP query parameter.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHash#httpQueryParameterName
        '''
        result = self._values.get("http_query_parameter_name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def maglev(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashMaglev"]:
        '''The Maglev load balancer implements consistent hashing to backend hosts.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHash#maglev
        '''
        result = self._values.get("maglev")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashMaglev"], result)

    @builtins.property
    def minimum_ring_size(self) -> typing.Optional[jsii.Number]:
        '''Deprecated.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHash#minimumRingSize
        '''
        result = self._values.get("minimum_ring_size")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def ring_hash(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashRingHash"]:
        '''The ring/modulo hash load balancer implements consistent hashing to backend hosts.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHash#ringHash
        '''
        result = self._values.get("ring_hash")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashRingHash"], result)

    @builtins.property
    def use_source_ip(self) -> typing.Optional[builtins.bool]:
        '''Hash based on the source IP address.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHash#useSourceIp
        '''
        result = self._values.get("use_source_ip")
        return typing.cast(typing.Optional[builtins.bool], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHash(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookie",
    jsii_struct_bases=[],
    name_mapping={
        "name": "name",
        "attributes": "attributes",
        "path": "path",
        "ttl": "ttl",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookie:
    def __init__(
        self,
        *,
        name: builtins.str,
        attributes: typing.Optional[typing.Sequence[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes", typing.Dict[builtins.str, typing.Any]]]] = None,
        path: typing.Optional[builtins.str] = None,
        ttl: typing.Optional[builtins.str] = None,
    ) -> None:
        '''Hash based on HTTP cookie.

        :param name: Name of the cookie.
        :param attributes: Additional attributes for the cookie.
        :param path: Path to set for the cookie.
        :param ttl: Lifetime of the cookie.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookie
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__73f48d369e6a24861fdbc6a03481a06f401085b7439784bff13cc28a2e86ec1e)
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument attributes", value=attributes, expected_type=type_hints["attributes"])
            check_type(argname="argument path", value=path, expected_type=type_hints["path"])
            check_type(argname="argument ttl", value=ttl, expected_type=type_hints["ttl"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "name": name,
        }
        if attributes is not None:
            self._values["attributes"] = attributes
        if path is not None:
            self._values["path"] = path
        if ttl is not None:
            self._values["ttl"] = ttl

    @builtins.property
    def name(self) -> builtins.str:
        '''Name of the cookie.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookie#name
        '''
        result = self._values.get("name")
        assert result is not None, "Required property 'name' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def attributes(
        self,
    ) -> typing.Optional[typing.List["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes"]]:
        '''Additional attributes for the cookie.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookie#attributes
        '''
        result = self._values.get("attributes")
        return typing.cast(typing.Optional[typing.List["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes"]], result)

    @builtins.property
    def path(self) -> typing.Optional[builtins.str]:
        '''Path to set for the cookie.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookie#path
        '''
        result = self._values.get("path")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def ttl(self) -> typing.Optional[builtins.str]:
        '''Lifetime of the cookie.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookie#ttl
        '''
        result = self._values.get("ttl")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookie(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes",
    jsii_struct_bases=[],
    name_mapping={"name": "name", "value": "value"},
)
class DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes:
    def __init__(
        self,
        *,
        name: builtins.str,
        value: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param name: The name of the cookie attribute.
        :param value: The optional value of the cookie attribute.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__ea4a9f2d942b54fabd9497695f1087abbeed16f756ab925134332e4698ae7e1c)
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "name": name,
        }
        if value is not None:
            self._values["value"] = value

    @builtins.property
    def name(self) -> builtins.str:
        '''The name of the cookie attribute.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes#name
        '''
        result = self._values.get("name")
        assert result is not None, "Required property 'name' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def value(self) -> typing.Optional[builtins.str]:
        '''The optional value of the cookie attribute.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes#value
        '''
        result = self._values.get("value")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashMaglev",
    jsii_struct_bases=[],
    name_mapping={"table_size": "tableSize"},
)
class DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashMaglev:
    def __init__(self, *, table_size: typing.Optional[jsii.Number] = None) -> None:
        '''The Maglev load balancer implements consistent hashing to backend hosts.

        :param table_size: The table size for Maglev hashing.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashMaglev
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__006639b71ae5b2dce59fe4927774fea40573a416f51802731318261c4224c963)
            check_type(argname="argument table_size", value=table_size, expected_type=type_hints["table_size"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if table_size is not None:
            self._values["table_size"] = table_size

    @builtins.property
    def table_size(self) -> typing.Optional[jsii.Number]:
        '''The table size for Maglev hashing.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashMaglev#tableSize
        '''
        result = self._values.get("table_size")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashMaglev(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashRingHash",
    jsii_struct_bases=[],
    name_mapping={"minimum_ring_size": "minimumRingSize"},
)
class DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashRingHash:
    def __init__(
        self,
        *,
        minimum_ring_size: typing.Optional[jsii.Number] = None,
    ) -> None:
        '''The ring/modulo hash load balancer implements consistent hashing to backend hosts.

        :param minimum_ring_size: The minimum number of virtual nodes to use for the hash ring.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashRingHash
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__aa7619853ebb1f333101bfb42faed49bed6a16fc55a5fcb42b245411b29a36ab)
            check_type(argname="argument minimum_ring_size", value=minimum_ring_size, expected_type=type_hints["minimum_ring_size"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if minimum_ring_size is not None:
            self._values["minimum_ring_size"] = minimum_ring_size

    @builtins.property
    def minimum_ring_size(self) -> typing.Optional[jsii.Number]:
        '''The minimum number of virtual nodes to use for the hash ring.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashRingHash#minimumRingSize
        '''
        result = self._values.get("minimum_ring_size")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashRingHash(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSetting",
    jsii_struct_bases=[],
    name_mapping={
        "distribute": "distribute",
        "enabled": "enabled",
        "failover": "failover",
        "failover_priority": "failoverPriority",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSetting:
    def __init__(
        self,
        *,
        distribute: typing.Optional[typing.Sequence[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingDistribute", typing.Dict[builtins.str, typing.Any]]]] = None,
        enabled: typing.Optional[builtins.bool] = None,
        failover: typing.Optional[typing.Sequence[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingFailover", typing.Dict[builtins.str, typing.Any]]]] = None,
        failover_priority: typing.Optional[typing.Sequence[builtins.str]] = None,
    ) -> None:
        '''
        :param distribute: Optional: only one of distribute, failover or failoverPriority can be set.
        :param enabled: Enable locality load balancing.
        :param failover: Optional: only one of distribute, failover or failoverPriority can be set.
        :param failover_priority: failoverPriority is an ordered list of labels used to sort endpoints to do priority based load balancing.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSetting
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__927a6db2fe929dd384a2d55e09cf42b425f49d0ebf4ef8b8b6b665b8ec1e1365)
            check_type(argname="argument distribute", value=distribute, expected_type=type_hints["distribute"])
            check_type(argname="argument enabled", value=enabled, expected_type=type_hints["enabled"])
            check_type(argname="argument failover", value=failover, expected_type=type_hints["failover"])
            check_type(argname="argument failover_priority", value=failover_priority, expected_type=type_hints["failover_priority"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if distribute is not None:
            self._values["distribute"] = distribute
        if enabled is not None:
            self._values["enabled"] = enabled
        if failover is not None:
            self._values["failover"] = failover
        if failover_priority is not None:
            self._values["failover_priority"] = failover_priority

    @builtins.property
    def distribute(
        self,
    ) -> typing.Optional[typing.List["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingDistribute"]]:
        '''Optional: only one of distribute, failover or failoverPriority can be set.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSetting#distribute
        '''
        result = self._values.get("distribute")
        return typing.cast(typing.Optional[typing.List["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingDistribute"]], result)

    @builtins.property
    def enabled(self) -> typing.Optional[builtins.bool]:
        '''Enable locality load balancing.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSetting#enabled
        '''
        result = self._values.get("enabled")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def failover(
        self,
    ) -> typing.Optional[typing.List["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingFailover"]]:
        '''Optional: only one of distribute, failover or failoverPriority can be set.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSetting#failover
        '''
        result = self._values.get("failover")
        return typing.cast(typing.Optional[typing.List["DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingFailover"]], result)

    @builtins.property
    def failover_priority(self) -> typing.Optional[typing.List[builtins.str]]:
        '''failoverPriority is an ordered list of labels used to sort endpoints to do priority based load balancing.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSetting#failoverPriority
        '''
        result = self._values.get("failover_priority")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSetting(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingDistribute",
    jsii_struct_bases=[],
    name_mapping={"from_": "from", "to": "to"},
)
class DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingDistribute:
    def __init__(
        self,
        *,
        from_: typing.Optional[builtins.str] = None,
        to: typing.Optional[typing.Mapping[builtins.str, jsii.Number]] = None,
    ) -> None:
        '''
        :param from_: Originating locality, '/' separated, e.g.
        :param to: Map of upstream localities to traffic distribution weights.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingDistribute
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__94c170f9331f91e4664d64c528170e6608e3377e11fd6bd4a2f8e4371b117fba)
            check_type(argname="argument from_", value=from_, expected_type=type_hints["from_"])
            check_type(argname="argument to", value=to, expected_type=type_hints["to"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if from_ is not None:
            self._values["from_"] = from_
        if to is not None:
            self._values["to"] = to

    @builtins.property
    def from_(self) -> typing.Optional[builtins.str]:
        '''Originating locality, '/' separated, e.g.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingDistribute#from
        '''
        result = self._values.get("from_")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def to(self) -> typing.Optional[typing.Mapping[builtins.str, jsii.Number]]:
        '''Map of upstream localities to traffic distribution weights.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingDistribute#to
        '''
        result = self._values.get("to")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, jsii.Number]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingDistribute(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingFailover",
    jsii_struct_bases=[],
    name_mapping={"from_": "from", "to": "to"},
)
class DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingFailover:
    def __init__(
        self,
        *,
        from_: typing.Optional[builtins.str] = None,
        to: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param from_: Originating region.
        :param to: Destination region the traffic will fail over to when endpoints in the 'from' region becomes unhealthy.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingFailover
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__a851f3304cb206a4219343f77d3c1f8feffb44698196f5ea5e25d42f0875099d)
            check_type(argname="argument from_", value=from_, expected_type=type_hints["from_"])
            check_type(argname="argument to", value=to, expected_type=type_hints["to"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if from_ is not None:
            self._values["from_"] = from_
        if to is not None:
            self._values["to"] = to

    @builtins.property
    def from_(self) -> typing.Optional[builtins.str]:
        '''Originating region.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingFailover#from
        '''
        result = self._values.get("from_")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def to(self) -> typing.Optional[builtins.str]:
        '''Destination region the traffic will fail over to when endpoints in the 'from' region becomes unhealthy.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingFailover#to
        '''
        result = self._values.get("to")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingFailover(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerSimple"
)
class DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerSimple(enum.Enum):
    '''Valid Options: LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST.

    :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerSimple
    '''

    UNSPECIFIED = "UNSPECIFIED"
    '''UNSPECIFIED.'''
    LEAST_UNDERSCORE_CONN = "LEAST_UNDERSCORE_CONN"
    '''LEAST_CONN.'''
    RANDOM = "RANDOM"
    '''RANDOM.'''
    PASSTHROUGH = "PASSTHROUGH"
    '''PASSTHROUGH.'''
    ROUND_UNDERSCORE_ROBIN = "ROUND_UNDERSCORE_ROBIN"
    '''ROUND_ROBIN.'''
    LEAST_UNDERSCORE_REQUEST = "LEAST_UNDERSCORE_REQUEST"
    '''LEAST_REQUEST.'''


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerWarmup",
    jsii_struct_bases=[],
    name_mapping={
        "duration": "duration",
        "aggression": "aggression",
        "minimum_percent": "minimumPercent",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerWarmup:
    def __init__(
        self,
        *,
        duration: builtins.str,
        aggression: typing.Optional[jsii.Number] = None,
        minimum_percent: typing.Optional[jsii.Number] = None,
    ) -> None:
        '''Represents the warmup configuration of Service.

        :param duration: 
        :param aggression: This parameter controls the speed of traffic increase over the warmup duration.
        :param minimum_percent: 

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerWarmup
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__89843e236678588e260619f989587267d6bb0667f0a22dad79034dd359f8e36d)
            check_type(argname="argument duration", value=duration, expected_type=type_hints["duration"])
            check_type(argname="argument aggression", value=aggression, expected_type=type_hints["aggression"])
            check_type(argname="argument minimum_percent", value=minimum_percent, expected_type=type_hints["minimum_percent"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "duration": duration,
        }
        if aggression is not None:
            self._values["aggression"] = aggression
        if minimum_percent is not None:
            self._values["minimum_percent"] = minimum_percent

    @builtins.property
    def duration(self) -> builtins.str:
        '''
        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerWarmup#duration
        '''
        result = self._values.get("duration")
        assert result is not None, "Required property 'duration' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def aggression(self) -> typing.Optional[jsii.Number]:
        '''This parameter controls the speed of traffic increase over the warmup duration.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerWarmup#aggression
        '''
        result = self._values.get("aggression")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def minimum_percent(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerWarmup#minimumPercent
        '''
        result = self._values.get("minimum_percent")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerWarmup(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyOutlierDetection",
    jsii_struct_bases=[],
    name_mapping={
        "base_ejection_time": "baseEjectionTime",
        "consecutive5_xx_errors": "consecutive5XxErrors",
        "consecutive_errors": "consecutiveErrors",
        "consecutive_gateway_errors": "consecutiveGatewayErrors",
        "consecutive_local_origin_failures": "consecutiveLocalOriginFailures",
        "interval": "interval",
        "max_ejection_percent": "maxEjectionPercent",
        "min_health_percent": "minHealthPercent",
        "split_external_local_origin_errors": "splitExternalLocalOriginErrors",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyOutlierDetection:
    def __init__(
        self,
        *,
        base_ejection_time: typing.Optional[builtins.str] = None,
        consecutive5_xx_errors: typing.Optional[jsii.Number] = None,
        consecutive_errors: typing.Optional[jsii.Number] = None,
        consecutive_gateway_errors: typing.Optional[jsii.Number] = None,
        consecutive_local_origin_failures: typing.Optional[jsii.Number] = None,
        interval: typing.Optional[builtins.str] = None,
        max_ejection_percent: typing.Optional[jsii.Number] = None,
        min_health_percent: typing.Optional[jsii.Number] = None,
        split_external_local_origin_errors: typing.Optional[builtins.bool] = None,
    ) -> None:
        '''
        :param base_ejection_time: Minimum ejection duration.
        :param consecutive5_xx_errors: Number of 5xx errors before a host is ejected from the connection pool.
        :param consecutive_errors: 
        :param consecutive_gateway_errors: Number of gateway errors before a host is ejected from the connection pool.
        :param consecutive_local_origin_failures: The number of consecutive locally originated failures before ejection occurs.
        :param interval: Time interval between ejection sweep analysis.
        :param max_ejection_percent: Maximum % of hosts in the load balancing pool for the upstream service that can be ejected.
        :param min_health_percent: Outlier detection will be enabled as long as the associated load balancing pool has at least ``minHealthPercent`` hosts in healthy mode.
        :param split_external_local_origin_errors: Determines whether to distinguish local origin failures from external errors.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyOutlierDetection
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__410a892232b6ff39d42214daa1023ee19b21a31c501001aa6669954a3df7f5f2)
            check_type(argname="argument base_ejection_time", value=base_ejection_time, expected_type=type_hints["base_ejection_time"])
            check_type(argname="argument consecutive5_xx_errors", value=consecutive5_xx_errors, expected_type=type_hints["consecutive5_xx_errors"])
            check_type(argname="argument consecutive_errors", value=consecutive_errors, expected_type=type_hints["consecutive_errors"])
            check_type(argname="argument consecutive_gateway_errors", value=consecutive_gateway_errors, expected_type=type_hints["consecutive_gateway_errors"])
            check_type(argname="argument consecutive_local_origin_failures", value=consecutive_local_origin_failures, expected_type=type_hints["consecutive_local_origin_failures"])
            check_type(argname="argument interval", value=interval, expected_type=type_hints["interval"])
            check_type(argname="argument max_ejection_percent", value=max_ejection_percent, expected_type=type_hints["max_ejection_percent"])
            check_type(argname="argument min_health_percent", value=min_health_percent, expected_type=type_hints["min_health_percent"])
            check_type(argname="argument split_external_local_origin_errors", value=split_external_local_origin_errors, expected_type=type_hints["split_external_local_origin_errors"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if base_ejection_time is not None:
            self._values["base_ejection_time"] = base_ejection_time
        if consecutive5_xx_errors is not None:
            self._values["consecutive5_xx_errors"] = consecutive5_xx_errors
        if consecutive_errors is not None:
            self._values["consecutive_errors"] = consecutive_errors
        if consecutive_gateway_errors is not None:
            self._values["consecutive_gateway_errors"] = consecutive_gateway_errors
        if consecutive_local_origin_failures is not None:
            self._values["consecutive_local_origin_failures"] = consecutive_local_origin_failures
        if interval is not None:
            self._values["interval"] = interval
        if max_ejection_percent is not None:
            self._values["max_ejection_percent"] = max_ejection_percent
        if min_health_percent is not None:
            self._values["min_health_percent"] = min_health_percent
        if split_external_local_origin_errors is not None:
            self._values["split_external_local_origin_errors"] = split_external_local_origin_errors

    @builtins.property
    def base_ejection_time(self) -> typing.Optional[builtins.str]:
        '''Minimum ejection duration.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyOutlierDetection#baseEjectionTime
        '''
        result = self._values.get("base_ejection_time")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def consecutive5_xx_errors(self) -> typing.Optional[jsii.Number]:
        '''Number of 5xx errors before a host is ejected from the connection pool.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyOutlierDetection#consecutive5xxErrors
        '''
        result = self._values.get("consecutive5_xx_errors")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def consecutive_errors(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: DestinationRuleSpecSubsetsTrafficPolicyOutlierDetection#consecutiveErrors
        '''
        result = self._values.get("consecutive_errors")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def consecutive_gateway_errors(self) -> typing.Optional[jsii.Number]:
        '''Number of gateway errors before a host is ejected from the connection pool.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyOutlierDetection#consecutiveGatewayErrors
        '''
        result = self._values.get("consecutive_gateway_errors")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def consecutive_local_origin_failures(self) -> typing.Optional[jsii.Number]:
        '''The number of consecutive locally originated failures before ejection occurs.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyOutlierDetection#consecutiveLocalOriginFailures
        '''
        result = self._values.get("consecutive_local_origin_failures")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def interval(self) -> typing.Optional[builtins.str]:
        '''Time interval between ejection sweep analysis.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyOutlierDetection#interval
        '''
        result = self._values.get("interval")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def max_ejection_percent(self) -> typing.Optional[jsii.Number]:
        '''Maximum % of hosts in the load balancing pool for the upstream service that can be ejected.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyOutlierDetection#maxEjectionPercent
        '''
        result = self._values.get("max_ejection_percent")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def min_health_percent(self) -> typing.Optional[jsii.Number]:
        '''Outlier detection will be enabled as long as the associated load balancing pool has at least ``minHealthPercent`` hosts in healthy mode.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyOutlierDetection#minHealthPercent
        '''
        result = self._values.get("min_health_percent")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def split_external_local_origin_errors(self) -> typing.Optional[builtins.bool]:
        '''Determines whether to distinguish local origin failures from external errors.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyOutlierDetection#splitExternalLocalOriginErrors
        '''
        result = self._values.get("split_external_local_origin_errors")
        return typing.cast(typing.Optional[builtins.bool], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyOutlierDetection(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettings",
    jsii_struct_bases=[],
    name_mapping={
        "connection_pool": "connectionPool",
        "load_balancer": "loadBalancer",
        "outlier_detection": "outlierDetection",
        "port": "port",
        "tls": "tls",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettings:
    def __init__(
        self,
        *,
        connection_pool: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPool", typing.Dict[builtins.str, typing.Any]]] = None,
        load_balancer: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancer", typing.Dict[builtins.str, typing.Any]]] = None,
        outlier_detection: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsOutlierDetection", typing.Dict[builtins.str, typing.Any]]] = None,
        port: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsPort", typing.Dict[builtins.str, typing.Any]]] = None,
        tls: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTls", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''
        :param connection_pool: 
        :param load_balancer: Settings controlling the load balancer algorithms.
        :param outlier_detection: 
        :param port: Specifies the number of a port on the destination service on which this policy is being applied.
        :param tls: TLS related settings for connections to the upstream service.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettings
        '''
        if isinstance(connection_pool, dict):
            connection_pool = DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPool(**connection_pool)
        if isinstance(load_balancer, dict):
            load_balancer = DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancer(**load_balancer)
        if isinstance(outlier_detection, dict):
            outlier_detection = DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsOutlierDetection(**outlier_detection)
        if isinstance(port, dict):
            port = DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsPort(**port)
        if isinstance(tls, dict):
            tls = DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTls(**tls)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__dd6777b4ca8192aa8d2314921f9e602c0cc9e06d17ec53c72ba68594ef20fc75)
            check_type(argname="argument connection_pool", value=connection_pool, expected_type=type_hints["connection_pool"])
            check_type(argname="argument load_balancer", value=load_balancer, expected_type=type_hints["load_balancer"])
            check_type(argname="argument outlier_detection", value=outlier_detection, expected_type=type_hints["outlier_detection"])
            check_type(argname="argument port", value=port, expected_type=type_hints["port"])
            check_type(argname="argument tls", value=tls, expected_type=type_hints["tls"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if connection_pool is not None:
            self._values["connection_pool"] = connection_pool
        if load_balancer is not None:
            self._values["load_balancer"] = load_balancer
        if outlier_detection is not None:
            self._values["outlier_detection"] = outlier_detection
        if port is not None:
            self._values["port"] = port
        if tls is not None:
            self._values["tls"] = tls

    @builtins.property
    def connection_pool(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPool"]:
        '''
        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettings#connectionPool
        '''
        result = self._values.get("connection_pool")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPool"], result)

    @builtins.property
    def load_balancer(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancer"]:
        '''Settings controlling the load balancer algorithms.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettings#loadBalancer
        '''
        result = self._values.get("load_balancer")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancer"], result)

    @builtins.property
    def outlier_detection(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsOutlierDetection"]:
        '''
        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettings#outlierDetection
        '''
        result = self._values.get("outlier_detection")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsOutlierDetection"], result)

    @builtins.property
    def port(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsPort"]:
        '''Specifies the number of a port on the destination service on which this policy is being applied.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettings#port
        '''
        result = self._values.get("port")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsPort"], result)

    @builtins.property
    def tls(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTls"]:
        '''TLS related settings for connections to the upstream service.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettings#tls
        '''
        result = self._values.get("tls")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTls"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettings(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPool",
    jsii_struct_bases=[],
    name_mapping={"http": "http", "tcp": "tcp"},
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPool:
    def __init__(
        self,
        *,
        http: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttp", typing.Dict[builtins.str, typing.Any]]] = None,
        tcp: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcp", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''
        :param http: HTTP connection pool settings.
        :param tcp: Settings common to both HTTP and TCP upstream connections.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPool
        '''
        if isinstance(http, dict):
            http = DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttp(**http)
        if isinstance(tcp, dict):
            tcp = DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcp(**tcp)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__3a214cd3a6e0b1f128418230e682c2ec5a6965fe7f5af93559306dddddc02efc)
            check_type(argname="argument http", value=http, expected_type=type_hints["http"])
            check_type(argname="argument tcp", value=tcp, expected_type=type_hints["tcp"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if http is not None:
            self._values["http"] = http
        if tcp is not None:
            self._values["tcp"] = tcp

    @builtins.property
    def http(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttp"]:
        '''HTTP connection pool settings.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPool#http
        '''
        result = self._values.get("http")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttp"], result)

    @builtins.property
    def tcp(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcp"]:
        '''Settings common to both HTTP and TCP upstream connections.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPool#tcp
        '''
        result = self._values.get("tcp")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcp"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPool(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttp",
    jsii_struct_bases=[],
    name_mapping={
        "h2_upgrade_policy": "h2UpgradePolicy",
        "http1_max_pending_requests": "http1MaxPendingRequests",
        "http2_max_requests": "http2MaxRequests",
        "idle_timeout": "idleTimeout",
        "max_concurrent_streams": "maxConcurrentStreams",
        "max_requests_per_connection": "maxRequestsPerConnection",
        "max_retries": "maxRetries",
        "use_client_protocol": "useClientProtocol",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttp:
    def __init__(
        self,
        *,
        h2_upgrade_policy: typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttpH2UpgradePolicy"] = None,
        http1_max_pending_requests: typing.Optional[jsii.Number] = None,
        http2_max_requests: typing.Optional[jsii.Number] = None,
        idle_timeout: typing.Optional[builtins.str] = None,
        max_concurrent_streams: typing.Optional[jsii.Number] = None,
        max_requests_per_connection: typing.Optional[jsii.Number] = None,
        max_retries: typing.Optional[jsii.Number] = None,
        use_client_protocol: typing.Optional[builtins.bool] = None,
    ) -> None:
        '''HTTP connection pool settings.

        :param h2_upgrade_policy: Specify if http1.1 connection should be upgraded to http2 for the associated destination. Valid Options: DEFAULT, DO_NOT_UPGRADE, UPGRADE
        :param http1_max_pending_requests: Maximum number of requests that will be queued while waiting for a ready connection pool connection.
        :param http2_max_requests: Maximum number of active requests to a destination.
        :param idle_timeout: The idle timeout for upstream connection pool connections.
        :param max_concurrent_streams: The maximum number of concurrent streams allowed for a peer on one HTTP/2 connection.
        :param max_requests_per_connection: Maximum number of requests per connection to a backend.
        :param max_retries: Maximum number of retries that can be outstanding to all hosts in a cluster at a given time.
        :param use_client_protocol: If set to true, client protocol will be preserved while initiating connection to backend.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttp
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__b210604831318e07cc3205abeb4877dff520f7e2dfd852978bec1819fcf456e3)
            check_type(argname="argument h2_upgrade_policy", value=h2_upgrade_policy, expected_type=type_hints["h2_upgrade_policy"])
            check_type(argname="argument http1_max_pending_requests", value=http1_max_pending_requests, expected_type=type_hints["http1_max_pending_requests"])
            check_type(argname="argument http2_max_requests", value=http2_max_requests, expected_type=type_hints["http2_max_requests"])
            check_type(argname="argument idle_timeout", value=idle_timeout, expected_type=type_hints["idle_timeout"])
            check_type(argname="argument max_concurrent_streams", value=max_concurrent_streams, expected_type=type_hints["max_concurrent_streams"])
            check_type(argname="argument max_requests_per_connection", value=max_requests_per_connection, expected_type=type_hints["max_requests_per_connection"])
            check_type(argname="argument max_retries", value=max_retries, expected_type=type_hints["max_retries"])
            check_type(argname="argument use_client_protocol", value=use_client_protocol, expected_type=type_hints["use_client_protocol"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if h2_upgrade_policy is not None:
            self._values["h2_upgrade_policy"] = h2_upgrade_policy
        if http1_max_pending_requests is not None:
            self._values["http1_max_pending_requests"] = http1_max_pending_requests
        if http2_max_requests is not None:
            self._values["http2_max_requests"] = http2_max_requests
        if idle_timeout is not None:
            self._values["idle_timeout"] = idle_timeout
        if max_concurrent_streams is not None:
            self._values["max_concurrent_streams"] = max_concurrent_streams
        if max_requests_per_connection is not None:
            self._values["max_requests_per_connection"] = max_requests_per_connection
        if max_retries is not None:
            self._values["max_retries"] = max_retries
        if use_client_protocol is not None:
            self._values["use_client_protocol"] = use_client_protocol

    @builtins.property
    def h2_upgrade_policy(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttpH2UpgradePolicy"]:
        '''Specify if http1.1 connection should be upgraded to http2 for the associated destination.

        Valid Options: DEFAULT, DO_NOT_UPGRADE, UPGRADE

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttp#h2UpgradePolicy
        '''
        result = self._values.get("h2_upgrade_policy")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttpH2UpgradePolicy"], result)

    @builtins.property
    def http1_max_pending_requests(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of requests that will be queued while waiting for a ready connection pool connection.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttp#http1MaxPendingRequests
        '''
        result = self._values.get("http1_max_pending_requests")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def http2_max_requests(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of active requests to a destination.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttp#http2MaxRequests
        '''
        result = self._values.get("http2_max_requests")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def idle_timeout(self) -> typing.Optional[builtins.str]:
        '''The idle timeout for upstream connection pool connections.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttp#idleTimeout
        '''
        result = self._values.get("idle_timeout")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def max_concurrent_streams(self) -> typing.Optional[jsii.Number]:
        '''The maximum number of concurrent streams allowed for a peer on one HTTP/2 connection.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttp#maxConcurrentStreams
        '''
        result = self._values.get("max_concurrent_streams")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def max_requests_per_connection(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of requests per connection to a backend.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttp#maxRequestsPerConnection
        '''
        result = self._values.get("max_requests_per_connection")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def max_retries(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of retries that can be outstanding to all hosts in a cluster at a given time.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttp#maxRetries
        '''
        result = self._values.get("max_retries")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def use_client_protocol(self) -> typing.Optional[builtins.bool]:
        '''If set to true, client protocol will be preserved while initiating connection to backend.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttp#useClientProtocol
        '''
        result = self._values.get("use_client_protocol")
        return typing.cast(typing.Optional[builtins.bool], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttp(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttpH2UpgradePolicy"
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttpH2UpgradePolicy(
    enum.Enum,
):
    '''Specify if http1.1 connection should be upgraded to http2 for the associated destination.

    Valid Options: DEFAULT, DO_NOT_UPGRADE, UPGRADE

    :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttpH2UpgradePolicy
    '''

    DEFAULT = "DEFAULT"
    '''DEFAULT.'''
    DO_UNDERSCORE_NOT_UNDERSCORE_UPGRADE = "DO_UNDERSCORE_NOT_UNDERSCORE_UPGRADE"
    '''DO_NOT_UPGRADE.'''
    UPGRADE = "UPGRADE"
    '''UPGRADE.'''


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcp",
    jsii_struct_bases=[],
    name_mapping={
        "connect_timeout": "connectTimeout",
        "idle_timeout": "idleTimeout",
        "max_connection_duration": "maxConnectionDuration",
        "max_connections": "maxConnections",
        "tcp_keepalive": "tcpKeepalive",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcp:
    def __init__(
        self,
        *,
        connect_timeout: typing.Optional[builtins.str] = None,
        idle_timeout: typing.Optional[builtins.str] = None,
        max_connection_duration: typing.Optional[builtins.str] = None,
        max_connections: typing.Optional[jsii.Number] = None,
        tcp_keepalive: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Settings common to both HTTP and TCP upstream connections.

        :param connect_timeout: TCP connection timeout.
        :param idle_timeout: The idle timeout for TCP connections.
        :param max_connection_duration: The maximum duration of a connection.
        :param max_connections: Maximum number of HTTP1 /TCP connections to a destination host.
        :param tcp_keepalive: If set then set SO_KEEPALIVE on the socket to enable TCP Keepalives.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcp
        '''
        if isinstance(tcp_keepalive, dict):
            tcp_keepalive = DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive(**tcp_keepalive)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__d1e3d375204cefe9ac41c8f4d53c4113673fe35a43fd78917cf0f672bda3d188)
            check_type(argname="argument connect_timeout", value=connect_timeout, expected_type=type_hints["connect_timeout"])
            check_type(argname="argument idle_timeout", value=idle_timeout, expected_type=type_hints["idle_timeout"])
            check_type(argname="argument max_connection_duration", value=max_connection_duration, expected_type=type_hints["max_connection_duration"])
            check_type(argname="argument max_connections", value=max_connections, expected_type=type_hints["max_connections"])
            check_type(argname="argument tcp_keepalive", value=tcp_keepalive, expected_type=type_hints["tcp_keepalive"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if connect_timeout is not None:
            self._values["connect_timeout"] = connect_timeout
        if idle_timeout is not None:
            self._values["idle_timeout"] = idle_timeout
        if max_connection_duration is not None:
            self._values["max_connection_duration"] = max_connection_duration
        if max_connections is not None:
            self._values["max_connections"] = max_connections
        if tcp_keepalive is not None:
            self._values["tcp_keepalive"] = tcp_keepalive

    @builtins.property
    def connect_timeout(self) -> typing.Optional[builtins.str]:
        '''TCP connection timeout.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcp#connectTimeout
        '''
        result = self._values.get("connect_timeout")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def idle_timeout(self) -> typing.Optional[builtins.str]:
        '''The idle timeout for TCP connections.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcp#idleTimeout
        '''
        result = self._values.get("idle_timeout")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def max_connection_duration(self) -> typing.Optional[builtins.str]:
        '''The maximum duration of a connection.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcp#maxConnectionDuration
        '''
        result = self._values.get("max_connection_duration")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def max_connections(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of HTTP1 /TCP connections to a destination host.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcp#maxConnections
        '''
        result = self._values.get("max_connections")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def tcp_keepalive(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive"]:
        '''If set then set SO_KEEPALIVE on the socket to enable TCP Keepalives.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcp#tcpKeepalive
        '''
        result = self._values.get("tcp_keepalive")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcp(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive",
    jsii_struct_bases=[],
    name_mapping={"interval": "interval", "probes": "probes", "time": "time"},
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive:
    def __init__(
        self,
        *,
        interval: typing.Optional[builtins.str] = None,
        probes: typing.Optional[jsii.Number] = None,
        time: typing.Optional[builtins.str] = None,
    ) -> None:
        '''If set then set SO_KEEPALIVE on the socket to enable TCP Keepalives.

        :param interval: The time duration between keep-alive probes.
        :param probes: Maximum number of keepalive probes to send without response before deciding the connection is dead.
        :param time: The time duration a connection needs to be idle before keep-alive probes start being sent.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__22c5b786d78c4e56d36c2c937216b5cf46c9a1f895369e929e023beda9ce78f8)
            check_type(argname="argument interval", value=interval, expected_type=type_hints["interval"])
            check_type(argname="argument probes", value=probes, expected_type=type_hints["probes"])
            check_type(argname="argument time", value=time, expected_type=type_hints["time"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if interval is not None:
            self._values["interval"] = interval
        if probes is not None:
            self._values["probes"] = probes
        if time is not None:
            self._values["time"] = time

    @builtins.property
    def interval(self) -> typing.Optional[builtins.str]:
        '''The time duration between keep-alive probes.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive#interval
        '''
        result = self._values.get("interval")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def probes(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of keepalive probes to send without response before deciding the connection is dead.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive#probes
        '''
        result = self._values.get("probes")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def time(self) -> typing.Optional[builtins.str]:
        '''The time duration a connection needs to be idle before keep-alive probes start being sent.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive#time
        '''
        result = self._values.get("time")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancer",
    jsii_struct_bases=[],
    name_mapping={
        "consistent_hash": "consistentHash",
        "locality_lb_setting": "localityLbSetting",
        "simple": "simple",
        "warmup": "warmup",
        "warmup_duration_secs": "warmupDurationSecs",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancer:
    def __init__(
        self,
        *,
        consistent_hash: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash", typing.Dict[builtins.str, typing.Any]]] = None,
        locality_lb_setting: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting", typing.Dict[builtins.str, typing.Any]]] = None,
        simple: typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerSimple"] = None,
        warmup: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerWarmup", typing.Dict[builtins.str, typing.Any]]] = None,
        warmup_duration_secs: typing.Optional[builtins.str] = None,
    ) -> None:
        '''Settings controlling the load balancer algorithms.

        :param consistent_hash: 
        :param locality_lb_setting: 
        :param simple: Valid Options: LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST.
        :param warmup: Represents the warmup configuration of Service.
        :param warmup_duration_secs: Deprecated: use ``warmup`` instead.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancer
        '''
        if isinstance(consistent_hash, dict):
            consistent_hash = DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash(**consistent_hash)
        if isinstance(locality_lb_setting, dict):
            locality_lb_setting = DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting(**locality_lb_setting)
        if isinstance(warmup, dict):
            warmup = DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerWarmup(**warmup)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__4d474700061e4fa1f038addbff45e789638d475eb5d3bd5d862685c3c9d45bfb)
            check_type(argname="argument consistent_hash", value=consistent_hash, expected_type=type_hints["consistent_hash"])
            check_type(argname="argument locality_lb_setting", value=locality_lb_setting, expected_type=type_hints["locality_lb_setting"])
            check_type(argname="argument simple", value=simple, expected_type=type_hints["simple"])
            check_type(argname="argument warmup", value=warmup, expected_type=type_hints["warmup"])
            check_type(argname="argument warmup_duration_secs", value=warmup_duration_secs, expected_type=type_hints["warmup_duration_secs"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if consistent_hash is not None:
            self._values["consistent_hash"] = consistent_hash
        if locality_lb_setting is not None:
            self._values["locality_lb_setting"] = locality_lb_setting
        if simple is not None:
            self._values["simple"] = simple
        if warmup is not None:
            self._values["warmup"] = warmup
        if warmup_duration_secs is not None:
            self._values["warmup_duration_secs"] = warmup_duration_secs

    @builtins.property
    def consistent_hash(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash"]:
        '''
        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancer#consistentHash
        '''
        result = self._values.get("consistent_hash")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash"], result)

    @builtins.property
    def locality_lb_setting(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting"]:
        '''
        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancer#localityLbSetting
        '''
        result = self._values.get("locality_lb_setting")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting"], result)

    @builtins.property
    def simple(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerSimple"]:
        '''Valid Options: LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancer#simple
        '''
        result = self._values.get("simple")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerSimple"], result)

    @builtins.property
    def warmup(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerWarmup"]:
        '''Represents the warmup configuration of Service.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancer#warmup
        '''
        result = self._values.get("warmup")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerWarmup"], result)

    @builtins.property
    def warmup_duration_secs(self) -> typing.Optional[builtins.str]:
        '''Deprecated: use ``warmup`` instead.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancer#warmupDurationSecs
        '''
        result = self._values.get("warmup_duration_secs")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancer(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash",
    jsii_struct_bases=[],
    name_mapping={
        "http_cookie": "httpCookie",
        "http_header_name": "httpHeaderName",
        "http_query_parameter_name": "httpQueryParameterName",
        "maglev": "maglev",
        "minimum_ring_size": "minimumRingSize",
        "ring_hash": "ringHash",
        "use_source_ip": "useSourceIp",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash:
    def __init__(
        self,
        *,
        http_cookie: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie", typing.Dict[builtins.str, typing.Any]]] = None,
        http_header_name: typing.Optional[builtins.str] = None,
        http_query_parameter_name: typing.Optional[builtins.str] = None,
        maglev: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev", typing.Dict[builtins.str, typing.Any]]] = None,
        minimum_ring_size: typing.Optional[jsii.Number] = None,
        ring_hash: typing.Optional[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash", typing.Dict[builtins.str, typing.Any]]] = None,
        use_source_ip: typing.Optional[builtins.bool] = None,
    ) -> None:
        '''
        :param http_cookie: Hash based on HTTP cookie.
        :param http_header_name: Hash based on a specific HTTP header.
        :param http_query_parameter_name: Hash based on a specific HTTP query parameter.
        :param maglev: The Maglev load balancer implements consistent hashing to backend hosts.
        :param minimum_ring_size: Deprecated.
        :param ring_hash: The ring/modulo hash load balancer implements consistent hashing to backend hosts.
        :param use_source_ip: Hash based on the source IP address.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash
        '''
        if isinstance(http_cookie, dict):
            http_cookie = DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie(**http_cookie)
        if isinstance(maglev, dict):
            maglev = DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev(**maglev)
        if isinstance(ring_hash, dict):
            ring_hash = DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash(**ring_hash)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__c85dfe69a7104e3233884089b21d0afc44d4d14279f7f718c1ef6ea19be5c8ee)
            check_type(argname="argument http_cookie", value=http_cookie, expected_type=type_hints["http_cookie"])
            check_type(argname="argument http_header_name", value=http_header_name, expected_type=type_hints["http_header_name"])
            check_type(argname="argument http_query_parameter_name", value=http_query_parameter_name, expected_type=type_hints["http_query_parameter_name"])
            check_type(argname="argument maglev", value=maglev, expected_type=type_hints["maglev"])
            check_type(argname="argument minimum_ring_size", value=minimum_ring_size, expected_type=type_hints["minimum_ring_size"])
            check_type(argname="argument ring_hash", value=ring_hash, expected_type=type_hints["ring_hash"])
            check_type(argname="argument use_source_ip", value=use_source_ip, expected_type=type_hints["use_source_ip"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if http_cookie is not None:
            self._values["http_cookie"] = http_cookie
        if http_header_name is not None:
            self._values["http_header_name"] = http_header_name
        if http_query_parameter_name is not None:
            self._values["http_query_parameter_name"] = http_query_parameter_name
        if maglev is not None:
            self._values["maglev"] = maglev
        if minimum_ring_size is not None:
            self._values["minimum_ring_size"] = minimum_ring_size
        if ring_hash is not None:
            self._values["ring_hash"] = ring_hash
        if use_source_ip is not None:
            self._values["use_source_ip"] = use_source_ip

    @builtins.property
    def http_cookie(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie"]:
        '''Hash based on HTTP cookie.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash#httpCookie
        '''
        result = self._values.get("http_cookie")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie"], result)

    @builtins.property
    def http_header_name(self) -> typing.Optional[builtins.str]:
        '''Hash based on a specific HTTP header.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash#httpHeaderName
        '''
        result = self._values.get("http_header_name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def http_query_parameter_name(self) -> typing.Optional[builtins.str]:
        '''Hash based on a specific HTTP query parameter.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash#httpQueryParameterName
        '''
        result = self._values.get("http_query_parameter_name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def maglev(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev"]:
        '''The Maglev load balancer implements consistent hashing to backend hosts.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash#maglev
        '''
        result = self._values.get("maglev")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev"], result)

    @builtins.property
    def minimum_ring_size(self) -> typing.Optional[jsii.Number]:
        '''Deprecated.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash#minimumRingSize
        '''
        result = self._values.get("minimum_ring_size")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def ring_hash(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash"]:
        '''The ring/modulo hash load balancer implements consistent hashing to backend hosts.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash#ringHash
        '''
        result = self._values.get("ring_hash")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash"], result)

    @builtins.property
    def use_source_ip(self) -> typing.Optional[builtins.bool]:
        '''Hash based on the source IP address.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash#useSourceIp
        '''
        result = self._values.get("use_source_ip")
        return typing.cast(typing.Optional[builtins.bool], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie",
    jsii_struct_bases=[],
    name_mapping={
        "name": "name",
        "attributes": "attributes",
        "path": "path",
        "ttl": "ttl",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie:
    def __init__(
        self,
        *,
        name: builtins.str,
        attributes: typing.Optional[typing.Sequence[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes", typing.Dict[builtins.str, typing.Any]]]] = None,
        path: typing.Optional[builtins.str] = None,
        ttl: typing.Optional[builtins.str] = None,
    ) -> None:
        '''Hash based on HTTP cookie.

        :param name: Name of the cookie.
        :param attributes: Additional attributes for the cookie.
        :param path: Path to set for the cookie.
        :param ttl: Lifetime of the cookie.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__4afb3ed57a9aa99408f5384cfe8698c8bf072b6710ec93f0313596b29e9263f9)
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument attributes", value=attributes, expected_type=type_hints["attributes"])
            check_type(argname="argument path", value=path, expected_type=type_hints["path"])
            check_type(argname="argument ttl", value=ttl, expected_type=type_hints["ttl"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "name": name,
        }
        if attributes is not None:
            self._values["attributes"] = attributes
        if path is not None:
            self._values["path"] = path
        if ttl is not None:
            self._values["ttl"] = ttl

    @builtins.property
    def name(self) -> builtins.str:
        '''Name of the cookie.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie#name
        '''
        result = self._values.get("name")
        assert result is not None, "Required property 'name' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def attributes(
        self,
    ) -> typing.Optional[typing.List["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes"]]:
        '''Additional attributes for the cookie.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie#attributes
        '''
        result = self._values.get("attributes")
        return typing.cast(typing.Optional[typing.List["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes"]], result)

    @builtins.property
    def path(self) -> typing.Optional[builtins.str]:
        '''Path to set for the cookie.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie#path
        '''
        result = self._values.get("path")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def ttl(self) -> typing.Optional[builtins.str]:
        '''Lifetime of the cookie.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie#ttl
        '''
        result = self._values.get("ttl")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes",
    jsii_struct_bases=[],
    name_mapping={"name": "name", "value": "value"},
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes:
    def __init__(
        self,
        *,
        name: builtins.str,
        value: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param name: The name of the cookie attribute.
        :param value: The optional value of the cookie attribute.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__291c61eefd40c102a1f221732775e338e5fb14d47921f2df11895f64e6ac0bae)
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "name": name,
        }
        if value is not None:
            self._values["value"] = value

    @builtins.property
    def name(self) -> builtins.str:
        '''The name of the cookie attribute.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes#name
        '''
        result = self._values.get("name")
        assert result is not None, "Required property 'name' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def value(self) -> typing.Optional[builtins.str]:
        '''The optional value of the cookie attribute.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes#value
        '''
        result = self._values.get("value")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev",
    jsii_struct_bases=[],
    name_mapping={"table_size": "tableSize"},
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev:
    def __init__(self, *, table_size: typing.Optional[jsii.Number] = None) -> None:
        '''The Maglev load balancer implements consistent hashing to backend hosts.

        :param table_size: The table size for Maglev hashing.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__38c5cdb1429aee5c8330506884a57ca8ba75185a66a229d9274bc9e51c060811)
            check_type(argname="argument table_size", value=table_size, expected_type=type_hints["table_size"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if table_size is not None:
            self._values["table_size"] = table_size

    @builtins.property
    def table_size(self) -> typing.Optional[jsii.Number]:
        '''The table size for Maglev hashing.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev#tableSize
        '''
        result = self._values.get("table_size")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash",
    jsii_struct_bases=[],
    name_mapping={"minimum_ring_size": "minimumRingSize"},
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash:
    def __init__(
        self,
        *,
        minimum_ring_size: typing.Optional[jsii.Number] = None,
    ) -> None:
        '''The ring/modulo hash load balancer implements consistent hashing to backend hosts.

        :param minimum_ring_size: The minimum number of virtual nodes to use for the hash ring.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__7031766ccfdef898150c26827cc37307cd069c49f3ab62e4aaa0a0218262ecac)
            check_type(argname="argument minimum_ring_size", value=minimum_ring_size, expected_type=type_hints["minimum_ring_size"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if minimum_ring_size is not None:
            self._values["minimum_ring_size"] = minimum_ring_size

    @builtins.property
    def minimum_ring_size(self) -> typing.Optional[jsii.Number]:
        '''The minimum number of virtual nodes to use for the hash ring.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash#minimumRingSize
        '''
        result = self._values.get("minimum_ring_size")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting",
    jsii_struct_bases=[],
    name_mapping={
        "distribute": "distribute",
        "enabled": "enabled",
        "failover": "failover",
        "failover_priority": "failoverPriority",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting:
    def __init__(
        self,
        *,
        distribute: typing.Optional[typing.Sequence[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute", typing.Dict[builtins.str, typing.Any]]]] = None,
        enabled: typing.Optional[builtins.bool] = None,
        failover: typing.Optional[typing.Sequence[typing.Union["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover", typing.Dict[builtins.str, typing.Any]]]] = None,
        failover_priority: typing.Optional[typing.Sequence[builtins.str]] = None,
    ) -> None:
        '''
        :param distribute: Optional: only one of distribute, failover or failoverPriority can be set.
        :param enabled: Enable locality load balancing.
        :param failover: Optional: only one of distribute, failover or failoverPriority can be set.
        :param failover_priority: failoverPriority is an ordered list of labels used to sort endpoints to do priority based load balancing.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__803ee3284c28e825af055343c4806250f29011d47e5c745a297f9dc3d4367574)
            check_type(argname="argument distribute", value=distribute, expected_type=type_hints["distribute"])
            check_type(argname="argument enabled", value=enabled, expected_type=type_hints["enabled"])
            check_type(argname="argument failover", value=failover, expected_type=type_hints["failover"])
            check_type(argname="argument failover_priority", value=failover_priority, expected_type=type_hints["failover_priority"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if distribute is not None:
            self._values["distribute"] = distribute
        if enabled is not None:
            self._values["enabled"] = enabled
        if failover is not None:
            self._values["failover"] = failover
        if failover_priority is not None:
            self._values["failover_priority"] = failover_priority

    @builtins.property
    def distribute(
        self,
    ) -> typing.Optional[typing.List["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute"]]:
        '''Optional: only one of distribute, failover or failoverPriority can be set.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting#distribute
        '''
        result = self._values.get("distribute")
        return typing.cast(typing.Optional[typing.List["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute"]], result)

    @builtins.property
    def enabled(self) -> typing.Optional[builtins.bool]:
        '''Enable locality load balancing.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting#enabled
        '''
        result = self._values.get("enabled")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def failover(
        self,
    ) -> typing.Optional[typing.List["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover"]]:
        '''Optional: only one of distribute, failover or failoverPriority can be set.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting#failover
        '''
        result = self._values.get("failover")
        return typing.cast(typing.Optional[typing.List["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover"]], result)

    @builtins.property
    def failover_priority(self) -> typing.Optional[typing.List[builtins.str]]:
        '''failoverPriority is an ordered list of labels used to sort endpoints to do priority based load balancing.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting#failoverPriority
        '''
        result = self._values.get("failover_priority")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute",
    jsii_struct_bases=[],
    name_mapping={"from_": "from", "to": "to"},
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute:
    def __init__(
        self,
        *,
        from_: typing.Optional[builtins.str] = None,
        to: typing.Optional[typing.Mapping[builtins.str, jsii.Number]] = None,
    ) -> None:
        '''
        :param from_: Originating locality, '/' separated, e.g.
        :param to: Map of upstream localities to traffic distribution weights.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__f0db6ef93630916408511b20007a264516cb452e4a16a35ac5c446f99368c186)
            check_type(argname="argument from_", value=from_, expected_type=type_hints["from_"])
            check_type(argname="argument to", value=to, expected_type=type_hints["to"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if from_ is not None:
            self._values["from_"] = from_
        if to is not None:
            self._values["to"] = to

    @builtins.property
    def from_(self) -> typing.Optional[builtins.str]:
        '''Originating locality, '/' separated, e.g.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute#from
        '''
        result = self._values.get("from_")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def to(self) -> typing.Optional[typing.Mapping[builtins.str, jsii.Number]]:
        '''Map of upstream localities to traffic distribution weights.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute#to
        '''
        result = self._values.get("to")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, jsii.Number]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover",
    jsii_struct_bases=[],
    name_mapping={"from_": "from", "to": "to"},
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover:
    def __init__(
        self,
        *,
        from_: typing.Optional[builtins.str] = None,
        to: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param from_: Originating region.
        :param to: Destination region the traffic will fail over to when endpoints in the 'from' region becomes unhealthy.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__6196d584bf08bc696239aa333764b6cff7d2fa4c10f3d3745243984b3e7cc088)
            check_type(argname="argument from_", value=from_, expected_type=type_hints["from_"])
            check_type(argname="argument to", value=to, expected_type=type_hints["to"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if from_ is not None:
            self._values["from_"] = from_
        if to is not None:
            self._values["to"] = to

    @builtins.property
    def from_(self) -> typing.Optional[builtins.str]:
        '''Originating region.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover#from
        '''
        result = self._values.get("from_")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def to(self) -> typing.Optional[builtins.str]:
        '''Destination region the traffic will fail over to when endpoints in the 'from' region becomes unhealthy.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover#to
        '''
        result = self._values.get("to")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerSimple"
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerSimple(
    enum.Enum,
):
    '''Valid Options: LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST.

    :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerSimple
    '''

    UNSPECIFIED = "UNSPECIFIED"
    '''UNSPECIFIED.'''
    LEAST_UNDERSCORE_CONN = "LEAST_UNDERSCORE_CONN"
    '''LEAST_CONN.'''
    RANDOM = "RANDOM"
    '''RANDOM.'''
    PASSTHROUGH = "PASSTHROUGH"
    '''PASSTHROUGH.'''
    ROUND_UNDERSCORE_ROBIN = "ROUND_UNDERSCORE_ROBIN"
    '''ROUND_ROBIN.'''
    LEAST_UNDERSCORE_REQUEST = "LEAST_UNDERSCORE_REQUEST"
    '''LEAST_REQUEST.'''


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerWarmup",
    jsii_struct_bases=[],
    name_mapping={
        "duration": "duration",
        "aggression": "aggression",
        "minimum_percent": "minimumPercent",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerWarmup:
    def __init__(
        self,
        *,
        duration: builtins.str,
        aggression: typing.Optional[jsii.Number] = None,
        minimum_percent: typing.Optional[jsii.Number] = None,
    ) -> None:
        '''Represents the warmup configuration of Service.

        :param duration: 
        :param aggression: This parameter controls the speed of traffic increase over the warmup duration.
        :param minimum_percent: 

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerWarmup
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__eb28cfaf040ec791a2e9be04ae3fae882d038d917c6ce0ca261011f533d10349)
            check_type(argname="argument duration", value=duration, expected_type=type_hints["duration"])
            check_type(argname="argument aggression", value=aggression, expected_type=type_hints["aggression"])
            check_type(argname="argument minimum_percent", value=minimum_percent, expected_type=type_hints["minimum_percent"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "duration": duration,
        }
        if aggression is not None:
            self._values["aggression"] = aggression
        if minimum_percent is not None:
            self._values["minimum_percent"] = minimum_percent

    @builtins.property
    def duration(self) -> builtins.str:
        '''
        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerWarmup#duration
        '''
        result = self._values.get("duration")
        assert result is not None, "Required property 'duration' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def aggression(self) -> typing.Optional[jsii.Number]:
        '''This parameter controls the speed of traffic increase over the warmup duration.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerWarmup#aggression
        '''
        result = self._values.get("aggression")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def minimum_percent(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerWarmup#minimumPercent
        '''
        result = self._values.get("minimum_percent")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerWarmup(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsOutlierDetection",
    jsii_struct_bases=[],
    name_mapping={
        "base_ejection_time": "baseEjectionTime",
        "consecutive5_xx_errors": "consecutive5XxErrors",
        "consecutive_errors": "consecutiveErrors",
        "consecutive_gateway_errors": "consecutiveGatewayErrors",
        "consecutive_local_origin_failures": "consecutiveLocalOriginFailures",
        "interval": "interval",
        "max_ejection_percent": "maxEjectionPercent",
        "min_health_percent": "minHealthPercent",
        "split_external_local_origin_errors": "splitExternalLocalOriginErrors",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsOutlierDetection:
    def __init__(
        self,
        *,
        base_ejection_time: typing.Optional[builtins.str] = None,
        consecutive5_xx_errors: typing.Optional[jsii.Number] = None,
        consecutive_errors: typing.Optional[jsii.Number] = None,
        consecutive_gateway_errors: typing.Optional[jsii.Number] = None,
        consecutive_local_origin_failures: typing.Optional[jsii.Number] = None,
        interval: typing.Optional[builtins.str] = None,
        max_ejection_percent: typing.Optional[jsii.Number] = None,
        min_health_percent: typing.Optional[jsii.Number] = None,
        split_external_local_origin_errors: typing.Optional[builtins.bool] = None,
    ) -> None:
        '''
        :param base_ejection_time: Minimum ejection duration.
        :param consecutive5_xx_errors: Number of 5xx errors before a host is ejected from the connection pool.
        :param consecutive_errors: 
        :param consecutive_gateway_errors: Number of gateway errors before a host is ejected from the connection pool.
        :param consecutive_local_origin_failures: The number of consecutive locally originated failures before ejection occurs.
        :param interval: Time interval between ejection sweep analysis.
        :param max_ejection_percent: Maximum % of hosts in the load balancing pool for the upstream service that can be ejected.
        :param min_health_percent: Outlier detection will be enabled as long as the associated load balancing pool has at least ``minHealthPercent`` hosts in healthy mode.
        :param split_external_local_origin_errors: Determines whether to distinguish local origin failures from external errors.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsOutlierDetection
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__fb4cdb682436770818ca646a0b2421f9e980ab292f5960385b3534a6396c94a8)
            check_type(argname="argument base_ejection_time", value=base_ejection_time, expected_type=type_hints["base_ejection_time"])
            check_type(argname="argument consecutive5_xx_errors", value=consecutive5_xx_errors, expected_type=type_hints["consecutive5_xx_errors"])
            check_type(argname="argument consecutive_errors", value=consecutive_errors, expected_type=type_hints["consecutive_errors"])
            check_type(argname="argument consecutive_gateway_errors", value=consecutive_gateway_errors, expected_type=type_hints["consecutive_gateway_errors"])
            check_type(argname="argument consecutive_local_origin_failures", value=consecutive_local_origin_failures, expected_type=type_hints["consecutive_local_origin_failures"])
            check_type(argname="argument interval", value=interval, expected_type=type_hints["interval"])
            check_type(argname="argument max_ejection_percent", value=max_ejection_percent, expected_type=type_hints["max_ejection_percent"])
            check_type(argname="argument min_health_percent", value=min_health_percent, expected_type=type_hints["min_health_percent"])
            check_type(argname="argument split_external_local_origin_errors", value=split_external_local_origin_errors, expected_type=type_hints["split_external_local_origin_errors"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if base_ejection_time is not None:
            self._values["base_ejection_time"] = base_ejection_time
        if consecutive5_xx_errors is not None:
            self._values["consecutive5_xx_errors"] = consecutive5_xx_errors
        if consecutive_errors is not None:
            self._values["consecutive_errors"] = consecutive_errors
        if consecutive_gateway_errors is not None:
            self._values["consecutive_gateway_errors"] = consecutive_gateway_errors
        if consecutive_local_origin_failures is not None:
            self._values["consecutive_local_origin_failures"] = consecutive_local_origin_failures
        if interval is not None:
            self._values["interval"] = interval
        if max_ejection_percent is not None:
            self._values["max_ejection_percent"] = max_ejection_percent
        if min_health_percent is not None:
            self._values["min_health_percent"] = min_health_percent
        if split_external_local_origin_errors is not None:
            self._values["split_external_local_origin_errors"] = split_external_local_origin_errors

    @builtins.property
    def base_ejection_time(self) -> typing.Optional[builtins.str]:
        '''Minimum ejection duration.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsOutlierDetection#baseEjectionTime
        '''
        result = self._values.get("base_ejection_time")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def consecutive5_xx_errors(self) -> typing.Optional[jsii.Number]:
        '''Number of 5xx errors before a host is ejected from the connection pool.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsOutlierDetection#consecutive5xxErrors
        '''
        result = self._values.get("consecutive5_xx_errors")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def consecutive_errors(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsOutlierDetection#consecutiveErrors
        '''
        result = self._values.get("consecutive_errors")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def consecutive_gateway_errors(self) -> typing.Optional[jsii.Number]:
        '''Number of gateway errors before a host is ejected from the connection pool.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsOutlierDetection#consecutiveGatewayErrors
        '''
        result = self._values.get("consecutive_gateway_errors")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def consecutive_local_origin_failures(self) -> typing.Optional[jsii.Number]:
        '''The number of consecutive locally originated failures before ejection occurs.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsOutlierDetection#consecutiveLocalOriginFailures
        '''
        result = self._values.get("consecutive_local_origin_failures")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def interval(self) -> typing.Optional[builtins.str]:
        '''Time interval between ejection sweep analysis.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsOutlierDetection#interval
        '''
        result = self._values.get("interval")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def max_ejection_percent(self) -> typing.Optional[jsii.Number]:
        '''Maximum % of hosts in the load balancing pool for the upstream service that can be ejected.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsOutlierDetection#maxEjectionPercent
        '''
        result = self._values.get("max_ejection_percent")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def min_health_percent(self) -> typing.Optional[jsii.Number]:
        '''Outlier detection will be enabled as long as the associated load balancing pool has at least ``minHealthPercent`` hosts in healthy mode.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsOutlierDetection#minHealthPercent
        '''
        result = self._values.get("min_health_percent")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def split_external_local_origin_errors(self) -> typing.Optional[builtins.bool]:
        '''Determines whether to distinguish local origin failures from external errors.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsOutlierDetection#splitExternalLocalOriginErrors
        '''
        result = self._values.get("split_external_local_origin_errors")
        return typing.cast(typing.Optional[builtins.bool], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsOutlierDetection(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsPort",
    jsii_struct_bases=[],
    name_mapping={"number": "number"},
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsPort:
    def __init__(self, *, number: typing.Optional[jsii.Number] = None) -> None:
        '''Specifies the number of a port on the destination service on which this policy is being applied.

        :param number: 

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsPort
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__501a81c257a3dc44a65562fd3660dcdcfc3a0225795b46710bdf91c349e8d52b)
            check_type(argname="argument number", value=number, expected_type=type_hints["number"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if number is not None:
            self._values["number"] = number

    @builtins.property
    def number(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsPort#number
        '''
        result = self._values.get("number")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsPort(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTls",
    jsii_struct_bases=[],
    name_mapping={
        "ca_certificates": "caCertificates",
        "ca_crl": "caCrl",
        "client_certificate": "clientCertificate",
        "credential_name": "credentialName",
        "insecure_skip_verify": "insecureSkipVerify",
        "mode": "mode",
        "private_key": "privateKey",
        "sni": "sni",
        "subject_alt_names": "subjectAltNames",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTls:
    def __init__(
        self,
        *,
        ca_certificates: typing.Optional[builtins.str] = None,
        ca_crl: typing.Optional[builtins.str] = None,
        client_certificate: typing.Optional[builtins.str] = None,
        credential_name: typing.Optional[builtins.str] = None,
        insecure_skip_verify: typing.Optional[builtins.bool] = None,
        mode: typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTlsMode"] = None,
        private_key: typing.Optional[builtins.str] = None,
        sni: typing.Optional[builtins.str] = None,
        subject_alt_names: typing.Optional[typing.Sequence[builtins.str]] = None,
    ) -> None:
        '''TLS related settings for connections to the upstream service.

        :param ca_certificates: OPTIONAL: The path to the file containing certificate authority certificates to use in verifying a presented server certificate.
        :param ca_crl: OPTIONAL: The path to the file containing the certificate revocation list (CRL) to use in verifying a presented server certificate.
        :param client_certificate: REQUIRED if mode is ``MUTUAL``.
        :param credential_name: The name of the secret that holds the TLS certs for the client including the CA certificates.
        :param insecure_skip_verify: ``insecureSkipVerify`` specifies whether the proxy should skip verifying the CA signature and SAN for the server certificate corresponding to the host.
        :param mode: Indicates whether connections to this port should be secured using TLS. Valid Options: DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL
        :param private_key: REQUIRED if mode is ``MUTUAL``.
        :param sni: SNI string to present to the server during TLS handshake.
        :param subject_alt_names: A list of alternate names to verify the subject identity in the certificate.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTls
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__3df9369b7aa7c7c2d7787182553150020e060928018af720d64072b0d230d4f9)
            check_type(argname="argument ca_certificates", value=ca_certificates, expected_type=type_hints["ca_certificates"])
            check_type(argname="argument ca_crl", value=ca_crl, expected_type=type_hints["ca_crl"])
            check_type(argname="argument client_certificate", value=client_certificate, expected_type=type_hints["client_certificate"])
            check_type(argname="argument credential_name", value=credential_name, expected_type=type_hints["credential_name"])
            check_type(argname="argument insecure_skip_verify", value=insecure_skip_verify, expected_type=type_hints["insecure_skip_verify"])
            check_type(argname="argument mode", value=mode, expected_type=type_hints["mode"])
            check_type(argname="argument private_key", value=private_key, expected_type=type_hints["private_key"])
            check_type(argname="argument sni", value=sni, expected_type=type_hints["sni"])
            check_type(argname="argument subject_alt_names", value=subject_alt_names, expected_type=type_hints["subject_alt_names"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if ca_certificates is not None:
            self._values["ca_certificates"] = ca_certificates
        if ca_crl is not None:
            self._values["ca_crl"] = ca_crl
        if client_certificate is not None:
            self._values["client_certificate"] = client_certificate
        if credential_name is not None:
            self._values["credential_name"] = credential_name
        if insecure_skip_verify is not None:
            self._values["insecure_skip_verify"] = insecure_skip_verify
        if mode is not None:
            self._values["mode"] = mode
        if private_key is not None:
            self._values["private_key"] = private_key
        if sni is not None:
            self._values["sni"] = sni
        if subject_alt_names is not None:
            self._values["subject_alt_names"] = subject_alt_names

    @builtins.property
    def ca_certificates(self) -> typing.Optional[builtins.str]:
        '''OPTIONAL: The path to the file containing certificate authority certificates to use in verifying a presented server certificate.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTls#caCertificates
        '''
        result = self._values.get("ca_certificates")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def ca_crl(self) -> typing.Optional[builtins.str]:
        '''OPTIONAL: The path to the file containing the certificate revocation list (CRL) to use in verifying a presented server certificate.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTls#caCrl
        '''
        result = self._values.get("ca_crl")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def client_certificate(self) -> typing.Optional[builtins.str]:
        '''REQUIRED if mode is ``MUTUAL``.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTls#clientCertificate
        '''
        result = self._values.get("client_certificate")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def credential_name(self) -> typing.Optional[builtins.str]:
        '''The name of the secret that holds the TLS certs for the client including the CA certificates.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTls#credentialName
        '''
        result = self._values.get("credential_name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def insecure_skip_verify(self) -> typing.Optional[builtins.bool]:
        '''``insecureSkipVerify`` specifies whether the proxy should skip verifying the CA signature and SAN for the server certificate corresponding to the host.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTls#insecureSkipVerify
        '''
        result = self._values.get("insecure_skip_verify")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def mode(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTlsMode"]:
        '''Indicates whether connections to this port should be secured using TLS.

        Valid Options: DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTls#mode
        '''
        result = self._values.get("mode")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTlsMode"], result)

    @builtins.property
    def private_key(self) -> typing.Optional[builtins.str]:
        '''REQUIRED if mode is ``MUTUAL``.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTls#privateKey
        '''
        result = self._values.get("private_key")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def sni(self) -> typing.Optional[builtins.str]:
        '''SNI string to present to the server during TLS handshake.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTls#sni
        '''
        result = self._values.get("sni")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def subject_alt_names(self) -> typing.Optional[typing.List[builtins.str]]:
        '''A list of alternate names to verify the subject identity in the certificate.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTls#subjectAltNames
        '''
        result = self._values.get("subject_alt_names")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTls(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTlsMode"
)
class DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTlsMode(enum.Enum):
    '''Indicates whether connections to this port should be secured using TLS.

    Valid Options: DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL

    :schema: DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTlsMode
    '''

    DISABLE = "DISABLE"
    '''DISABLE.'''
    SIMPLE = "SIMPLE"
    '''SIMPLE.'''
    MUTUAL = "MUTUAL"
    '''MUTUAL.'''
    ISTIO_UNDERSCORE_MUTUAL = "ISTIO_UNDERSCORE_MUTUAL"
    '''ISTIO_MUTUAL.'''


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyProxyProtocol",
    jsii_struct_bases=[],
    name_mapping={"version": "version"},
)
class DestinationRuleSpecSubsetsTrafficPolicyProxyProtocol:
    def __init__(
        self,
        *,
        version: typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyProxyProtocolVersion"] = None,
    ) -> None:
        '''The upstream PROXY protocol settings.

        :param version: The PROXY protocol version to use. Valid Options: V1, V2

        :schema: DestinationRuleSpecSubsetsTrafficPolicyProxyProtocol
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__9a4ba910aea6762c3801d37c9f0352437e52de6340a32a80ae21a7177a298633)
            check_type(argname="argument version", value=version, expected_type=type_hints["version"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if version is not None:
            self._values["version"] = version

    @builtins.property
    def version(
        self,
    ) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyProxyProtocolVersion"]:
        '''The PROXY protocol version to use.

        Valid Options: V1, V2

        :schema: DestinationRuleSpecSubsetsTrafficPolicyProxyProtocol#version
        '''
        result = self._values.get("version")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyProxyProtocolVersion"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyProxyProtocol(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyProxyProtocolVersion"
)
class DestinationRuleSpecSubsetsTrafficPolicyProxyProtocolVersion(enum.Enum):
    '''The PROXY protocol version to use.

    Valid Options: V1, V2

    :schema: DestinationRuleSpecSubsetsTrafficPolicyProxyProtocolVersion
    '''

    V1 = "V1"
    '''V1.'''
    V2 = "V2"
    '''V2.'''


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyRetryBudget",
    jsii_struct_bases=[],
    name_mapping={
        "min_retry_concurrency": "minRetryConcurrency",
        "percent": "percent",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyRetryBudget:
    def __init__(
        self,
        *,
        min_retry_concurrency: typing.Optional[jsii.Number] = None,
        percent: typing.Optional[jsii.Number] = None,
    ) -> None:
        '''Specifies a limit on concurrent retries in relation to the number of active requests.

        :param min_retry_concurrency: Specifies the minimum retry concurrency allowed for the retry budget.
        :param percent: Specifies the limit on concurrent retries as a percentage of the sum of active requests and active pending requests.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyRetryBudget
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__85745e340a77b4eda30defde8a5411e6bf348988a9215da4d1482f6466115d83)
            check_type(argname="argument min_retry_concurrency", value=min_retry_concurrency, expected_type=type_hints["min_retry_concurrency"])
            check_type(argname="argument percent", value=percent, expected_type=type_hints["percent"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if min_retry_concurrency is not None:
            self._values["min_retry_concurrency"] = min_retry_concurrency
        if percent is not None:
            self._values["percent"] = percent

    @builtins.property
    def min_retry_concurrency(self) -> typing.Optional[jsii.Number]:
        '''Specifies the minimum retry concurrency allowed for the retry budget.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyRetryBudget#minRetryConcurrency
        '''
        result = self._values.get("min_retry_concurrency")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def percent(self) -> typing.Optional[jsii.Number]:
        '''Specifies the limit on concurrent retries as a percentage of the sum of active requests and active pending requests.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyRetryBudget#percent
        '''
        result = self._values.get("percent")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyRetryBudget(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyTls",
    jsii_struct_bases=[],
    name_mapping={
        "ca_certificates": "caCertificates",
        "ca_crl": "caCrl",
        "client_certificate": "clientCertificate",
        "credential_name": "credentialName",
        "insecure_skip_verify": "insecureSkipVerify",
        "mode": "mode",
        "private_key": "privateKey",
        "sni": "sni",
        "subject_alt_names": "subjectAltNames",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyTls:
    def __init__(
        self,
        *,
        ca_certificates: typing.Optional[builtins.str] = None,
        ca_crl: typing.Optional[builtins.str] = None,
        client_certificate: typing.Optional[builtins.str] = None,
        credential_name: typing.Optional[builtins.str] = None,
        insecure_skip_verify: typing.Optional[builtins.bool] = None,
        mode: typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyTlsMode"] = None,
        private_key: typing.Optional[builtins.str] = None,
        sni: typing.Optional[builtins.str] = None,
        subject_alt_names: typing.Optional[typing.Sequence[builtins.str]] = None,
    ) -> None:
        '''TLS related settings for connections to the upstream service.

        :param ca_certificates: OPTIONAL: The path to the file containing certificate authority certificates to use in verifying a presented server certificate.
        :param ca_crl: OPTIONAL: The path to the file containing the certificate revocation list (CRL) to use in verifying a presented server certificate.
        :param client_certificate: REQUIRED if mode is ``MUTUAL``.
        :param credential_name: The name of the secret that holds the TLS certs for the client including the CA certificates.
        :param insecure_skip_verify: ``insecureSkipVerify`` specifies whether the proxy should skip verifying the CA signature and SAN for the server certificate corresponding to the host.
        :param mode: Indicates whether connections to this port should be secured using TLS. Valid Options: DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL
        :param private_key: REQUIRED if mode is ``MUTUAL``.
        :param sni: SNI string to present to the server during TLS handshake.
        :param subject_alt_names: A list of alternate names to verify the subject identity in the certificate.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyTls
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__20ac6a98446ae57d500354bdf0fc0e72384e754d7048425f69e5e6ed3cc0140a)
            check_type(argname="argument ca_certificates", value=ca_certificates, expected_type=type_hints["ca_certificates"])
            check_type(argname="argument ca_crl", value=ca_crl, expected_type=type_hints["ca_crl"])
            check_type(argname="argument client_certificate", value=client_certificate, expected_type=type_hints["client_certificate"])
            check_type(argname="argument credential_name", value=credential_name, expected_type=type_hints["credential_name"])
            check_type(argname="argument insecure_skip_verify", value=insecure_skip_verify, expected_type=type_hints["insecure_skip_verify"])
            check_type(argname="argument mode", value=mode, expected_type=type_hints["mode"])
            check_type(argname="argument private_key", value=private_key, expected_type=type_hints["private_key"])
            check_type(argname="argument sni", value=sni, expected_type=type_hints["sni"])
            check_type(argname="argument subject_alt_names", value=subject_alt_names, expected_type=type_hints["subject_alt_names"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if ca_certificates is not None:
            self._values["ca_certificates"] = ca_certificates
        if ca_crl is not None:
            self._values["ca_crl"] = ca_crl
        if client_certificate is not None:
            self._values["client_certificate"] = client_certificate
        if credential_name is not None:
            self._values["credential_name"] = credential_name
        if insecure_skip_verify is not None:
            self._values["insecure_skip_verify"] = insecure_skip_verify
        if mode is not None:
            self._values["mode"] = mode
        if private_key is not None:
            self._values["private_key"] = private_key
        if sni is not None:
            self._values["sni"] = sni
        if subject_alt_names is not None:
            self._values["subject_alt_names"] = subject_alt_names

    @builtins.property
    def ca_certificates(self) -> typing.Optional[builtins.str]:
        '''OPTIONAL: The path to the file containing certificate authority certificates to use in verifying a presented server certificate.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyTls#caCertificates
        '''
        result = self._values.get("ca_certificates")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def ca_crl(self) -> typing.Optional[builtins.str]:
        '''OPTIONAL: The path to the file containing the certificate revocation list (CRL) to use in verifying a presented server certificate.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyTls#caCrl
        '''
        result = self._values.get("ca_crl")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def client_certificate(self) -> typing.Optional[builtins.str]:
        '''REQUIRED if mode is ``MUTUAL``.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyTls#clientCertificate
        '''
        result = self._values.get("client_certificate")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def credential_name(self) -> typing.Optional[builtins.str]:
        '''The name of the secret that holds the TLS certs for the client including the CA certificates.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyTls#credentialName
        '''
        result = self._values.get("credential_name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def insecure_skip_verify(self) -> typing.Optional[builtins.bool]:
        '''``insecureSkipVerify`` specifies whether the proxy should skip verifying the CA signature and SAN for the server certificate corresponding to the host.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyTls#insecureSkipVerify
        '''
        result = self._values.get("insecure_skip_verify")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def mode(self) -> typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyTlsMode"]:
        '''Indicates whether connections to this port should be secured using TLS.

        Valid Options: DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL

        :schema: DestinationRuleSpecSubsetsTrafficPolicyTls#mode
        '''
        result = self._values.get("mode")
        return typing.cast(typing.Optional["DestinationRuleSpecSubsetsTrafficPolicyTlsMode"], result)

    @builtins.property
    def private_key(self) -> typing.Optional[builtins.str]:
        '''REQUIRED if mode is ``MUTUAL``.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyTls#privateKey
        '''
        result = self._values.get("private_key")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def sni(self) -> typing.Optional[builtins.str]:
        '''SNI string to present to the server during TLS handshake.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyTls#sni
        '''
        result = self._values.get("sni")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def subject_alt_names(self) -> typing.Optional[typing.List[builtins.str]]:
        '''A list of alternate names to verify the subject identity in the certificate.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyTls#subjectAltNames
        '''
        result = self._values.get("subject_alt_names")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyTls(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyTlsMode"
)
class DestinationRuleSpecSubsetsTrafficPolicyTlsMode(enum.Enum):
    '''Indicates whether connections to this port should be secured using TLS.

    Valid Options: DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL

    :schema: DestinationRuleSpecSubsetsTrafficPolicyTlsMode
    '''

    DISABLE = "DISABLE"
    '''DISABLE.'''
    SIMPLE = "SIMPLE"
    '''SIMPLE.'''
    MUTUAL = "MUTUAL"
    '''MUTUAL.'''
    ISTIO_UNDERSCORE_MUTUAL = "ISTIO_UNDERSCORE_MUTUAL"
    '''ISTIO_MUTUAL.'''


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecSubsetsTrafficPolicyTunnel",
    jsii_struct_bases=[],
    name_mapping={
        "target_host": "targetHost",
        "target_port": "targetPort",
        "protocol": "protocol",
    },
)
class DestinationRuleSpecSubsetsTrafficPolicyTunnel:
    def __init__(
        self,
        *,
        target_host: builtins.str,
        target_port: jsii.Number,
        protocol: typing.Optional[builtins.str] = None,
    ) -> None:
        '''Configuration of tunneling TCP over other transport or application layers for the host configured in the DestinationRule.

        :param target_host: Specifies a host to which the downstream connection is tunneled.
        :param target_port: Specifies a port to which the downstream connection is tunneled.
        :param protocol: Specifies which protocol to use for tunneling the downstream connection.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyTunnel
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__3cde1efdfe2ddbb321760f4b44d5d507c99131b0771c2cd24de90ce7282beae8)
            check_type(argname="argument target_host", value=target_host, expected_type=type_hints["target_host"])
            check_type(argname="argument target_port", value=target_port, expected_type=type_hints["target_port"])
            check_type(argname="argument protocol", value=protocol, expected_type=type_hints["protocol"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "target_host": target_host,
            "target_port": target_port,
        }
        if protocol is not None:
            self._values["protocol"] = protocol

    @builtins.property
    def target_host(self) -> builtins.str:
        '''Specifies a host to which the downstream connection is tunneled.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyTunnel#targetHost
        '''
        result = self._values.get("target_host")
        assert result is not None, "Required property 'target_host' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def target_port(self) -> jsii.Number:
        '''Specifies a port to which the downstream connection is tunneled.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyTunnel#targetPort
        '''
        result = self._values.get("target_port")
        assert result is not None, "Required property 'target_port' is missing"
        return typing.cast(jsii.Number, result)

    @builtins.property
    def protocol(self) -> typing.Optional[builtins.str]:
        '''Specifies which protocol to use for tunneling the downstream connection.

        :schema: DestinationRuleSpecSubsetsTrafficPolicyTunnel#protocol
        '''
        result = self._values.get("protocol")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecSubsetsTrafficPolicyTunnel(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicy",
    jsii_struct_bases=[],
    name_mapping={
        "connection_pool": "connectionPool",
        "load_balancer": "loadBalancer",
        "outlier_detection": "outlierDetection",
        "port_level_settings": "portLevelSettings",
        "proxy_protocol": "proxyProtocol",
        "retry_budget": "retryBudget",
        "tls": "tls",
        "tunnel": "tunnel",
    },
)
class DestinationRuleSpecTrafficPolicy:
    def __init__(
        self,
        *,
        connection_pool: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyConnectionPool", typing.Dict[builtins.str, typing.Any]]] = None,
        load_balancer: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyLoadBalancer", typing.Dict[builtins.str, typing.Any]]] = None,
        outlier_detection: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyOutlierDetection", typing.Dict[builtins.str, typing.Any]]] = None,
        port_level_settings: typing.Optional[typing.Sequence[typing.Union["DestinationRuleSpecTrafficPolicyPortLevelSettings", typing.Dict[builtins.str, typing.Any]]]] = None,
        proxy_protocol: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyProxyProtocol", typing.Dict[builtins.str, typing.Any]]] = None,
        retry_budget: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyRetryBudget", typing.Dict[builtins.str, typing.Any]]] = None,
        tls: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyTls", typing.Dict[builtins.str, typing.Any]]] = None,
        tunnel: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyTunnel", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Traffic policies to apply (load balancing policy, connection pool sizes, outlier detection).

        :param connection_pool: 
        :param load_balancer: Settings controlling the load balancer algorithms.
        :param outlier_detection: 
        :param port_level_settings: Traffic policies specific to individual ports.
        :param proxy_protocol: The upstream PROXY protocol settings.
        :param retry_budget: Specifies a limit on concurrent retries in relation to the number of active requests.
        :param tls: TLS related settings for connections to the upstream service.
        :param tunnel: Configuration of tunneling TCP over other transport or application layers for the host configured in the DestinationRule.

        :schema: DestinationRuleSpecTrafficPolicy
        '''
        if isinstance(connection_pool, dict):
            connection_pool = DestinationRuleSpecTrafficPolicyConnectionPool(**connection_pool)
        if isinstance(load_balancer, dict):
            load_balancer = DestinationRuleSpecTrafficPolicyLoadBalancer(**load_balancer)
        if isinstance(outlier_detection, dict):
            outlier_detection = DestinationRuleSpecTrafficPolicyOutlierDetection(**outlier_detection)
        if isinstance(proxy_protocol, dict):
            proxy_protocol = DestinationRuleSpecTrafficPolicyProxyProtocol(**proxy_protocol)
        if isinstance(retry_budget, dict):
            retry_budget = DestinationRuleSpecTrafficPolicyRetryBudget(**retry_budget)
        if isinstance(tls, dict):
            tls = DestinationRuleSpecTrafficPolicyTls(**tls)
        if isinstance(tunnel, dict):
            tunnel = DestinationRuleSpecTrafficPolicyTunnel(**tunnel)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__197c5cff242931a03bfb62d5511a099027bd727e534a028139235ef027e85224)
            check_type(argname="argument connection_pool", value=connection_pool, expected_type=type_hints["connection_pool"])
            check_type(argname="argument load_balancer", value=load_balancer, expected_type=type_hints["load_balancer"])
            check_type(argname="argument outlier_detection", value=outlier_detection, expected_type=type_hints["outlier_detection"])
            check_type(argname="argument port_level_settings", value=port_level_settings, expected_type=type_hints["port_level_settings"])
            check_type(argname="argument proxy_protocol", value=proxy_protocol, expected_type=type_hints["proxy_protocol"])
            check_type(argname="argument retry_budget", value=retry_budget, expected_type=type_hints["retry_budget"])
            check_type(argname="argument tls", value=tls, expected_type=type_hints["tls"])
            check_type(argname="argument tunnel", value=tunnel, expected_type=type_hints["tunnel"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if connection_pool is not None:
            self._values["connection_pool"] = connection_pool
        if load_balancer is not None:
            self._values["load_balancer"] = load_balancer
        if outlier_detection is not None:
            self._values["outlier_detection"] = outlier_detection
        if port_level_settings is not None:
            self._values["port_level_settings"] = port_level_settings
        if proxy_protocol is not None:
            self._values["proxy_protocol"] = proxy_protocol
        if retry_budget is not None:
            self._values["retry_budget"] = retry_budget
        if tls is not None:
            self._values["tls"] = tls
        if tunnel is not None:
            self._values["tunnel"] = tunnel

    @builtins.property
    def connection_pool(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyConnectionPool"]:
        '''
        :schema: DestinationRuleSpecTrafficPolicy#connectionPool
        '''
        result = self._values.get("connection_pool")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyConnectionPool"], result)

    @builtins.property
    def load_balancer(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyLoadBalancer"]:
        '''Settings controlling the load balancer algorithms.

        :schema: DestinationRuleSpecTrafficPolicy#loadBalancer
        '''
        result = self._values.get("load_balancer")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyLoadBalancer"], result)

    @builtins.property
    def outlier_detection(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyOutlierDetection"]:
        '''
        :schema: DestinationRuleSpecTrafficPolicy#outlierDetection
        '''
        result = self._values.get("outlier_detection")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyOutlierDetection"], result)

    @builtins.property
    def port_level_settings(
        self,
    ) -> typing.Optional[typing.List["DestinationRuleSpecTrafficPolicyPortLevelSettings"]]:
        '''Traffic policies specific to individual ports.

        :schema: DestinationRuleSpecTrafficPolicy#portLevelSettings
        '''
        result = self._values.get("port_level_settings")
        return typing.cast(typing.Optional[typing.List["DestinationRuleSpecTrafficPolicyPortLevelSettings"]], result)

    @builtins.property
    def proxy_protocol(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyProxyProtocol"]:
        '''The upstream PROXY protocol settings.

        :schema: DestinationRuleSpecTrafficPolicy#proxyProtocol
        '''
        result = self._values.get("proxy_protocol")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyProxyProtocol"], result)

    @builtins.property
    def retry_budget(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyRetryBudget"]:
        '''Specifies a limit on concurrent retries in relation to the number of active requests.

        :schema: DestinationRuleSpecTrafficPolicy#retryBudget
        '''
        result = self._values.get("retry_budget")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyRetryBudget"], result)

    @builtins.property
    def tls(self) -> typing.Optional["DestinationRuleSpecTrafficPolicyTls"]:
        '''TLS related settings for connections to the upstream service.

        :schema: DestinationRuleSpecTrafficPolicy#tls
        '''
        result = self._values.get("tls")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyTls"], result)

    @builtins.property
    def tunnel(self) -> typing.Optional["DestinationRuleSpecTrafficPolicyTunnel"]:
        '''Configuration of tunneling TCP over other transport or application layers for the host configured in the DestinationRule.

        :schema: DestinationRuleSpecTrafficPolicy#tunnel
        '''
        result = self._values.get("tunnel")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyTunnel"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicy(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyConnectionPool",
    jsii_struct_bases=[],
    name_mapping={"http": "http", "tcp": "tcp"},
)
class DestinationRuleSpecTrafficPolicyConnectionPool:
    def __init__(
        self,
        *,
        http: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyConnectionPoolHttp", typing.Dict[builtins.str, typing.Any]]] = None,
        tcp: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyConnectionPoolTcp", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''
        :param http: HTTP connection pool settings.
        :param tcp: Settings common to both HTTP and TCP upstream connections.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPool
        '''
        if isinstance(http, dict):
            http = DestinationRuleSpecTrafficPolicyConnectionPoolHttp(**http)
        if isinstance(tcp, dict):
            tcp = DestinationRuleSpecTrafficPolicyConnectionPoolTcp(**tcp)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__49c4b69f9c6534af5795ded448dcb43bf90ee2942474cb015170046c93bcd02f)
            check_type(argname="argument http", value=http, expected_type=type_hints["http"])
            check_type(argname="argument tcp", value=tcp, expected_type=type_hints["tcp"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if http is not None:
            self._values["http"] = http
        if tcp is not None:
            self._values["tcp"] = tcp

    @builtins.property
    def http(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyConnectionPoolHttp"]:
        '''HTTP connection pool settings.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPool#http
        '''
        result = self._values.get("http")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyConnectionPoolHttp"], result)

    @builtins.property
    def tcp(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyConnectionPoolTcp"]:
        '''Settings common to both HTTP and TCP upstream connections.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPool#tcp
        '''
        result = self._values.get("tcp")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyConnectionPoolTcp"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyConnectionPool(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyConnectionPoolHttp",
    jsii_struct_bases=[],
    name_mapping={
        "h2_upgrade_policy": "h2UpgradePolicy",
        "http1_max_pending_requests": "http1MaxPendingRequests",
        "http2_max_requests": "http2MaxRequests",
        "idle_timeout": "idleTimeout",
        "max_concurrent_streams": "maxConcurrentStreams",
        "max_requests_per_connection": "maxRequestsPerConnection",
        "max_retries": "maxRetries",
        "use_client_protocol": "useClientProtocol",
    },
)
class DestinationRuleSpecTrafficPolicyConnectionPoolHttp:
    def __init__(
        self,
        *,
        h2_upgrade_policy: typing.Optional["DestinationRuleSpecTrafficPolicyConnectionPoolHttpH2UpgradePolicy"] = None,
        http1_max_pending_requests: typing.Optional[jsii.Number] = None,
        http2_max_requests: typing.Optional[jsii.Number] = None,
        idle_timeout: typing.Optional[builtins.str] = None,
        max_concurrent_streams: typing.Optional[jsii.Number] = None,
        max_requests_per_connection: typing.Optional[jsii.Number] = None,
        max_retries: typing.Optional[jsii.Number] = None,
        use_client_protocol: typing.Optional[builtins.bool] = None,
    ) -> None:
        '''HTTP connection pool settings.

        :param h2_upgrade_policy: Specify if http1.1 connection should be upgraded to http2 for the associated destination. Valid Options: DEFAULT, DO_NOT_UPGRADE, UPGRADE
        :param http1_max_pending_requests: Maximum number of requests that will be queued while waiting for a ready connection pool connection.
        :param http2_max_requests: Maximum number of active requests to a destination.
        :param idle_timeout: The idle timeout for upstream connection pool connections.
        :param max_concurrent_streams: The maximum number of concurrent streams allowed for a peer on one HTTP/2 connection.
        :param max_requests_per_connection: Maximum number of requests per connection to a backend.
        :param max_retries: Maximum number of retries that can be outstanding to all hosts in a cluster at a given time.
        :param use_client_protocol: If set to true, client protocol will be preserved while initiating connection to backend.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPoolHttp
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__beda74ee3a2549498aa5147360cf89a420291f69da27abcb8570df9e4bd860f5)
            check_type(argname="argument h2_upgrade_policy", value=h2_upgrade_policy, expected_type=type_hints["h2_upgrade_policy"])
            check_type(argname="argument http1_max_pending_requests", value=http1_max_pending_requests, expected_type=type_hints["http1_max_pending_requests"])
            check_type(argname="argument http2_max_requests", value=http2_max_requests, expected_type=type_hints["http2_max_requests"])
            check_type(argname="argument idle_timeout", value=idle_timeout, expected_type=type_hints["idle_timeout"])
            check_type(argname="argument max_concurrent_streams", value=max_concurrent_streams, expected_type=type_hints["max_concurrent_streams"])
            check_type(argname="argument max_requests_per_connection", value=max_requests_per_connection, expected_type=type_hints["max_requests_per_connection"])
            check_type(argname="argument max_retries", value=max_retries, expected_type=type_hints["max_retries"])
            check_type(argname="argument use_client_protocol", value=use_client_protocol, expected_type=type_hints["use_client_protocol"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if h2_upgrade_policy is not None:
            self._values["h2_upgrade_policy"] = h2_upgrade_policy
        if http1_max_pending_requests is not None:
            self._values["http1_max_pending_requests"] = http1_max_pending_requests
        if http2_max_requests is not None:
            self._values["http2_max_requests"] = http2_max_requests
        if idle_timeout is not None:
            self._values["idle_timeout"] = idle_timeout
        if max_concurrent_streams is not None:
            self._values["max_concurrent_streams"] = max_concurrent_streams
        if max_requests_per_connection is not None:
            self._values["max_requests_per_connection"] = max_requests_per_connection
        if max_retries is not None:
            self._values["max_retries"] = max_retries
        if use_client_protocol is not None:
            self._values["use_client_protocol"] = use_client_protocol

    @builtins.property
    def h2_upgrade_policy(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyConnectionPoolHttpH2UpgradePolicy"]:
        '''Specify if http1.1 connection should be upgraded to http2 for the associated destination.

        Valid Options: DEFAULT, DO_NOT_UPGRADE, UPGRADE

        :schema: DestinationRuleSpecTrafficPolicyConnectionPoolHttp#h2UpgradePolicy
        '''
        result = self._values.get("h2_upgrade_policy")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyConnectionPoolHttpH2UpgradePolicy"], result)

    @builtins.property
    def http1_max_pending_requests(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of requests that will be queued while waiting for a ready connection pool connection.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPoolHttp#http1MaxPendingRequests
        '''
        result = self._values.get("http1_max_pending_requests")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def http2_max_requests(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of active requests to a destination.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPoolHttp#http2MaxRequests
        '''
        result = self._values.get("http2_max_requests")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def idle_timeout(self) -> typing.Optional[builtins.str]:
        '''The idle timeout for upstream connection pool connections.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPoolHttp#idleTimeout
        '''
        result = self._values.get("idle_timeout")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def max_concurrent_streams(self) -> typing.Optional[jsii.Number]:
        '''The maximum number of concurrent streams allowed for a peer on one HTTP/2 connection.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPoolHttp#maxConcurrentStreams
        '''
        result = self._values.get("max_concurrent_streams")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def max_requests_per_connection(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of requests per connection to a backend.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPoolHttp#maxRequestsPerConnection
        '''
        result = self._values.get("max_requests_per_connection")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def max_retries(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of retries that can be outstanding to all hosts in a cluster at a given time.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPoolHttp#maxRetries
        '''
        result = self._values.get("max_retries")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def use_client_protocol(self) -> typing.Optional[builtins.bool]:
        '''If set to true, client protocol will be preserved while initiating connection to backend.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPoolHttp#useClientProtocol
        '''
        result = self._values.get("use_client_protocol")
        return typing.cast(typing.Optional[builtins.bool], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyConnectionPoolHttp(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyConnectionPoolHttpH2UpgradePolicy"
)
class DestinationRuleSpecTrafficPolicyConnectionPoolHttpH2UpgradePolicy(enum.Enum):
    '''Specify if http1.1 connection should be upgraded to http2 for the associated destination.

    Valid Options: DEFAULT, DO_NOT_UPGRADE, UPGRADE

    :schema: DestinationRuleSpecTrafficPolicyConnectionPoolHttpH2UpgradePolicy
    '''

    DEFAULT = "DEFAULT"
    '''DEFAULT.'''
    DO_UNDERSCORE_NOT_UNDERSCORE_UPGRADE = "DO_UNDERSCORE_NOT_UNDERSCORE_UPGRADE"
    '''DO_NOT_UPGRADE.'''
    UPGRADE = "UPGRADE"
    '''UPGRADE.'''


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyConnectionPoolTcp",
    jsii_struct_bases=[],
    name_mapping={
        "connect_timeout": "connectTimeout",
        "idle_timeout": "idleTimeout",
        "max_connection_duration": "maxConnectionDuration",
        "max_connections": "maxConnections",
        "tcp_keepalive": "tcpKeepalive",
    },
)
class DestinationRuleSpecTrafficPolicyConnectionPoolTcp:
    def __init__(
        self,
        *,
        connect_timeout: typing.Optional[builtins.str] = None,
        idle_timeout: typing.Optional[builtins.str] = None,
        max_connection_duration: typing.Optional[builtins.str] = None,
        max_connections: typing.Optional[jsii.Number] = None,
        tcp_keepalive: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyConnectionPoolTcpTcpKeepalive", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Settings common to both HTTP and TCP upstream connections.

        :param connect_timeout: TCP connection timeout.
        :param idle_timeout: The idle timeout for TCP connections.
        :param max_connection_duration: The maximum duration of a connection.
        :param max_connections: Maximum number of HTTP1 /TCP connections to a destination host.
        :param tcp_keepalive: If set then set SO_KEEPALIVE on the socket to enable TCP Keepalives.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPoolTcp
        '''
        if isinstance(tcp_keepalive, dict):
            tcp_keepalive = DestinationRuleSpecTrafficPolicyConnectionPoolTcpTcpKeepalive(**tcp_keepalive)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__9bda2954afd7cbfcb6281760e69b585672b1e708febc8ad2910da31d8d706fd3)
            check_type(argname="argument connect_timeout", value=connect_timeout, expected_type=type_hints["connect_timeout"])
            check_type(argname="argument idle_timeout", value=idle_timeout, expected_type=type_hints["idle_timeout"])
            check_type(argname="argument max_connection_duration", value=max_connection_duration, expected_type=type_hints["max_connection_duration"])
            check_type(argname="argument max_connections", value=max_connections, expected_type=type_hints["max_connections"])
            check_type(argname="argument tcp_keepalive", value=tcp_keepalive, expected_type=type_hints["tcp_keepalive"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if connect_timeout is not None:
            self._values["connect_timeout"] = connect_timeout
        if idle_timeout is not None:
            self._values["idle_timeout"] = idle_timeout
        if max_connection_duration is not None:
            self._values["max_connection_duration"] = max_connection_duration
        if max_connections is not None:
            self._values["max_connections"] = max_connections
        if tcp_keepalive is not None:
            self._values["tcp_keepalive"] = tcp_keepalive

    @builtins.property
    def connect_timeout(self) -> typing.Optional[builtins.str]:
        '''TCP connection timeout.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPoolTcp#connectTimeout
        '''
        result = self._values.get("connect_timeout")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def idle_timeout(self) -> typing.Optional[builtins.str]:
        '''The idle timeout for TCP connections.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPoolTcp#idleTimeout
        '''
        result = self._values.get("idle_timeout")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def max_connection_duration(self) -> typing.Optional[builtins.str]:
        '''The maximum duration of a connection.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPoolTcp#maxConnectionDuration
        '''
        result = self._values.get("max_connection_duration")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def max_connections(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of HTTP1 /TCP connections to a destination host.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPoolTcp#maxConnections
        '''
        result = self._values.get("max_connections")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def tcp_keepalive(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyConnectionPoolTcpTcpKeepalive"]:
        '''If set then set SO_KEEPALIVE on the socket to enable TCP Keepalives.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPoolTcp#tcpKeepalive
        '''
        result = self._values.get("tcp_keepalive")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyConnectionPoolTcpTcpKeepalive"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyConnectionPoolTcp(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyConnectionPoolTcpTcpKeepalive",
    jsii_struct_bases=[],
    name_mapping={"interval": "interval", "probes": "probes", "time": "time"},
)
class DestinationRuleSpecTrafficPolicyConnectionPoolTcpTcpKeepalive:
    def __init__(
        self,
        *,
        interval: typing.Optional[builtins.str] = None,
        probes: typing.Optional[jsii.Number] = None,
        time: typing.Optional[builtins.str] = None,
    ) -> None:
        '''If set then set SO_KEEPALIVE on the socket to enable TCP Keepalives.

        :param interval: The time duration between keep-alive probes.
        :param probes: Maximum number of keepalive probes to send without response before deciding the connection is dead.
        :param time: The time duration a connection needs to be idle before keep-alive probes start being sent.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPoolTcpTcpKeepalive
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__873c3ef54858f65d4bc1d7a4444cfef47172913d0e45724368ddca21a40eda40)
            check_type(argname="argument interval", value=interval, expected_type=type_hints["interval"])
            check_type(argname="argument probes", value=probes, expected_type=type_hints["probes"])
            check_type(argname="argument time", value=time, expected_type=type_hints["time"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if interval is not None:
            self._values["interval"] = interval
        if probes is not None:
            self._values["probes"] = probes
        if time is not None:
            self._values["time"] = time

    @builtins.property
    def interval(self) -> typing.Optional[builtins.str]:
        '''The time duration between keep-alive probes.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPoolTcpTcpKeepalive#interval
        '''
        result = self._values.get("interval")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def probes(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of keepalive probes to send without response before deciding the connection is dead.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPoolTcpTcpKeepalive#probes
        '''
        result = self._values.get("probes")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def time(self) -> typing.Optional[builtins.str]:
        '''The time duration a connection needs to be idle before keep-alive probes start being sent.

        :schema: DestinationRuleSpecTrafficPolicyConnectionPoolTcpTcpKeepalive#time
        '''
        result = self._values.get("time")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyConnectionPoolTcpTcpKeepalive(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyLoadBalancer",
    jsii_struct_bases=[],
    name_mapping={
        "consistent_hash": "consistentHash",
        "locality_lb_setting": "localityLbSetting",
        "simple": "simple",
        "warmup": "warmup",
        "warmup_duration_secs": "warmupDurationSecs",
    },
)
class DestinationRuleSpecTrafficPolicyLoadBalancer:
    def __init__(
        self,
        *,
        consistent_hash: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHash", typing.Dict[builtins.str, typing.Any]]] = None,
        locality_lb_setting: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSetting", typing.Dict[builtins.str, typing.Any]]] = None,
        simple: typing.Optional["DestinationRuleSpecTrafficPolicyLoadBalancerSimple"] = None,
        warmup: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyLoadBalancerWarmup", typing.Dict[builtins.str, typing.Any]]] = None,
        warmup_duration_secs: typing.Optional[builtins.str] = None,
    ) -> None:
        '''Settings controlling the load balancer algorithms.

        :param consistent_hash: 
        :param locality_lb_setting: 
        :param simple: Valid Options: LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST.
        :param warmup: Represents the warmup configuration of Service.
        :param warmup_duration_secs: Deprecated: use ``warmup`` instead.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancer
        '''
        if isinstance(consistent_hash, dict):
            consistent_hash = DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHash(**consistent_hash)
        if isinstance(locality_lb_setting, dict):
            locality_lb_setting = DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSetting(**locality_lb_setting)
        if isinstance(warmup, dict):
            warmup = DestinationRuleSpecTrafficPolicyLoadBalancerWarmup(**warmup)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__e4e3c10f1bc8ce25ab4de6120204e18f590deb685802ebd7fe37c57100e6df5e)
            check_type(argname="argument consistent_hash", value=consistent_hash, expected_type=type_hints["consistent_hash"])
            check_type(argname="argument locality_lb_setting", value=locality_lb_setting, expected_type=type_hints["locality_lb_setting"])
            check_type(argname="argument simple", value=simple, expected_type=type_hints["simple"])
            check_type(argname="argument warmup", value=warmup, expected_type=type_hints["warmup"])
            check_type(argname="argument warmup_duration_secs", value=warmup_duration_secs, expected_type=type_hints["warmup_duration_secs"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if consistent_hash is not None:
            self._values["consistent_hash"] = consistent_hash
        if locality_lb_setting is not None:
            self._values["locality_lb_setting"] = locality_lb_setting
        if simple is not None:
            self._values["simple"] = simple
        if warmup is not None:
            self._values["warmup"] = warmup
        if warmup_duration_secs is not None:
            self._values["warmup_duration_secs"] = warmup_duration_secs

    @builtins.property
    def consistent_hash(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHash"]:
        '''
        :schema: DestinationRuleSpecTrafficPolicyLoadBalancer#consistentHash
        '''
        result = self._values.get("consistent_hash")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHash"], result)

    @builtins.property
    def locality_lb_setting(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSetting"]:
        '''
        :schema: DestinationRuleSpecTrafficPolicyLoadBalancer#localityLbSetting
        '''
        result = self._values.get("locality_lb_setting")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSetting"], result)

    @builtins.property
    def simple(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyLoadBalancerSimple"]:
        '''Valid Options: LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancer#simple
        '''
        result = self._values.get("simple")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyLoadBalancerSimple"], result)

    @builtins.property
    def warmup(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyLoadBalancerWarmup"]:
        '''Represents the warmup configuration of Service.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancer#warmup
        '''
        result = self._values.get("warmup")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyLoadBalancerWarmup"], result)

    @builtins.property
    def warmup_duration_secs(self) -> typing.Optional[builtins.str]:
        '''Deprecated: use ``warmup`` instead.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancer#warmupDurationSecs
        '''
        result = self._values.get("warmup_duration_secs")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyLoadBalancer(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHash",
    jsii_struct_bases=[],
    name_mapping={
        "http_cookie": "httpCookie",
        "http_header_name": "httpHeaderName",
        "http_query_parameter_name": "httpQueryParameterName",
        "maglev": "maglev",
        "minimum_ring_size": "minimumRingSize",
        "ring_hash": "ringHash",
        "use_source_ip": "useSourceIp",
    },
)
class DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHash:
    def __init__(
        self,
        *,
        http_cookie: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookie", typing.Dict[builtins.str, typing.Any]]] = None,
        http_header_name: typing.Optional[builtins.str] = None,
        http_query_parameter_name: typing.Optional[builtins.str] = None,
        maglev: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashMaglev", typing.Dict[builtins.str, typing.Any]]] = None,
        minimum_ring_size: typing.Optional[jsii.Number] = None,
        ring_hash: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashRingHash", typing.Dict[builtins.str, typing.Any]]] = None,
        use_source_ip: typing.Optional[builtins.bool] = None,
    ) -> None:
        '''
        :param http_cookie: Hash based on HTTP cookie.
        :param http_header_name: Hash based on a specific HTTP header.
        :param http_query_parameter_name: Hash based on a specific HTTP query parameter.
        :param maglev: The Maglev load balancer implements consistent hashing to backend hosts.
        :param minimum_ring_size: Deprecated.
        :param ring_hash: The ring/modulo hash load balancer implements consistent hashing to backend hosts.
        :param use_source_ip: Hash based on the source IP address.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHash
        '''
        if isinstance(http_cookie, dict):
            http_cookie = DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookie(**http_cookie)
        if isinstance(maglev, dict):
            maglev = DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashMaglev(**maglev)
        if isinstance(ring_hash, dict):
            ring_hash = DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashRingHash(**ring_hash)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__2d7e5e42b7db570be89b935fac2c4920ef52610e94fae01410008eccb7db6089)
            check_type(argname="argument http_cookie", value=http_cookie, expected_type=type_hints["http_cookie"])
            check_type(argname="argument http_header_name", value=http_header_name, expected_type=type_hints["http_header_name"])
            check_type(argname="argument http_query_parameter_name", value=http_query_parameter_name, expected_type=type_hints["http_query_parameter_name"])
            check_type(argname="argument maglev", value=maglev, expected_type=type_hints["maglev"])
            check_type(argname="argument minimum_ring_size", value=minimum_ring_size, expected_type=type_hints["minimum_ring_size"])
            check_type(argname="argument ring_hash", value=ring_hash, expected_type=type_hints["ring_hash"])
            check_type(argname="argument use_source_ip", value=use_source_ip, expected_type=type_hints["use_source_ip"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if http_cookie is not None:
            self._values["http_cookie"] = http_cookie
        if http_header_name is not None:
            self._values["http_header_name"] = http_header_name
        if http_query_parameter_name is not None:
            self._values["http_query_parameter_name"] = http_query_parameter_name
        if maglev is not None:
            self._values["maglev"] = maglev
        if minimum_ring_size is not None:
            self._values["minimum_ring_size"] = minimum_ring_size
        if ring_hash is not None:
            self._values["ring_hash"] = ring_hash
        if use_source_ip is not None:
            self._values["use_source_ip"] = use_source_ip

    @builtins.property
    def http_cookie(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookie"]:
        '''Hash based on HTTP cookie.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHash#httpCookie
        '''
        result = self._values.get("http_cookie")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookie"], result)

    @builtins.property
    def http_header_name(self) -> typing.Optional[builtins.str]:
        '''Hash based on a specific HTTP header.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHash#httpHeaderName
        '''
        result = self._values.get("http_header_name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def http_query_parameter_name(self) -> typing.Optional[builtins.str]:
        '''Hash based on a specific HTTP query parameter.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHash#httpQueryParameterName
        '''
        result = self._values.get("http_query_parameter_name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def maglev(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashMaglev"]:
        '''The Maglev load balancer implements consistent hashing to backend hosts.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHash#maglev
        '''
        result = self._values.get("maglev")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashMaglev"], result)

    @builtins.property
    def minimum_ring_size(self) -> typing.Optional[jsii.Number]:
        '''Deprecated.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHash#minimumRingSize
        '''
        result = self._values.get("minimum_ring_size")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def ring_hash(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashRingHash"]:
        '''The ring/modulo hash load balancer implements consistent hashing to backend hosts.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHash#ringHash
        '''
        result = self._values.get("ring_hash")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashRingHash"], result)

    @builtins.property
    def use_source_ip(self) -> typing.Optional[builtins.bool]:
        '''Hash based on the source IP address.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHash#useSourceIp
        '''
        result = self._values.get("use_source_ip")
        return typing.cast(typing.Optional[builtins.bool], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHash(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookie",
    jsii_struct_bases=[],
    name_mapping={
        "name": "name",
        "attributes": "attributes",
        "path": "path",
        "ttl": "ttl",
    },
)
class DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookie:
    def __init__(
        self,
        *,
        name: builtins.str,
        attributes: typing.Optional[typing.Sequence[typing.Union["DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes", typing.Dict[builtins.str, typing.Any]]]] = None,
        path: typing.Optional[builtins.str] = None,
        ttl: typing.Optional[builtins.str] = None,
    ) -> None:
        '''Hash based on HTTP cookie.

        :param name: Name of the cookie.
        :param attributes: Additional attributes for the cookie.
        :param path: Path to set for the cookie.
        :param ttl: Lifetime of the cookie.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookie
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__0a99e5415afec774b226bd633e013e9df74a2481a9635029295a3fd1b6a16fe9)
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument attributes", value=attributes, expected_type=type_hints["attributes"])
            check_type(argname="argument path", value=path, expected_type=type_hints["path"])
            check_type(argname="argument ttl", value=ttl, expected_type=type_hints["ttl"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "name": name,
        }
        if attributes is not None:
            self._values["attributes"] = attributes
        if path is not None:
            self._values["path"] = path
        if ttl is not None:
            self._values["ttl"] = ttl

    @builtins.property
    def name(self) -> builtins.str:
        '''Name of the cookie.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookie#name
        '''
        result = self._values.get("name")
        assert result is not None, "Required property 'name' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def attributes(
        self,
    ) -> typing.Optional[typing.List["DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes"]]:
        '''Additional attributes for the cookie.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookie#attributes
        '''
        result = self._values.get("attributes")
        return typing.cast(typing.Optional[typing.List["DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes"]], result)

    @builtins.property
    def path(self) -> typing.Optional[builtins.str]:
        '''Path to set for the cookie.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookie#path
        '''
        result = self._values.get("path")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def ttl(self) -> typing.Optional[builtins.str]:
        '''Lifetime of the cookie.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookie#ttl
        '''
        result = self._values.get("ttl")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookie(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes",
    jsii_struct_bases=[],
    name_mapping={"name": "name", "value": "value"},
)
class DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes:
    def __init__(
        self,
        *,
        name: builtins.str,
        value: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param name: The name of the cookie attribute.
        :param value: The optional value of the cookie attribute.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__227173796b76cc9e4d2f3b6565756c6ccce0855c0310bc05dee5075ae0fc804f)
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "name": name,
        }
        if value is not None:
            self._values["value"] = value

    @builtins.property
    def name(self) -> builtins.str:
        '''The name of the cookie attribute.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes#name
        '''
        result = self._values.get("name")
        assert result is not None, "Required property 'name' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def value(self) -> typing.Optional[builtins.str]:
        '''The optional value of the cookie attribute.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes#value
        '''
        result = self._values.get("value")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashMaglev",
    jsii_struct_bases=[],
    name_mapping={"table_size": "tableSize"},
)
class DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashMaglev:
    def __init__(self, *, table_size: typing.Optional[jsii.Number] = None) -> None:
        '''The Maglev load balancer implements consistent hashing to backend hosts.

        :param table_size: The table size for Maglev hashing.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashMaglev
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__ef191c0d09a07abf3d87360a20276466ffdc1e222efbbffa7bc0c68247770451)
            check_type(argname="argument table_size", value=table_size, expected_type=type_hints["table_size"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if table_size is not None:
            self._values["table_size"] = table_size

    @builtins.property
    def table_size(self) -> typing.Optional[jsii.Number]:
        '''The table size for Maglev hashing.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashMaglev#tableSize
        '''
        result = self._values.get("table_size")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashMaglev(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashRingHash",
    jsii_struct_bases=[],
    name_mapping={"minimum_ring_size": "minimumRingSize"},
)
class DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashRingHash:
    def __init__(
        self,
        *,
        minimum_ring_size: typing.Optional[jsii.Number] = None,
    ) -> None:
        '''The ring/modulo hash load balancer implements consistent hashing to backend hosts.

        :param minimum_ring_size: The minimum number of virtual nodes to use for the hash ring.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashRingHash
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__220a1294a7bab7630cc61fae25c9b9ece67af8bd32d0f4eee26a95afab0910b8)
            check_type(argname="argument minimum_ring_size", value=minimum_ring_size, expected_type=type_hints["minimum_ring_size"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if minimum_ring_size is not None:
            self._values["minimum_ring_size"] = minimum_ring_size

    @builtins.property
    def minimum_ring_size(self) -> typing.Optional[jsii.Number]:
        '''The minimum number of virtual nodes to use for the hash ring.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashRingHash#minimumRingSize
        '''
        result = self._values.get("minimum_ring_size")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashRingHash(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSetting",
    jsii_struct_bases=[],
    name_mapping={
        "distribute": "distribute",
        "enabled": "enabled",
        "failover": "failover",
        "failover_priority": "failoverPriority",
    },
)
class DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSetting:
    def __init__(
        self,
        *,
        distribute: typing.Optional[typing.Sequence[typing.Union["DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingDistribute", typing.Dict[builtins.str, typing.Any]]]] = None,
        enabled: typing.Optional[builtins.bool] = None,
        failover: typing.Optional[typing.Sequence[typing.Union["DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingFailover", typing.Dict[builtins.str, typing.Any]]]] = None,
        failover_priority: typing.Optional[typing.Sequence[builtins.str]] = None,
    ) -> None:
        '''
        :param distribute: Optional: only one of distribute, failover or failoverPriority can be set.
        :param enabled: Enable locality load balancing.
        :param failover: Optional: only one of distribute, failover or failoverPriority can be set.
        :param failover_priority: failoverPriority is an ordered list of labels used to sort endpoints to do priority based load balancing.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSetting
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__838a2c702325af876bf4fe71b4b598ec11d876feaa0c045a235300af8ace9a65)
            check_type(argname="argument distribute", value=distribute, expected_type=type_hints["distribute"])
            check_type(argname="argument enabled", value=enabled, expected_type=type_hints["enabled"])
            check_type(argname="argument failover", value=failover, expected_type=type_hints["failover"])
            check_type(argname="argument failover_priority", value=failover_priority, expected_type=type_hints["failover_priority"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if distribute is not None:
            self._values["distribute"] = distribute
        if enabled is not None:
            self._values["enabled"] = enabled
        if failover is not None:
            self._values["failover"] = failover
        if failover_priority is not None:
            self._values["failover_priority"] = failover_priority

    @builtins.property
    def distribute(
        self,
    ) -> typing.Optional[typing.List["DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingDistribute"]]:
        '''Optional: only one of distribute, failover or failoverPriority can be set.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSetting#distribute
        '''
        result = self._values.get("distribute")
        return typing.cast(typing.Optional[typing.List["DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingDistribute"]], result)

    @builtins.property
    def enabled(self) -> typing.Optional[builtins.bool]:
        '''Enable locality load balancing.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSetting#enabled
        '''
        result = self._values.get("enabled")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def failover(
        self,
    ) -> typing.Optional[typing.List["DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingFailover"]]:
        '''Optional: only one of distribute, failover or failoverPriority can be set.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSetting#failover
        '''
        result = self._values.get("failover")
        return typing.cast(typing.Optional[typing.List["DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingFailover"]], result)

    @builtins.property
    def failover_priority(self) -> typing.Optional[typing.List[builtins.str]]:
        '''failoverPriority is an ordered list of labels used to sort endpoints to do priority based load balancing.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSetting#failoverPriority
        '''
        result = self._values.get("failover_priority")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSetting(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingDistribute",
    jsii_struct_bases=[],
    name_mapping={"from_": "from", "to": "to"},
)
class DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingDistribute:
    def __init__(
        self,
        *,
        from_: typing.Optional[builtins.str] = None,
        to: typing.Optional[typing.Mapping[builtins.str, jsii.Number]] = None,
    ) -> None:
        '''
        :param from_: Originating locality, '/' separated, e.g.
        :param to: Map of upstream localities to traffic distribution weights.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingDistribute
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__3a440d1cb1daee0d71dc8df4c824d602dffa5259d5bd8db46bbe778dd4577214)
            check_type(argname="argument from_", value=from_, expected_type=type_hints["from_"])
            check_type(argname="argument to", value=to, expected_type=type_hints["to"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if from_ is not None:
            self._values["from_"] = from_
        if to is not None:
            self._values["to"] = to

    @builtins.property
    def from_(self) -> typing.Optional[builtins.str]:
        '''Originating locality, '/' separated, e.g.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingDistribute#from
        '''
        result = self._values.get("from_")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def to(self) -> typing.Optional[typing.Mapping[builtins.str, jsii.Number]]:
        '''Map of upstream localities to traffic distribution weights.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingDistribute#to
        '''
        result = self._values.get("to")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, jsii.Number]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingDistribute(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingFailover",
    jsii_struct_bases=[],
    name_mapping={"from_": "from", "to": "to"},
)
class DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingFailover:
    def __init__(
        self,
        *,
        from_: typing.Optional[builtins.str] = None,
        to: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param from_: Originating region.
        :param to: Destination region the traffic will fail over to when endpoints in the 'from' region becomes unhealthy.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingFailover
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__5f0433559c94b64049d73b2f5b6a971767267023b0a4070341cb80d6fc2bd9a2)
            check_type(argname="argument from_", value=from_, expected_type=type_hints["from_"])
            check_type(argname="argument to", value=to, expected_type=type_hints["to"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if from_ is not None:
            self._values["from_"] = from_
        if to is not None:
            self._values["to"] = to

    @builtins.property
    def from_(self) -> typing.Optional[builtins.str]:
        '''Originating region.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingFailover#from
        '''
        result = self._values.get("from_")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def to(self) -> typing.Optional[builtins.str]:
        '''Destination region the traffic will fail over to when endpoints in the 'from' region becomes unhealthy.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingFailover#to
        '''
        result = self._values.get("to")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingFailover(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyLoadBalancerSimple"
)
class DestinationRuleSpecTrafficPolicyLoadBalancerSimple(enum.Enum):
    '''Valid Options: LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST.

    :schema: DestinationRuleSpecTrafficPolicyLoadBalancerSimple
    '''

    UNSPECIFIED = "UNSPECIFIED"
    '''UNSPECIFIED.'''
    LEAST_UNDERSCORE_CONN = "LEAST_UNDERSCORE_CONN"
    '''LEAST_CONN.'''
    RANDOM = "RANDOM"
    '''RANDOM.'''
    PASSTHROUGH = "PASSTHROUGH"
    '''PASSTHROUGH.'''
    ROUND_UNDERSCORE_ROBIN = "ROUND_UNDERSCORE_ROBIN"
    '''ROUND_ROBIN.'''
    LEAST_UNDERSCORE_REQUEST = "LEAST_UNDERSCORE_REQUEST"
    '''LEAST_REQUEST.'''


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyLoadBalancerWarmup",
    jsii_struct_bases=[],
    name_mapping={
        "duration": "duration",
        "aggression": "aggression",
        "minimum_percent": "minimumPercent",
    },
)
class DestinationRuleSpecTrafficPolicyLoadBalancerWarmup:
    def __init__(
        self,
        *,
        duration: builtins.str,
        aggression: typing.Optional[jsii.Number] = None,
        minimum_percent: typing.Optional[jsii.Number] = None,
    ) -> None:
        '''Represents the warmup configuration of Service.

        :param duration: 
        :param aggression: This parameter controls the speed of traffic increase over the warmup duration.
        :param minimum_percent: 

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerWarmup
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__fa661a4083fc14174df86795b026aa41a93581fc09c900b54028aabc4da795bc)
            check_type(argname="argument duration", value=duration, expected_type=type_hints["duration"])
            check_type(argname="argument aggression", value=aggression, expected_type=type_hints["aggression"])
            check_type(argname="argument minimum_percent", value=minimum_percent, expected_type=type_hints["minimum_percent"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "duration": duration,
        }
        if aggression is not None:
            self._values["aggression"] = aggression
        if minimum_percent is not None:
            self._values["minimum_percent"] = minimum_percent

    @builtins.property
    def duration(self) -> builtins.str:
        '''
        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerWarmup#duration
        '''
        result = self._values.get("duration")
        assert result is not None, "Required property 'duration' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def aggression(self) -> typing.Optional[jsii.Number]:
        '''This parameter controls the speed of traffic increase over the warmup duration.

        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerWarmup#aggression
        '''
        result = self._values.get("aggression")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def minimum_percent(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: DestinationRuleSpecTrafficPolicyLoadBalancerWarmup#minimumPercent
        '''
        result = self._values.get("minimum_percent")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyLoadBalancerWarmup(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyOutlierDetection",
    jsii_struct_bases=[],
    name_mapping={
        "base_ejection_time": "baseEjectionTime",
        "consecutive5_xx_errors": "consecutive5XxErrors",
        "consecutive_errors": "consecutiveErrors",
        "consecutive_gateway_errors": "consecutiveGatewayErrors",
        "consecutive_local_origin_failures": "consecutiveLocalOriginFailures",
        "interval": "interval",
        "max_ejection_percent": "maxEjectionPercent",
        "min_health_percent": "minHealthPercent",
        "split_external_local_origin_errors": "splitExternalLocalOriginErrors",
    },
)
class DestinationRuleSpecTrafficPolicyOutlierDetection:
    def __init__(
        self,
        *,
        base_ejection_time: typing.Optional[builtins.str] = None,
        consecutive5_xx_errors: typing.Optional[jsii.Number] = None,
        consecutive_errors: typing.Optional[jsii.Number] = None,
        consecutive_gateway_errors: typing.Optional[jsii.Number] = None,
        consecutive_local_origin_failures: typing.Optional[jsii.Number] = None,
        interval: typing.Optional[builtins.str] = None,
        max_ejection_percent: typing.Optional[jsii.Number] = None,
        min_health_percent: typing.Optional[jsii.Number] = None,
        split_external_local_origin_errors: typing.Optional[builtins.bool] = None,
    ) -> None:
        '''
        :param base_ejection_time: Minimum ejection duration.
        :param consecutive5_xx_errors: Number of 5xx errors before a host is ejected from the connection pool.
        :param consecutive_errors: 
        :param consecutive_gateway_errors: Number of gateway errors before a host is ejected from the connection pool.
        :param consecutive_local_origin_failures: The number of consecutive locally originated failures before ejection occurs.
        :param interval: Time interval between ejection sweep analysis.
        :param max_ejection_percent: Maximum % of hosts in the load balancing pool for the upstream service that can be ejected.
        :param min_health_percent: Outlier detection will be enabled as long as the associated load balancing pool has at least ``minHealthPercent`` hosts in healthy mode.
        :param split_external_local_origin_errors: Determines whether to distinguish local origin failures from external errors.

        :schema: DestinationRuleSpecTrafficPolicyOutlierDetection
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__4b30038047f48ad90cb62cdb4574f09b9b2b8bd23eb0f06a329bd39505ff674b)
            check_type(argname="argument base_ejection_time", value=base_ejection_time, expected_type=type_hints["base_ejection_time"])
            check_type(argname="argument consecutive5_xx_errors", value=consecutive5_xx_errors, expected_type=type_hints["consecutive5_xx_errors"])
            check_type(argname="argument consecutive_errors", value=consecutive_errors, expected_type=type_hints["consecutive_errors"])
            check_type(argname="argument consecutive_gateway_errors", value=consecutive_gateway_errors, expected_type=type_hints["consecutive_gateway_errors"])
            check_type(argname="argument consecutive_local_origin_failures", value=consecutive_local_origin_failures, expected_type=type_hints["consecutive_local_origin_failures"])
            check_type(argname="argument interval", value=interval, expected_type=type_hints["interval"])
            check_type(argname="argument max_ejection_percent", value=max_ejection_percent, expected_type=type_hints["max_ejection_percent"])
            check_type(argname="argument min_health_percent", value=min_health_percent, expected_type=type_hints["min_health_percent"])
            check_type(argname="argument split_external_local_origin_errors", value=split_external_local_origin_errors, expected_type=type_hints["split_external_local_origin_errors"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if base_ejection_time is not None:
            self._values["base_ejection_time"] = base_ejection_time
        if consecutive5_xx_errors is not None:
            self._values["consecutive5_xx_errors"] = consecutive5_xx_errors
        if consecutive_errors is not None:
            self._values["consecutive_errors"] = consecutive_errors
        if consecutive_gateway_errors is not None:
            self._values["consecutive_gateway_errors"] = consecutive_gateway_errors
        if consecutive_local_origin_failures is not None:
            self._values["consecutive_local_origin_failures"] = consecutive_local_origin_failures
        if interval is not None:
            self._values["interval"] = interval
        if max_ejection_percent is not None:
            self._values["max_ejection_percent"] = max_ejection_percent
        if min_health_percent is not None:
            self._values["min_health_percent"] = min_health_percent
        if split_external_local_origin_errors is not None:
            self._values["split_external_local_origin_errors"] = split_external_local_origin_errors

    @builtins.property
    def base_ejection_time(self) -> typing.Optional[builtins.str]:
        '''Minimum ejection duration.

        :schema: DestinationRuleSpecTrafficPolicyOutlierDetection#baseEjectionTime
        '''
        result = self._values.get("base_ejection_time")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def consecutive5_xx_errors(self) -> typing.Optional[jsii.Number]:
        '''Number of 5xx errors before a host is ejected from the connection pool.

        :schema: DestinationRuleSpecTrafficPolicyOutlierDetection#consecutive5xxErrors
        '''
        result = self._values.get("consecutive5_xx_errors")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def consecutive_errors(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: DestinationRuleSpecTrafficPolicyOutlierDetection#consecutiveErrors
        '''
        result = self._values.get("consecutive_errors")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def consecutive_gateway_errors(self) -> typing.Optional[jsii.Number]:
        '''Number of gateway errors before a host is ejected from the connection pool.

        :schema: DestinationRuleSpecTrafficPolicyOutlierDetection#consecutiveGatewayErrors
        '''
        result = self._values.get("consecutive_gateway_errors")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def consecutive_local_origin_failures(self) -> typing.Optional[jsii.Number]:
        '''The number of consecutive locally originated failures before ejection occurs.

        :schema: DestinationRuleSpecTrafficPolicyOutlierDetection#consecutiveLocalOriginFailures
        '''
        result = self._values.get("consecutive_local_origin_failures")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def interval(self) -> typing.Optional[builtins.str]:
        '''Time interval between ejection sweep analysis.

        :schema: DestinationRuleSpecTrafficPolicyOutlierDetection#interval
        '''
        result = self._values.get("interval")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def max_ejection_percent(self) -> typing.Optional[jsii.Number]:
        '''Maximum % of hosts in the load balancing pool for the upstream service that can be ejected.

        :schema: DestinationRuleSpecTrafficPolicyOutlierDetection#maxEjectionPercent
        '''
        result = self._values.get("max_ejection_percent")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def min_health_percent(self) -> typing.Optional[jsii.Number]:
        '''Outlier detection will be enabled as long as the associated load balancing pool has at least ``minHealthPercent`` hosts in healthy mode.

        :schema: DestinationRuleSpecTrafficPolicyOutlierDetection#minHealthPercent
        '''
        result = self._values.get("min_health_percent")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def split_external_local_origin_errors(self) -> typing.Optional[builtins.bool]:
        '''Determines whether to distinguish local origin failures from external errors.

        :schema: DestinationRuleSpecTrafficPolicyOutlierDetection#splitExternalLocalOriginErrors
        '''
        result = self._values.get("split_external_local_origin_errors")
        return typing.cast(typing.Optional[builtins.bool], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyOutlierDetection(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettings",
    jsii_struct_bases=[],
    name_mapping={
        "connection_pool": "connectionPool",
        "load_balancer": "loadBalancer",
        "outlier_detection": "outlierDetection",
        "port": "port",
        "tls": "tls",
    },
)
class DestinationRuleSpecTrafficPolicyPortLevelSettings:
    def __init__(
        self,
        *,
        connection_pool: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPool", typing.Dict[builtins.str, typing.Any]]] = None,
        load_balancer: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancer", typing.Dict[builtins.str, typing.Any]]] = None,
        outlier_detection: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyPortLevelSettingsOutlierDetection", typing.Dict[builtins.str, typing.Any]]] = None,
        port: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyPortLevelSettingsPort", typing.Dict[builtins.str, typing.Any]]] = None,
        tls: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyPortLevelSettingsTls", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''
        :param connection_pool: 
        :param load_balancer: Settings controlling the load balancer algorithms.
        :param outlier_detection: 
        :param port: Specifies the number of a port on the destination service on which this policy is being applied.
        :param tls: TLS related settings for connections to the upstream service.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettings
        '''
        if isinstance(connection_pool, dict):
            connection_pool = DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPool(**connection_pool)
        if isinstance(load_balancer, dict):
            load_balancer = DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancer(**load_balancer)
        if isinstance(outlier_detection, dict):
            outlier_detection = DestinationRuleSpecTrafficPolicyPortLevelSettingsOutlierDetection(**outlier_detection)
        if isinstance(port, dict):
            port = DestinationRuleSpecTrafficPolicyPortLevelSettingsPort(**port)
        if isinstance(tls, dict):
            tls = DestinationRuleSpecTrafficPolicyPortLevelSettingsTls(**tls)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__e4d44e017708c168d49278cc4079f6f29cfc8c6a27f41ccaed4ca9ec6e5d795e)
            check_type(argname="argument connection_pool", value=connection_pool, expected_type=type_hints["connection_pool"])
            check_type(argname="argument load_balancer", value=load_balancer, expected_type=type_hints["load_balancer"])
            check_type(argname="argument outlier_detection", value=outlier_detection, expected_type=type_hints["outlier_detection"])
            check_type(argname="argument port", value=port, expected_type=type_hints["port"])
            check_type(argname="argument tls", value=tls, expected_type=type_hints["tls"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if connection_pool is not None:
            self._values["connection_pool"] = connection_pool
        if load_balancer is not None:
            self._values["load_balancer"] = load_balancer
        if outlier_detection is not None:
            self._values["outlier_detection"] = outlier_detection
        if port is not None:
            self._values["port"] = port
        if tls is not None:
            self._values["tls"] = tls

    @builtins.property
    def connection_pool(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPool"]:
        '''
        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettings#connectionPool
        '''
        result = self._values.get("connection_pool")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPool"], result)

    @builtins.property
    def load_balancer(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancer"]:
        '''Settings controlling the load balancer algorithms.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettings#loadBalancer
        '''
        result = self._values.get("load_balancer")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancer"], result)

    @builtins.property
    def outlier_detection(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsOutlierDetection"]:
        '''
        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettings#outlierDetection
        '''
        result = self._values.get("outlier_detection")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsOutlierDetection"], result)

    @builtins.property
    def port(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsPort"]:
        '''Specifies the number of a port on the destination service on which this policy is being applied.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettings#port
        '''
        result = self._values.get("port")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsPort"], result)

    @builtins.property
    def tls(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsTls"]:
        '''TLS related settings for connections to the upstream service.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettings#tls
        '''
        result = self._values.get("tls")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsTls"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyPortLevelSettings(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPool",
    jsii_struct_bases=[],
    name_mapping={"http": "http", "tcp": "tcp"},
)
class DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPool:
    def __init__(
        self,
        *,
        http: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttp", typing.Dict[builtins.str, typing.Any]]] = None,
        tcp: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcp", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''
        :param http: HTTP connection pool settings.
        :param tcp: Settings common to both HTTP and TCP upstream connections.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPool
        '''
        if isinstance(http, dict):
            http = DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttp(**http)
        if isinstance(tcp, dict):
            tcp = DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcp(**tcp)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__c79a156624da502de95432a0c26dd063fa7d6f1ad0c986e6f67b61a827992116)
            check_type(argname="argument http", value=http, expected_type=type_hints["http"])
            check_type(argname="argument tcp", value=tcp, expected_type=type_hints["tcp"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if http is not None:
            self._values["http"] = http
        if tcp is not None:
            self._values["tcp"] = tcp

    @builtins.property
    def http(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttp"]:
        '''HTTP connection pool settings.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPool#http
        '''
        result = self._values.get("http")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttp"], result)

    @builtins.property
    def tcp(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcp"]:
        '''Settings common to both HTTP and TCP upstream connections.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPool#tcp
        '''
        result = self._values.get("tcp")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcp"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPool(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttp",
    jsii_struct_bases=[],
    name_mapping={
        "h2_upgrade_policy": "h2UpgradePolicy",
        "http1_max_pending_requests": "http1MaxPendingRequests",
        "http2_max_requests": "http2MaxRequests",
        "idle_timeout": "idleTimeout",
        "max_concurrent_streams": "maxConcurrentStreams",
        "max_requests_per_connection": "maxRequestsPerConnection",
        "max_retries": "maxRetries",
        "use_client_protocol": "useClientProtocol",
    },
)
class DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttp:
    def __init__(
        self,
        *,
        h2_upgrade_policy: typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttpH2UpgradePolicy"] = None,
        http1_max_pending_requests: typing.Optional[jsii.Number] = None,
        http2_max_requests: typing.Optional[jsii.Number] = None,
        idle_timeout: typing.Optional[builtins.str] = None,
        max_concurrent_streams: typing.Optional[jsii.Number] = None,
        max_requests_per_connection: typing.Optional[jsii.Number] = None,
        max_retries: typing.Optional[jsii.Number] = None,
        use_client_protocol: typing.Optional[builtins.bool] = None,
    ) -> None:
        '''HTTP connection pool settings.

        :param h2_upgrade_policy: Specify if http1.1 connection should be upgraded to http2 for the associated destination. Valid Options: DEFAULT, DO_NOT_UPGRADE, UPGRADE
        :param http1_max_pending_requests: Maximum number of requests that will be queued while waiting for a ready connection pool connection.
        :param http2_max_requests: Maximum number of active requests to a destination.
        :param idle_timeout: The idle timeout for upstream connection pool connections.
        :param max_concurrent_streams: The maximum number of concurrent streams allowed for a peer on one HTTP/2 connection.
        :param max_requests_per_connection: Maximum number of requests per connection to a backend.
        :param max_retries: Maximum number of retries that can be outstanding to all hosts in a cluster at a given time.
        :param use_client_protocol: If set to true, client protocol will be preserved while initiating connection to backend.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttp
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__00e7dc846628cd861b709ce7e7f48c818ee4edbcf680fc31120aa4a12ef0d328)
            check_type(argname="argument h2_upgrade_policy", value=h2_upgrade_policy, expected_type=type_hints["h2_upgrade_policy"])
            check_type(argname="argument http1_max_pending_requests", value=http1_max_pending_requests, expected_type=type_hints["http1_max_pending_requests"])
            check_type(argname="argument http2_max_requests", value=http2_max_requests, expected_type=type_hints["http2_max_requests"])
            check_type(argname="argument idle_timeout", value=idle_timeout, expected_type=type_hints["idle_timeout"])
            check_type(argname="argument max_concurrent_streams", value=max_concurrent_streams, expected_type=type_hints["max_concurrent_streams"])
            check_type(argname="argument max_requests_per_connection", value=max_requests_per_connection, expected_type=type_hints["max_requests_per_connection"])
            check_type(argname="argument max_retries", value=max_retries, expected_type=type_hints["max_retries"])
            check_type(argname="argument use_client_protocol", value=use_client_protocol, expected_type=type_hints["use_client_protocol"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if h2_upgrade_policy is not None:
            self._values["h2_upgrade_policy"] = h2_upgrade_policy
        if http1_max_pending_requests is not None:
            self._values["http1_max_pending_requests"] = http1_max_pending_requests
        if http2_max_requests is not None:
            self._values["http2_max_requests"] = http2_max_requests
        if idle_timeout is not None:
            self._values["idle_timeout"] = idle_timeout
        if max_concurrent_streams is not None:
            self._values["max_concurrent_streams"] = max_concurrent_streams
        if max_requests_per_connection is not None:
            self._values["max_requests_per_connection"] = max_requests_per_connection
        if max_retries is not None:
            self._values["max_retries"] = max_retries
        if use_client_protocol is not None:
            self._values["use_client_protocol"] = use_client_protocol

    @builtins.property
    def h2_upgrade_policy(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttpH2UpgradePolicy"]:
        '''Specify if http1.1 connection should be upgraded to http2 for the associated destination.

        Valid Options: DEFAULT, DO_NOT_UPGRADE, UPGRADE

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttp#h2UpgradePolicy
        '''
        result = self._values.get("h2_upgrade_policy")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttpH2UpgradePolicy"], result)

    @builtins.property
    def http1_max_pending_requests(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of requests that will be queued while waiting for a ready connection pool connection.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttp#http1MaxPendingRequests
        '''
        result = self._values.get("http1_max_pending_requests")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def http2_max_requests(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of active requests to a destination.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttp#http2MaxRequests
        '''
        result = self._values.get("http2_max_requests")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def idle_timeout(self) -> typing.Optional[builtins.str]:
        '''The idle timeout for upstream connection pool connections.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttp#idleTimeout
        '''
        result = self._values.get("idle_timeout")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def max_concurrent_streams(self) -> typing.Optional[jsii.Number]:
        '''The maximum number of concurrent streams allowed for a peer on one HTTP/2 connection.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttp#maxConcurrentStreams
        '''
        result = self._values.get("max_concurrent_streams")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def max_requests_per_connection(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of requests per connection to a backend.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttp#maxRequestsPerConnection
        '''
        result = self._values.get("max_requests_per_connection")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def max_retries(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of retries that can be outstanding to all hosts in a cluster at a given time.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttp#maxRetries
        '''
        result = self._values.get("max_retries")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def use_client_protocol(self) -> typing.Optional[builtins.bool]:
        '''If set to true, client protocol will be preserved while initiating connection to backend.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttp#useClientProtocol
        '''
        result = self._values.get("use_client_protocol")
        return typing.cast(typing.Optional[builtins.bool], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttp(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttpH2UpgradePolicy"
)
class DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttpH2UpgradePolicy(
    enum.Enum,
):
    '''Specify if http1.1 connection should be upgraded to http2 for the associated destination.

    Valid Options: DEFAULT, DO_NOT_UPGRADE, UPGRADE

    :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttpH2UpgradePolicy
    '''

    DEFAULT = "DEFAULT"
    '''DEFAULT.'''
    DO_UNDERSCORE_NOT_UNDERSCORE_UPGRADE = "DO_UNDERSCORE_NOT_UNDERSCORE_UPGRADE"
    '''DO_NOT_UPGRADE.'''
    UPGRADE = "UPGRADE"
    '''UPGRADE.'''


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcp",
    jsii_struct_bases=[],
    name_mapping={
        "connect_timeout": "connectTimeout",
        "idle_timeout": "idleTimeout",
        "max_connection_duration": "maxConnectionDuration",
        "max_connections": "maxConnections",
        "tcp_keepalive": "tcpKeepalive",
    },
)
class DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcp:
    def __init__(
        self,
        *,
        connect_timeout: typing.Optional[builtins.str] = None,
        idle_timeout: typing.Optional[builtins.str] = None,
        max_connection_duration: typing.Optional[builtins.str] = None,
        max_connections: typing.Optional[jsii.Number] = None,
        tcp_keepalive: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Settings common to both HTTP and TCP upstream connections.

        :param connect_timeout: TCP connection timeout.
        :param idle_timeout: The idle timeout for TCP connections.
        :param max_connection_duration: The maximum duration of a connection.
        :param max_connections: Maximum number of HTTP1 /TCP connections to a destination host.
        :param tcp_keepalive: If set then set SO_KEEPALIVE on the socket to enable TCP Keepalives.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcp
        '''
        if isinstance(tcp_keepalive, dict):
            tcp_keepalive = DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive(**tcp_keepalive)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__59c9701dd94d3018d521b32fe197d05fffcbabb33ab493f33c363c92a454a3c0)
            check_type(argname="argument connect_timeout", value=connect_timeout, expected_type=type_hints["connect_timeout"])
            check_type(argname="argument idle_timeout", value=idle_timeout, expected_type=type_hints["idle_timeout"])
            check_type(argname="argument max_connection_duration", value=max_connection_duration, expected_type=type_hints["max_connection_duration"])
            check_type(argname="argument max_connections", value=max_connections, expected_type=type_hints["max_connections"])
            check_type(argname="argument tcp_keepalive", value=tcp_keepalive, expected_type=type_hints["tcp_keepalive"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if connect_timeout is not None:
            self._values["connect_timeout"] = connect_timeout
        if idle_timeout is not None:
            self._values["idle_timeout"] = idle_timeout
        if max_connection_duration is not None:
            self._values["max_connection_duration"] = max_connection_duration
        if max_connections is not None:
            self._values["max_connections"] = max_connections
        if tcp_keepalive is not None:
            self._values["tcp_keepalive"] = tcp_keepalive

    @builtins.property
    def connect_timeout(self) -> typing.Optional[builtins.str]:
        '''TCP connection timeout.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcp#connectTimeout
        '''
        result = self._values.get("connect_timeout")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def idle_timeout(self) -> typing.Optional[builtins.str]:
        '''The idle timeout for TCP connections.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcp#idleTimeout
        '''
        result = self._values.get("idle_timeout")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def max_connection_duration(self) -> typing.Optional[builtins.str]:
        '''The maximum duration of a connection.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcp#maxConnectionDuration
        '''
        result = self._values.get("max_connection_duration")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def max_connections(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of HTTP1 /TCP connections to a destination host.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcp#maxConnections
        '''
        result = self._values.get("max_connections")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def tcp_keepalive(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive"]:
        '''If set then set SO_KEEPALIVE on the socket to enable TCP Keepalives.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcp#tcpKeepalive
        '''
        result = self._values.get("tcp_keepalive")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcp(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive",
    jsii_struct_bases=[],
    name_mapping={"interval": "interval", "probes": "probes", "time": "time"},
)
class DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive:
    def __init__(
        self,
        *,
        interval: typing.Optional[builtins.str] = None,
        probes: typing.Optional[jsii.Number] = None,
        time: typing.Optional[builtins.str] = None,
    ) -> None:
        '''If set then set SO_KEEPALIVE on the socket to enable TCP Keepalives.

        :param interval: The time duration between keep-alive probes.
        :param probes: Maximum number of keepalive probes to send without response before deciding the connection is dead.
        :param time: The time duration a connection needs to be idle before keep-alive probes start being sent.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__611cf8279be4d5248155da97d507928e7f49874e366852043344c59cdc965b38)
            check_type(argname="argument interval", value=interval, expected_type=type_hints["interval"])
            check_type(argname="argument probes", value=probes, expected_type=type_hints["probes"])
            check_type(argname="argument time", value=time, expected_type=type_hints["time"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if interval is not None:
            self._values["interval"] = interval
        if probes is not None:
            self._values["probes"] = probes
        if time is not None:
            self._values["time"] = time

    @builtins.property
    def interval(self) -> typing.Optional[builtins.str]:
        '''The time duration between keep-alive probes.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive#interval
        '''
        result = self._values.get("interval")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def probes(self) -> typing.Optional[jsii.Number]:
        '''Maximum number of keepalive probes to send without response before deciding the connection is dead.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive#probes
        '''
        result = self._values.get("probes")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def time(self) -> typing.Optional[builtins.str]:
        '''The time duration a connection needs to be idle before keep-alive probes start being sent.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive#time
        '''
        result = self._values.get("time")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancer",
    jsii_struct_bases=[],
    name_mapping={
        "consistent_hash": "consistentHash",
        "locality_lb_setting": "localityLbSetting",
        "simple": "simple",
        "warmup": "warmup",
        "warmup_duration_secs": "warmupDurationSecs",
    },
)
class DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancer:
    def __init__(
        self,
        *,
        consistent_hash: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash", typing.Dict[builtins.str, typing.Any]]] = None,
        locality_lb_setting: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting", typing.Dict[builtins.str, typing.Any]]] = None,
        simple: typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerSimple"] = None,
        warmup: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerWarmup", typing.Dict[builtins.str, typing.Any]]] = None,
        warmup_duration_secs: typing.Optional[builtins.str] = None,
    ) -> None:
        '''Settings controlling the load balancer algorithms.

        :param consistent_hash: 
        :param locality_lb_setting: 
        :param simple: Valid Options: LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST.
        :param warmup: Represents the warmup configuration of Service.
        :param warmup_duration_secs: Deprecated: use ``warmup`` instead.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancer
        '''
        if isinstance(consistent_hash, dict):
            consistent_hash = DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash(**consistent_hash)
        if isinstance(locality_lb_setting, dict):
            locality_lb_setting = DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting(**locality_lb_setting)
        if isinstance(warmup, dict):
            warmup = DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerWarmup(**warmup)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__25a3be218752b5e6ee43a740efaa07b6597fc811381daf6c4c56aca73f2a14ab)
            check_type(argname="argument consistent_hash", value=consistent_hash, expected_type=type_hints["consistent_hash"])
            check_type(argname="argument locality_lb_setting", value=locality_lb_setting, expected_type=type_hints["locality_lb_setting"])
            check_type(argname="argument simple", value=simple, expected_type=type_hints["simple"])
            check_type(argname="argument warmup", value=warmup, expected_type=type_hints["warmup"])
            check_type(argname="argument warmup_duration_secs", value=warmup_duration_secs, expected_type=type_hints["warmup_duration_secs"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if consistent_hash is not None:
            self._values["consistent_hash"] = consistent_hash
        if locality_lb_setting is not None:
            self._values["locality_lb_setting"] = locality_lb_setting
        if simple is not None:
            self._values["simple"] = simple
        if warmup is not None:
            self._values["warmup"] = warmup
        if warmup_duration_secs is not None:
            self._values["warmup_duration_secs"] = warmup_duration_secs

    @builtins.property
    def consistent_hash(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash"]:
        '''
        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancer#consistentHash
        '''
        result = self._values.get("consistent_hash")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash"], result)

    @builtins.property
    def locality_lb_setting(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting"]:
        '''
        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancer#localityLbSetting
        '''
        result = self._values.get("locality_lb_setting")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting"], result)

    @builtins.property
    def simple(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerSimple"]:
        '''Valid Options: LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancer#simple
        '''
        result = self._values.get("simple")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerSimple"], result)

    @builtins.property
    def warmup(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerWarmup"]:
        '''Represents the warmup configuration of Service.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancer#warmup
        '''
        result = self._values.get("warmup")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerWarmup"], result)

    @builtins.property
    def warmup_duration_secs(self) -> typing.Optional[builtins.str]:
        '''Deprecated: use ``warmup`` instead.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancer#warmupDurationSecs
        '''
        result = self._values.get("warmup_duration_secs")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancer(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash",
    jsii_struct_bases=[],
    name_mapping={
        "http_cookie": "httpCookie",
        "http_header_name": "httpHeaderName",
        "http_query_parameter_name": "httpQueryParameterName",
        "maglev": "maglev",
        "minimum_ring_size": "minimumRingSize",
        "ring_hash": "ringHash",
        "use_source_ip": "useSourceIp",
    },
)
class DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash:
    def __init__(
        self,
        *,
        http_cookie: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie", typing.Dict[builtins.str, typing.Any]]] = None,
        http_header_name: typing.Optional[builtins.str] = None,
        http_query_parameter_name: typing.Optional[builtins.str] = None,
        maglev: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev", typing.Dict[builtins.str, typing.Any]]] = None,
        minimum_ring_size: typing.Optional[jsii.Number] = None,
        ring_hash: typing.Optional[typing.Union["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash", typing.Dict[builtins.str, typing.Any]]] = None,
        use_source_ip: typing.Optional[builtins.bool] = None,
    ) -> None:
        '''
        :param http_cookie: Hash based on HTTP cookie.
        :param http_header_name: Hash based on a specific HTTP header.
        :param http_query_parameter_name: Hash based on a specific HTTP query parameter.
        :param maglev: The Maglev load balancer implements consistent hashing to backend hosts.
        :param minimum_ring_size: Deprecated.
        :param ring_hash: The ring/modulo hash load balancer implements consistent hashing to backend hosts.
        :param use_source_ip: Hash based on the source IP address.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash
        '''
        if isinstance(http_cookie, dict):
            http_cookie = DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie(**http_cookie)
        if isinstance(maglev, dict):
            maglev = DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev(**maglev)
        if isinstance(ring_hash, dict):
            ring_hash = DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash(**ring_hash)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__a55d93dccc007dd53877016e4e59c72ad5dc0f8fefe5d8b7789f1c6b4e13f7d0)
            check_type(argname="argument http_cookie", value=http_cookie, expected_type=type_hints["http_cookie"])
            check_type(argname="argument http_header_name", value=http_header_name, expected_type=type_hints["http_header_name"])
            check_type(argname="argument http_query_parameter_name", value=http_query_parameter_name, expected_type=type_hints["http_query_parameter_name"])
            check_type(argname="argument maglev", value=maglev, expected_type=type_hints["maglev"])
            check_type(argname="argument minimum_ring_size", value=minimum_ring_size, expected_type=type_hints["minimum_ring_size"])
            check_type(argname="argument ring_hash", value=ring_hash, expected_type=type_hints["ring_hash"])
            check_type(argname="argument use_source_ip", value=use_source_ip, expected_type=type_hints["use_source_ip"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if http_cookie is not None:
            self._values["http_cookie"] = http_cookie
        if http_header_name is not None:
            self._values["http_header_name"] = http_header_name
        if http_query_parameter_name is not None:
            self._values["http_query_parameter_name"] = http_query_parameter_name
        if maglev is not None:
            self._values["maglev"] = maglev
        if minimum_ring_size is not None:
            self._values["minimum_ring_size"] = minimum_ring_size
        if ring_hash is not None:
            self._values["ring_hash"] = ring_hash
        if use_source_ip is not None:
            self._values["use_source_ip"] = use_source_ip

    @builtins.property
    def http_cookie(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie"]:
        '''Hash based on HTTP cookie.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash#httpCookie
        '''
        result = self._values.get("http_cookie")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie"], result)

    @builtins.property
    def http_header_name(self) -> typing.Optional[builtins.str]:
        '''Hash based on a specific HTTP header.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash#httpHeaderName
        '''
        result = self._values.get("http_header_name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def http_query_parameter_name(self) -> typing.Optional[builtins.str]:
        '''Hash based on a specific HTTP query parameter.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash#httpQueryParameterName
        '''
        result = self._values.get("http_query_parameter_name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def maglev(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev"]:
        '''The Maglev load balancer implements consistent hashing to backend hosts.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash#maglev
        '''
        result = self._values.get("maglev")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev"], result)

    @builtins.property
    def minimum_ring_size(self) -> typing.Optional[jsii.Number]:
        '''Deprecated.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash#minimumRingSize
        '''
        result = self._values.get("minimum_ring_size")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def ring_hash(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash"]:
        '''The ring/modulo hash load balancer implements consistent hashing to backend hosts.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash#ringHash
        '''
        result = self._values.get("ring_hash")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash"], result)

    @builtins.property
    def use_source_ip(self) -> typing.Optional[builtins.bool]:
        '''Hash based on the source IP address.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash#useSourceIp
        '''
        result = self._values.get("use_source_ip")
        return typing.cast(typing.Optional[builtins.bool], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie",
    jsii_struct_bases=[],
    name_mapping={
        "name": "name",
        "attributes": "attributes",
        "path": "path",
        "ttl": "ttl",
    },
)
class DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie:
    def __init__(
        self,
        *,
        name: builtins.str,
        attributes: typing.Optional[typing.Sequence[typing.Union["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes", typing.Dict[builtins.str, typing.Any]]]] = None,
        path: typing.Optional[builtins.str] = None,
        ttl: typing.Optional[builtins.str] = None,
    ) -> None:
        '''Hash based on HTTP cookie.

        :param name: Name of the cookie.
        :param attributes: Additional attributes for the cookie.
        :param path: Path to set for the cookie.
        :param ttl: Lifetime of the cookie.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__6aa742f53699a998cca342c5a352632794af2a788f10ea7ee7ead19dc2286ce8)
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument attributes", value=attributes, expected_type=type_hints["attributes"])
            check_type(argname="argument path", value=path, expected_type=type_hints["path"])
            check_type(argname="argument ttl", value=ttl, expected_type=type_hints["ttl"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "name": name,
        }
        if attributes is not None:
            self._values["attributes"] = attributes
        if path is not None:
            self._values["path"] = path
        if ttl is not None:
            self._values["ttl"] = ttl

    @builtins.property
    def name(self) -> builtins.str:
        '''Name of the cookie.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie#name
        '''
        result = self._values.get("name")
        assert result is not None, "Required property 'name' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def attributes(
        self,
    ) -> typing.Optional[typing.List["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes"]]:
        '''Additional attributes for the cookie.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie#attributes
        '''
        result = self._values.get("attributes")
        return typing.cast(typing.Optional[typing.List["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes"]], result)

    @builtins.property
    def path(self) -> typing.Optional[builtins.str]:
        '''Path to set for the cookie.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie#path
        '''
        result = self._values.get("path")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def ttl(self) -> typing.Optional[builtins.str]:
        '''Lifetime of the cookie.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie#ttl
        '''
        result = self._values.get("ttl")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes",
    jsii_struct_bases=[],
    name_mapping={"name": "name", "value": "value"},
)
class DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes:
    def __init__(
        self,
        *,
        name: builtins.str,
        value: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param name: The name of the cookie attribute.
        :param value: The optional value of the cookie attribute.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__ebced93f3cfb730c6b7fa8dbede305a8cdf7a3799f50b795e5ffa6c126d55da3)
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "name": name,
        }
        if value is not None:
            self._values["value"] = value

    @builtins.property
    def name(self) -> builtins.str:
        '''The name of the cookie attribute.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes#name
        '''
        result = self._values.get("name")
        assert result is not None, "Required property 'name' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def value(self) -> typing.Optional[builtins.str]:
        '''The optional value of the cookie attribute.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes#value
        '''
        result = self._values.get("value")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev",
    jsii_struct_bases=[],
    name_mapping={"table_size": "tableSize"},
)
class DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev:
    def __init__(self, *, table_size: typing.Optional[jsii.Number] = None) -> None:
        '''The Maglev load balancer implements consistent hashing to backend hosts.

        :param table_size: The table size for Maglev hashing.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__1b8b6b17c5884ac267a849c7eb2f21c0f34be804462f679c32b9e9b243c2157e)
            check_type(argname="argument table_size", value=table_size, expected_type=type_hints["table_size"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if table_size is not None:
            self._values["table_size"] = table_size

    @builtins.property
    def table_size(self) -> typing.Optional[jsii.Number]:
        '''The table size for Maglev hashing.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev#tableSize
        '''
        result = self._values.get("table_size")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash",
    jsii_struct_bases=[],
    name_mapping={"minimum_ring_size": "minimumRingSize"},
)
class DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash:
    def __init__(
        self,
        *,
        minimum_ring_size: typing.Optional[jsii.Number] = None,
    ) -> None:
        '''The ring/modulo hash load balancer implements consistent hashing to backend hosts.

        :param minimum_ring_size: The minimum number of virtual nodes to use for the hash ring.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__7ed371d63653dfcbedc2f4bca4b81e63d7ca902a714cde3339308bcfa8f6d410)
            check_type(argname="argument minimum_ring_size", value=minimum_ring_size, expected_type=type_hints["minimum_ring_size"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if minimum_ring_size is not None:
            self._values["minimum_ring_size"] = minimum_ring_size

    @builtins.property
    def minimum_ring_size(self) -> typing.Optional[jsii.Number]:
        '''The minimum number of virtual nodes to use for the hash ring.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash#minimumRingSize
        '''
        result = self._values.get("minimum_ring_size")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting",
    jsii_struct_bases=[],
    name_mapping={
        "distribute": "distribute",
        "enabled": "enabled",
        "failover": "failover",
        "failover_priority": "failoverPriority",
    },
)
class DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting:
    def __init__(
        self,
        *,
        distribute: typing.Optional[typing.Sequence[typing.Union["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute", typing.Dict[builtins.str, typing.Any]]]] = None,
        enabled: typing.Optional[builtins.bool] = None,
        failover: typing.Optional[typing.Sequence[typing.Union["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover", typing.Dict[builtins.str, typing.Any]]]] = None,
        failover_priority: typing.Optional[typing.Sequence[builtins.str]] = None,
    ) -> None:
        '''
        :param distribute: Optional: only one of distribute, failover or failoverPriority can be set.
        :param enabled: Enable locality load balancing.
        :param failover: Optional: only one of distribute, failover or failoverPriority can be set.
        :param failover_priority: failoverPriority is an ordered list of labels used to sort endpoints to do priority based load balancing.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__644760badc9b5279f8020b5f917470231a9e7270594c77370c1c2d5fa9a0f663)
            check_type(argname="argument distribute", value=distribute, expected_type=type_hints["distribute"])
            check_type(argname="argument enabled", value=enabled, expected_type=type_hints["enabled"])
            check_type(argname="argument failover", value=failover, expected_type=type_hints["failover"])
            check_type(argname="argument failover_priority", value=failover_priority, expected_type=type_hints["failover_priority"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if distribute is not None:
            self._values["distribute"] = distribute
        if enabled is not None:
            self._values["enabled"] = enabled
        if failover is not None:
            self._values["failover"] = failover
        if failover_priority is not None:
            self._values["failover_priority"] = failover_priority

    @builtins.property
    def distribute(
        self,
    ) -> typing.Optional[typing.List["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute"]]:
        '''Optional: only one of distribute, failover or failoverPriority can be set.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting#distribute
        '''
        result = self._values.get("distribute")
        return typing.cast(typing.Optional[typing.List["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute"]], result)

    @builtins.property
    def enabled(self) -> typing.Optional[builtins.bool]:
        '''Enable locality load balancing.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting#enabled
        '''
        result = self._values.get("enabled")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def failover(
        self,
    ) -> typing.Optional[typing.List["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover"]]:
        '''Optional: only one of distribute, failover or failoverPriority can be set.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting#failover
        '''
        result = self._values.get("failover")
        return typing.cast(typing.Optional[typing.List["DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover"]], result)

    @builtins.property
    def failover_priority(self) -> typing.Optional[typing.List[builtins.str]]:
        '''failoverPriority is an ordered list of labels used to sort endpoints to do priority based load balancing.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting#failoverPriority
        '''
        result = self._values.get("failover_priority")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute",
    jsii_struct_bases=[],
    name_mapping={"from_": "from", "to": "to"},
)
class DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute:
    def __init__(
        self,
        *,
        from_: typing.Optional[builtins.str] = None,
        to: typing.Optional[typing.Mapping[builtins.str, jsii.Number]] = None,
    ) -> None:
        '''
        :param from_: Originating locality, '/' separated, e.g.
        :param to: Map of upstream localities to traffic distribution weights.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__7d7feb8b71d29966926bea4447dca8fea60a57b2c55033eb137e69ed9c0ec451)
            check_type(argname="argument from_", value=from_, expected_type=type_hints["from_"])
            check_type(argname="argument to", value=to, expected_type=type_hints["to"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if from_ is not None:
            self._values["from_"] = from_
        if to is not None:
            self._values["to"] = to

    @builtins.property
    def from_(self) -> typing.Optional[builtins.str]:
        '''Originating locality, '/' separated, e.g.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute#from
        '''
        result = self._values.get("from_")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def to(self) -> typing.Optional[typing.Mapping[builtins.str, jsii.Number]]:
        '''Map of upstream localities to traffic distribution weights.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute#to
        '''
        result = self._values.get("to")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, jsii.Number]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover",
    jsii_struct_bases=[],
    name_mapping={"from_": "from", "to": "to"},
)
class DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover:
    def __init__(
        self,
        *,
        from_: typing.Optional[builtins.str] = None,
        to: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param from_: Originating region.
        :param to: Destination region the traffic will fail over to when endpoints in the 'from' region becomes unhealthy.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__bec1281af473a2b53c92e44d504488d518947d4b854a5a2415bbc623dadeb41d)
            check_type(argname="argument from_", value=from_, expected_type=type_hints["from_"])
            check_type(argname="argument to", value=to, expected_type=type_hints["to"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if from_ is not None:
            self._values["from_"] = from_
        if to is not None:
            self._values["to"] = to

    @builtins.property
    def from_(self) -> typing.Optional[builtins.str]:
        '''Originating region.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover#from
        '''
        result = self._values.get("from_")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def to(self) -> typing.Optional[builtins.str]:
        '''Destination region the traffic will fail over to when endpoints in the 'from' region becomes unhealthy.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover#to
        '''
        result = self._values.get("to")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerSimple"
)
class DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerSimple(enum.Enum):
    '''Valid Options: LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST.

    :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerSimple
    '''

    UNSPECIFIED = "UNSPECIFIED"
    '''UNSPECIFIED.'''
    LEAST_UNDERSCORE_CONN = "LEAST_UNDERSCORE_CONN"
    '''LEAST_CONN.'''
    RANDOM = "RANDOM"
    '''RANDOM.'''
    PASSTHROUGH = "PASSTHROUGH"
    '''PASSTHROUGH.'''
    ROUND_UNDERSCORE_ROBIN = "ROUND_UNDERSCORE_ROBIN"
    '''ROUND_ROBIN.'''
    LEAST_UNDERSCORE_REQUEST = "LEAST_UNDERSCORE_REQUEST"
    '''LEAST_REQUEST.'''


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerWarmup",
    jsii_struct_bases=[],
    name_mapping={
        "duration": "duration",
        "aggression": "aggression",
        "minimum_percent": "minimumPercent",
    },
)
class DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerWarmup:
    def __init__(
        self,
        *,
        duration: builtins.str,
        aggression: typing.Optional[jsii.Number] = None,
        minimum_percent: typing.Optional[jsii.Number] = None,
    ) -> None:
        '''Represents the warmup configuration of Service.

        :param duration: 
        :param aggression: This parameter controls the speed of traffic increase over the warmup duration.
        :param minimum_percent: 

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerWarmup
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__1fd0af038b0778ada712c6d1e0174f8c08ef153975024e726c76e28dc88bde8e)
            check_type(argname="argument duration", value=duration, expected_type=type_hints["duration"])
            check_type(argname="argument aggression", value=aggression, expected_type=type_hints["aggression"])
            check_type(argname="argument minimum_percent", value=minimum_percent, expected_type=type_hints["minimum_percent"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "duration": duration,
        }
        if aggression is not None:
            self._values["aggression"] = aggression
        if minimum_percent is not None:
            self._values["minimum_percent"] = minimum_percent

    @builtins.property
    def duration(self) -> builtins.str:
        '''
        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerWarmup#duration
        '''
        result = self._values.get("duration")
        assert result is not None, "Required property 'duration' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def aggression(self) -> typing.Optional[jsii.Number]:
        '''This parameter controls the speed of traffic increase over the warmup duration.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerWarmup#aggression
        '''
        result = self._values.get("aggression")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def minimum_percent(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerWarmup#minimumPercent
        '''
        result = self._values.get("minimum_percent")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerWarmup(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettingsOutlierDetection",
    jsii_struct_bases=[],
    name_mapping={
        "base_ejection_time": "baseEjectionTime",
        "consecutive5_xx_errors": "consecutive5XxErrors",
        "consecutive_errors": "consecutiveErrors",
        "consecutive_gateway_errors": "consecutiveGatewayErrors",
        "consecutive_local_origin_failures": "consecutiveLocalOriginFailures",
        "interval": "interval",
        "max_ejection_percent": "maxEjectionPercent",
        "min_health_percent": "minHealthPercent",
        "split_external_local_origin_errors": "splitExternalLocalOriginErrors",
    },
)
class DestinationRuleSpecTrafficPolicyPortLevelSettingsOutlierDetection:
    def __init__(
        self,
        *,
        base_ejection_time: typing.Optional[builtins.str] = None,
        consecutive5_xx_errors: typing.Optional[jsii.Number] = None,
        consecutive_errors: typing.Optional[jsii.Number] = None,
        consecutive_gateway_errors: typing.Optional[jsii.Number] = None,
        consecutive_local_origin_failures: typing.Optional[jsii.Number] = None,
        interval: typing.Optional[builtins.str] = None,
        max_ejection_percent: typing.Optional[jsii.Number] = None,
        min_health_percent: typing.Optional[jsii.Number] = None,
        split_external_local_origin_errors: typing.Optional[builtins.bool] = None,
    ) -> None:
        '''
        :param base_ejection_time: Minimum ejection duration.
        :param consecutive5_xx_errors: Number of 5xx errors before a host is ejected from the connection pool.
        :param consecutive_errors: 
        :param consecutive_gateway_errors: Number of gateway errors before a host is ejected from the connection pool.
        :param consecutive_local_origin_failures: The number of consecutive locally originated failures before ejection occurs.
        :param interval: Time interval between ejection sweep analysis.
        :param max_ejection_percent: Maximum % of hosts in the load balancing pool for the upstream service that can be ejected.
        :param min_health_percent: Outlier detection will be enabled as long as the associated load balancing pool has at least ``minHealthPercent`` hosts in healthy mode.
        :param split_external_local_origin_errors: Determines whether to distinguish local origin failures from external errors.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsOutlierDetection
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__9fc63bef56c2f6eb71a46918a12437b712acf77a8655f90d8cf7630ee20a8c98)
            check_type(argname="argument base_ejection_time", value=base_ejection_time, expected_type=type_hints["base_ejection_time"])
            check_type(argname="argument consecutive5_xx_errors", value=consecutive5_xx_errors, expected_type=type_hints["consecutive5_xx_errors"])
            check_type(argname="argument consecutive_errors", value=consecutive_errors, expected_type=type_hints["consecutive_errors"])
            check_type(argname="argument consecutive_gateway_errors", value=consecutive_gateway_errors, expected_type=type_hints["consecutive_gateway_errors"])
            check_type(argname="argument consecutive_local_origin_failures", value=consecutive_local_origin_failures, expected_type=type_hints["consecutive_local_origin_failures"])
            check_type(argname="argument interval", value=interval, expected_type=type_hints["interval"])
            check_type(argname="argument max_ejection_percent", value=max_ejection_percent, expected_type=type_hints["max_ejection_percent"])
            check_type(argname="argument min_health_percent", value=min_health_percent, expected_type=type_hints["min_health_percent"])
            check_type(argname="argument split_external_local_origin_errors", value=split_external_local_origin_errors, expected_type=type_hints["split_external_local_origin_errors"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if base_ejection_time is not None:
            self._values["base_ejection_time"] = base_ejection_time
        if consecutive5_xx_errors is not None:
            self._values["consecutive5_xx_errors"] = consecutive5_xx_errors
        if consecutive_errors is not None:
            self._values["consecutive_errors"] = consecutive_errors
        if consecutive_gateway_errors is not None:
            self._values["consecutive_gateway_errors"] = consecutive_gateway_errors
        if consecutive_local_origin_failures is not None:
            self._values["consecutive_local_origin_failures"] = consecutive_local_origin_failures
        if interval is not None:
            self._values["interval"] = interval
        if max_ejection_percent is not None:
            self._values["max_ejection_percent"] = max_ejection_percent
        if min_health_percent is not None:
            self._values["min_health_percent"] = min_health_percent
        if split_external_local_origin_errors is not None:
            self._values["split_external_local_origin_errors"] = split_external_local_origin_errors

    @builtins.property
    def base_ejection_time(self) -> typing.Optional[builtins.str]:
        '''Minimum ejection duration.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsOutlierDetection#baseEjectionTime
        '''
        result = self._values.get("base_ejection_time")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def consecutive5_xx_errors(self) -> typing.Optional[jsii.Number]:
        '''Number of 5xx errors before a host is ejected from the connection pool.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsOutlierDetection#consecutive5xxErrors
        '''
        result = self._values.get("consecutive5_xx_errors")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def consecutive_errors(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsOutlierDetection#consecutiveErrors
        '''
        result = self._values.get("consecutive_errors")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def consecutive_gateway_errors(self) -> typing.Optional[jsii.Number]:
        '''Number of gateway errors before a host is ejected from the connection pool.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsOutlierDetection#consecutiveGatewayErrors
        '''
        result = self._values.get("consecutive_gateway_errors")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def consecutive_local_origin_failures(self) -> typing.Optional[jsii.Number]:
        '''The number of consecutive locally originated failures before ejection occurs.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsOutlierDetection#consecutiveLocalOriginFailures
        '''
        result = self._values.get("consecutive_local_origin_failures")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def interval(self) -> typing.Optional[builtins.str]:
        '''Time interval between ejection sweep analysis.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsOutlierDetection#interval
        '''
        result = self._values.get("interval")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def max_ejection_percent(self) -> typing.Optional[jsii.Number]:
        '''Maximum % of hosts in the load balancing pool for the upstream service that can be ejected.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsOutlierDetection#maxEjectionPercent
        '''
        result = self._values.get("max_ejection_percent")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def min_health_percent(self) -> typing.Optional[jsii.Number]:
        '''Outlier detection will be enabled as long as the associated load balancing pool has at least ``minHealthPercent`` hosts in healthy mode.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsOutlierDetection#minHealthPercent
        '''
        result = self._values.get("min_health_percent")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def split_external_local_origin_errors(self) -> typing.Optional[builtins.bool]:
        '''Determines whether to distinguish local origin failures from external errors.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsOutlierDetection#splitExternalLocalOriginErrors
        '''
        result = self._values.get("split_external_local_origin_errors")
        return typing.cast(typing.Optional[builtins.bool], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyPortLevelSettingsOutlierDetection(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettingsPort",
    jsii_struct_bases=[],
    name_mapping={"number": "number"},
)
class DestinationRuleSpecTrafficPolicyPortLevelSettingsPort:
    def __init__(self, *, number: typing.Optional[jsii.Number] = None) -> None:
        '''Specifies the number of a port on the destination service on which this policy is being applied.

        :param number: 

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsPort
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__af42588ab5e5bdec7373ed96470235b3e3c5072f7f52d0577cc76cafb1045b1c)
            check_type(argname="argument number", value=number, expected_type=type_hints["number"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if number is not None:
            self._values["number"] = number

    @builtins.property
    def number(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsPort#number
        '''
        result = self._values.get("number")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyPortLevelSettingsPort(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettingsTls",
    jsii_struct_bases=[],
    name_mapping={
        "ca_certificates": "caCertificates",
        "ca_crl": "caCrl",
        "client_certificate": "clientCertificate",
        "credential_name": "credentialName",
        "insecure_skip_verify": "insecureSkipVerify",
        "mode": "mode",
        "private_key": "privateKey",
        "sni": "sni",
        "subject_alt_names": "subjectAltNames",
    },
)
class DestinationRuleSpecTrafficPolicyPortLevelSettingsTls:
    def __init__(
        self,
        *,
        ca_certificates: typing.Optional[builtins.str] = None,
        ca_crl: typing.Optional[builtins.str] = None,
        client_certificate: typing.Optional[builtins.str] = None,
        credential_name: typing.Optional[builtins.str] = None,
        insecure_skip_verify: typing.Optional[builtins.bool] = None,
        mode: typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsTlsMode"] = None,
        private_key: typing.Optional[builtins.str] = None,
        sni: typing.Optional[builtins.str] = None,
        subject_alt_names: typing.Optional[typing.Sequence[builtins.str]] = None,
    ) -> None:
        '''TLS related settings for connections to the upstream service.

        :param ca_certificates: OPTIONAL: The path to the file containing certificate authority certificates to use in verifying a presented server certificate.
        :param ca_crl: OPTIONAL: The path to the file containing the certificate revocation list (CRL) to use in verifying a presented server certificate.
        :param client_certificate: REQUIRED if mode is ``MUTUAL``.
        :param credential_name: The name of the secret that holds the TLS certs for the client including the CA certificates.
        :param insecure_skip_verify: ``insecureSkipVerify`` specifies whether the proxy should skip verifying the CA signature and SAN for the server certificate corresponding to the host.
        :param mode: Indicates whether connections to this port should be secured using TLS. Valid Options: DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL
        :param private_key: REQUIRED if mode is ``MUTUAL``.
        :param sni: SNI string to present to the server during TLS handshake.
        :param subject_alt_names: A list of alternate names to verify the subject identity in the certificate.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsTls
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__ffc915b5e3fcc5413156b3a22797d5b7c387fe0cb5a05ce593c57ecdb4e5a8c8)
            check_type(argname="argument ca_certificates", value=ca_certificates, expected_type=type_hints["ca_certificates"])
            check_type(argname="argument ca_crl", value=ca_crl, expected_type=type_hints["ca_crl"])
            check_type(argname="argument client_certificate", value=client_certificate, expected_type=type_hints["client_certificate"])
            check_type(argname="argument credential_name", value=credential_name, expected_type=type_hints["credential_name"])
            check_type(argname="argument insecure_skip_verify", value=insecure_skip_verify, expected_type=type_hints["insecure_skip_verify"])
            check_type(argname="argument mode", value=mode, expected_type=type_hints["mode"])
            check_type(argname="argument private_key", value=private_key, expected_type=type_hints["private_key"])
            check_type(argname="argument sni", value=sni, expected_type=type_hints["sni"])
            check_type(argname="argument subject_alt_names", value=subject_alt_names, expected_type=type_hints["subject_alt_names"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if ca_certificates is not None:
            self._values["ca_certificates"] = ca_certificates
        if ca_crl is not None:
            self._values["ca_crl"] = ca_crl
        if client_certificate is not None:
            self._values["client_certificate"] = client_certificate
        if credential_name is not None:
            self._values["credential_name"] = credential_name
        if insecure_skip_verify is not None:
            self._values["insecure_skip_verify"] = insecure_skip_verify
        if mode is not None:
            self._values["mode"] = mode
        if private_key is not None:
            self._values["private_key"] = private_key
        if sni is not None:
            self._values["sni"] = sni
        if subject_alt_names is not None:
            self._values["subject_alt_names"] = subject_alt_names

    @builtins.property
    def ca_certificates(self) -> typing.Optional[builtins.str]:
        '''OPTIONAL: The path to the file containing certificate authority certificates to use in verifying a presented server certificate.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsTls#caCertificates
        '''
        result = self._values.get("ca_certificates")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def ca_crl(self) -> typing.Optional[builtins.str]:
        '''OPTIONAL: The path to the file containing the certificate revocation list (CRL) to use in verifying a presented server certificate.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsTls#caCrl
        '''
        result = self._values.get("ca_crl")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def client_certificate(self) -> typing.Optional[builtins.str]:
        '''REQUIRED if mode is ``MUTUAL``.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsTls#clientCertificate
        '''
        result = self._values.get("client_certificate")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def credential_name(self) -> typing.Optional[builtins.str]:
        '''The name of the secret that holds the TLS certs for the client including the CA certificates.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsTls#credentialName
        '''
        result = self._values.get("credential_name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def insecure_skip_verify(self) -> typing.Optional[builtins.bool]:
        '''``insecureSkipVerify`` specifies whether the proxy should skip verifying the CA signature and SAN for the server certificate corresponding to the host.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsTls#insecureSkipVerify
        '''
        result = self._values.get("insecure_skip_verify")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def mode(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsTlsMode"]:
        '''Indicates whether connections to this port should be secured using TLS.

        Valid Options: DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsTls#mode
        '''
        result = self._values.get("mode")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyPortLevelSettingsTlsMode"], result)

    @builtins.property
    def private_key(self) -> typing.Optional[builtins.str]:
        '''REQUIRED if mode is ``MUTUAL``.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsTls#privateKey
        '''
        result = self._values.get("private_key")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def sni(self) -> typing.Optional[builtins.str]:
        '''SNI string to present to the server during TLS handshake.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsTls#sni
        '''
        result = self._values.get("sni")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def subject_alt_names(self) -> typing.Optional[typing.List[builtins.str]]:
        '''A list of alternate names to verify the subject identity in the certificate.

        :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsTls#subjectAltNames
        '''
        result = self._values.get("subject_alt_names")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyPortLevelSettingsTls(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyPortLevelSettingsTlsMode"
)
class DestinationRuleSpecTrafficPolicyPortLevelSettingsTlsMode(enum.Enum):
    '''Indicates whether connections to this port should be secured using TLS.

    Valid Options: DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL

    :schema: DestinationRuleSpecTrafficPolicyPortLevelSettingsTlsMode
    '''

    DISABLE = "DISABLE"
    '''DISABLE.'''
    SIMPLE = "SIMPLE"
    '''SIMPLE.'''
    MUTUAL = "MUTUAL"
    '''MUTUAL.'''
    ISTIO_UNDERSCORE_MUTUAL = "ISTIO_UNDERSCORE_MUTUAL"
    '''ISTIO_MUTUAL.'''


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyProxyProtocol",
    jsii_struct_bases=[],
    name_mapping={"version": "version"},
)
class DestinationRuleSpecTrafficPolicyProxyProtocol:
    def __init__(
        self,
        *,
        version: typing.Optional["DestinationRuleSpecTrafficPolicyProxyProtocolVersion"] = None,
    ) -> None:
        '''The upstream PROXY protocol settings.

        :param version: The PROXY protocol version to use. Valid Options: V1, V2

        :schema: DestinationRuleSpecTrafficPolicyProxyProtocol
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__7a60487876c0b619a8007e85a9e826a91174cdeb1927388ec1734c6c946ae7d8)
            check_type(argname="argument version", value=version, expected_type=type_hints["version"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if version is not None:
            self._values["version"] = version

    @builtins.property
    def version(
        self,
    ) -> typing.Optional["DestinationRuleSpecTrafficPolicyProxyProtocolVersion"]:
        '''The PROXY protocol version to use.

        Valid Options: V1, V2

        :schema: DestinationRuleSpecTrafficPolicyProxyProtocol#version
        '''
        result = self._values.get("version")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyProxyProtocolVersion"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyProxyProtocol(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyProxyProtocolVersion"
)
class DestinationRuleSpecTrafficPolicyProxyProtocolVersion(enum.Enum):
    '''The PROXY protocol version to use.

    Valid Options: V1, V2

    :schema: DestinationRuleSpecTrafficPolicyProxyProtocolVersion
    '''

    V1 = "V1"
    '''V1.'''
    V2 = "V2"
    '''V2.'''


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyRetryBudget",
    jsii_struct_bases=[],
    name_mapping={
        "min_retry_concurrency": "minRetryConcurrency",
        "percent": "percent",
    },
)
class DestinationRuleSpecTrafficPolicyRetryBudget:
    def __init__(
        self,
        *,
        min_retry_concurrency: typing.Optional[jsii.Number] = None,
        percent: typing.Optional[jsii.Number] = None,
    ) -> None:
        '''Specifies a limit on concurrent retries in relation to the number of active requests.

        :param min_retry_concurrency: Specifies the minimum retry concurrency allowed for the retry budget.
        :param percent: Specifies the limit on concurrent retries as a percentage of the sum of active requests and active pending requests.

        :schema: DestinationRuleSpecTrafficPolicyRetryBudget
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__5b7a30e4c7a805f608db982d857cc3572dedbacebf21df074c5112ae852a2e2f)
            check_type(argname="argument min_retry_concurrency", value=min_retry_concurrency, expected_type=type_hints["min_retry_concurrency"])
            check_type(argname="argument percent", value=percent, expected_type=type_hints["percent"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if min_retry_concurrency is not None:
            self._values["min_retry_concurrency"] = min_retry_concurrency
        if percent is not None:
            self._values["percent"] = percent

    @builtins.property
    def min_retry_concurrency(self) -> typing.Optional[jsii.Number]:
        '''Specifies the minimum retry concurrency allowed for the retry budget.

        :schema: DestinationRuleSpecTrafficPolicyRetryBudget#minRetryConcurrency
        '''
        result = self._values.get("min_retry_concurrency")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def percent(self) -> typing.Optional[jsii.Number]:
        '''Specifies the limit on concurrent retries as a percentage of the sum of active requests and active pending requests.

        :schema: DestinationRuleSpecTrafficPolicyRetryBudget#percent
        '''
        result = self._values.get("percent")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyRetryBudget(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyTls",
    jsii_struct_bases=[],
    name_mapping={
        "ca_certificates": "caCertificates",
        "ca_crl": "caCrl",
        "client_certificate": "clientCertificate",
        "credential_name": "credentialName",
        "insecure_skip_verify": "insecureSkipVerify",
        "mode": "mode",
        "private_key": "privateKey",
        "sni": "sni",
        "subject_alt_names": "subjectAltNames",
    },
)
class DestinationRuleSpecTrafficPolicyTls:
    def __init__(
        self,
        *,
        ca_certificates: typing.Optional[builtins.str] = None,
        ca_crl: typing.Optional[builtins.str] = None,
        client_certificate: typing.Optional[builtins.str] = None,
        credential_name: typing.Optional[builtins.str] = None,
        insecure_skip_verify: typing.Optional[builtins.bool] = None,
        mode: typing.Optional["DestinationRuleSpecTrafficPolicyTlsMode"] = None,
        private_key: typing.Optional[builtins.str] = None,
        sni: typing.Optional[builtins.str] = None,
        subject_alt_names: typing.Optional[typing.Sequence[builtins.str]] = None,
    ) -> None:
        '''TLS related settings for connections to the upstream service.

        :param ca_certificates: OPTIONAL: The path to the file containing certificate authority certificates to use in verifying a presented server certificate.
        :param ca_crl: OPTIONAL: The path to the file containing the certificate revocation list (CRL) to use in verifying a presented server certificate.
        :param client_certificate: REQUIRED if mode is ``MUTUAL``.
        :param credential_name: The name of the secret that holds the TLS certs for the client including the CA certificates.
        :param insecure_skip_verify: ``insecureSkipVerify`` specifies whether the proxy should skip verifying the CA signature and SAN for the server certificate corresponding to the host.
        :param mode: Indicates whether connections to this port should be secured using TLS. Valid Options: DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL
        :param private_key: REQUIRED if mode is ``MUTUAL``.
        :param sni: SNI string to present to the server during TLS handshake.
        :param subject_alt_names: A list of alternate names to verify the subject identity in the certificate.

        :schema: DestinationRuleSpecTrafficPolicyTls
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__b8de71f7274c52c2677172d71fcbd3515121869a302d8c67dfd2bca6af2c2a2b)
            check_type(argname="argument ca_certificates", value=ca_certificates, expected_type=type_hints["ca_certificates"])
            check_type(argname="argument ca_crl", value=ca_crl, expected_type=type_hints["ca_crl"])
            check_type(argname="argument client_certificate", value=client_certificate, expected_type=type_hints["client_certificate"])
            check_type(argname="argument credential_name", value=credential_name, expected_type=type_hints["credential_name"])
            check_type(argname="argument insecure_skip_verify", value=insecure_skip_verify, expected_type=type_hints["insecure_skip_verify"])
            check_type(argname="argument mode", value=mode, expected_type=type_hints["mode"])
            check_type(argname="argument private_key", value=private_key, expected_type=type_hints["private_key"])
            check_type(argname="argument sni", value=sni, expected_type=type_hints["sni"])
            check_type(argname="argument subject_alt_names", value=subject_alt_names, expected_type=type_hints["subject_alt_names"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if ca_certificates is not None:
            self._values["ca_certificates"] = ca_certificates
        if ca_crl is not None:
            self._values["ca_crl"] = ca_crl
        if client_certificate is not None:
            self._values["client_certificate"] = client_certificate
        if credential_name is not None:
            self._values["credential_name"] = credential_name
        if insecure_skip_verify is not None:
            self._values["insecure_skip_verify"] = insecure_skip_verify
        if mode is not None:
            self._values["mode"] = mode
        if private_key is not None:
            self._values["private_key"] = private_key
        if sni is not None:
            self._values["sni"] = sni
        if subject_alt_names is not None:
            self._values["subject_alt_names"] = subject_alt_names

    @builtins.property
    def ca_certificates(self) -> typing.Optional[builtins.str]:
        '''OPTIONAL: The path to the file containing certificate authority certificates to use in verifying a presented server certificate.

        :schema: DestinationRuleSpecTrafficPolicyTls#caCertificates
        '''
        result = self._values.get("ca_certificates")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def ca_crl(self) -> typing.Optional[builtins.str]:
        '''OPTIONAL: The path to the file containing the certificate revocation list (CRL) to use in verifying a presented server certificate.

        :schema: DestinationRuleSpecTrafficPolicyTls#caCrl
        '''
        result = self._values.get("ca_crl")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def client_certificate(self) -> typing.Optional[builtins.str]:
        '''REQUIRED if mode is ``MUTUAL``.

        :schema: DestinationRuleSpecTrafficPolicyTls#clientCertificate
        '''
        result = self._values.get("client_certificate")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def credential_name(self) -> typing.Optional[builtins.str]:
        '''The name of the secret that holds the TLS certs for the client including the CA certificates.

        :schema: DestinationRuleSpecTrafficPolicyTls#credentialName
        '''
        result = self._values.get("credential_name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def insecure_skip_verify(self) -> typing.Optional[builtins.bool]:
        '''``insecureSkipVerify`` specifies whether the proxy should skip verifying the CA signature and SAN for the server certificate corresponding to the host.

        :schema: DestinationRuleSpecTrafficPolicyTls#insecureSkipVerify
        '''
        result = self._values.get("insecure_skip_verify")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def mode(self) -> typing.Optional["DestinationRuleSpecTrafficPolicyTlsMode"]:
        '''Indicates whether connections to this port should be secured using TLS.

        Valid Options: DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL

        :schema: DestinationRuleSpecTrafficPolicyTls#mode
        '''
        result = self._values.get("mode")
        return typing.cast(typing.Optional["DestinationRuleSpecTrafficPolicyTlsMode"], result)

    @builtins.property
    def private_key(self) -> typing.Optional[builtins.str]:
        '''REQUIRED if mode is ``MUTUAL``.

        :schema: DestinationRuleSpecTrafficPolicyTls#privateKey
        '''
        result = self._values.get("private_key")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def sni(self) -> typing.Optional[builtins.str]:
        '''SNI string to present to the server during TLS handshake.

        :schema: DestinationRuleSpecTrafficPolicyTls#sni
        '''
        result = self._values.get("sni")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def subject_alt_names(self) -> typing.Optional[typing.List[builtins.str]]:
        '''A list of alternate names to verify the subject identity in the certificate.

        :schema: DestinationRuleSpecTrafficPolicyTls#subjectAltNames
        '''
        result = self._values.get("subject_alt_names")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyTls(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyTlsMode")
class DestinationRuleSpecTrafficPolicyTlsMode(enum.Enum):
    '''Indicates whether connections to this port should be secured using TLS.

    Valid Options: DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL

    :schema: DestinationRuleSpecTrafficPolicyTlsMode
    '''

    DISABLE = "DISABLE"
    '''DISABLE.'''
    SIMPLE = "SIMPLE"
    '''SIMPLE.'''
    MUTUAL = "MUTUAL"
    '''MUTUAL.'''
    ISTIO_UNDERSCORE_MUTUAL = "ISTIO_UNDERSCORE_MUTUAL"
    '''ISTIO_MUTUAL.'''


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecTrafficPolicyTunnel",
    jsii_struct_bases=[],
    name_mapping={
        "target_host": "targetHost",
        "target_port": "targetPort",
        "protocol": "protocol",
    },
)
class DestinationRuleSpecTrafficPolicyTunnel:
    def __init__(
        self,
        *,
        target_host: builtins.str,
        target_port: jsii.Number,
        protocol: typing.Optional[builtins.str] = None,
    ) -> None:
        '''Configuration of tunneling TCP over other transport or application layers for the host configured in the DestinationRule.

        :param target_host: Specifies a host to which the downstream connection is tunneled.
        :param target_port: Specifies a port to which the downstream connection is tunneled.
        :param protocol: Specifies which protocol to use for tunneling the downstream connection.

        :schema: DestinationRuleSpecTrafficPolicyTunnel
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__954ccb6f0116d97b544bcc6d1a544e32e9a89c294f94b7b7c0da0b141e95940d)
            check_type(argname="argument target_host", value=target_host, expected_type=type_hints["target_host"])
            check_type(argname="argument target_port", value=target_port, expected_type=type_hints["target_port"])
            check_type(argname="argument protocol", value=protocol, expected_type=type_hints["protocol"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "target_host": target_host,
            "target_port": target_port,
        }
        if protocol is not None:
            self._values["protocol"] = protocol

    @builtins.property
    def target_host(self) -> builtins.str:
        '''Specifies a host to which the downstream connection is tunneled.

        :schema: DestinationRuleSpecTrafficPolicyTunnel#targetHost
        '''
        result = self._values.get("target_host")
        assert result is not None, "Required property 'target_host' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def target_port(self) -> jsii.Number:
        '''Specifies a port to which the downstream connection is tunneled.

        :schema: DestinationRuleSpecTrafficPolicyTunnel#targetPort
        '''
        result = self._values.get("target_port")
        assert result is not None, "Required property 'target_port' is missing"
        return typing.cast(jsii.Number, result)

    @builtins.property
    def protocol(self) -> typing.Optional[builtins.str]:
        '''Specifies which protocol to use for tunneling the downstream connection.

        :schema: DestinationRuleSpecTrafficPolicyTunnel#protocol
        '''
        result = self._values.get("protocol")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecTrafficPolicyTunnel(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.DestinationRuleSpecWorkloadSelector",
    jsii_struct_bases=[],
    name_mapping={"match_labels": "matchLabels"},
)
class DestinationRuleSpecWorkloadSelector:
    def __init__(
        self,
        *,
        match_labels: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
    ) -> None:
        '''Criteria used to select the specific set of pods/VMs on which this ``DestinationRule`` configuration should be applied.

        :param match_labels: One or more labels that indicate a specific set of pods/VMs on which a policy should be applied.

        :schema: DestinationRuleSpecWorkloadSelector
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__cd5ef30effa0ee11a7dbfacafea30424d986b0ee9bb1d47857414b297541452c)
            check_type(argname="argument match_labels", value=match_labels, expected_type=type_hints["match_labels"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if match_labels is not None:
            self._values["match_labels"] = match_labels

    @builtins.property
    def match_labels(
        self,
    ) -> typing.Optional[typing.Mapping[builtins.str, builtins.str]]:
        '''One or more labels that indicate a specific set of pods/VMs on which a policy should be applied.

        :schema: DestinationRuleSpecWorkloadSelector#matchLabels
        '''
        result = self._values.get("match_labels")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, builtins.str]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "DestinationRuleSpecWorkloadSelector(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


class Gateway(
    _cdk8s_d3d9af27.ApiObject,
    metaclass=jsii.JSIIMeta,
    jsii_type="ioistionetworking.Gateway",
):
    '''
    :schema: Gateway
    '''

    def __init__(
        self,
        scope: "_constructs_77d1e7e8.Construct",
        id: builtins.str,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["GatewaySpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Defines a "Gateway" API object.

        :param scope: the scope in which to define this object.
        :param id: a scope-local name for the object.
        :param metadata: 
        :param spec: Configuration affecting edge load balancer. See more details at: https://istio.io/docs/reference/config/networking/gateway.html
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__a7ff7d0362891ae958bdef6d01b4d3f40035dbcb810b939b4ba7805189e52c63)
            check_type(argname="argument scope", value=scope, expected_type=type_hints["scope"])
            check_type(argname="argument id", value=id, expected_type=type_hints["id"])
        props = GatewayProps(metadata=metadata, spec=spec)

        jsii.create(self.__class__, self, [scope, id, props])

    @jsii.member(jsii_name="manifest")
    @builtins.classmethod
    def manifest(
        cls,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["GatewaySpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> typing.Any:
        '''Renders a Kubernetes manifest for "Gateway".

        This can be used to inline resource manifests inside other objects (e.g. as templates).

        :param metadata: 
        :param spec: Configuration affecting edge load balancer. See more details at: https://istio.io/docs/reference/config/networking/gateway.html
        '''
        props = GatewayProps(metadata=metadata, spec=spec)

        return typing.cast(typing.Any, jsii.sinvoke(cls, "manifest", [props]))

    @jsii.member(jsii_name="toJson")
    def to_json(self) -> typing.Any:
        '''Renders the object to Kubernetes JSON.'''
        return typing.cast(typing.Any, jsii.invoke(self, "toJson", []))

    @jsii.python.classproperty
    @jsii.member(jsii_name="GVK")
    def GVK(cls) -> "_cdk8s_d3d9af27.GroupVersionKind":
        '''Returns the apiVersion and kind for "Gateway".'''
        return typing.cast("_cdk8s_d3d9af27.GroupVersionKind", jsii.sget(cls, "GVK"))


@jsii.data_type(
    jsii_type="ioistionetworking.GatewayProps",
    jsii_struct_bases=[],
    name_mapping={"metadata": "metadata", "spec": "spec"},
)
class GatewayProps:
    def __init__(
        self,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["GatewaySpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''
        :param metadata: 
        :param spec: Configuration affecting edge load balancer. See more details at: https://istio.io/docs/reference/config/networking/gateway.html

        :schema: Gateway
        '''
        if isinstance(metadata, dict):
            metadata = _cdk8s_d3d9af27.ApiObjectMetadata(**metadata)
        if isinstance(spec, dict):
            spec = GatewaySpec(**spec)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__86b192209225d0de4e2f2a95cf087c81ff498155caa98c3f03d8b18ff91b6a24)
            check_type(argname="argument metadata", value=metadata, expected_type=type_hints["metadata"])
            check_type(argname="argument spec", value=spec, expected_type=type_hints["spec"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if metadata is not None:
            self._values["metadata"] = metadata
        if spec is not None:
            self._values["spec"] = spec

    @builtins.property
    def metadata(self) -> typing.Optional["_cdk8s_d3d9af27.ApiObjectMetadata"]:
        '''
        :schema: Gateway#metadata
        '''
        result = self._values.get("metadata")
        return typing.cast(typing.Optional["_cdk8s_d3d9af27.ApiObjectMetadata"], result)

    @builtins.property
    def spec(self) -> typing.Optional["GatewaySpec"]:
        '''Configuration affecting edge load balancer.

        See more details at: https://istio.io/docs/reference/config/networking/gateway.html

        :schema: Gateway#spec
        '''
        result = self._values.get("spec")
        return typing.cast(typing.Optional["GatewaySpec"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "GatewayProps(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.GatewaySpec",
    jsii_struct_bases=[],
    name_mapping={"selector": "selector", "servers": "servers"},
)
class GatewaySpec:
    def __init__(
        self,
        *,
        selector: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
        servers: typing.Optional[typing.Sequence[typing.Union["GatewaySpecServers", typing.Dict[builtins.str, typing.Any]]]] = None,
    ) -> None:
        '''Configuration affecting edge load balancer.

        See more details at: https://istio.io/docs/reference/config/networking/gateway.html

        :param selector: One or more labels that indicate a specific set of pods/VMs on which this gateway configuration should be applied.
        :param servers: A list of server specifications.

        :schema: GatewaySpec
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__281f3e7196a0e30e49ff0b9f172ab7370157f0030710f517a138b06c0066e45c)
            check_type(argname="argument selector", value=selector, expected_type=type_hints["selector"])
            check_type(argname="argument servers", value=servers, expected_type=type_hints["servers"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if selector is not None:
            self._values["selector"] = selector
        if servers is not None:
            self._values["servers"] = servers

    @builtins.property
    def selector(self) -> typing.Optional[typing.Mapping[builtins.str, builtins.str]]:
        '''One or more labels that indicate a specific set of pods/VMs on which this gateway configuration should be applied.

        :schema: GatewaySpec#selector
        '''
        result = self._values.get("selector")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, builtins.str]], result)

    @builtins.property
    def servers(self) -> typing.Optional[typing.List["GatewaySpecServers"]]:
        '''A list of server specifications.

        :schema: GatewaySpec#servers
        '''
        result = self._values.get("servers")
        return typing.cast(typing.Optional[typing.List["GatewaySpecServers"]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "GatewaySpec(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.GatewaySpecServers",
    jsii_struct_bases=[],
    name_mapping={
        "hosts": "hosts",
        "port": "port",
        "bind": "bind",
        "default_endpoint": "defaultEndpoint",
        "name": "name",
        "tls": "tls",
    },
)
class GatewaySpecServers:
    def __init__(
        self,
        *,
        hosts: typing.Sequence[builtins.str],
        port: typing.Union["GatewaySpecServersPort", typing.Dict[builtins.str, typing.Any]],
        bind: typing.Optional[builtins.str] = None,
        default_endpoint: typing.Optional[builtins.str] = None,
        name: typing.Optional[builtins.str] = None,
        tls: typing.Optional[typing.Union["GatewaySpecServersTls", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''
        :param hosts: One or more hosts exposed by this gateway.
        :param port: The Port on which the proxy should listen for incoming connections.
        :param bind: The ip or the Unix domain socket to which the listener should be bound to.
        :param default_endpoint: 
        :param name: An optional name of the server, when set must be unique across all servers.
        :param tls: Set of TLS related options that govern the server's behavior.

        :schema: GatewaySpecServers
        '''
        if isinstance(port, dict):
            port = GatewaySpecServersPort(**port)
        if isinstance(tls, dict):
            tls = GatewaySpecServersTls(**tls)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__6d18e07637168465bd3154ec56da06b068427cc1faaabd7adc0167857788fc83)
            check_type(argname="argument hosts", value=hosts, expected_type=type_hints["hosts"])
            check_type(argname="argument port", value=port, expected_type=type_hints["port"])
            check_type(argname="argument bind", value=bind, expected_type=type_hints["bind"])
            check_type(argname="argument default_endpoint", value=default_endpoint, expected_type=type_hints["default_endpoint"])
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument tls", value=tls, expected_type=type_hints["tls"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "hosts": hosts,
            "port": port,
        }
        if bind is not None:
            self._values["bind"] = bind
        if default_endpoint is not None:
            self._values["default_endpoint"] = default_endpoint
        if name is not None:
            self._values["name"] = name
        if tls is not None:
            self._values["tls"] = tls

    @builtins.property
    def hosts(self) -> typing.List[builtins.str]:
        '''One or more hosts exposed by this gateway.

        :schema: GatewaySpecServers#hosts
        '''
        result = self._values.get("hosts")
        assert result is not None, "Required property 'hosts' is missing"
        return typing.cast(typing.List[builtins.str], result)

    @builtins.property
    def port(self) -> "GatewaySpecServersPort":
        '''The Port on which the proxy should listen for incoming connections.

        :schema: GatewaySpecServers#port
        '''
        result = self._values.get("port")
        assert result is not None, "Required property 'port' is missing"
        return typing.cast("GatewaySpecServersPort", result)

    @builtins.property
    def bind(self) -> typing.Optional[builtins.str]:
        '''The ip or the Unix domain socket to which the listener should be bound to.

        :schema: GatewaySpecServers#bind
        '''
        result = self._values.get("bind")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def default_endpoint(self) -> typing.Optional[builtins.str]:
        '''
        :schema: GatewaySpecServers#defaultEndpoint
        '''
        result = self._values.get("default_endpoint")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def name(self) -> typing.Optional[builtins.str]:
        '''An optional name of the server, when set must be unique across all servers.

        :schema: GatewaySpecServers#name
        '''
        result = self._values.get("name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def tls(self) -> typing.Optional["GatewaySpecServersTls"]:
        '''Set of TLS related options that govern the server's behavior.

        :schema: GatewaySpecServers#tls
        '''
        result = self._values.get("tls")
        return typing.cast(typing.Optional["GatewaySpecServersTls"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "GatewaySpecServers(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.GatewaySpecServersPort",
    jsii_struct_bases=[],
    name_mapping={
        "name": "name",
        "number": "number",
        "protocol": "protocol",
        "target_port": "targetPort",
    },
)
class GatewaySpecServersPort:
    def __init__(
        self,
        *,
        name: builtins.str,
        number: jsii.Number,
        protocol: builtins.str,
        target_port: typing.Optional[jsii.Number] = None,
    ) -> None:
        '''The Port on which the proxy should listen for incoming connections.

        :param name: Label assigned to the port.
        :param number: A valid non-negative integer port number.
        :param protocol: The protocol exposed on the port.
        :param target_port: 

        :schema: GatewaySpecServersPort
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__6b85a28d8e51e90ee1966bfeab0e963b1033abb84667b16a3c3d3d932a898f5a)
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument number", value=number, expected_type=type_hints["number"])
            check_type(argname="argument protocol", value=protocol, expected_type=type_hints["protocol"])
            check_type(argname="argument target_port", value=target_port, expected_type=type_hints["target_port"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "name": name,
            "number": number,
            "protocol": protocol,
        }
        if target_port is not None:
            self._values["target_port"] = target_port

    @builtins.property
    def name(self) -> builtins.str:
        '''Label assigned to the port.

        :schema: GatewaySpecServersPort#name
        '''
        result = self._values.get("name")
        assert result is not None, "Required property 'name' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def number(self) -> jsii.Number:
        '''A valid non-negative integer port number.

        :schema: GatewaySpecServersPort#number
        '''
        result = self._values.get("number")
        assert result is not None, "Required property 'number' is missing"
        return typing.cast(jsii.Number, result)

    @builtins.property
    def protocol(self) -> builtins.str:
        '''The protocol exposed on the port.

        :schema: GatewaySpecServersPort#protocol
        '''
        result = self._values.get("protocol")
        assert result is not None, "Required property 'protocol' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def target_port(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: GatewaySpecServersPort#targetPort
        '''
        result = self._values.get("target_port")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "GatewaySpecServersPort(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.GatewaySpecServersTls",
    jsii_struct_bases=[],
    name_mapping={
        "ca_cert_credential_name": "caCertCredentialName",
        "ca_certificates": "caCertificates",
        "ca_crl": "caCrl",
        "cipher_suites": "cipherSuites",
        "credential_name": "credentialName",
        "credential_names": "credentialNames",
        "https_redirect": "httpsRedirect",
        "max_protocol_version": "maxProtocolVersion",
        "min_protocol_version": "minProtocolVersion",
        "mode": "mode",
        "private_key": "privateKey",
        "server_certificate": "serverCertificate",
        "subject_alt_names": "subjectAltNames",
        "tls_certificates": "tlsCertificates",
        "verify_certificate_hash": "verifyCertificateHash",
        "verify_certificate_spki": "verifyCertificateSpki",
    },
)
class GatewaySpecServersTls:
    def __init__(
        self,
        *,
        ca_cert_credential_name: typing.Optional[builtins.str] = None,
        ca_certificates: typing.Optional[builtins.str] = None,
        ca_crl: typing.Optional[builtins.str] = None,
        cipher_suites: typing.Optional[typing.Sequence[builtins.str]] = None,
        credential_name: typing.Optional[builtins.str] = None,
        credential_names: typing.Optional[typing.Sequence[builtins.str]] = None,
        https_redirect: typing.Optional[builtins.bool] = None,
        max_protocol_version: typing.Optional["GatewaySpecServersTlsMaxProtocolVersion"] = None,
        min_protocol_version: typing.Optional["GatewaySpecServersTlsMinProtocolVersion"] = None,
        mode: typing.Optional["GatewaySpecServersTlsMode"] = None,
        private_key: typing.Optional[builtins.str] = None,
        server_certificate: typing.Optional[builtins.str] = None,
        subject_alt_names: typing.Optional[typing.Sequence[builtins.str]] = None,
        tls_certificates: typing.Optional[typing.Sequence[typing.Union["GatewaySpecServersTlsTlsCertificates", typing.Dict[builtins.str, typing.Any]]]] = None,
        verify_certificate_hash: typing.Optional[typing.Sequence[builtins.str]] = None,
        verify_certificate_spki: typing.Optional[typing.Sequence[builtins.str]] = None,
    ) -> None:
        '''Set of TLS related options that govern the server's behavior.

        :param ca_cert_credential_name: For mutual TLS, the name of the secret or the configmap that holds CA certificates.
        :param ca_certificates: REQUIRED if mode is ``MUTUAL`` or ``OPTIONAL_MUTUAL``.
        :param ca_crl: OPTIONAL: The path to the file containing the certificate revocation list (CRL) to use in verifying a presented client side certificate.
        :param cipher_suites: Optional: If specified, only support the specified cipher list.
        :param credential_name: For gateways running on Kubernetes, the name of the secret that holds the TLS certs including the CA certificates.
        :param credential_names: Same as CredentialName but for multiple certificates.
        :param https_redirect: If set to true, the load balancer will send a 301 redirect for all http connections, asking the clients to use HTTPS.
        :param max_protocol_version: Optional: Maximum TLS protocol version. Valid Options: TLS_AUTO, TLSV1_0, TLSV1_1, TLSV1_2, TLSV1_3
        :param min_protocol_version: Optional: Minimum TLS protocol version. Valid Options: TLS_AUTO, TLSV1_0, TLSV1_1, TLSV1_2, TLSV1_3
        :param mode: Optional: Indicates whether connections to this port should be secured using TLS. Valid Options: PASSTHROUGH, SIMPLE, MUTUAL, AUTO_PASSTHROUGH, ISTIO_MUTUAL, OPTIONAL_MUTUAL
        :param private_key: REQUIRED if mode is ``SIMPLE`` or ``MUTUAL``.
        :param server_certificate: REQUIRED if mode is ``SIMPLE`` or ``MUTUAL``.
        :param subject_alt_names: A list of alternate names to verify the subject identity in the certificate presented by the client.
        :param tls_certificates: Only one of ``server_certificate``, ``private_key`` or ``credential_name`` or ``credential_names`` or ``tls_certificates`` should be specified.
        :param verify_certificate_hash: An optional list of hex-encoded SHA-256 hashes of the authorized client certificates.
        :param verify_certificate_spki: An optional list of base64-encoded SHA-256 hashes of the SPKIs of authorized client certificates.

        :schema: GatewaySpecServersTls
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__a298a90c1d4a41dd0124f2327ae7792b63bf216dda9ab9259048c844d30f3126)
            check_type(argname="argument ca_cert_credential_name", value=ca_cert_credential_name, expected_type=type_hints["ca_cert_credential_name"])
            check_type(argname="argument ca_certificates", value=ca_certificates, expected_type=type_hints["ca_certificates"])
            check_type(argname="argument ca_crl", value=ca_crl, expected_type=type_hints["ca_crl"])
            check_type(argname="argument cipher_suites", value=cipher_suites, expected_type=type_hints["cipher_suites"])
            check_type(argname="argument credential_name", value=credential_name, expected_type=type_hints["credential_name"])
            check_type(argname="argument credential_names", value=credential_names, expected_type=type_hints["credential_names"])
            check_type(argname="argument https_redirect", value=https_redirect, expected_type=type_hints["https_redirect"])
            check_type(argname="argument max_protocol_version", value=max_protocol_version, expected_type=type_hints["max_protocol_version"])
            check_type(argname="argument min_protocol_version", value=min_protocol_version, expected_type=type_hints["min_protocol_version"])
            check_type(argname="argument mode", value=mode, expected_type=type_hints["mode"])
            check_type(argname="argument private_key", value=private_key, expected_type=type_hints["private_key"])
            check_type(argname="argument server_certificate", value=server_certificate, expected_type=type_hints["server_certificate"])
            check_type(argname="argument subject_alt_names", value=subject_alt_names, expected_type=type_hints["subject_alt_names"])
            check_type(argname="argument tls_certificates", value=tls_certificates, expected_type=type_hints["tls_certificates"])
            check_type(argname="argument verify_certificate_hash", value=verify_certificate_hash, expected_type=type_hints["verify_certificate_hash"])
            check_type(argname="argument verify_certificate_spki", value=verify_certificate_spki, expected_type=type_hints["verify_certificate_spki"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if ca_cert_credential_name is not None:
            self._values["ca_cert_credential_name"] = ca_cert_credential_name
        if ca_certificates is not None:
            self._values["ca_certificates"] = ca_certificates
        if ca_crl is not None:
            self._values["ca_crl"] = ca_crl
        if cipher_suites is not None:
            self._values["cipher_suites"] = cipher_suites
        if credential_name is not None:
            self._values["credential_name"] = credential_name
        if credential_names is not None:
            self._values["credential_names"] = credential_names
        if https_redirect is not None:
            self._values["https_redirect"] = https_redirect
        if max_protocol_version is not None:
            self._values["max_protocol_version"] = max_protocol_version
        if min_protocol_version is not None:
            self._values["min_protocol_version"] = min_protocol_version
        if mode is not None:
            self._values["mode"] = mode
        if private_key is not None:
            self._values["private_key"] = private_key
        if server_certificate is not None:
            self._values["server_certificate"] = server_certificate
        if subject_alt_names is not None:
            self._values["subject_alt_names"] = subject_alt_names
        if tls_certificates is not None:
            self._values["tls_certificates"] = tls_certificates
        if verify_certificate_hash is not None:
            self._values["verify_certificate_hash"] = verify_certificate_hash
        if verify_certificate_spki is not None:
            self._values["verify_certificate_spki"] = verify_certificate_spki

    @builtins.property
    def ca_cert_credential_name(self) -> typing.Optional[builtins.str]:
        '''For mutual TLS, the name of the secret or the configmap that holds CA certificates.

        :schema: GatewaySpecServersTls#caCertCredentialName
        '''
        result = self._values.get("ca_cert_credential_name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def ca_certificates(self) -> typing.Optional[builtins.str]:
        '''REQUIRED if mode is ``MUTUAL`` or ``OPTIONAL_MUTUAL``.

        :schema: GatewaySpecServersTls#caCertificates
        '''
        result = self._values.get("ca_certificates")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def ca_crl(self) -> typing.Optional[builtins.str]:
        '''OPTIONAL: The path to the file containing the certificate revocation list (CRL) to use in verifying a presented client side certificate.

        :schema: GatewaySpecServersTls#caCrl
        '''
        result = self._values.get("ca_crl")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def cipher_suites(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional: If specified, only support the specified cipher list.

        :schema: GatewaySpecServersTls#cipherSuites
        '''
        result = self._values.get("cipher_suites")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def credential_name(self) -> typing.Optional[builtins.str]:
        '''For gateways running on Kubernetes, the name of the secret that holds the TLS certs including the CA certificates.

        :schema: GatewaySpecServersTls#credentialName
        '''
        result = self._values.get("credential_name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def credential_names(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Same as CredentialName but for multiple certificates.

        :schema: GatewaySpecServersTls#credentialNames
        '''
        result = self._values.get("credential_names")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def https_redirect(self) -> typing.Optional[builtins.bool]:
        '''If set to true, the load balancer will send a 301 redirect for all http connections, asking the clients to use HTTPS.

        :schema: GatewaySpecServersTls#httpsRedirect
        '''
        result = self._values.get("https_redirect")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def max_protocol_version(
        self,
    ) -> typing.Optional["GatewaySpecServersTlsMaxProtocolVersion"]:
        '''Optional: Maximum TLS protocol version.

        Valid Options: TLS_AUTO, TLSV1_0, TLSV1_1, TLSV1_2, TLSV1_3

        :schema: GatewaySpecServersTls#maxProtocolVersion
        '''
        result = self._values.get("max_protocol_version")
        return typing.cast(typing.Optional["GatewaySpecServersTlsMaxProtocolVersion"], result)

    @builtins.property
    def min_protocol_version(
        self,
    ) -> typing.Optional["GatewaySpecServersTlsMinProtocolVersion"]:
        '''Optional: Minimum TLS protocol version.

        Valid Options: TLS_AUTO, TLSV1_0, TLSV1_1, TLSV1_2, TLSV1_3

        :schema: GatewaySpecServersTls#minProtocolVersion
        '''
        result = self._values.get("min_protocol_version")
        return typing.cast(typing.Optional["GatewaySpecServersTlsMinProtocolVersion"], result)

    @builtins.property
    def mode(self) -> typing.Optional["GatewaySpecServersTlsMode"]:
        '''Optional: Indicates whether connections to this port should be secured using TLS.

        Valid Options: PASSTHROUGH, SIMPLE, MUTUAL, AUTO_PASSTHROUGH, ISTIO_MUTUAL, OPTIONAL_MUTUAL

        :schema: GatewaySpecServersTls#mode
        '''
        result = self._values.get("mode")
        return typing.cast(typing.Optional["GatewaySpecServersTlsMode"], result)

    @builtins.property
    def private_key(self) -> typing.Optional[builtins.str]:
        '''REQUIRED if mode is ``SIMPLE`` or ``MUTUAL``.

        :schema: GatewaySpecServersTls#privateKey
        '''
        result = self._values.get("private_key")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def server_certificate(self) -> typing.Optional[builtins.str]:
        '''REQUIRED if mode is ``SIMPLE`` or ``MUTUAL``.

        :schema: GatewaySpecServersTls#serverCertificate
        '''
        result = self._values.get("server_certificate")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def subject_alt_names(self) -> typing.Optional[typing.List[builtins.str]]:
        '''A list of alternate names to verify the subject identity in the certificate presented by the client.

        :schema: GatewaySpecServersTls#subjectAltNames
        '''
        result = self._values.get("subject_alt_names")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def tls_certificates(
        self,
    ) -> typing.Optional[typing.List["GatewaySpecServersTlsTlsCertificates"]]:
        '''Only one of ``server_certificate``, ``private_key`` or ``credential_name`` or ``credential_names`` or ``tls_certificates`` should be specified.

        :schema: GatewaySpecServersTls#tlsCertificates
        '''
        result = self._values.get("tls_certificates")
        return typing.cast(typing.Optional[typing.List["GatewaySpecServersTlsTlsCertificates"]], result)

    @builtins.property
    def verify_certificate_hash(self) -> typing.Optional[typing.List[builtins.str]]:
        '''An optional list of hex-encoded SHA-256 hashes of the authorized client certificates.

        :schema: GatewaySpecServersTls#verifyCertificateHash
        '''
        result = self._values.get("verify_certificate_hash")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def verify_certificate_spki(self) -> typing.Optional[typing.List[builtins.str]]:
        '''An optional list of base64-encoded SHA-256 hashes of the SPKIs of authorized client certificates.

        :schema: GatewaySpecServersTls#verifyCertificateSpki
        '''
        result = self._values.get("verify_certificate_spki")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "GatewaySpecServersTls(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(jsii_type="ioistionetworking.GatewaySpecServersTlsMaxProtocolVersion")
class GatewaySpecServersTlsMaxProtocolVersion(enum.Enum):
    '''Optional: Maximum TLS protocol version.

    Valid Options: TLS_AUTO, TLSV1_0, TLSV1_1, TLSV1_2, TLSV1_3

    :schema: GatewaySpecServersTlsMaxProtocolVersion
    '''

    TLS_UNDERSCORE_AUTO = "TLS_UNDERSCORE_AUTO"
    '''TLS_AUTO.'''
    TLSV1_UNDERSCORE_0 = "TLSV1_UNDERSCORE_0"
    '''TLSV1_0.'''
    TLSV1_UNDERSCORE_1 = "TLSV1_UNDERSCORE_1"
    '''TLSV1_1.'''
    TLSV1_UNDERSCORE_2 = "TLSV1_UNDERSCORE_2"
    '''TLSV1_2.'''
    TLSV1_UNDERSCORE_3 = "TLSV1_UNDERSCORE_3"
    '''TLSV1_3.'''


@jsii.enum(jsii_type="ioistionetworking.GatewaySpecServersTlsMinProtocolVersion")
class GatewaySpecServersTlsMinProtocolVersion(enum.Enum):
    '''Optional: Minimum TLS protocol version.

    Valid Options: TLS_AUTO, TLSV1_0, TLSV1_1, TLSV1_2, TLSV1_3

    :schema: GatewaySpecServersTlsMinProtocolVersion
    '''

    TLS_UNDERSCORE_AUTO = "TLS_UNDERSCORE_AUTO"
    '''TLS_AUTO.'''
    TLSV1_UNDERSCORE_0 = "TLSV1_UNDERSCORE_0"
    '''TLSV1_0.'''
    TLSV1_UNDERSCORE_1 = "TLSV1_UNDERSCORE_1"
    '''TLSV1_1.'''
    TLSV1_UNDERSCORE_2 = "TLSV1_UNDERSCORE_2"
    '''TLSV1_2.'''
    TLSV1_UNDERSCORE_3 = "TLSV1_UNDERSCORE_3"
    '''TLSV1_3.'''


@jsii.enum(jsii_type="ioistionetworking.GatewaySpecServersTlsMode")
class GatewaySpecServersTlsMode(enum.Enum):
    '''Optional: Indicates whether connections to this port should be secured using TLS.

    Valid Options: PASSTHROUGH, SIMPLE, MUTUAL, AUTO_PASSTHROUGH, ISTIO_MUTUAL, OPTIONAL_MUTUAL

    :schema: GatewaySpecServersTlsMode
    '''

    PASSTHROUGH = "PASSTHROUGH"
    '''PASSTHROUGH.'''
    SIMPLE = "SIMPLE"
    '''SIMPLE.'''
    MUTUAL = "MUTUAL"
    '''MUTUAL.'''
    AUTO_UNDERSCORE_PASSTHROUGH = "AUTO_UNDERSCORE_PASSTHROUGH"
    '''AUTO_PASSTHROUGH.'''
    ISTIO_UNDERSCORE_MUTUAL = "ISTIO_UNDERSCORE_MUTUAL"
    '''ISTIO_MUTUAL.'''
    OPTIONAL_UNDERSCORE_MUTUAL = "OPTIONAL_UNDERSCORE_MUTUAL"
    '''OPTIONAL_MUTUAL.'''


@jsii.data_type(
    jsii_type="ioistionetworking.GatewaySpecServersTlsTlsCertificates",
    jsii_struct_bases=[],
    name_mapping={
        "ca_certificates": "caCertificates",
        "private_key": "privateKey",
        "server_certificate": "serverCertificate",
    },
)
class GatewaySpecServersTlsTlsCertificates:
    def __init__(
        self,
        *,
        ca_certificates: typing.Optional[builtins.str] = None,
        private_key: typing.Optional[builtins.str] = None,
        server_certificate: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param ca_certificates: 
        :param private_key: REQUIRED if mode is ``SIMPLE`` or ``MUTUAL``.
        :param server_certificate: REQUIRED if mode is ``SIMPLE`` or ``MUTUAL``.

        :schema: GatewaySpecServersTlsTlsCertificates
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__2d2e8d520ab54b176023261e1e2bc2a04d37dddca813b8f1411b534e1243dd6c)
            check_type(argname="argument ca_certificates", value=ca_certificates, expected_type=type_hints["ca_certificates"])
            check_type(argname="argument private_key", value=private_key, expected_type=type_hints["private_key"])
            check_type(argname="argument server_certificate", value=server_certificate, expected_type=type_hints["server_certificate"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if ca_certificates is not None:
            self._values["ca_certificates"] = ca_certificates
        if private_key is not None:
            self._values["private_key"] = private_key
        if server_certificate is not None:
            self._values["server_certificate"] = server_certificate

    @builtins.property
    def ca_certificates(self) -> typing.Optional[builtins.str]:
        '''
        :schema: GatewaySpecServersTlsTlsCertificates#caCertificates
        '''
        result = self._values.get("ca_certificates")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def private_key(self) -> typing.Optional[builtins.str]:
        '''REQUIRED if mode is ``SIMPLE`` or ``MUTUAL``.

        :schema: GatewaySpecServersTlsTlsCertificates#privateKey
        '''
        result = self._values.get("private_key")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def server_certificate(self) -> typing.Optional[builtins.str]:
        '''REQUIRED if mode is ``SIMPLE`` or ``MUTUAL``.

        :schema: GatewaySpecServersTlsTlsCertificates#serverCertificate
        '''
        result = self._values.get("server_certificate")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "GatewaySpecServersTlsTlsCertificates(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


class VirtualService(
    _cdk8s_d3d9af27.ApiObject,
    metaclass=jsii.JSIIMeta,
    jsii_type="ioistionetworking.VirtualService",
):
    '''
    :schema: VirtualService
    '''

    def __init__(
        self,
        scope: "_constructs_77d1e7e8.Construct",
        id: builtins.str,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["VirtualServiceSpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Defines a "VirtualService" API object.

        :param scope: the scope in which to define this object.
        :param id: a scope-local name for the object.
        :param metadata: 
        :param spec: Configuration affecting label/content routing, sni routing, etc. See more details at: https://istio.io/docs/reference/config/networking/virtual-service.html
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__c7a329f352b7304b6f4ba35a2da5b2c73a796e25f5690d38311897ac06a3dd0a)
            check_type(argname="argument scope", value=scope, expected_type=type_hints["scope"])
            check_type(argname="argument id", value=id, expected_type=type_hints["id"])
        props = VirtualServiceProps(metadata=metadata, spec=spec)

        jsii.create(self.__class__, self, [scope, id, props])

    @jsii.member(jsii_name="manifest")
    @builtins.classmethod
    def manifest(
        cls,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["VirtualServiceSpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> typing.Any:
        '''Renders a Kubernetes manifest for "VirtualService".

        This can be used to inline resource manifests inside other objects (e.g. as templates).

        :param metadata: 
        :param spec: Configuration affecting label/content routing, sni routing, etc. See more details at: https://istio.io/docs/reference/config/networking/virtual-service.html
        '''
        props = VirtualServiceProps(metadata=metadata, spec=spec)

        return typing.cast(typing.Any, jsii.sinvoke(cls, "manifest", [props]))

    @jsii.member(jsii_name="toJson")
    def to_json(self) -> typing.Any:
        '''Renders the object to Kubernetes JSON.'''
        return typing.cast(typing.Any, jsii.invoke(self, "toJson", []))

    @jsii.python.classproperty
    @jsii.member(jsii_name="GVK")
    def GVK(cls) -> "_cdk8s_d3d9af27.GroupVersionKind":
        '''Returns the apiVersion and kind for "VirtualService".'''
        return typing.cast("_cdk8s_d3d9af27.GroupVersionKind", jsii.sget(cls, "GVK"))


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceProps",
    jsii_struct_bases=[],
    name_mapping={"metadata": "metadata", "spec": "spec"},
)
class VirtualServiceProps:
    def __init__(
        self,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["VirtualServiceSpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''
        :param metadata: 
        :param spec: Configuration affecting label/content routing, sni routing, etc. See more details at: https://istio.io/docs/reference/config/networking/virtual-service.html

        :schema: VirtualService
        '''
        if isinstance(metadata, dict):
            metadata = _cdk8s_d3d9af27.ApiObjectMetadata(**metadata)
        if isinstance(spec, dict):
            spec = VirtualServiceSpec(**spec)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__ea291212146131bbb572abe6c7214a96c22a1c7054ea535288e29b2e20ad68ce)
            check_type(argname="argument metadata", value=metadata, expected_type=type_hints["metadata"])
            check_type(argname="argument spec", value=spec, expected_type=type_hints["spec"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if metadata is not None:
            self._values["metadata"] = metadata
        if spec is not None:
            self._values["spec"] = spec

    @builtins.property
    def metadata(self) -> typing.Optional["_cdk8s_d3d9af27.ApiObjectMetadata"]:
        '''
        :schema: VirtualService#metadata
        '''
        result = self._values.get("metadata")
        return typing.cast(typing.Optional["_cdk8s_d3d9af27.ApiObjectMetadata"], result)

    @builtins.property
    def spec(self) -> typing.Optional["VirtualServiceSpec"]:
        '''Configuration affecting label/content routing, sni routing, etc.

        See more details at: https://istio.io/docs/reference/config/networking/virtual-service.html

        :schema: VirtualService#spec
        '''
        result = self._values.get("spec")
        return typing.cast(typing.Optional["VirtualServiceSpec"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceProps(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpec",
    jsii_struct_bases=[],
    name_mapping={
        "export_to": "exportTo",
        "gateways": "gateways",
        "hosts": "hosts",
        "http": "http",
        "tcp": "tcp",
        "tls": "tls",
    },
)
class VirtualServiceSpec:
    def __init__(
        self,
        *,
        export_to: typing.Optional[typing.Sequence[builtins.str]] = None,
        gateways: typing.Optional[typing.Sequence[builtins.str]] = None,
        hosts: typing.Optional[typing.Sequence[builtins.str]] = None,
        http: typing.Optional[typing.Sequence[typing.Union["VirtualServiceSpecHttp", typing.Dict[builtins.str, typing.Any]]]] = None,
        tcp: typing.Optional[typing.Sequence[typing.Union["VirtualServiceSpecTcp", typing.Dict[builtins.str, typing.Any]]]] = None,
        tls: typing.Optional[typing.Sequence[typing.Union["VirtualServiceSpecTls", typing.Dict[builtins.str, typing.Any]]]] = None,
    ) -> None:
        '''Configuration affecting label/content routing, sni routing, etc.

        See more details at: https://istio.io/docs/reference/config/networking/virtual-service.html

        :param export_to: A list of namespaces to which this virtual service is exported.
        :param gateways: The names of gateways and sidecars that should apply these routes.
        :param hosts: The destination hosts to which traffic is being sent.
        :param http: An ordered list of route rules for HTTP traffic.
        :param tcp: An ordered list of route rules for opaque TCP traffic.
        :param tls: An ordered list of route rule for non-terminated TLS & HTTPS traffic.

        :schema: VirtualServiceSpec
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__137941366d3a24ac40f324ef8a3e7a4b3002865e3c01552d2d2cdbce61a07d7f)
            check_type(argname="argument export_to", value=export_to, expected_type=type_hints["export_to"])
            check_type(argname="argument gateways", value=gateways, expected_type=type_hints["gateways"])
            check_type(argname="argument hosts", value=hosts, expected_type=type_hints["hosts"])
            check_type(argname="argument http", value=http, expected_type=type_hints["http"])
            check_type(argname="argument tcp", value=tcp, expected_type=type_hints["tcp"])
            check_type(argname="argument tls", value=tls, expected_type=type_hints["tls"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if export_to is not None:
            self._values["export_to"] = export_to
        if gateways is not None:
            self._values["gateways"] = gateways
        if hosts is not None:
            self._values["hosts"] = hosts
        if http is not None:
            self._values["http"] = http
        if tcp is not None:
            self._values["tcp"] = tcp
        if tls is not None:
            self._values["tls"] = tls

    @builtins.property
    def export_to(self) -> typing.Optional[typing.List[builtins.str]]:
        '''A list of namespaces to which this virtual service is exported.

        :schema: VirtualServiceSpec#exportTo
        '''
        result = self._values.get("export_to")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def gateways(self) -> typing.Optional[typing.List[builtins.str]]:
        '''The names of gateways and sidecars that should apply these routes.

        :schema: VirtualServiceSpec#gateways
        '''
        result = self._values.get("gateways")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def hosts(self) -> typing.Optional[typing.List[builtins.str]]:
        '''The destination hosts to which traffic is being sent.

        :schema: VirtualServiceSpec#hosts
        '''
        result = self._values.get("hosts")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def http(self) -> typing.Optional[typing.List["VirtualServiceSpecHttp"]]:
        '''An ordered list of route rules for HTTP traffic.

        :schema: VirtualServiceSpec#http
        '''
        result = self._values.get("http")
        return typing.cast(typing.Optional[typing.List["VirtualServiceSpecHttp"]], result)

    @builtins.property
    def tcp(self) -> typing.Optional[typing.List["VirtualServiceSpecTcp"]]:
        '''An ordered list of route rules for opaque TCP traffic.

        :schema: VirtualServiceSpec#tcp
        '''
        result = self._values.get("tcp")
        return typing.cast(typing.Optional[typing.List["VirtualServiceSpecTcp"]], result)

    @builtins.property
    def tls(self) -> typing.Optional[typing.List["VirtualServiceSpecTls"]]:
        '''An ordered list of route rule for non-terminated TLS & HTTPS traffic.

        :schema: VirtualServiceSpec#tls
        '''
        result = self._values.get("tls")
        return typing.cast(typing.Optional[typing.List["VirtualServiceSpecTls"]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpec(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttp",
    jsii_struct_bases=[],
    name_mapping={
        "cors_policy": "corsPolicy",
        "delegate": "delegate",
        "direct_response": "directResponse",
        "fault": "fault",
        "headers": "headers",
        "match": "match",
        "mirror": "mirror",
        "mirror_percent": "mirrorPercent",
        "mirror_percentage": "mirrorPercentage",
        "mirrors": "mirrors",
        "name": "name",
        "redirect": "redirect",
        "retries": "retries",
        "rewrite": "rewrite",
        "route": "route",
        "timeout": "timeout",
    },
)
class VirtualServiceSpecHttp:
    def __init__(
        self,
        *,
        cors_policy: typing.Optional[typing.Union["VirtualServiceSpecHttpCorsPolicy", typing.Dict[builtins.str, typing.Any]]] = None,
        delegate: typing.Optional[typing.Union["VirtualServiceSpecHttpDelegate", typing.Dict[builtins.str, typing.Any]]] = None,
        direct_response: typing.Optional[typing.Union["VirtualServiceSpecHttpDirectResponse", typing.Dict[builtins.str, typing.Any]]] = None,
        fault: typing.Optional[typing.Union["VirtualServiceSpecHttpFault", typing.Dict[builtins.str, typing.Any]]] = None,
        headers: typing.Optional[typing.Union["VirtualServiceSpecHttpHeaders", typing.Dict[builtins.str, typing.Any]]] = None,
        match: typing.Optional[typing.Sequence[typing.Union["VirtualServiceSpecHttpMatch", typing.Dict[builtins.str, typing.Any]]]] = None,
        mirror: typing.Optional[typing.Union["VirtualServiceSpecHttpMirror", typing.Dict[builtins.str, typing.Any]]] = None,
        mirror_percent: typing.Optional[jsii.Number] = None,
        mirror_percentage: typing.Optional[typing.Union["VirtualServiceSpecHttpMirrorPercentage", typing.Dict[builtins.str, typing.Any]]] = None,
        mirrors: typing.Optional[typing.Sequence[typing.Union["VirtualServiceSpecHttpMirrors", typing.Dict[builtins.str, typing.Any]]]] = None,
        name: typing.Optional[builtins.str] = None,
        redirect: typing.Optional[typing.Union["VirtualServiceSpecHttpRedirect", typing.Dict[builtins.str, typing.Any]]] = None,
        retries: typing.Optional[typing.Union["VirtualServiceSpecHttpRetries", typing.Dict[builtins.str, typing.Any]]] = None,
        rewrite: typing.Optional[typing.Union["VirtualServiceSpecHttpRewrite", typing.Dict[builtins.str, typing.Any]]] = None,
        route: typing.Optional[typing.Sequence[typing.Union["VirtualServiceSpecHttpRoute", typing.Dict[builtins.str, typing.Any]]]] = None,
        timeout: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param cors_policy: Cross-Origin Resource Sharing policy (CORS).
        :param delegate: Delegate is used to specify the particular VirtualService which can be used to define delegate HTTPRoute.
        :param direct_response: A HTTP rule can either return a direct_response, redirect or forward (default) traffic.
        :param fault: Fault injection policy to apply on HTTP traffic at the client side.
        :param headers: 
        :param match: Match conditions to be satisfied for the rule to be activated.
        :param mirror: Mirror HTTP traffic to a another destination in addition to forwarding the requests to the intended destination.
        :param mirror_percent: 
        :param mirror_percentage: Percentage of the traffic to be mirrored by the ``mirror`` field.
        :param mirrors: Specifies the destinations to mirror HTTP traffic in addition to the original destination.
        :param name: The name assigned to the route for debugging purposes.
        :param redirect: A HTTP rule can either return a direct_response, redirect or forward (default) traffic.
        :param retries: Retry policy for HTTP requests.
        :param rewrite: Rewrite HTTP URIs and Authority headers.
        :param route: A HTTP rule can either return a direct_response, redirect or forward (default) traffic.
        :param timeout: Timeout for HTTP requests, default is disabled.

        :schema: VirtualServiceSpecHttp
        '''
        if isinstance(cors_policy, dict):
            cors_policy = VirtualServiceSpecHttpCorsPolicy(**cors_policy)
        if isinstance(delegate, dict):
            delegate = VirtualServiceSpecHttpDelegate(**delegate)
        if isinstance(direct_response, dict):
            direct_response = VirtualServiceSpecHttpDirectResponse(**direct_response)
        if isinstance(fault, dict):
            fault = VirtualServiceSpecHttpFault(**fault)
        if isinstance(headers, dict):
            headers = VirtualServiceSpecHttpHeaders(**headers)
        if isinstance(mirror, dict):
            mirror = VirtualServiceSpecHttpMirror(**mirror)
        if isinstance(mirror_percentage, dict):
            mirror_percentage = VirtualServiceSpecHttpMirrorPercentage(**mirror_percentage)
        if isinstance(redirect, dict):
            redirect = VirtualServiceSpecHttpRedirect(**redirect)
        if isinstance(retries, dict):
            retries = VirtualServiceSpecHttpRetries(**retries)
        if isinstance(rewrite, dict):
            rewrite = VirtualServiceSpecHttpRewrite(**rewrite)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__d60c5d7ccec0c215973a00582f8d5b4672b12036c302efc7d05d33a9eeee2733)
            check_type(argname="argument cors_policy", value=cors_policy, expected_type=type_hints["cors_policy"])
            check_type(argname="argument delegate", value=delegate, expected_type=type_hints["delegate"])
            check_type(argname="argument direct_response", value=direct_response, expected_type=type_hints["direct_response"])
            check_type(argname="argument fault", value=fault, expected_type=type_hints["fault"])
            check_type(argname="argument headers", value=headers, expected_type=type_hints["headers"])
            check_type(argname="argument match", value=match, expected_type=type_hints["match"])
            check_type(argname="argument mirror", value=mirror, expected_type=type_hints["mirror"])
            check_type(argname="argument mirror_percent", value=mirror_percent, expected_type=type_hints["mirror_percent"])
            check_type(argname="argument mirror_percentage", value=mirror_percentage, expected_type=type_hints["mirror_percentage"])
            check_type(argname="argument mirrors", value=mirrors, expected_type=type_hints["mirrors"])
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument redirect", value=redirect, expected_type=type_hints["redirect"])
            check_type(argname="argument retries", value=retries, expected_type=type_hints["retries"])
            check_type(argname="argument rewrite", value=rewrite, expected_type=type_hints["rewrite"])
            check_type(argname="argument route", value=route, expected_type=type_hints["route"])
            check_type(argname="argument timeout", value=timeout, expected_type=type_hints["timeout"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if cors_policy is not None:
            self._values["cors_policy"] = cors_policy
        if delegate is not None:
            self._values["delegate"] = delegate
        if direct_response is not None:
            self._values["direct_response"] = direct_response
        if fault is not None:
            self._values["fault"] = fault
        if headers is not None:
            self._values["headers"] = headers
        if match is not None:
            self._values["match"] = match
        if mirror is not None:
            self._values["mirror"] = mirror
        if mirror_percent is not None:
            self._values["mirror_percent"] = mirror_percent
        if mirror_percentage is not None:
            self._values["mirror_percentage"] = mirror_percentage
        if mirrors is not None:
            self._values["mirrors"] = mirrors
        if name is not None:
            self._values["name"] = name
        if redirect is not None:
            self._values["redirect"] = redirect
        if retries is not None:
            self._values["retries"] = retries
        if rewrite is not None:
            self._values["rewrite"] = rewrite
        if route is not None:
            self._values["route"] = route
        if timeout is not None:
            self._values["timeout"] = timeout

    @builtins.property
    def cors_policy(self) -> typing.Optional["VirtualServiceSpecHttpCorsPolicy"]:
        '''Cross-Origin Resource Sharing policy (CORS).

        :schema: VirtualServiceSpecHttp#corsPolicy
        '''
        result = self._values.get("cors_policy")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpCorsPolicy"], result)

    @builtins.property
    def delegate(self) -> typing.Optional["VirtualServiceSpecHttpDelegate"]:
        '''Delegate is used to specify the particular VirtualService which can be used to define delegate HTTPRoute.

        :schema: VirtualServiceSpecHttp#delegate
        '''
        result = self._values.get("delegate")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpDelegate"], result)

    @builtins.property
    def direct_response(
        self,
    ) -> typing.Optional["VirtualServiceSpecHttpDirectResponse"]:
        '''A HTTP rule can either return a direct_response, redirect or forward (default) traffic.

        :schema: VirtualServiceSpecHttp#directResponse
        '''
        result = self._values.get("direct_response")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpDirectResponse"], result)

    @builtins.property
    def fault(self) -> typing.Optional["VirtualServiceSpecHttpFault"]:
        '''Fault injection policy to apply on HTTP traffic at the client side.

        :schema: VirtualServiceSpecHttp#fault
        '''
        result = self._values.get("fault")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpFault"], result)

    @builtins.property
    def headers(self) -> typing.Optional["VirtualServiceSpecHttpHeaders"]:
        '''
        :schema: VirtualServiceSpecHttp#headers
        '''
        result = self._values.get("headers")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpHeaders"], result)

    @builtins.property
    def match(self) -> typing.Optional[typing.List["VirtualServiceSpecHttpMatch"]]:
        '''Match conditions to be satisfied for the rule to be activated.

        :schema: VirtualServiceSpecHttp#match
        '''
        result = self._values.get("match")
        return typing.cast(typing.Optional[typing.List["VirtualServiceSpecHttpMatch"]], result)

    @builtins.property
    def mirror(self) -> typing.Optional["VirtualServiceSpecHttpMirror"]:
        '''Mirror HTTP traffic to a another destination in addition to forwarding the requests to the intended destination.

        :schema: VirtualServiceSpecHttp#mirror
        '''
        result = self._values.get("mirror")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpMirror"], result)

    @builtins.property
    def mirror_percent(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: VirtualServiceSpecHttp#mirror_percent
        '''
        result = self._values.get("mirror_percent")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def mirror_percentage(
        self,
    ) -> typing.Optional["VirtualServiceSpecHttpMirrorPercentage"]:
        '''Percentage of the traffic to be mirrored by the ``mirror`` field.

        :schema: VirtualServiceSpecHttp#mirrorPercentage
        '''
        result = self._values.get("mirror_percentage")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpMirrorPercentage"], result)

    @builtins.property
    def mirrors(self) -> typing.Optional[typing.List["VirtualServiceSpecHttpMirrors"]]:
        '''Specifies the destinations to mirror HTTP traffic in addition to the original destination.

        :schema: VirtualServiceSpecHttp#mirrors
        '''
        result = self._values.get("mirrors")
        return typing.cast(typing.Optional[typing.List["VirtualServiceSpecHttpMirrors"]], result)

    @builtins.property
    def name(self) -> typing.Optional[builtins.str]:
        '''The name assigned to the route for debugging purposes.

        :schema: VirtualServiceSpecHttp#name
        '''
        result = self._values.get("name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def redirect(self) -> typing.Optional["VirtualServiceSpecHttpRedirect"]:
        '''A HTTP rule can either return a direct_response, redirect or forward (default) traffic.

        :schema: VirtualServiceSpecHttp#redirect
        '''
        result = self._values.get("redirect")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpRedirect"], result)

    @builtins.property
    def retries(self) -> typing.Optional["VirtualServiceSpecHttpRetries"]:
        '''Retry policy for HTTP requests.

        :schema: VirtualServiceSpecHttp#retries
        '''
        result = self._values.get("retries")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpRetries"], result)

    @builtins.property
    def rewrite(self) -> typing.Optional["VirtualServiceSpecHttpRewrite"]:
        '''Rewrite HTTP URIs and Authority headers.

        :schema: VirtualServiceSpecHttp#rewrite
        '''
        result = self._values.get("rewrite")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpRewrite"], result)

    @builtins.property
    def route(self) -> typing.Optional[typing.List["VirtualServiceSpecHttpRoute"]]:
        '''A HTTP rule can either return a direct_response, redirect or forward (default) traffic.

        :schema: VirtualServiceSpecHttp#route
        '''
        result = self._values.get("route")
        return typing.cast(typing.Optional[typing.List["VirtualServiceSpecHttpRoute"]], result)

    @builtins.property
    def timeout(self) -> typing.Optional[builtins.str]:
        '''Timeout for HTTP requests, default is disabled.

        :schema: VirtualServiceSpecHttp#timeout
        '''
        result = self._values.get("timeout")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttp(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpCorsPolicy",
    jsii_struct_bases=[],
    name_mapping={
        "allow_credentials": "allowCredentials",
        "allow_headers": "allowHeaders",
        "allow_methods": "allowMethods",
        "allow_origin": "allowOrigin",
        "allow_origins": "allowOrigins",
        "expose_headers": "exposeHeaders",
        "max_age": "maxAge",
        "unmatched_preflights": "unmatchedPreflights",
    },
)
class VirtualServiceSpecHttpCorsPolicy:
    def __init__(
        self,
        *,
        allow_credentials: typing.Optional[builtins.bool] = None,
        allow_headers: typing.Optional[typing.Sequence[builtins.str]] = None,
        allow_methods: typing.Optional[typing.Sequence[builtins.str]] = None,
        allow_origin: typing.Optional[typing.Sequence[builtins.str]] = None,
        allow_origins: typing.Optional[typing.Sequence[typing.Union["VirtualServiceSpecHttpCorsPolicyAllowOrigins", typing.Dict[builtins.str, typing.Any]]]] = None,
        expose_headers: typing.Optional[typing.Sequence[builtins.str]] = None,
        max_age: typing.Optional[builtins.str] = None,
        unmatched_preflights: typing.Optional["VirtualServiceSpecHttpCorsPolicyUnmatchedPreflights"] = None,
    ) -> None:
        '''Cross-Origin Resource Sharing policy (CORS).

        :param allow_credentials: Indicates whether the caller is allowed to send the actual request (not the preflight) using credentials.
        :param allow_headers: List of HTTP headers that can be used when requesting the resource.
        :param allow_methods: List of HTTP methods allowed to access the resource.
        :param allow_origin: 
        :param allow_origins: String patterns that match allowed origins.
        :param expose_headers: A list of HTTP headers that the browsers are allowed to access.
        :param max_age: Specifies how long the results of a preflight request can be cached.
        :param unmatched_preflights: Indicates whether preflight requests not matching the configured allowed origin shouldn't be forwarded to the upstream. Valid Options: FORWARD, IGNORE

        :schema: VirtualServiceSpecHttpCorsPolicy
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__4fd9b17c71cbcf336fc927ccf7a93ad9a8e063496c88358cce46c4806b1e27ae)
            check_type(argname="argument allow_credentials", value=allow_credentials, expected_type=type_hints["allow_credentials"])
            check_type(argname="argument allow_headers", value=allow_headers, expected_type=type_hints["allow_headers"])
            check_type(argname="argument allow_methods", value=allow_methods, expected_type=type_hints["allow_methods"])
            check_type(argname="argument allow_origin", value=allow_origin, expected_type=type_hints["allow_origin"])
            check_type(argname="argument allow_origins", value=allow_origins, expected_type=type_hints["allow_origins"])
            check_type(argname="argument expose_headers", value=expose_headers, expected_type=type_hints["expose_headers"])
            check_type(argname="argument max_age", value=max_age, expected_type=type_hints["max_age"])
            check_type(argname="argument unmatched_preflights", value=unmatched_preflights, expected_type=type_hints["unmatched_preflights"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if allow_credentials is not None:
            self._values["allow_credentials"] = allow_credentials
        if allow_headers is not None:
            self._values["allow_headers"] = allow_headers
        if allow_methods is not None:
            self._values["allow_methods"] = allow_methods
        if allow_origin is not None:
            self._values["allow_origin"] = allow_origin
        if allow_origins is not None:
            self._values["allow_origins"] = allow_origins
        if expose_headers is not None:
            self._values["expose_headers"] = expose_headers
        if max_age is not None:
            self._values["max_age"] = max_age
        if unmatched_preflights is not None:
            self._values["unmatched_preflights"] = unmatched_preflights

    @builtins.property
    def allow_credentials(self) -> typing.Optional[builtins.bool]:
        '''Indicates whether the caller is allowed to send the actual request (not the preflight) using credentials.

        :schema: VirtualServiceSpecHttpCorsPolicy#allowCredentials
        '''
        result = self._values.get("allow_credentials")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def allow_headers(self) -> typing.Optional[typing.List[builtins.str]]:
        '''List of HTTP headers that can be used when requesting the resource.

        :schema: VirtualServiceSpecHttpCorsPolicy#allowHeaders
        '''
        result = self._values.get("allow_headers")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def allow_methods(self) -> typing.Optional[typing.List[builtins.str]]:
        '''List of HTTP methods allowed to access the resource.

        :schema: VirtualServiceSpecHttpCorsPolicy#allowMethods
        '''
        result = self._values.get("allow_methods")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def allow_origin(self) -> typing.Optional[typing.List[builtins.str]]:
        '''
        :schema: VirtualServiceSpecHttpCorsPolicy#allowOrigin
        '''
        result = self._values.get("allow_origin")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def allow_origins(
        self,
    ) -> typing.Optional[typing.List["VirtualServiceSpecHttpCorsPolicyAllowOrigins"]]:
        '''String patterns that match allowed origins.

        :schema: VirtualServiceSpecHttpCorsPolicy#allowOrigins
        '''
        result = self._values.get("allow_origins")
        return typing.cast(typing.Optional[typing.List["VirtualServiceSpecHttpCorsPolicyAllowOrigins"]], result)

    @builtins.property
    def expose_headers(self) -> typing.Optional[typing.List[builtins.str]]:
        '''A list of HTTP headers that the browsers are allowed to access.

        :schema: VirtualServiceSpecHttpCorsPolicy#exposeHeaders
        '''
        result = self._values.get("expose_headers")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def max_age(self) -> typing.Optional[builtins.str]:
        '''Specifies how long the results of a preflight request can be cached.

        :schema: VirtualServiceSpecHttpCorsPolicy#maxAge
        '''
        result = self._values.get("max_age")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def unmatched_preflights(
        self,
    ) -> typing.Optional["VirtualServiceSpecHttpCorsPolicyUnmatchedPreflights"]:
        '''Indicates whether preflight requests not matching the configured allowed origin shouldn't be forwarded to the upstream.

        Valid Options: FORWARD, IGNORE

        :schema: VirtualServiceSpecHttpCorsPolicy#unmatchedPreflights
        '''
        result = self._values.get("unmatched_preflights")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpCorsPolicyUnmatchedPreflights"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpCorsPolicy(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpCorsPolicyAllowOrigins",
    jsii_struct_bases=[],
    name_mapping={"exact": "exact", "prefix": "prefix", "regex": "regex"},
)
class VirtualServiceSpecHttpCorsPolicyAllowOrigins:
    def __init__(
        self,
        *,
        exact: typing.Optional[builtins.str] = None,
        prefix: typing.Optional[builtins.str] = None,
        regex: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param exact: 
        :param prefix: 
        :param regex: `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpCorsPolicyAllowOrigins
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__1952f28f0e789078a25eeb420488dbbfe4d1b2e16e9ffae311c9f5448690d989)
            check_type(argname="argument exact", value=exact, expected_type=type_hints["exact"])
            check_type(argname="argument prefix", value=prefix, expected_type=type_hints["prefix"])
            check_type(argname="argument regex", value=regex, expected_type=type_hints["regex"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if exact is not None:
            self._values["exact"] = exact
        if prefix is not None:
            self._values["prefix"] = prefix
        if regex is not None:
            self._values["regex"] = regex

    @builtins.property
    def exact(self) -> typing.Optional[builtins.str]:
        '''
        :schema: VirtualServiceSpecHttpCorsPolicyAllowOrigins#exact
        '''
        result = self._values.get("exact")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def prefix(self) -> typing.Optional[builtins.str]:
        '''
        :schema: VirtualServiceSpecHttpCorsPolicyAllowOrigins#prefix
        '''
        result = self._values.get("prefix")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def regex(self) -> typing.Optional[builtins.str]:
        '''`RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpCorsPolicyAllowOrigins#regex
        '''
        result = self._values.get("regex")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpCorsPolicyAllowOrigins(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpCorsPolicyUnmatchedPreflights"
)
class VirtualServiceSpecHttpCorsPolicyUnmatchedPreflights(enum.Enum):
    '''Indicates whether preflight requests not matching the configured allowed origin shouldn't be forwarded to the upstream.

    Valid Options: FORWARD, IGNORE

    :schema: VirtualServiceSpecHttpCorsPolicyUnmatchedPreflights
    '''

    UNSPECIFIED = "UNSPECIFIED"
    '''UNSPECIFIED.'''
    FORWARD = "FORWARD"
    '''FORWARD.'''
    IGNORE = "IGNORE"
    '''IGNORE.'''


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpDelegate",
    jsii_struct_bases=[],
    name_mapping={"name": "name", "namespace": "namespace"},
)
class VirtualServiceSpecHttpDelegate:
    def __init__(
        self,
        *,
        name: typing.Optional[builtins.str] = None,
        namespace: typing.Optional[builtins.str] = None,
    ) -> None:
        '''Delegate is used to specify the particular VirtualService which can be used to define delegate HTTPRoute.

        :param name: Name specifies the name of the delegate VirtualService.
        :param namespace: Namespace specifies the namespace where the delegate VirtualService resides.

        :schema: VirtualServiceSpecHttpDelegate
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__a128086c9815dc4dee81fb574e1201b95f6e5472a82fcc7e73147d8b44784e56)
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument namespace", value=namespace, expected_type=type_hints["namespace"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if name is not None:
            self._values["name"] = name
        if namespace is not None:
            self._values["namespace"] = namespace

    @builtins.property
    def name(self) -> typing.Optional[builtins.str]:
        '''Name specifies the name of the delegate VirtualService.

        :schema: VirtualServiceSpecHttpDelegate#name
        '''
        result = self._values.get("name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def namespace(self) -> typing.Optional[builtins.str]:
        '''Namespace specifies the namespace where the delegate VirtualService resides.

        :schema: VirtualServiceSpecHttpDelegate#namespace
        '''
        result = self._values.get("namespace")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpDelegate(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpDirectResponse",
    jsii_struct_bases=[],
    name_mapping={"status": "status", "body": "body"},
)
class VirtualServiceSpecHttpDirectResponse:
    def __init__(
        self,
        *,
        status: jsii.Number,
        body: typing.Optional[typing.Union["VirtualServiceSpecHttpDirectResponseBody", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''A HTTP rule can either return a direct_response, redirect or forward (default) traffic.

        :param status: Specifies the HTTP response status to be returned.
        :param body: Specifies the content of the response body.

        :schema: VirtualServiceSpecHttpDirectResponse
        '''
        if isinstance(body, dict):
            body = VirtualServiceSpecHttpDirectResponseBody(**body)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__523eedce3d74e223235dfe979ea7629f3f61b2a2e3f24b0c0fa649837595663f)
            check_type(argname="argument status", value=status, expected_type=type_hints["status"])
            check_type(argname="argument body", value=body, expected_type=type_hints["body"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "status": status,
        }
        if body is not None:
            self._values["body"] = body

    @builtins.property
    def status(self) -> jsii.Number:
        '''Specifies the HTTP response status to be returned.

        :schema: VirtualServiceSpecHttpDirectResponse#status
        '''
        result = self._values.get("status")
        assert result is not None, "Required property 'status' is missing"
        return typing.cast(jsii.Number, result)

    @builtins.property
    def body(self) -> typing.Optional["VirtualServiceSpecHttpDirectResponseBody"]:
        '''Specifies the content of the response body.

        :schema: VirtualServiceSpecHttpDirectResponse#body
        '''
        result = self._values.get("body")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpDirectResponseBody"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpDirectResponse(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpDirectResponseBody",
    jsii_struct_bases=[],
    name_mapping={"bytes": "bytes", "string": "string"},
)
class VirtualServiceSpecHttpDirectResponseBody:
    def __init__(
        self,
        *,
        bytes: typing.Optional[builtins.str] = None,
        string: typing.Optional[builtins.str] = None,
    ) -> None:
        '''Specifies the content of the response body.

        :param bytes: response body as base64 encoded bytes.
        :param string: 

        :schema: VirtualServiceSpecHttpDirectResponseBody
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__977113a0baf864141e1d7855511c23b4c02261f69e92614983af4f332dd738ca)
            check_type(argname="argument bytes", value=bytes, expected_type=type_hints["bytes"])
            check_type(argname="argument string", value=string, expected_type=type_hints["string"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if bytes is not None:
            self._values["bytes"] = bytes
        if string is not None:
            self._values["string"] = string

    @builtins.property
    def bytes(self) -> typing.Optional[builtins.str]:
        '''response body as base64 encoded bytes.

        :schema: VirtualServiceSpecHttpDirectResponseBody#bytes
        '''
        result = self._values.get("bytes")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def string(self) -> typing.Optional[builtins.str]:
        '''
        :schema: VirtualServiceSpecHttpDirectResponseBody#string
        '''
        result = self._values.get("string")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpDirectResponseBody(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpFault",
    jsii_struct_bases=[],
    name_mapping={"abort": "abort", "delay": "delay"},
)
class VirtualServiceSpecHttpFault:
    def __init__(
        self,
        *,
        abort: typing.Optional[typing.Union["VirtualServiceSpecHttpFaultAbort", typing.Dict[builtins.str, typing.Any]]] = None,
        delay: typing.Optional[typing.Union["VirtualServiceSpecHttpFaultDelay", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Fault injection policy to apply on HTTP traffic at the client side.

        :param abort: Abort Http request attempts and return error codes back to downstream service, giving the impression that the upstream service is faulty.
        :param delay: Delay requests before forwarding, emulating various failures such as network issues, overloaded upstream service, etc.

        :schema: VirtualServiceSpecHttpFault
        '''
        if isinstance(abort, dict):
            abort = VirtualServiceSpecHttpFaultAbort(**abort)
        if isinstance(delay, dict):
            delay = VirtualServiceSpecHttpFaultDelay(**delay)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__eabf9e1cd2c50c0daed41a03fd03798e209c01c32b57baefa049d7adb4237e9f)
            check_type(argname="argument abort", value=abort, expected_type=type_hints["abort"])
            check_type(argname="argument delay", value=delay, expected_type=type_hints["delay"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if abort is not None:
            self._values["abort"] = abort
        if delay is not None:
            self._values["delay"] = delay

    @builtins.property
    def abort(self) -> typing.Optional["VirtualServiceSpecHttpFaultAbort"]:
        '''Abort Http request attempts and return error codes back to downstream service, giving the impression that the upstream service is faulty.

        :schema: VirtualServiceSpecHttpFault#abort
        '''
        result = self._values.get("abort")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpFaultAbort"], result)

    @builtins.property
    def delay(self) -> typing.Optional["VirtualServiceSpecHttpFaultDelay"]:
        '''Delay requests before forwarding, emulating various failures such as network issues, overloaded upstream service, etc.

        :schema: VirtualServiceSpecHttpFault#delay
        '''
        result = self._values.get("delay")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpFaultDelay"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpFault(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpFaultAbort",
    jsii_struct_bases=[],
    name_mapping={
        "grpc_status": "grpcStatus",
        "http2_error": "http2Error",
        "http_status": "httpStatus",
        "percentage": "percentage",
    },
)
class VirtualServiceSpecHttpFaultAbort:
    def __init__(
        self,
        *,
        grpc_status: typing.Optional[builtins.str] = None,
        http2_error: typing.Optional[builtins.str] = None,
        http_status: typing.Optional[jsii.Number] = None,
        percentage: typing.Optional[typing.Union["VirtualServiceSpecHttpFaultAbortPercentage", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Abort Http request attempts and return error codes back to downstream service, giving the impression that the upstream service is faulty.

        :param grpc_status: GRPC status code to use to abort the request.
        :param http2_error: 
        :param http_status: HTTP status code to use to abort the Http request.
        :param percentage: Percentage of requests to be aborted with the error code provided.

        :schema: VirtualServiceSpecHttpFaultAbort
        '''
        if isinstance(percentage, dict):
            percentage = VirtualServiceSpecHttpFaultAbortPercentage(**percentage)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__193b2f98a83456ade41d9aa7e1d239c14019966380294674539c8c13618e72d7)
            check_type(argname="argument grpc_status", value=grpc_status, expected_type=type_hints["grpc_status"])
            check_type(argname="argument http2_error", value=http2_error, expected_type=type_hints["http2_error"])
            check_type(argname="argument http_status", value=http_status, expected_type=type_hints["http_status"])
            check_type(argname="argument percentage", value=percentage, expected_type=type_hints["percentage"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if grpc_status is not None:
            self._values["grpc_status"] = grpc_status
        if http2_error is not None:
            self._values["http2_error"] = http2_error
        if http_status is not None:
            self._values["http_status"] = http_status
        if percentage is not None:
            self._values["percentage"] = percentage

    @builtins.property
    def grpc_status(self) -> typing.Optional[builtins.str]:
        '''GRPC status code to use to abort the request.

        :schema: VirtualServiceSpecHttpFaultAbort#grpcStatus
        '''
        result = self._values.get("grpc_status")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def http2_error(self) -> typing.Optional[builtins.str]:
        '''
        :schema: VirtualServiceSpecHttpFaultAbort#http2Error
        '''
        result = self._values.get("http2_error")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def http_status(self) -> typing.Optional[jsii.Number]:
        '''HTTP status code to use to abort the Http request.

        :schema: VirtualServiceSpecHttpFaultAbort#httpStatus
        '''
        result = self._values.get("http_status")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def percentage(
        self,
    ) -> typing.Optional["VirtualServiceSpecHttpFaultAbortPercentage"]:
        '''Percentage of requests to be aborted with the error code provided.

        :schema: VirtualServiceSpecHttpFaultAbort#percentage
        '''
        result = self._values.get("percentage")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpFaultAbortPercentage"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpFaultAbort(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpFaultAbortPercentage",
    jsii_struct_bases=[],
    name_mapping={"value": "value"},
)
class VirtualServiceSpecHttpFaultAbortPercentage:
    def __init__(self, *, value: typing.Optional[jsii.Number] = None) -> None:
        '''Percentage of requests to be aborted with the error code provided.

        :param value: 

        :schema: VirtualServiceSpecHttpFaultAbortPercentage
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__2367717e7ada85181449cfa93383dd396f7beb486bc645819332f1bb5d5724b0)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if value is not None:
            self._values["value"] = value

    @builtins.property
    def value(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: VirtualServiceSpecHttpFaultAbortPercentage#value
        '''
        result = self._values.get("value")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpFaultAbortPercentage(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpFaultDelay",
    jsii_struct_bases=[],
    name_mapping={
        "exponential_delay": "exponentialDelay",
        "fixed_delay": "fixedDelay",
        "percent": "percent",
        "percentage": "percentage",
    },
)
class VirtualServiceSpecHttpFaultDelay:
    def __init__(
        self,
        *,
        exponential_delay: typing.Optional[builtins.str] = None,
        fixed_delay: typing.Optional[builtins.str] = None,
        percent: typing.Optional[jsii.Number] = None,
        percentage: typing.Optional[typing.Union["VirtualServiceSpecHttpFaultDelayPercentage", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Delay requests before forwarding, emulating various failures such as network issues, overloaded upstream service, etc.

        :param exponential_delay: 
        :param fixed_delay: Add a fixed delay before forwarding the request.
        :param percent: Percentage of requests on which the delay will be injected (0-100).
        :param percentage: Percentage of requests on which the delay will be injected.

        :schema: VirtualServiceSpecHttpFaultDelay
        '''
        if isinstance(percentage, dict):
            percentage = VirtualServiceSpecHttpFaultDelayPercentage(**percentage)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__9dd7dcda6d3562668c16896f8b7b0450b570ca728affe3f6d5ffb66fcf171c7f)
            check_type(argname="argument exponential_delay", value=exponential_delay, expected_type=type_hints["exponential_delay"])
            check_type(argname="argument fixed_delay", value=fixed_delay, expected_type=type_hints["fixed_delay"])
            check_type(argname="argument percent", value=percent, expected_type=type_hints["percent"])
            check_type(argname="argument percentage", value=percentage, expected_type=type_hints["percentage"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if exponential_delay is not None:
            self._values["exponential_delay"] = exponential_delay
        if fixed_delay is not None:
            self._values["fixed_delay"] = fixed_delay
        if percent is not None:
            self._values["percent"] = percent
        if percentage is not None:
            self._values["percentage"] = percentage

    @builtins.property
    def exponential_delay(self) -> typing.Optional[builtins.str]:
        '''
        :schema: VirtualServiceSpecHttpFaultDelay#exponentialDelay
        '''
        result = self._values.get("exponential_delay")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def fixed_delay(self) -> typing.Optional[builtins.str]:
        '''Add a fixed delay before forwarding the request.

        :schema: VirtualServiceSpecHttpFaultDelay#fixedDelay
        '''
        result = self._values.get("fixed_delay")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def percent(self) -> typing.Optional[jsii.Number]:
        '''Percentage of requests on which the delay will be injected (0-100).

        :schema: VirtualServiceSpecHttpFaultDelay#percent
        '''
        result = self._values.get("percent")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def percentage(
        self,
    ) -> typing.Optional["VirtualServiceSpecHttpFaultDelayPercentage"]:
        '''Percentage of requests on which the delay will be injected.

        :schema: VirtualServiceSpecHttpFaultDelay#percentage
        '''
        result = self._values.get("percentage")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpFaultDelayPercentage"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpFaultDelay(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpFaultDelayPercentage",
    jsii_struct_bases=[],
    name_mapping={"value": "value"},
)
class VirtualServiceSpecHttpFaultDelayPercentage:
    def __init__(self, *, value: typing.Optional[jsii.Number] = None) -> None:
        '''Percentage of requests on which the delay will be injected.

        :param value: 

        :schema: VirtualServiceSpecHttpFaultDelayPercentage
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__e7ecec86a8242193e585acbe8c605f420cbb4d4b91a6425726b3252479939da8)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if value is not None:
            self._values["value"] = value

    @builtins.property
    def value(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: VirtualServiceSpecHttpFaultDelayPercentage#value
        '''
        result = self._values.get("value")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpFaultDelayPercentage(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpHeaders",
    jsii_struct_bases=[],
    name_mapping={"request": "request", "response": "response"},
)
class VirtualServiceSpecHttpHeaders:
    def __init__(
        self,
        *,
        request: typing.Optional[typing.Union["VirtualServiceSpecHttpHeadersRequest", typing.Dict[builtins.str, typing.Any]]] = None,
        response: typing.Optional[typing.Union["VirtualServiceSpecHttpHeadersResponse", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''
        :param request: 
        :param response: 

        :schema: VirtualServiceSpecHttpHeaders
        '''
        if isinstance(request, dict):
            request = VirtualServiceSpecHttpHeadersRequest(**request)
        if isinstance(response, dict):
            response = VirtualServiceSpecHttpHeadersResponse(**response)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__c7343bb192f829772c5bd108cbfa102e07ff488e6f6efc1e2fd0a274dec4d834)
            check_type(argname="argument request", value=request, expected_type=type_hints["request"])
            check_type(argname="argument response", value=response, expected_type=type_hints["response"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if request is not None:
            self._values["request"] = request
        if response is not None:
            self._values["response"] = response

    @builtins.property
    def request(self) -> typing.Optional["VirtualServiceSpecHttpHeadersRequest"]:
        '''
        :schema: VirtualServiceSpecHttpHeaders#request
        '''
        result = self._values.get("request")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpHeadersRequest"], result)

    @builtins.property
    def response(self) -> typing.Optional["VirtualServiceSpecHttpHeadersResponse"]:
        '''
        :schema: VirtualServiceSpecHttpHeaders#response
        '''
        result = self._values.get("response")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpHeadersResponse"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpHeaders(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpHeadersRequest",
    jsii_struct_bases=[],
    name_mapping={"add": "add", "remove": "remove", "set": "set"},
)
class VirtualServiceSpecHttpHeadersRequest:
    def __init__(
        self,
        *,
        add: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
        remove: typing.Optional[typing.Sequence[builtins.str]] = None,
        set: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
    ) -> None:
        '''
        :param add: 
        :param remove: 
        :param set: 

        :schema: VirtualServiceSpecHttpHeadersRequest
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__7ee9261b43423d2a69ae0078ceab35ef8fbe23ff78f228e755ed67657c52a91b)
            check_type(argname="argument add", value=add, expected_type=type_hints["add"])
            check_type(argname="argument remove", value=remove, expected_type=type_hints["remove"])
            check_type(argname="argument set", value=set, expected_type=type_hints["set"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if add is not None:
            self._values["add"] = add
        if remove is not None:
            self._values["remove"] = remove
        if set is not None:
            self._values["set"] = set

    @builtins.property
    def add(self) -> typing.Optional[typing.Mapping[builtins.str, builtins.str]]:
        '''
        :schema: VirtualServiceSpecHttpHeadersRequest#add
        '''
        result = self._values.get("add")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, builtins.str]], result)

    @builtins.property
    def remove(self) -> typing.Optional[typing.List[builtins.str]]:
        '''
        :schema: VirtualServiceSpecHttpHeadersRequest#remove
        '''
        result = self._values.get("remove")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def set(self) -> typing.Optional[typing.Mapping[builtins.str, builtins.str]]:
        '''
        :schema: VirtualServiceSpecHttpHeadersRequest#set
        '''
        result = self._values.get("set")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, builtins.str]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpHeadersRequest(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpHeadersResponse",
    jsii_struct_bases=[],
    name_mapping={"add": "add", "remove": "remove", "set": "set"},
)
class VirtualServiceSpecHttpHeadersResponse:
    def __init__(
        self,
        *,
        add: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
        remove: typing.Optional[typing.Sequence[builtins.str]] = None,
        set: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
    ) -> None:
        '''
        :param add: 
        :param remove: 
        :param set: 

        :schema: VirtualServiceSpecHttpHeadersResponse
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__a4a3e5ae4d5de5bcc5f0787c2effc9b93d9bbd3ad69b0e217c4ffb740869cddc)
            check_type(argname="argument add", value=add, expected_type=type_hints["add"])
            check_type(argname="argument remove", value=remove, expected_type=type_hints["remove"])
            check_type(argname="argument set", value=set, expected_type=type_hints["set"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if add is not None:
            self._values["add"] = add
        if remove is not None:
            self._values["remove"] = remove
        if set is not None:
            self._values["set"] = set

    @builtins.property
    def add(self) -> typing.Optional[typing.Mapping[builtins.str, builtins.str]]:
        '''
        :schema: VirtualServiceSpecHttpHeadersResponse#add
        '''
        result = self._values.get("add")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, builtins.str]], result)

    @builtins.property
    def remove(self) -> typing.Optional[typing.List[builtins.str]]:
        '''
        :schema: VirtualServiceSpecHttpHeadersResponse#remove
        '''
        result = self._values.get("remove")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def set(self) -> typing.Optional[typing.Mapping[builtins.str, builtins.str]]:
        '''
        :schema: VirtualServiceSpecHttpHeadersResponse#set
        '''
        result = self._values.get("set")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, builtins.str]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpHeadersResponse(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpMatch",
    jsii_struct_bases=[],
    name_mapping={
        "authority": "authority",
        "gateways": "gateways",
        "headers": "headers",
        "ignore_uri_case": "ignoreUriCase",
        "method": "method",
        "name": "name",
        "port": "port",
        "query_params": "queryParams",
        "scheme": "scheme",
        "source_labels": "sourceLabels",
        "source_namespace": "sourceNamespace",
        "stat_prefix": "statPrefix",
        "uri": "uri",
        "without_headers": "withoutHeaders",
    },
)
class VirtualServiceSpecHttpMatch:
    def __init__(
        self,
        *,
        authority: typing.Optional[typing.Union["VirtualServiceSpecHttpMatchAuthority", typing.Dict[builtins.str, typing.Any]]] = None,
        gateways: typing.Optional[typing.Sequence[builtins.str]] = None,
        headers: typing.Optional[typing.Mapping[builtins.str, typing.Union["VirtualServiceSpecHttpMatchHeaders", typing.Dict[builtins.str, typing.Any]]]] = None,
        ignore_uri_case: typing.Optional[builtins.bool] = None,
        method: typing.Optional[typing.Union["VirtualServiceSpecHttpMatchMethod", typing.Dict[builtins.str, typing.Any]]] = None,
        name: typing.Optional[builtins.str] = None,
        port: typing.Optional[jsii.Number] = None,
        query_params: typing.Optional[typing.Mapping[builtins.str, typing.Union["VirtualServiceSpecHttpMatchQueryParams", typing.Dict[builtins.str, typing.Any]]]] = None,
        scheme: typing.Optional[typing.Union["VirtualServiceSpecHttpMatchScheme", typing.Dict[builtins.str, typing.Any]]] = None,
        source_labels: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
        source_namespace: typing.Optional[builtins.str] = None,
        stat_prefix: typing.Optional[builtins.str] = None,
        uri: typing.Optional[typing.Union["VirtualServiceSpecHttpMatchUri", typing.Dict[builtins.str, typing.Any]]] = None,
        without_headers: typing.Optional[typing.Mapping[builtins.str, typing.Union["VirtualServiceSpecHttpMatchWithoutHeaders", typing.Dict[builtins.str, typing.Any]]]] = None,
    ) -> None:
        '''
        :param authority: HTTP Authority values are case-sensitive and formatted as follows: - ``exact: "value"`` for exact string match - ``prefix: "value"`` for prefix-based match - ``regex: "value"`` for `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.
        :param gateways: Names of gateways where the rule should be applied.
        :param headers: The header keys must be lowercase and use hyphen as the separator, e.g.
        :param ignore_uri_case: Flag to specify whether the URI matching should be case-insensitive.
        :param method: HTTP Method values are case-sensitive and formatted as follows: - ``exact: "value"`` for exact string match - ``prefix: "value"`` for prefix-based match - ``regex: "value"`` for `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.
        :param name: The name assigned to a match.
        :param port: Specifies the ports on the host that is being addressed.
        :param query_params: Query parameters for matching.
        :param scheme: URI Scheme values are case-sensitive and formatted as follows: - ``exact: "value"`` for exact string match - ``prefix: "value"`` for prefix-based match - ``regex: "value"`` for `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.
        :param source_labels: One or more labels that constrain the applicability of a rule to source (client) workloads with the given labels.
        :param source_namespace: Source namespace constraining the applicability of a rule to workloads in that namespace.
        :param stat_prefix: The human readable prefix to use when emitting statistics for this route.
        :param uri: URI to match values are case-sensitive and formatted as follows: - ``exact: "value"`` for exact string match - ``prefix: "value"`` for prefix-based match - ``regex: "value"`` for `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.
        :param without_headers: withoutHeader has the same syntax with the header, but has opposite meaning.

        :schema: VirtualServiceSpecHttpMatch
        '''
        if isinstance(authority, dict):
            authority = VirtualServiceSpecHttpMatchAuthority(**authority)
        if isinstance(method, dict):
            method = VirtualServiceSpecHttpMatchMethod(**method)
        if isinstance(scheme, dict):
            scheme = VirtualServiceSpecHttpMatchScheme(**scheme)
        if isinstance(uri, dict):
            uri = VirtualServiceSpecHttpMatchUri(**uri)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__7e6679c04e607646075aee5fa68635bde01655f6fc6849ade7948397bb34bfc9)
            check_type(argname="argument authority", value=authority, expected_type=type_hints["authority"])
            check_type(argname="argument gateways", value=gateways, expected_type=type_hints["gateways"])
            check_type(argname="argument headers", value=headers, expected_type=type_hints["headers"])
            check_type(argname="argument ignore_uri_case", value=ignore_uri_case, expected_type=type_hints["ignore_uri_case"])
            check_type(argname="argument method", value=method, expected_type=type_hints["method"])
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument port", value=port, expected_type=type_hints["port"])
            check_type(argname="argument query_params", value=query_params, expected_type=type_hints["query_params"])
            check_type(argname="argument scheme", value=scheme, expected_type=type_hints["scheme"])
            check_type(argname="argument source_labels", value=source_labels, expected_type=type_hints["source_labels"])
            check_type(argname="argument source_namespace", value=source_namespace, expected_type=type_hints["source_namespace"])
            check_type(argname="argument stat_prefix", value=stat_prefix, expected_type=type_hints["stat_prefix"])
            check_type(argname="argument uri", value=uri, expected_type=type_hints["uri"])
            check_type(argname="argument without_headers", value=without_headers, expected_type=type_hints["without_headers"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if authority is not None:
            self._values["authority"] = authority
        if gateways is not None:
            self._values["gateways"] = gateways
        if headers is not None:
            self._values["headers"] = headers
        if ignore_uri_case is not None:
            self._values["ignore_uri_case"] = ignore_uri_case
        if method is not None:
            self._values["method"] = method
        if name is not None:
            self._values["name"] = name
        if port is not None:
            self._values["port"] = port
        if query_params is not None:
            self._values["query_params"] = query_params
        if scheme is not None:
            self._values["scheme"] = scheme
        if source_labels is not None:
            self._values["source_labels"] = source_labels
        if source_namespace is not None:
            self._values["source_namespace"] = source_namespace
        if stat_prefix is not None:
            self._values["stat_prefix"] = stat_prefix
        if uri is not None:
            self._values["uri"] = uri
        if without_headers is not None:
            self._values["without_headers"] = without_headers

    @builtins.property
    def authority(self) -> typing.Optional["VirtualServiceSpecHttpMatchAuthority"]:
        '''HTTP Authority values are case-sensitive and formatted as follows: - ``exact: "value"`` for exact string match - ``prefix: "value"`` for prefix-based match - ``regex: "value"`` for `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpMatch#authority
        '''
        result = self._values.get("authority")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpMatchAuthority"], result)

    @builtins.property
    def gateways(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Names of gateways where the rule should be applied.

        :schema: VirtualServiceSpecHttpMatch#gateways
        '''
        result = self._values.get("gateways")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def headers(
        self,
    ) -> typing.Optional[typing.Mapping[builtins.str, "VirtualServiceSpecHttpMatchHeaders"]]:
        '''The header keys must be lowercase and use hyphen as the separator, e.g.

        :schema: VirtualServiceSpecHttpMatch#headers
        '''
        result = self._values.get("headers")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, "VirtualServiceSpecHttpMatchHeaders"]], result)

    @builtins.property
    def ignore_uri_case(self) -> typing.Optional[builtins.bool]:
        '''Flag to specify whether the URI matching should be case-insensitive.

        :schema: VirtualServiceSpecHttpMatch#ignoreUriCase
        '''
        result = self._values.get("ignore_uri_case")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def method(self) -> typing.Optional["VirtualServiceSpecHttpMatchMethod"]:
        '''HTTP Method values are case-sensitive and formatted as follows: - ``exact: "value"`` for exact string match - ``prefix: "value"`` for prefix-based match - ``regex: "value"`` for `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpMatch#method
        '''
        result = self._values.get("method")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpMatchMethod"], result)

    @builtins.property
    def name(self) -> typing.Optional[builtins.str]:
        '''The name assigned to a match.

        :schema: VirtualServiceSpecHttpMatch#name
        '''
        result = self._values.get("name")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def port(self) -> typing.Optional[jsii.Number]:
        '''Specifies the ports on the host that is being addressed.

        :schema: VirtualServiceSpecHttpMatch#port
        '''
        result = self._values.get("port")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def query_params(
        self,
    ) -> typing.Optional[typing.Mapping[builtins.str, "VirtualServiceSpecHttpMatchQueryParams"]]:
        '''Query parameters for matching.

        :schema: VirtualServiceSpecHttpMatch#queryParams
        '''
        result = self._values.get("query_params")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, "VirtualServiceSpecHttpMatchQueryParams"]], result)

    @builtins.property
    def scheme(self) -> typing.Optional["VirtualServiceSpecHttpMatchScheme"]:
        '''URI Scheme values are case-sensitive and formatted as follows: - ``exact: "value"`` for exact string match - ``prefix: "value"`` for prefix-based match - ``regex: "value"`` for `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpMatch#scheme
        '''
        result = self._values.get("scheme")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpMatchScheme"], result)

    @builtins.property
    def source_labels(
        self,
    ) -> typing.Optional[typing.Mapping[builtins.str, builtins.str]]:
        '''One or more labels that constrain the applicability of a rule to source (client) workloads with the given labels.

        :schema: VirtualServiceSpecHttpMatch#sourceLabels
        '''
        result = self._values.get("source_labels")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, builtins.str]], result)

    @builtins.property
    def source_namespace(self) -> typing.Optional[builtins.str]:
        '''Source namespace constraining the applicability of a rule to workloads in that namespace.

        :schema: VirtualServiceSpecHttpMatch#sourceNamespace
        '''
        result = self._values.get("source_namespace")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def stat_prefix(self) -> typing.Optional[builtins.str]:
        '''The human readable prefix to use when emitting statistics for this route.

        :schema: VirtualServiceSpecHttpMatch#statPrefix
        '''
        result = self._values.get("stat_prefix")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def uri(self) -> typing.Optional["VirtualServiceSpecHttpMatchUri"]:
        '''URI to match values are case-sensitive and formatted as follows: - ``exact: "value"`` for exact string match - ``prefix: "value"`` for prefix-based match - ``regex: "value"`` for `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpMatch#uri
        '''
        result = self._values.get("uri")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpMatchUri"], result)

    @builtins.property
    def without_headers(
        self,
    ) -> typing.Optional[typing.Mapping[builtins.str, "VirtualServiceSpecHttpMatchWithoutHeaders"]]:
        '''withoutHeader has the same syntax with the header, but has opposite meaning.

        :schema: VirtualServiceSpecHttpMatch#withoutHeaders
        '''
        result = self._values.get("without_headers")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, "VirtualServiceSpecHttpMatchWithoutHeaders"]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpMatch(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpMatchAuthority",
    jsii_struct_bases=[],
    name_mapping={"exact": "exact", "prefix": "prefix", "regex": "regex"},
)
class VirtualServiceSpecHttpMatchAuthority:
    def __init__(
        self,
        *,
        exact: typing.Optional[builtins.str] = None,
        prefix: typing.Optional[builtins.str] = None,
        regex: typing.Optional[builtins.str] = None,
    ) -> None:
        '''HTTP Authority values are case-sensitive and formatted as follows: - ``exact: "value"`` for exact string match - ``prefix: "value"`` for prefix-based match - ``regex: "value"`` for `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :param exact: 
        :param prefix: 
        :param regex: `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpMatchAuthority
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__e1b4382ccee48fcf2cd36945ff8f12fe694d5befa8beac06501dbd8513d9e539)
            check_type(argname="argument exact", value=exact, expected_type=type_hints["exact"])
            check_type(argname="argument prefix", value=prefix, expected_type=type_hints["prefix"])
            check_type(argname="argument regex", value=regex, expected_type=type_hints["regex"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if exact is not None:
            self._values["exact"] = exact
        if prefix is not None:
            self._values["prefix"] = prefix
        if regex is not None:
            self._values["regex"] = regex

    @builtins.property
    def exact(self) -> typing.Optional[builtins.str]:
        '''
        :schema: VirtualServiceSpecHttpMatchAuthority#exact
        '''
        result = self._values.get("exact")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def prefix(self) -> typing.Optional[builtins.str]:
        '''
        :schema: VirtualServiceSpecHttpMatchAuthority#prefix
        '''
        result = self._values.get("prefix")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def regex(self) -> typing.Optional[builtins.str]:
        '''`RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpMatchAuthority#regex
        '''
        result = self._values.get("regex")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpMatchAuthority(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpMatchHeaders",
    jsii_struct_bases=[],
    name_mapping={"exact": "exact", "prefix": "prefix", "regex": "regex"},
)
class VirtualServiceSpecHttpMatchHeaders:
    def __init__(
        self,
        *,
        exact: typing.Optional[builtins.str] = None,
        prefix: typing.Optional[builtins.str] = None,
        regex: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param exact: 
        :param prefix: 
        :param regex: `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpMatchHeaders
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__9f6775ac88feb89402d4b4d0d395505a3809e99c454b91c48cd03f1275d0ae22)
            check_type(argname="argument exact", value=exact, expected_type=type_hints["exact"])
            check_type(argname="argument prefix", value=prefix, expected_type=type_hints["prefix"])
            check_type(argname="argument regex", value=regex, expected_type=type_hints["regex"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if exact is not None:
            self._values["exact"] = exact
        if prefix is not None:
            self._values["prefix"] = prefix
        if regex is not None:
            self._values["regex"] = regex

    @builtins.property
    def exact(self) -> typing.Optional[builtins.str]:
        '''
        :schema: VirtualServiceSpecHttpMatchHeaders#exact
        '''
        result = self._values.get("exact")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def prefix(self) -> typing.Optional[builtins.str]:
        '''
        :schema: VirtualServiceSpecHttpMatchHeaders#prefix
        '''
        result = self._values.get("prefix")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def regex(self) -> typing.Optional[builtins.str]:
        '''`RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpMatchHeaders#regex
        '''
        result = self._values.get("regex")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpMatchHeaders(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpMatchMethod",
    jsii_struct_bases=[],
    name_mapping={"exact": "exact", "prefix": "prefix", "regex": "regex"},
)
class VirtualServiceSpecHttpMatchMethod:
    def __init__(
        self,
        *,
        exact: typing.Optional[builtins.str] = None,
        prefix: typing.Optional[builtins.str] = None,
        regex: typing.Optional[builtins.str] = None,
    ) -> None:
        '''HTTP Method values are case-sensitive and formatted as follows: - ``exact: "value"`` for exact string match - ``prefix: "value"`` for prefix-based match - ``regex: "value"`` for `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :param exact: 
        :param prefix: 
        :param regex: `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpMatchMethod
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__7c2475651d53eb91b3482e19ad1b749d6265146898f38e92e46a8be0dc5cdc75)
            check_type(argname="argument exact", value=exact, expected_type=type_hints["exact"])
            check_type(argname="argument prefix", value=prefix, expected_type=type_hints["prefix"])
            check_type(argname="argument regex", value=regex, expected_type=type_hints["regex"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if exact is not None:
            self._values["exact"] = exact
        if prefix is not None:
            self._values["prefix"] = prefix
        if regex is not None:
            self._values["regex"] = regex

    @builtins.property
    def exact(self) -> typing.Optional[builtins.str]:
        '''
        :schema: VirtualServiceSpecHttpMatchMethod#exact
        '''
        result = self._values.get("exact")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def prefix(self) -> typing.Optional[builtins.str]:
        '''
        :schema: VirtualServiceSpecHttpMatchMethod#prefix
        '''
        result = self._values.get("prefix")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def regex(self) -> typing.Optional[builtins.str]:
        '''`RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpMatchMethod#regex
        '''
        result = self._values.get("regex")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpMatchMethod(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpMatchQueryParams",
    jsii_struct_bases=[],
    name_mapping={"exact": "exact", "prefix": "prefix", "regex": "regex"},
)
class VirtualServiceSpecHttpMatchQueryParams:
    def __init__(
        self,
        *,
        exact: typing.Optional[builtins.str] = None,
        prefix: typing.Optional[builtins.str] = None,
        regex: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param exact: 
        :param prefix: 
        :param regex: `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpMatchQueryParams
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__612b53995446db2a985db53b447411f0ada83705f298a58bb130f4e32f234b43)
            check_type(argname="argument exact", value=exact, expected_type=type_hints["exact"])
            check_type(argname="argument prefix", value=prefix, expected_type=type_hints["prefix"])
            check_type(argname="argument regex", value=regex, expected_type=type_hints["regex"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if exact is not None:
            self._values["exact"] = exact
        if prefix is not None:
            self._values["prefix"] = prefix
        if regex is not None:
            self._values["regex"] = regex

    @builtins.property
    def exact(self) -> typing.Optional[builtins.str]:
        '''
        :schema: VirtualServiceSpecHttpMatchQueryParams#exact
        '''
        result = self._values.get("exact")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def prefix(self) -> typing.Optional[builtins.str]:
        '''
        :schema: VirtualServiceSpecHttpMatchQueryParams#prefix
        '''
        result = self._values.get("prefix")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def regex(self) -> typing.Optional[builtins.str]:
        '''`RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpMatchQueryParams#regex
        '''
        result = self._values.get("regex")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpMatchQueryParams(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpMatchScheme",
    jsii_struct_bases=[],
    name_mapping={"exact": "exact", "prefix": "prefix", "regex": "regex"},
)
class VirtualServiceSpecHttpMatchScheme:
    def __init__(
        self,
        *,
        exact: typing.Optional[builtins.str] = None,
        prefix: typing.Optional[builtins.str] = None,
        regex: typing.Optional[builtins.str] = None,
    ) -> None:
        '''URI Scheme values are case-sensitive and formatted as follows: - ``exact: "value"`` for exact string match - ``prefix: "value"`` for prefix-based match - ``regex: "value"`` for `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :param exact: 
        :param prefix: 
        :param regex: `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpMatchScheme
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__d1014466e645e2d46693c1afd6e97187d9ab25b4cb5d26f340e4c81d211f6128)
            check_type(argname="argument exact", value=exact, expected_type=type_hints["exact"])
            check_type(argname="argument prefix", value=prefix, expected_type=type_hints["prefix"])
            check_type(argname="argument regex", value=regex, expected_type=type_hints["regex"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if exact is not None:
            self._values["exact"] = exact
        if prefix is not None:
            self._values["prefix"] = prefix
        if regex is not None:
            self._values["regex"] = regex

    @builtins.property
    def exact(self) -> typing.Optional[builtins.str]:
        '''
        :schema: VirtualServiceSpecHttpMatchScheme#exact
        '''
        result = self._values.get("exact")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def prefix(self) -> typing.Optional[builtins.str]:
        '''
        :schema: VirtualServiceSpecHttpMatchScheme#prefix
        '''
        result = self._values.get("prefix")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def regex(self) -> typing.Optional[builtins.str]:
        '''`RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpMatchScheme#regex
        '''
        result = self._values.get("regex")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpMatchScheme(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpMatchUri",
    jsii_struct_bases=[],
    name_mapping={"exact": "exact", "prefix": "prefix", "regex": "regex"},
)
class VirtualServiceSpecHttpMatchUri:
    def __init__(
        self,
        *,
        exact: typing.Optional[builtins.str] = None,
        prefix: typing.Optional[builtins.str] = None,
        regex: typing.Optional[builtins.str] = None,
    ) -> None:
        '''URI to match values are case-sensitive and formatted as follows: - ``exact: "value"`` for exact string match - ``prefix: "value"`` for prefix-based match - ``regex: "value"`` for `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :param exact: 
        :param prefix: 
        :param regex: `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpMatchUri
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__87e6fbaf31e37b46a430f0de4ea48db75969e2b55b953d26404fcd57071aaf90)
            check_type(argname="argument exact", value=exact, expected_type=type_hints["exact"])
            check_type(argname="argument prefix", value=prefix, expected_type=type_hints["prefix"])
            check_type(argname="argument regex", value=regex, expected_type=type_hints["regex"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if exact is not None:
            self._values["exact"] = exact
        if prefix is not None:
            self._values["prefix"] = prefix
        if regex is not None:
            self._values["regex"] = regex

    @builtins.property
    def exact(self) -> typing.Optional[builtins.str]:
        '''
        :schema: VirtualServiceSpecHttpMatchUri#exact
        '''
        result = self._values.get("exact")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def prefix(self) -> typing.Optional[builtins.str]:
        '''
        :schema: VirtualServiceSpecHttpMatchUri#prefix
        '''
        result = self._values.get("prefix")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def regex(self) -> typing.Optional[builtins.str]:
        '''`RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpMatchUri#regex
        '''
        result = self._values.get("regex")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpMatchUri(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpMatchWithoutHeaders",
    jsii_struct_bases=[],
    name_mapping={"exact": "exact", "prefix": "prefix", "regex": "regex"},
)
class VirtualServiceSpecHttpMatchWithoutHeaders:
    def __init__(
        self,
        *,
        exact: typing.Optional[builtins.str] = None,
        prefix: typing.Optional[builtins.str] = None,
        regex: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param exact: 
        :param prefix: 
        :param regex: `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpMatchWithoutHeaders
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__5ce0c1c56f2acb6821f374dc85e3f18524c5a6b457e258129272f70625b9182d)
            check_type(argname="argument exact", value=exact, expected_type=type_hints["exact"])
            check_type(argname="argument prefix", value=prefix, expected_type=type_hints["prefix"])
            check_type(argname="argument regex", value=regex, expected_type=type_hints["regex"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if exact is not None:
            self._values["exact"] = exact
        if prefix is not None:
            self._values["prefix"] = prefix
        if regex is not None:
            self._values["regex"] = regex

    @builtins.property
    def exact(self) -> typing.Optional[builtins.str]:
        '''
        :schema: VirtualServiceSpecHttpMatchWithoutHeaders#exact
        '''
        result = self._values.get("exact")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def prefix(self) -> typing.Optional[builtins.str]:
        '''
        :schema: VirtualServiceSpecHttpMatchWithoutHeaders#prefix
        '''
        result = self._values.get("prefix")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def regex(self) -> typing.Optional[builtins.str]:
        '''`RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpMatchWithoutHeaders#regex
        '''
        result = self._values.get("regex")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpMatchWithoutHeaders(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpMirror",
    jsii_struct_bases=[],
    name_mapping={"host": "host", "port": "port", "subset": "subset"},
)
class VirtualServiceSpecHttpMirror:
    def __init__(
        self,
        *,
        host: builtins.str,
        port: typing.Optional[typing.Union["VirtualServiceSpecHttpMirrorPort", typing.Dict[builtins.str, typing.Any]]] = None,
        subset: typing.Optional[builtins.str] = None,
    ) -> None:
        '''Mirror HTTP traffic to a another destination in addition to forwarding the requests to the intended destination.

        :param host: The name of a service from the service registry.
        :param port: Specifies the port on the host that is being addressed.
        :param subset: The name of a subset within the service.

        :schema: VirtualServiceSpecHttpMirror
        '''
        if isinstance(port, dict):
            port = VirtualServiceSpecHttpMirrorPort(**port)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__6be57417319b9653937ca8951a5d82b8c573373e83972599b36ee6f860065d4e)
            check_type(argname="argument host", value=host, expected_type=type_hints["host"])
            check_type(argname="argument port", value=port, expected_type=type_hints["port"])
            check_type(argname="argument subset", value=subset, expected_type=type_hints["subset"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "host": host,
        }
        if port is not None:
            self._values["port"] = port
        if subset is not None:
            self._values["subset"] = subset

    @builtins.property
    def host(self) -> builtins.str:
        '''The name of a service from the service registry.

        :schema: VirtualServiceSpecHttpMirror#host
        '''
        result = self._values.get("host")
        assert result is not None, "Required property 'host' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def port(self) -> typing.Optional["VirtualServiceSpecHttpMirrorPort"]:
        '''Specifies the port on the host that is being addressed.

        :schema: VirtualServiceSpecHttpMirror#port
        '''
        result = self._values.get("port")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpMirrorPort"], result)

    @builtins.property
    def subset(self) -> typing.Optional[builtins.str]:
        '''The name of a subset within the service.

        :schema: VirtualServiceSpecHttpMirror#subset
        '''
        result = self._values.get("subset")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpMirror(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpMirrorPercentage",
    jsii_struct_bases=[],
    name_mapping={"value": "value"},
)
class VirtualServiceSpecHttpMirrorPercentage:
    def __init__(self, *, value: typing.Optional[jsii.Number] = None) -> None:
        '''Percentage of the traffic to be mirrored by the ``mirror`` field.

        :param value: 

        :schema: VirtualServiceSpecHttpMirrorPercentage
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__6abb8faf8937004f61ad4c323b85fb600b8116fba6fa3f2da42ef52e26830475)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if value is not None:
            self._values["value"] = value

    @builtins.property
    def value(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: VirtualServiceSpecHttpMirrorPercentage#value
        '''
        result = self._values.get("value")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpMirrorPercentage(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpMirrorPort",
    jsii_struct_bases=[],
    name_mapping={"number": "number"},
)
class VirtualServiceSpecHttpMirrorPort:
    def __init__(self, *, number: typing.Optional[jsii.Number] = None) -> None:
        '''Specifies the port on the host that is being addressed.

        :param number: 

        :schema: VirtualServiceSpecHttpMirrorPort
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__359cf080bd1b5f3af09fd9373dee72788ee6a1311d07cf108fdef9309a6b02ba)
            check_type(argname="argument number", value=number, expected_type=type_hints["number"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if number is not None:
            self._values["number"] = number

    @builtins.property
    def number(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: VirtualServiceSpecHttpMirrorPort#number
        '''
        result = self._values.get("number")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpMirrorPort(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpMirrors",
    jsii_struct_bases=[],
    name_mapping={"destination": "destination", "percentage": "percentage"},
)
class VirtualServiceSpecHttpMirrors:
    def __init__(
        self,
        *,
        destination: typing.Union["VirtualServiceSpecHttpMirrorsDestination", typing.Dict[builtins.str, typing.Any]],
        percentage: typing.Optional[typing.Union["VirtualServiceSpecHttpMirrorsPercentage", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''
        :param destination: Destination specifies the target of the mirror operation.
        :param percentage: Percentage of the traffic to be mirrored by the ``destination`` field.

        :schema: VirtualServiceSpecHttpMirrors
        '''
        if isinstance(destination, dict):
            destination = VirtualServiceSpecHttpMirrorsDestination(**destination)
        if isinstance(percentage, dict):
            percentage = VirtualServiceSpecHttpMirrorsPercentage(**percentage)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__f61653044b929380ffc6d5ded6c6722fcaa62846e6b0fbfba5793e194753d9e6)
            check_type(argname="argument destination", value=destination, expected_type=type_hints["destination"])
            check_type(argname="argument percentage", value=percentage, expected_type=type_hints["percentage"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "destination": destination,
        }
        if percentage is not None:
            self._values["percentage"] = percentage

    @builtins.property
    def destination(self) -> "VirtualServiceSpecHttpMirrorsDestination":
        '''Destination specifies the target of the mirror operation.

        :schema: VirtualServiceSpecHttpMirrors#destination
        '''
        result = self._values.get("destination")
        assert result is not None, "Required property 'destination' is missing"
        return typing.cast("VirtualServiceSpecHttpMirrorsDestination", result)

    @builtins.property
    def percentage(self) -> typing.Optional["VirtualServiceSpecHttpMirrorsPercentage"]:
        '''Percentage of the traffic to be mirrored by the ``destination`` field.

        :schema: VirtualServiceSpecHttpMirrors#percentage
        '''
        result = self._values.get("percentage")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpMirrorsPercentage"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpMirrors(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpMirrorsDestination",
    jsii_struct_bases=[],
    name_mapping={"host": "host", "port": "port", "subset": "subset"},
)
class VirtualServiceSpecHttpMirrorsDestination:
    def __init__(
        self,
        *,
        host: builtins.str,
        port: typing.Optional[typing.Union["VirtualServiceSpecHttpMirrorsDestinationPort", typing.Dict[builtins.str, typing.Any]]] = None,
        subset: typing.Optional[builtins.str] = None,
    ) -> None:
        '''Destination specifies the target of the mirror operation.

        :param host: The name of a service from the service registry.
        :param port: Specifies the port on the host that is being addressed.
        :param subset: The name of a subset within the service.

        :schema: VirtualServiceSpecHttpMirrorsDestination
        '''
        if isinstance(port, dict):
            port = VirtualServiceSpecHttpMirrorsDestinationPort(**port)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__03c16e529e42c0e772ac2528579e0fbad0a2b14af458ba03886ea8c07d5a6f11)
            check_type(argname="argument host", value=host, expected_type=type_hints["host"])
            check_type(argname="argument port", value=port, expected_type=type_hints["port"])
            check_type(argname="argument subset", value=subset, expected_type=type_hints["subset"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "host": host,
        }
        if port is not None:
            self._values["port"] = port
        if subset is not None:
            self._values["subset"] = subset

    @builtins.property
    def host(self) -> builtins.str:
        '''The name of a service from the service registry.

        :schema: VirtualServiceSpecHttpMirrorsDestination#host
        '''
        result = self._values.get("host")
        assert result is not None, "Required property 'host' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def port(self) -> typing.Optional["VirtualServiceSpecHttpMirrorsDestinationPort"]:
        '''Specifies the port on the host that is being addressed.

        :schema: VirtualServiceSpecHttpMirrorsDestination#port
        '''
        result = self._values.get("port")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpMirrorsDestinationPort"], result)

    @builtins.property
    def subset(self) -> typing.Optional[builtins.str]:
        '''The name of a subset within the service.

        :schema: VirtualServiceSpecHttpMirrorsDestination#subset
        '''
        result = self._values.get("subset")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpMirrorsDestination(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpMirrorsDestinationPort",
    jsii_struct_bases=[],
    name_mapping={"number": "number"},
)
class VirtualServiceSpecHttpMirrorsDestinationPort:
    def __init__(self, *, number: typing.Optional[jsii.Number] = None) -> None:
        '''Specifies the port on the host that is being addressed.

        :param number: 

        :schema: VirtualServiceSpecHttpMirrorsDestinationPort
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__f86475e1cab607d7d60173a1efc0f1c9c6d6a7af7e7373dd672e995659fb6e75)
            check_type(argname="argument number", value=number, expected_type=type_hints["number"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if number is not None:
            self._values["number"] = number

    @builtins.property
    def number(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: VirtualServiceSpecHttpMirrorsDestinationPort#number
        '''
        result = self._values.get("number")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpMirrorsDestinationPort(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpMirrorsPercentage",
    jsii_struct_bases=[],
    name_mapping={"value": "value"},
)
class VirtualServiceSpecHttpMirrorsPercentage:
    def __init__(self, *, value: typing.Optional[jsii.Number] = None) -> None:
        '''Percentage of the traffic to be mirrored by the ``destination`` field.

        :param value: 

        :schema: VirtualServiceSpecHttpMirrorsPercentage
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__1aa6785fd7c525bbaa57e60f6c626b240b1a1bb8bf09859edc69f1a19c97501a)
            check_type(argname="argument value", value=value, expected_type=type_hints["value"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if value is not None:
            self._values["value"] = value

    @builtins.property
    def value(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: VirtualServiceSpecHttpMirrorsPercentage#value
        '''
        result = self._values.get("value")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpMirrorsPercentage(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpRedirect",
    jsii_struct_bases=[],
    name_mapping={
        "authority": "authority",
        "derive_port": "derivePort",
        "port": "port",
        "redirect_code": "redirectCode",
        "scheme": "scheme",
        "uri": "uri",
    },
)
class VirtualServiceSpecHttpRedirect:
    def __init__(
        self,
        *,
        authority: typing.Optional[builtins.str] = None,
        derive_port: typing.Optional["VirtualServiceSpecHttpRedirectDerivePort"] = None,
        port: typing.Optional[jsii.Number] = None,
        redirect_code: typing.Optional[jsii.Number] = None,
        scheme: typing.Optional[builtins.str] = None,
        uri: typing.Optional[builtins.str] = None,
    ) -> None:
        '''A HTTP rule can either return a direct_response, redirect or forward (default) traffic.

        :param authority: On a redirect, overwrite the Authority/Host portion of the URL with this value.
        :param derive_port: On a redirect, dynamically set the port: * FROM_PROTOCOL_DEFAULT: automatically set to 80 for HTTP and 443 for HTTPS. Valid Options: FROM_PROTOCOL_DEFAULT, FROM_REQUEST_PORT
        :param port: On a redirect, overwrite the port portion of the URL with this value.
        :param redirect_code: On a redirect, Specifies the HTTP status code to use in the redirect response.
        :param scheme: On a redirect, overwrite the scheme portion of the URL with this value.
        :param uri: On a redirect, overwrite the Path portion of the URL with this value.

        :schema: VirtualServiceSpecHttpRedirect
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__55e5d44576e516e3bb4e0eaf57db524aafacbff2c87b80bceeb4cf04b3e8f960)
            check_type(argname="argument authority", value=authority, expected_type=type_hints["authority"])
            check_type(argname="argument derive_port", value=derive_port, expected_type=type_hints["derive_port"])
            check_type(argname="argument port", value=port, expected_type=type_hints["port"])
            check_type(argname="argument redirect_code", value=redirect_code, expected_type=type_hints["redirect_code"])
            check_type(argname="argument scheme", value=scheme, expected_type=type_hints["scheme"])
            check_type(argname="argument uri", value=uri, expected_type=type_hints["uri"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if authority is not None:
            self._values["authority"] = authority
        if derive_port is not None:
            self._values["derive_port"] = derive_port
        if port is not None:
            self._values["port"] = port
        if redirect_code is not None:
            self._values["redirect_code"] = redirect_code
        if scheme is not None:
            self._values["scheme"] = scheme
        if uri is not None:
            self._values["uri"] = uri

    @builtins.property
    def authority(self) -> typing.Optional[builtins.str]:
        '''On a redirect, overwrite the Authority/Host portion of the URL with this value.

        :schema: VirtualServiceSpecHttpRedirect#authority
        '''
        result = self._values.get("authority")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def derive_port(
        self,
    ) -> typing.Optional["VirtualServiceSpecHttpRedirectDerivePort"]:
        '''On a redirect, dynamically set the port: * FROM_PROTOCOL_DEFAULT: automatically set to 80 for HTTP and 443 for HTTPS.

        Valid Options: FROM_PROTOCOL_DEFAULT, FROM_REQUEST_PORT

        :schema: VirtualServiceSpecHttpRedirect#derivePort
        '''
        result = self._values.get("derive_port")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpRedirectDerivePort"], result)

    @builtins.property
    def port(self) -> typing.Optional[jsii.Number]:
        '''On a redirect, overwrite the port portion of the URL with this value.

        :schema: VirtualServiceSpecHttpRedirect#port
        '''
        result = self._values.get("port")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def redirect_code(self) -> typing.Optional[jsii.Number]:
        '''On a redirect, Specifies the HTTP status code to use in the redirect response.

        :schema: VirtualServiceSpecHttpRedirect#redirectCode
        '''
        result = self._values.get("redirect_code")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def scheme(self) -> typing.Optional[builtins.str]:
        '''On a redirect, overwrite the scheme portion of the URL with this value.

        :schema: VirtualServiceSpecHttpRedirect#scheme
        '''
        result = self._values.get("scheme")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def uri(self) -> typing.Optional[builtins.str]:
        '''On a redirect, overwrite the Path portion of the URL with this value.

        :schema: VirtualServiceSpecHttpRedirect#uri
        '''
        result = self._values.get("uri")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpRedirect(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(jsii_type="ioistionetworking.VirtualServiceSpecHttpRedirectDerivePort")
class VirtualServiceSpecHttpRedirectDerivePort(enum.Enum):
    '''On a redirect, dynamically set the port: * FROM_PROTOCOL_DEFAULT: automatically set to 80 for HTTP and 443 for HTTPS.

    Valid Options: FROM_PROTOCOL_DEFAULT, FROM_REQUEST_PORT

    :schema: VirtualServiceSpecHttpRedirectDerivePort
    '''

    FROM_UNDERSCORE_PROTOCOL_UNDERSCORE_DEFAULT = "FROM_UNDERSCORE_PROTOCOL_UNDERSCORE_DEFAULT"
    '''FROM_PROTOCOL_DEFAULT.'''
    FROM_UNDERSCORE_REQUEST_UNDERSCORE_PORT = "FROM_UNDERSCORE_REQUEST_UNDERSCORE_PORT"
    '''FROM_REQUEST_PORT.'''


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpRetries",
    jsii_struct_bases=[],
    name_mapping={
        "attempts": "attempts",
        "backoff": "backoff",
        "per_try_timeout": "perTryTimeout",
        "retry_ignore_previous_hosts": "retryIgnorePreviousHosts",
        "retry_on": "retryOn",
        "retry_remote_localities": "retryRemoteLocalities",
    },
)
class VirtualServiceSpecHttpRetries:
    def __init__(
        self,
        *,
        attempts: typing.Optional[jsii.Number] = None,
        backoff: typing.Optional[builtins.str] = None,
        per_try_timeout: typing.Optional[builtins.str] = None,
        retry_ignore_previous_hosts: typing.Optional[builtins.bool] = None,
        retry_on: typing.Optional[builtins.str] = None,
        retry_remote_localities: typing.Optional[builtins.bool] = None,
    ) -> None:
        '''Retry policy for HTTP requests.

        :param attempts: Number of retries to be allowed for a given request.
        :param backoff: Specifies the minimum duration between retry attempts.
        :param per_try_timeout: Timeout per attempt for a given request, including the initial call and any retries.
        :param retry_ignore_previous_hosts: Flag to specify whether the retries should ignore previously tried hosts during retry.
        :param retry_on: Specifies the conditions under which retry takes place.
        :param retry_remote_localities: Flag to specify whether the retries should retry to other localities.

        :schema: VirtualServiceSpecHttpRetries
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__1dfa557ebcfef7c405c6b962fc05c63b683a1f7cfcedf425d445ef3aaaa2fe6c)
            check_type(argname="argument attempts", value=attempts, expected_type=type_hints["attempts"])
            check_type(argname="argument backoff", value=backoff, expected_type=type_hints["backoff"])
            check_type(argname="argument per_try_timeout", value=per_try_timeout, expected_type=type_hints["per_try_timeout"])
            check_type(argname="argument retry_ignore_previous_hosts", value=retry_ignore_previous_hosts, expected_type=type_hints["retry_ignore_previous_hosts"])
            check_type(argname="argument retry_on", value=retry_on, expected_type=type_hints["retry_on"])
            check_type(argname="argument retry_remote_localities", value=retry_remote_localities, expected_type=type_hints["retry_remote_localities"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if attempts is not None:
            self._values["attempts"] = attempts
        if backoff is not None:
            self._values["backoff"] = backoff
        if per_try_timeout is not None:
            self._values["per_try_timeout"] = per_try_timeout
        if retry_ignore_previous_hosts is not None:
            self._values["retry_ignore_previous_hosts"] = retry_ignore_previous_hosts
        if retry_on is not None:
            self._values["retry_on"] = retry_on
        if retry_remote_localities is not None:
            self._values["retry_remote_localities"] = retry_remote_localities

    @builtins.property
    def attempts(self) -> typing.Optional[jsii.Number]:
        '''Number of retries to be allowed for a given request.

        :schema: VirtualServiceSpecHttpRetries#attempts
        '''
        result = self._values.get("attempts")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def backoff(self) -> typing.Optional[builtins.str]:
        '''Specifies the minimum duration between retry attempts.

        :schema: VirtualServiceSpecHttpRetries#backoff
        '''
        result = self._values.get("backoff")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def per_try_timeout(self) -> typing.Optional[builtins.str]:
        '''Timeout per attempt for a given request, including the initial call and any retries.

        :schema: VirtualServiceSpecHttpRetries#perTryTimeout
        '''
        result = self._values.get("per_try_timeout")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def retry_ignore_previous_hosts(self) -> typing.Optional[builtins.bool]:
        '''Flag to specify whether the retries should ignore previously tried hosts during retry.

        :schema: VirtualServiceSpecHttpRetries#retryIgnorePreviousHosts
        '''
        result = self._values.get("retry_ignore_previous_hosts")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def retry_on(self) -> typing.Optional[builtins.str]:
        '''Specifies the conditions under which retry takes place.

        :schema: VirtualServiceSpecHttpRetries#retryOn
        '''
        result = self._values.get("retry_on")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def retry_remote_localities(self) -> typing.Optional[builtins.bool]:
        '''Flag to specify whether the retries should retry to other localities.

        :schema: VirtualServiceSpecHttpRetries#retryRemoteLocalities
        '''
        result = self._values.get("retry_remote_localities")
        return typing.cast(typing.Optional[builtins.bool], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpRetries(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpRewrite",
    jsii_struct_bases=[],
    name_mapping={
        "authority": "authority",
        "uri": "uri",
        "uri_regex_rewrite": "uriRegexRewrite",
    },
)
class VirtualServiceSpecHttpRewrite:
    def __init__(
        self,
        *,
        authority: typing.Optional[builtins.str] = None,
        uri: typing.Optional[builtins.str] = None,
        uri_regex_rewrite: typing.Optional[typing.Union["VirtualServiceSpecHttpRewriteUriRegexRewrite", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Rewrite HTTP URIs and Authority headers.

        :param authority: rewrite the Authority/Host header with this value.
        :param uri: rewrite the path (or the prefix) portion of the URI with this value.
        :param uri_regex_rewrite: rewrite the path portion of the URI with the specified regex.

        :schema: VirtualServiceSpecHttpRewrite
        '''
        if isinstance(uri_regex_rewrite, dict):
            uri_regex_rewrite = VirtualServiceSpecHttpRewriteUriRegexRewrite(**uri_regex_rewrite)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__f322f1b3650874cd4a1aa7f13950db289a8d30d4e5974a009b852c0c305c4787)
            check_type(argname="argument authority", value=authority, expected_type=type_hints["authority"])
            check_type(argname="argument uri", value=uri, expected_type=type_hints["uri"])
            check_type(argname="argument uri_regex_rewrite", value=uri_regex_rewrite, expected_type=type_hints["uri_regex_rewrite"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if authority is not None:
            self._values["authority"] = authority
        if uri is not None:
            self._values["uri"] = uri
        if uri_regex_rewrite is not None:
            self._values["uri_regex_rewrite"] = uri_regex_rewrite

    @builtins.property
    def authority(self) -> typing.Optional[builtins.str]:
        '''rewrite the Authority/Host header with this value.

        :schema: VirtualServiceSpecHttpRewrite#authority
        '''
        result = self._values.get("authority")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def uri(self) -> typing.Optional[builtins.str]:
        '''rewrite the path (or the prefix) portion of the URI with this value.

        :schema: VirtualServiceSpecHttpRewrite#uri
        '''
        result = self._values.get("uri")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def uri_regex_rewrite(
        self,
    ) -> typing.Optional["VirtualServiceSpecHttpRewriteUriRegexRewrite"]:
        '''rewrite the path portion of the URI with the specified regex.

        :schema: VirtualServiceSpecHttpRewrite#uriRegexRewrite
        '''
        result = self._values.get("uri_regex_rewrite")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpRewriteUriRegexRewrite"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpRewrite(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpRewriteUriRegexRewrite",
    jsii_struct_bases=[],
    name_mapping={"match": "match", "rewrite": "rewrite"},
)
class VirtualServiceSpecHttpRewriteUriRegexRewrite:
    def __init__(
        self,
        *,
        match: typing.Optional[builtins.str] = None,
        rewrite: typing.Optional[builtins.str] = None,
    ) -> None:
        '''rewrite the path portion of the URI with the specified regex.

        :param match: `RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.
        :param rewrite: The string that should replace into matching portions of original URI.

        :schema: VirtualServiceSpecHttpRewriteUriRegexRewrite
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__7f6fea750802be9932e672b24e910bca72accd04b6d934f0fb412025625ab556)
            check_type(argname="argument match", value=match, expected_type=type_hints["match"])
            check_type(argname="argument rewrite", value=rewrite, expected_type=type_hints["rewrite"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if match is not None:
            self._values["match"] = match
        if rewrite is not None:
            self._values["rewrite"] = rewrite

    @builtins.property
    def match(self) -> typing.Optional[builtins.str]:
        '''`RE2 style regex-based match <https://github.com/google/re2/wiki/Syntax>`_.

        :schema: VirtualServiceSpecHttpRewriteUriRegexRewrite#match
        '''
        result = self._values.get("match")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def rewrite(self) -> typing.Optional[builtins.str]:
        '''The string that should replace into matching portions of original URI.

        :schema: VirtualServiceSpecHttpRewriteUriRegexRewrite#rewrite
        '''
        result = self._values.get("rewrite")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpRewriteUriRegexRewrite(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpRoute",
    jsii_struct_bases=[],
    name_mapping={
        "destination": "destination",
        "headers": "headers",
        "weight": "weight",
    },
)
class VirtualServiceSpecHttpRoute:
    def __init__(
        self,
        *,
        destination: typing.Union["VirtualServiceSpecHttpRouteDestination", typing.Dict[builtins.str, typing.Any]],
        headers: typing.Optional[typing.Union["VirtualServiceSpecHttpRouteHeaders", typing.Dict[builtins.str, typing.Any]]] = None,
        weight: typing.Optional[jsii.Number] = None,
    ) -> None:
        '''
        :param destination: Destination uniquely identifies the instances of a service to which the request/connection should be forwarded to.
        :param headers: 
        :param weight: Weight specifies the relative proportion of traffic to be forwarded to the destination.

        :schema: VirtualServiceSpecHttpRoute
        '''
        if isinstance(destination, dict):
            destination = VirtualServiceSpecHttpRouteDestination(**destination)
        if isinstance(headers, dict):
            headers = VirtualServiceSpecHttpRouteHeaders(**headers)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__36467b5047d97cf59f9edc3965e5b42908a70a8614c069eb29b24bc966ddf27f)
            check_type(argname="argument destination", value=destination, expected_type=type_hints["destination"])
            check_type(argname="argument headers", value=headers, expected_type=type_hints["headers"])
            check_type(argname="argument weight", value=weight, expected_type=type_hints["weight"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "destination": destination,
        }
        if headers is not None:
            self._values["headers"] = headers
        if weight is not None:
            self._values["weight"] = weight

    @builtins.property
    def destination(self) -> "VirtualServiceSpecHttpRouteDestination":
        '''Destination uniquely identifies the instances of a service to which the request/connection should be forwarded to.

        :schema: VirtualServiceSpecHttpRoute#destination
        '''
        result = self._values.get("destination")
        assert result is not None, "Required property 'destination' is missing"
        return typing.cast("VirtualServiceSpecHttpRouteDestination", result)

    @builtins.property
    def headers(self) -> typing.Optional["VirtualServiceSpecHttpRouteHeaders"]:
        '''
        :schema: VirtualServiceSpecHttpRoute#headers
        '''
        result = self._values.get("headers")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpRouteHeaders"], result)

    @builtins.property
    def weight(self) -> typing.Optional[jsii.Number]:
        '''Weight specifies the relative proportion of traffic to be forwarded to the destination.

        :schema: VirtualServiceSpecHttpRoute#weight
        '''
        result = self._values.get("weight")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpRoute(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpRouteDestination",
    jsii_struct_bases=[],
    name_mapping={"host": "host", "port": "port", "subset": "subset"},
)
class VirtualServiceSpecHttpRouteDestination:
    def __init__(
        self,
        *,
        host: builtins.str,
        port: typing.Optional[typing.Union["VirtualServiceSpecHttpRouteDestinationPort", typing.Dict[builtins.str, typing.Any]]] = None,
        subset: typing.Optional[builtins.str] = None,
    ) -> None:
        '''Destination uniquely identifies the instances of a service to which the request/connection should be forwarded to.

        :param host: The name of a service from the service registry.
        :param port: Specifies the port on the host that is being addressed.
        :param subset: The name of a subset within the service.

        :schema: VirtualServiceSpecHttpRouteDestination
        '''
        if isinstance(port, dict):
            port = VirtualServiceSpecHttpRouteDestinationPort(**port)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__fd9f90d355e36a374dda9c919899ab911122aaf11047e8cc7a6562a152e2c802)
            check_type(argname="argument host", value=host, expected_type=type_hints["host"])
            check_type(argname="argument port", value=port, expected_type=type_hints["port"])
            check_type(argname="argument subset", value=subset, expected_type=type_hints["subset"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "host": host,
        }
        if port is not None:
            self._values["port"] = port
        if subset is not None:
            self._values["subset"] = subset

    @builtins.property
    def host(self) -> builtins.str:
        '''The name of a service from the service registry.

        :schema: VirtualServiceSpecHttpRouteDestination#host
        '''
        result = self._values.get("host")
        assert result is not None, "Required property 'host' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def port(self) -> typing.Optional["VirtualServiceSpecHttpRouteDestinationPort"]:
        '''Specifies the port on the host that is being addressed.

        :schema: VirtualServiceSpecHttpRouteDestination#port
        '''
        result = self._values.get("port")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpRouteDestinationPort"], result)

    @builtins.property
    def subset(self) -> typing.Optional[builtins.str]:
        '''The name of a subset within the service.

        :schema: VirtualServiceSpecHttpRouteDestination#subset
        '''
        result = self._values.get("subset")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpRouteDestination(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpRouteDestinationPort",
    jsii_struct_bases=[],
    name_mapping={"number": "number"},
)
class VirtualServiceSpecHttpRouteDestinationPort:
    def __init__(self, *, number: typing.Optional[jsii.Number] = None) -> None:
        '''Specifies the port on the host that is being addressed.

        :param number: 

        :schema: VirtualServiceSpecHttpRouteDestinationPort
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__18ffbb0879514b6c7d658c7ffa0d478bdc1ac413f0bd760e684f97ad136120c0)
            check_type(argname="argument number", value=number, expected_type=type_hints["number"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if number is not None:
            self._values["number"] = number

    @builtins.property
    def number(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: VirtualServiceSpecHttpRouteDestinationPort#number
        '''
        result = self._values.get("number")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpRouteDestinationPort(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpRouteHeaders",
    jsii_struct_bases=[],
    name_mapping={"request": "request", "response": "response"},
)
class VirtualServiceSpecHttpRouteHeaders:
    def __init__(
        self,
        *,
        request: typing.Optional[typing.Union["VirtualServiceSpecHttpRouteHeadersRequest", typing.Dict[builtins.str, typing.Any]]] = None,
        response: typing.Optional[typing.Union["VirtualServiceSpecHttpRouteHeadersResponse", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''
        :param request: 
        :param response: 

        :schema: VirtualServiceSpecHttpRouteHeaders
        '''
        if isinstance(request, dict):
            request = VirtualServiceSpecHttpRouteHeadersRequest(**request)
        if isinstance(response, dict):
            response = VirtualServiceSpecHttpRouteHeadersResponse(**response)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__39f60c255bfd6d5d848a248375a2de30dfa226e42c20e1783eaf6685c2149b05)
            check_type(argname="argument request", value=request, expected_type=type_hints["request"])
            check_type(argname="argument response", value=response, expected_type=type_hints["response"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if request is not None:
            self._values["request"] = request
        if response is not None:
            self._values["response"] = response

    @builtins.property
    def request(self) -> typing.Optional["VirtualServiceSpecHttpRouteHeadersRequest"]:
        '''
        :schema: VirtualServiceSpecHttpRouteHeaders#request
        '''
        result = self._values.get("request")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpRouteHeadersRequest"], result)

    @builtins.property
    def response(self) -> typing.Optional["VirtualServiceSpecHttpRouteHeadersResponse"]:
        '''
        :schema: VirtualServiceSpecHttpRouteHeaders#response
        '''
        result = self._values.get("response")
        return typing.cast(typing.Optional["VirtualServiceSpecHttpRouteHeadersResponse"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpRouteHeaders(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpRouteHeadersRequest",
    jsii_struct_bases=[],
    name_mapping={"add": "add", "remove": "remove", "set": "set"},
)
class VirtualServiceSpecHttpRouteHeadersRequest:
    def __init__(
        self,
        *,
        add: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
        remove: typing.Optional[typing.Sequence[builtins.str]] = None,
        set: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
    ) -> None:
        '''
        :param add: 
        :param remove: 
        :param set: 

        :schema: VirtualServiceSpecHttpRouteHeadersRequest
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__35c55dd26e7184741fe8e4c6a64e0a67ebc724e049c0e046bd5d3def1ecfbc68)
            check_type(argname="argument add", value=add, expected_type=type_hints["add"])
            check_type(argname="argument remove", value=remove, expected_type=type_hints["remove"])
            check_type(argname="argument set", value=set, expected_type=type_hints["set"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if add is not None:
            self._values["add"] = add
        if remove is not None:
            self._values["remove"] = remove
        if set is not None:
            self._values["set"] = set

    @builtins.property
    def add(self) -> typing.Optional[typing.Mapping[builtins.str, builtins.str]]:
        '''
        :schema: VirtualServiceSpecHttpRouteHeadersRequest#add
        '''
        result = self._values.get("add")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, builtins.str]], result)

    @builtins.property
    def remove(self) -> typing.Optional[typing.List[builtins.str]]:
        '''
        :schema: VirtualServiceSpecHttpRouteHeadersRequest#remove
        '''
        result = self._values.get("remove")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def set(self) -> typing.Optional[typing.Mapping[builtins.str, builtins.str]]:
        '''
        :schema: VirtualServiceSpecHttpRouteHeadersRequest#set
        '''
        result = self._values.get("set")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, builtins.str]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpRouteHeadersRequest(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecHttpRouteHeadersResponse",
    jsii_struct_bases=[],
    name_mapping={"add": "add", "remove": "remove", "set": "set"},
)
class VirtualServiceSpecHttpRouteHeadersResponse:
    def __init__(
        self,
        *,
        add: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
        remove: typing.Optional[typing.Sequence[builtins.str]] = None,
        set: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
    ) -> None:
        '''
        :param add: 
        :param remove: 
        :param set: 

        :schema: VirtualServiceSpecHttpRouteHeadersResponse
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__bc13481dd0178c3e54b5cfb9b924d5922d0bbacb3c086f75cf9dce2d8a3057ab)
            check_type(argname="argument add", value=add, expected_type=type_hints["add"])
            check_type(argname="argument remove", value=remove, expected_type=type_hints["remove"])
            check_type(argname="argument set", value=set, expected_type=type_hints["set"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if add is not None:
            self._values["add"] = add
        if remove is not None:
            self._values["remove"] = remove
        if set is not None:
            self._values["set"] = set

    @builtins.property
    def add(self) -> typing.Optional[typing.Mapping[builtins.str, builtins.str]]:
        '''
        :schema: VirtualServiceSpecHttpRouteHeadersResponse#add
        '''
        result = self._values.get("add")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, builtins.str]], result)

    @builtins.property
    def remove(self) -> typing.Optional[typing.List[builtins.str]]:
        '''
        :schema: VirtualServiceSpecHttpRouteHeadersResponse#remove
        '''
        result = self._values.get("remove")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def set(self) -> typing.Optional[typing.Mapping[builtins.str, builtins.str]]:
        '''
        :schema: VirtualServiceSpecHttpRouteHeadersResponse#set
        '''
        result = self._values.get("set")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, builtins.str]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecHttpRouteHeadersResponse(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecTcp",
    jsii_struct_bases=[],
    name_mapping={"match": "match", "route": "route"},
)
class VirtualServiceSpecTcp:
    def __init__(
        self,
        *,
        match: typing.Optional[typing.Sequence[typing.Union["VirtualServiceSpecTcpMatch", typing.Dict[builtins.str, typing.Any]]]] = None,
        route: typing.Optional[typing.Sequence[typing.Union["VirtualServiceSpecTcpRoute", typing.Dict[builtins.str, typing.Any]]]] = None,
    ) -> None:
        '''
        :param match: Match conditions to be satisfied for the rule to be activated.
        :param route: The destination to which the connection should be forwarded to.

        :schema: VirtualServiceSpecTcp
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__a8e792882448bb7f109ff3e373a0d7a281e3b7e202b3990ee893c2b7e7bb2458)
            check_type(argname="argument match", value=match, expected_type=type_hints["match"])
            check_type(argname="argument route", value=route, expected_type=type_hints["route"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if match is not None:
            self._values["match"] = match
        if route is not None:
            self._values["route"] = route

    @builtins.property
    def match(self) -> typing.Optional[typing.List["VirtualServiceSpecTcpMatch"]]:
        '''Match conditions to be satisfied for the rule to be activated.

        :schema: VirtualServiceSpecTcp#match
        '''
        result = self._values.get("match")
        return typing.cast(typing.Optional[typing.List["VirtualServiceSpecTcpMatch"]], result)

    @builtins.property
    def route(self) -> typing.Optional[typing.List["VirtualServiceSpecTcpRoute"]]:
        '''The destination to which the connection should be forwarded to.

        :schema: VirtualServiceSpecTcp#route
        '''
        result = self._values.get("route")
        return typing.cast(typing.Optional[typing.List["VirtualServiceSpecTcpRoute"]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecTcp(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecTcpMatch",
    jsii_struct_bases=[],
    name_mapping={
        "destination_subnets": "destinationSubnets",
        "gateways": "gateways",
        "port": "port",
        "source_labels": "sourceLabels",
        "source_namespace": "sourceNamespace",
        "source_subnet": "sourceSubnet",
    },
)
class VirtualServiceSpecTcpMatch:
    def __init__(
        self,
        *,
        destination_subnets: typing.Optional[typing.Sequence[builtins.str]] = None,
        gateways: typing.Optional[typing.Sequence[builtins.str]] = None,
        port: typing.Optional[jsii.Number] = None,
        source_labels: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
        source_namespace: typing.Optional[builtins.str] = None,
        source_subnet: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param destination_subnets: IPv4 or IPv6 ip addresses of destination with optional subnet.
        :param gateways: Names of gateways where the rule should be applied.
        :param port: Specifies the port on the host that is being addressed.
        :param source_labels: One or more labels that constrain the applicability of a rule to workloads with the given labels.
        :param source_namespace: Source namespace constraining the applicability of a rule to workloads in that namespace.
        :param source_subnet: 

        :schema: VirtualServiceSpecTcpMatch
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__713403965d4b6e07254f4526414e3182830e602f78c58ddc62004ac25652c1fa)
            check_type(argname="argument destination_subnets", value=destination_subnets, expected_type=type_hints["destination_subnets"])
            check_type(argname="argument gateways", value=gateways, expected_type=type_hints["gateways"])
            check_type(argname="argument port", value=port, expected_type=type_hints["port"])
            check_type(argname="argument source_labels", value=source_labels, expected_type=type_hints["source_labels"])
            check_type(argname="argument source_namespace", value=source_namespace, expected_type=type_hints["source_namespace"])
            check_type(argname="argument source_subnet", value=source_subnet, expected_type=type_hints["source_subnet"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if destination_subnets is not None:
            self._values["destination_subnets"] = destination_subnets
        if gateways is not None:
            self._values["gateways"] = gateways
        if port is not None:
            self._values["port"] = port
        if source_labels is not None:
            self._values["source_labels"] = source_labels
        if source_namespace is not None:
            self._values["source_namespace"] = source_namespace
        if source_subnet is not None:
            self._values["source_subnet"] = source_subnet

    @builtins.property
    def destination_subnets(self) -> typing.Optional[typing.List[builtins.str]]:
        '''IPv4 or IPv6 ip addresses of destination with optional subnet.

        :schema: VirtualServiceSpecTcpMatch#destinationSubnets
        '''
        result = self._values.get("destination_subnets")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def gateways(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Names of gateways where the rule should be applied.

        :schema: VirtualServiceSpecTcpMatch#gateways
        '''
        result = self._values.get("gateways")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def port(self) -> typing.Optional[jsii.Number]:
        '''Specifies the port on the host that is being addressed.

        :schema: VirtualServiceSpecTcpMatch#port
        '''
        result = self._values.get("port")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def source_labels(
        self,
    ) -> typing.Optional[typing.Mapping[builtins.str, builtins.str]]:
        '''One or more labels that constrain the applicability of a rule to workloads with the given labels.

        :schema: VirtualServiceSpecTcpMatch#sourceLabels
        '''
        result = self._values.get("source_labels")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, builtins.str]], result)

    @builtins.property
    def source_namespace(self) -> typing.Optional[builtins.str]:
        '''Source namespace constraining the applicability of a rule to workloads in that namespace.

        :schema: VirtualServiceSpecTcpMatch#sourceNamespace
        '''
        result = self._values.get("source_namespace")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def source_subnet(self) -> typing.Optional[builtins.str]:
        '''
        :schema: VirtualServiceSpecTcpMatch#sourceSubnet
        '''
        result = self._values.get("source_subnet")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecTcpMatch(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecTcpRoute",
    jsii_struct_bases=[],
    name_mapping={"destination": "destination", "weight": "weight"},
)
class VirtualServiceSpecTcpRoute:
    def __init__(
        self,
        *,
        destination: typing.Union["VirtualServiceSpecTcpRouteDestination", typing.Dict[builtins.str, typing.Any]],
        weight: typing.Optional[jsii.Number] = None,
    ) -> None:
        '''
        :param destination: Destination uniquely identifies the instances of a service to which the request/connection should be forwarded to.
        :param weight: Weight specifies the relative proportion of traffic to be forwarded to the destination.

        :schema: VirtualServiceSpecTcpRoute
        '''
        if isinstance(destination, dict):
            destination = VirtualServiceSpecTcpRouteDestination(**destination)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__1de28344d5ad2260df808a8e575c49c89a71f73b85972d0dc8be6ff3bb5f125b)
            check_type(argname="argument destination", value=destination, expected_type=type_hints["destination"])
            check_type(argname="argument weight", value=weight, expected_type=type_hints["weight"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "destination": destination,
        }
        if weight is not None:
            self._values["weight"] = weight

    @builtins.property
    def destination(self) -> "VirtualServiceSpecTcpRouteDestination":
        '''Destination uniquely identifies the instances of a service to which the request/connection should be forwarded to.

        :schema: VirtualServiceSpecTcpRoute#destination
        '''
        result = self._values.get("destination")
        assert result is not None, "Required property 'destination' is missing"
        return typing.cast("VirtualServiceSpecTcpRouteDestination", result)

    @builtins.property
    def weight(self) -> typing.Optional[jsii.Number]:
        '''Weight specifies the relative proportion of traffic to be forwarded to the destination.

        :schema: VirtualServiceSpecTcpRoute#weight
        '''
        result = self._values.get("weight")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecTcpRoute(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecTcpRouteDestination",
    jsii_struct_bases=[],
    name_mapping={"host": "host", "port": "port", "subset": "subset"},
)
class VirtualServiceSpecTcpRouteDestination:
    def __init__(
        self,
        *,
        host: builtins.str,
        port: typing.Optional[typing.Union["VirtualServiceSpecTcpRouteDestinationPort", typing.Dict[builtins.str, typing.Any]]] = None,
        subset: typing.Optional[builtins.str] = None,
    ) -> None:
        '''Destination uniquely identifies the instances of a service to which the request/connection should be forwarded to.

        :param host: The name of a service from the service registry.
        :param port: Specifies the port on the host that is being addressed.
        :param subset: The name of a subset within the service.

        :schema: VirtualServiceSpecTcpRouteDestination
        '''
        if isinstance(port, dict):
            port = VirtualServiceSpecTcpRouteDestinationPort(**port)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__b8716779b34afea8ca7be413ceeaf311fd3adbb6a57d839b76fd60df0ce4e15c)
            check_type(argname="argument host", value=host, expected_type=type_hints["host"])
            check_type(argname="argument port", value=port, expected_type=type_hints["port"])
            check_type(argname="argument subset", value=subset, expected_type=type_hints["subset"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "host": host,
        }
        if port is not None:
            self._values["port"] = port
        if subset is not None:
            self._values["subset"] = subset

    @builtins.property
    def host(self) -> builtins.str:
        '''The name of a service from the service registry.

        :schema: VirtualServiceSpecTcpRouteDestination#host
        '''
        result = self._values.get("host")
        assert result is not None, "Required property 'host' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def port(self) -> typing.Optional["VirtualServiceSpecTcpRouteDestinationPort"]:
        '''Specifies the port on the host that is being addressed.

        :schema: VirtualServiceSpecTcpRouteDestination#port
        '''
        result = self._values.get("port")
        return typing.cast(typing.Optional["VirtualServiceSpecTcpRouteDestinationPort"], result)

    @builtins.property
    def subset(self) -> typing.Optional[builtins.str]:
        '''The name of a subset within the service.

        :schema: VirtualServiceSpecTcpRouteDestination#subset
        '''
        result = self._values.get("subset")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecTcpRouteDestination(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecTcpRouteDestinationPort",
    jsii_struct_bases=[],
    name_mapping={"number": "number"},
)
class VirtualServiceSpecTcpRouteDestinationPort:
    def __init__(self, *, number: typing.Optional[jsii.Number] = None) -> None:
        '''Specifies the port on the host that is being addressed.

        :param number: 

        :schema: VirtualServiceSpecTcpRouteDestinationPort
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__ad86a4dc84bb05a4554e1c8c8d431fa1484dde812abf505715515534388925a9)
            check_type(argname="argument number", value=number, expected_type=type_hints["number"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if number is not None:
            self._values["number"] = number

    @builtins.property
    def number(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: VirtualServiceSpecTcpRouteDestinationPort#number
        '''
        result = self._values.get("number")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecTcpRouteDestinationPort(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecTls",
    jsii_struct_bases=[],
    name_mapping={"match": "match", "route": "route"},
)
class VirtualServiceSpecTls:
    def __init__(
        self,
        *,
        match: typing.Sequence[typing.Union["VirtualServiceSpecTlsMatch", typing.Dict[builtins.str, typing.Any]]],
        route: typing.Optional[typing.Sequence[typing.Union["VirtualServiceSpecTlsRoute", typing.Dict[builtins.str, typing.Any]]]] = None,
    ) -> None:
        '''
        :param match: Match conditions to be satisfied for the rule to be activated.
        :param route: The destination to which the connection should be forwarded to.

        :schema: VirtualServiceSpecTls
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__8b4c58ff9d31245efe79503b11b76f1a922da6a0bcad014536a18e2b9172982c)
            check_type(argname="argument match", value=match, expected_type=type_hints["match"])
            check_type(argname="argument route", value=route, expected_type=type_hints["route"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "match": match,
        }
        if route is not None:
            self._values["route"] = route

    @builtins.property
    def match(self) -> typing.List["VirtualServiceSpecTlsMatch"]:
        '''Match conditions to be satisfied for the rule to be activated.

        :schema: VirtualServiceSpecTls#match
        '''
        result = self._values.get("match")
        assert result is not None, "Required property 'match' is missing"
        return typing.cast(typing.List["VirtualServiceSpecTlsMatch"], result)

    @builtins.property
    def route(self) -> typing.Optional[typing.List["VirtualServiceSpecTlsRoute"]]:
        '''The destination to which the connection should be forwarded to.

        :schema: VirtualServiceSpecTls#route
        '''
        result = self._values.get("route")
        return typing.cast(typing.Optional[typing.List["VirtualServiceSpecTlsRoute"]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecTls(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecTlsMatch",
    jsii_struct_bases=[],
    name_mapping={
        "sni_hosts": "sniHosts",
        "destination_subnets": "destinationSubnets",
        "gateways": "gateways",
        "port": "port",
        "source_labels": "sourceLabels",
        "source_namespace": "sourceNamespace",
    },
)
class VirtualServiceSpecTlsMatch:
    def __init__(
        self,
        *,
        sni_hosts: typing.Sequence[builtins.str],
        destination_subnets: typing.Optional[typing.Sequence[builtins.str]] = None,
        gateways: typing.Optional[typing.Sequence[builtins.str]] = None,
        port: typing.Optional[jsii.Number] = None,
        source_labels: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
        source_namespace: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param sni_hosts: SNI (server name indicator) to match on.
        :param destination_subnets: IPv4 or IPv6 ip addresses of destination with optional subnet.
        :param gateways: Names of gateways where the rule should be applied.
        :param port: Specifies the port on the host that is being addressed.
        :param source_labels: One or more labels that constrain the applicability of a rule to workloads with the given labels.
        :param source_namespace: Source namespace constraining the applicability of a rule to workloads in that namespace.

        :schema: VirtualServiceSpecTlsMatch
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__a23c536a4546bf03b33e1f7273cabfb4a746a9272c63540d7d4dcb13557ef146)
            check_type(argname="argument sni_hosts", value=sni_hosts, expected_type=type_hints["sni_hosts"])
            check_type(argname="argument destination_subnets", value=destination_subnets, expected_type=type_hints["destination_subnets"])
            check_type(argname="argument gateways", value=gateways, expected_type=type_hints["gateways"])
            check_type(argname="argument port", value=port, expected_type=type_hints["port"])
            check_type(argname="argument source_labels", value=source_labels, expected_type=type_hints["source_labels"])
            check_type(argname="argument source_namespace", value=source_namespace, expected_type=type_hints["source_namespace"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "sni_hosts": sni_hosts,
        }
        if destination_subnets is not None:
            self._values["destination_subnets"] = destination_subnets
        if gateways is not None:
            self._values["gateways"] = gateways
        if port is not None:
            self._values["port"] = port
        if source_labels is not None:
            self._values["source_labels"] = source_labels
        if source_namespace is not None:
            self._values["source_namespace"] = source_namespace

    @builtins.property
    def sni_hosts(self) -> typing.List[builtins.str]:
        '''SNI (server name indicator) to match on.

        :schema: VirtualServiceSpecTlsMatch#sniHosts
        '''
        result = self._values.get("sni_hosts")
        assert result is not None, "Required property 'sni_hosts' is missing"
        return typing.cast(typing.List[builtins.str], result)

    @builtins.property
    def destination_subnets(self) -> typing.Optional[typing.List[builtins.str]]:
        '''IPv4 or IPv6 ip addresses of destination with optional subnet.

        :schema: VirtualServiceSpecTlsMatch#destinationSubnets
        '''
        result = self._values.get("destination_subnets")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def gateways(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Names of gateways where the rule should be applied.

        :schema: VirtualServiceSpecTlsMatch#gateways
        '''
        result = self._values.get("gateways")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def port(self) -> typing.Optional[jsii.Number]:
        '''Specifies the port on the host that is being addressed.

        :schema: VirtualServiceSpecTlsMatch#port
        '''
        result = self._values.get("port")
        return typing.cast(typing.Optional[jsii.Number], result)

    @builtins.property
    def source_labels(
        self,
    ) -> typing.Optional[typing.Mapping[builtins.str, builtins.str]]:
        '''One or more labels that constrain the applicability of a rule to workloads with the given labels.

        :schema: VirtualServiceSpecTlsMatch#sourceLabels
        '''
        result = self._values.get("source_labels")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, builtins.str]], result)

    @builtins.property
    def source_namespace(self) -> typing.Optional[builtins.str]:
        '''Source namespace constraining the applicability of a rule to workloads in that namespace.

        :schema: VirtualServiceSpecTlsMatch#sourceNamespace
        '''
        result = self._values.get("source_namespace")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecTlsMatch(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecTlsRoute",
    jsii_struct_bases=[],
    name_mapping={"destination": "destination", "weight": "weight"},
)
class VirtualServiceSpecTlsRoute:
    def __init__(
        self,
        *,
        destination: typing.Union["VirtualServiceSpecTlsRouteDestination", typing.Dict[builtins.str, typing.Any]],
        weight: typing.Optional[jsii.Number] = None,
    ) -> None:
        '''
        :param destination: Destination uniquely identifies the instances of a service to which the request/connection should be forwarded to.
        :param weight: Weight specifies the relative proportion of traffic to be forwarded to the destination.

        :schema: VirtualServiceSpecTlsRoute
        '''
        if isinstance(destination, dict):
            destination = VirtualServiceSpecTlsRouteDestination(**destination)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__486a438678ba48cdc3e910ff6094f4466ed74795a4c5ad7d6f87424a3775f740)
            check_type(argname="argument destination", value=destination, expected_type=type_hints["destination"])
            check_type(argname="argument weight", value=weight, expected_type=type_hints["weight"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "destination": destination,
        }
        if weight is not None:
            self._values["weight"] = weight

    @builtins.property
    def destination(self) -> "VirtualServiceSpecTlsRouteDestination":
        '''Destination uniquely identifies the instances of a service to which the request/connection should be forwarded to.

        :schema: VirtualServiceSpecTlsRoute#destination
        '''
        result = self._values.get("destination")
        assert result is not None, "Required property 'destination' is missing"
        return typing.cast("VirtualServiceSpecTlsRouteDestination", result)

    @builtins.property
    def weight(self) -> typing.Optional[jsii.Number]:
        '''Weight specifies the relative proportion of traffic to be forwarded to the destination.

        :schema: VirtualServiceSpecTlsRoute#weight
        '''
        result = self._values.get("weight")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecTlsRoute(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecTlsRouteDestination",
    jsii_struct_bases=[],
    name_mapping={"host": "host", "port": "port", "subset": "subset"},
)
class VirtualServiceSpecTlsRouteDestination:
    def __init__(
        self,
        *,
        host: builtins.str,
        port: typing.Optional[typing.Union["VirtualServiceSpecTlsRouteDestinationPort", typing.Dict[builtins.str, typing.Any]]] = None,
        subset: typing.Optional[builtins.str] = None,
    ) -> None:
        '''Destination uniquely identifies the instances of a service to which the request/connection should be forwarded to.

        :param host: The name of a service from the service registry.
        :param port: Specifies the port on the host that is being addressed.
        :param subset: The name of a subset within the service.

        :schema: VirtualServiceSpecTlsRouteDestination
        '''
        if isinstance(port, dict):
            port = VirtualServiceSpecTlsRouteDestinationPort(**port)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__efded2158ab5449021049f4f922110bb19ff62a759bcda62cd47486d78816a03)
            check_type(argname="argument host", value=host, expected_type=type_hints["host"])
            check_type(argname="argument port", value=port, expected_type=type_hints["port"])
            check_type(argname="argument subset", value=subset, expected_type=type_hints["subset"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "host": host,
        }
        if port is not None:
            self._values["port"] = port
        if subset is not None:
            self._values["subset"] = subset

    @builtins.property
    def host(self) -> builtins.str:
        '''The name of a service from the service registry.

        :schema: VirtualServiceSpecTlsRouteDestination#host
        '''
        result = self._values.get("host")
        assert result is not None, "Required property 'host' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def port(self) -> typing.Optional["VirtualServiceSpecTlsRouteDestinationPort"]:
        '''Specifies the port on the host that is being addressed.

        :schema: VirtualServiceSpecTlsRouteDestination#port
        '''
        result = self._values.get("port")
        return typing.cast(typing.Optional["VirtualServiceSpecTlsRouteDestinationPort"], result)

    @builtins.property
    def subset(self) -> typing.Optional[builtins.str]:
        '''The name of a subset within the service.

        :schema: VirtualServiceSpecTlsRouteDestination#subset
        '''
        result = self._values.get("subset")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecTlsRouteDestination(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistionetworking.VirtualServiceSpecTlsRouteDestinationPort",
    jsii_struct_bases=[],
    name_mapping={"number": "number"},
)
class VirtualServiceSpecTlsRouteDestinationPort:
    def __init__(self, *, number: typing.Optional[jsii.Number] = None) -> None:
        '''Specifies the port on the host that is being addressed.

        :param number: 

        :schema: VirtualServiceSpecTlsRouteDestinationPort
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__d9a9b966a48ff29942b16f20686b9da5413696505eb8ef4a46430a318fd07c3c)
            check_type(argname="argument number", value=number, expected_type=type_hints["number"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if number is not None:
            self._values["number"] = number

    @builtins.property
    def number(self) -> typing.Optional[jsii.Number]:
        '''
        :schema: VirtualServiceSpecTlsRouteDestinationPort#number
        '''
        result = self._values.get("number")
        return typing.cast(typing.Optional[jsii.Number], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "VirtualServiceSpecTlsRouteDestinationPort(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


__all__ = [
    "DestinationRule",
    "DestinationRuleProps",
    "DestinationRuleSpec",
    "DestinationRuleSpecSubsets",
    "DestinationRuleSpecSubsetsTrafficPolicy",
    "DestinationRuleSpecSubsetsTrafficPolicyConnectionPool",
    "DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttp",
    "DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttpH2UpgradePolicy",
    "DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcp",
    "DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcpTcpKeepalive",
    "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancer",
    "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHash",
    "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookie",
    "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes",
    "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashMaglev",
    "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashRingHash",
    "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSetting",
    "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingDistribute",
    "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingFailover",
    "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerSimple",
    "DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerWarmup",
    "DestinationRuleSpecSubsetsTrafficPolicyOutlierDetection",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettings",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPool",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttp",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttpH2UpgradePolicy",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcp",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancer",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerSimple",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerWarmup",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsOutlierDetection",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsPort",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTls",
    "DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTlsMode",
    "DestinationRuleSpecSubsetsTrafficPolicyProxyProtocol",
    "DestinationRuleSpecSubsetsTrafficPolicyProxyProtocolVersion",
    "DestinationRuleSpecSubsetsTrafficPolicyRetryBudget",
    "DestinationRuleSpecSubsetsTrafficPolicyTls",
    "DestinationRuleSpecSubsetsTrafficPolicyTlsMode",
    "DestinationRuleSpecSubsetsTrafficPolicyTunnel",
    "DestinationRuleSpecTrafficPolicy",
    "DestinationRuleSpecTrafficPolicyConnectionPool",
    "DestinationRuleSpecTrafficPolicyConnectionPoolHttp",
    "DestinationRuleSpecTrafficPolicyConnectionPoolHttpH2UpgradePolicy",
    "DestinationRuleSpecTrafficPolicyConnectionPoolTcp",
    "DestinationRuleSpecTrafficPolicyConnectionPoolTcpTcpKeepalive",
    "DestinationRuleSpecTrafficPolicyLoadBalancer",
    "DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHash",
    "DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookie",
    "DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes",
    "DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashMaglev",
    "DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashRingHash",
    "DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSetting",
    "DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingDistribute",
    "DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingFailover",
    "DestinationRuleSpecTrafficPolicyLoadBalancerSimple",
    "DestinationRuleSpecTrafficPolicyLoadBalancerWarmup",
    "DestinationRuleSpecTrafficPolicyOutlierDetection",
    "DestinationRuleSpecTrafficPolicyPortLevelSettings",
    "DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPool",
    "DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttp",
    "DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttpH2UpgradePolicy",
    "DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcp",
    "DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive",
    "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancer",
    "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash",
    "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie",
    "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes",
    "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev",
    "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash",
    "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting",
    "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute",
    "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover",
    "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerSimple",
    "DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerWarmup",
    "DestinationRuleSpecTrafficPolicyPortLevelSettingsOutlierDetection",
    "DestinationRuleSpecTrafficPolicyPortLevelSettingsPort",
    "DestinationRuleSpecTrafficPolicyPortLevelSettingsTls",
    "DestinationRuleSpecTrafficPolicyPortLevelSettingsTlsMode",
    "DestinationRuleSpecTrafficPolicyProxyProtocol",
    "DestinationRuleSpecTrafficPolicyProxyProtocolVersion",
    "DestinationRuleSpecTrafficPolicyRetryBudget",
    "DestinationRuleSpecTrafficPolicyTls",
    "DestinationRuleSpecTrafficPolicyTlsMode",
    "DestinationRuleSpecTrafficPolicyTunnel",
    "DestinationRuleSpecWorkloadSelector",
    "Gateway",
    "GatewayProps",
    "GatewaySpec",
    "GatewaySpecServers",
    "GatewaySpecServersPort",
    "GatewaySpecServersTls",
    "GatewaySpecServersTlsMaxProtocolVersion",
    "GatewaySpecServersTlsMinProtocolVersion",
    "GatewaySpecServersTlsMode",
    "GatewaySpecServersTlsTlsCertificates",
    "VirtualService",
    "VirtualServiceProps",
    "VirtualServiceSpec",
    "VirtualServiceSpecHttp",
    "VirtualServiceSpecHttpCorsPolicy",
    "VirtualServiceSpecHttpCorsPolicyAllowOrigins",
    "VirtualServiceSpecHttpCorsPolicyUnmatchedPreflights",
    "VirtualServiceSpecHttpDelegate",
    "VirtualServiceSpecHttpDirectResponse",
    "VirtualServiceSpecHttpDirectResponseBody",
    "VirtualServiceSpecHttpFault",
    "VirtualServiceSpecHttpFaultAbort",
    "VirtualServiceSpecHttpFaultAbortPercentage",
    "VirtualServiceSpecHttpFaultDelay",
    "VirtualServiceSpecHttpFaultDelayPercentage",
    "VirtualServiceSpecHttpHeaders",
    "VirtualServiceSpecHttpHeadersRequest",
    "VirtualServiceSpecHttpHeadersResponse",
    "VirtualServiceSpecHttpMatch",
    "VirtualServiceSpecHttpMatchAuthority",
    "VirtualServiceSpecHttpMatchHeaders",
    "VirtualServiceSpecHttpMatchMethod",
    "VirtualServiceSpecHttpMatchQueryParams",
    "VirtualServiceSpecHttpMatchScheme",
    "VirtualServiceSpecHttpMatchUri",
    "VirtualServiceSpecHttpMatchWithoutHeaders",
    "VirtualServiceSpecHttpMirror",
    "VirtualServiceSpecHttpMirrorPercentage",
    "VirtualServiceSpecHttpMirrorPort",
    "VirtualServiceSpecHttpMirrors",
    "VirtualServiceSpecHttpMirrorsDestination",
    "VirtualServiceSpecHttpMirrorsDestinationPort",
    "VirtualServiceSpecHttpMirrorsPercentage",
    "VirtualServiceSpecHttpRedirect",
    "VirtualServiceSpecHttpRedirectDerivePort",
    "VirtualServiceSpecHttpRetries",
    "VirtualServiceSpecHttpRewrite",
    "VirtualServiceSpecHttpRewriteUriRegexRewrite",
    "VirtualServiceSpecHttpRoute",
    "VirtualServiceSpecHttpRouteDestination",
    "VirtualServiceSpecHttpRouteDestinationPort",
    "VirtualServiceSpecHttpRouteHeaders",
    "VirtualServiceSpecHttpRouteHeadersRequest",
    "VirtualServiceSpecHttpRouteHeadersResponse",
    "VirtualServiceSpecTcp",
    "VirtualServiceSpecTcpMatch",
    "VirtualServiceSpecTcpRoute",
    "VirtualServiceSpecTcpRouteDestination",
    "VirtualServiceSpecTcpRouteDestinationPort",
    "VirtualServiceSpecTls",
    "VirtualServiceSpecTlsMatch",
    "VirtualServiceSpecTlsRoute",
    "VirtualServiceSpecTlsRouteDestination",
    "VirtualServiceSpecTlsRouteDestinationPort",
]

publication.publish()

def _typecheckingstub__909ac56137d0ccb333e5bba20fa35df7a9bbd65da347eaa816625d224187a63e(
    scope: _constructs_77d1e7e8.Construct,
    id: builtins.str,
    *,
    metadata: typing.Optional[typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]]] = None,
    spec: typing.Optional[typing.Union[DestinationRuleSpec, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__c6797b64e535bf484e1f5e116bb20a535db5d3d3327d1079ccc5ac218fd2c16e(
    *,
    metadata: typing.Optional[typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]]] = None,
    spec: typing.Optional[typing.Union[DestinationRuleSpec, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__87bc14ad38f93b7deedb046bcd32d53bcb67452428f2b9e825c85144e7dfa6f9(
    *,
    host: builtins.str,
    export_to: typing.Optional[typing.Sequence[builtins.str]] = None,
    subsets: typing.Optional[typing.Sequence[typing.Union[DestinationRuleSpecSubsets, typing.Dict[builtins.str, typing.Any]]]] = None,
    traffic_policy: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicy, typing.Dict[builtins.str, typing.Any]]] = None,
    workload_selector: typing.Optional[typing.Union[DestinationRuleSpecWorkloadSelector, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__7e2b8d27f8b03a3405b6f44c394ab3fc0949eb11dbd78bce8ee9ba58dc86f1fc(
    *,
    name: builtins.str,
    labels: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
    traffic_policy: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicy, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__151a1dee7b395a51095f42a2b08f9b9de6e1791cc63d903aeed28ea74e35440b(
    *,
    connection_pool: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyConnectionPool, typing.Dict[builtins.str, typing.Any]]] = None,
    load_balancer: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyLoadBalancer, typing.Dict[builtins.str, typing.Any]]] = None,
    outlier_detection: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyOutlierDetection, typing.Dict[builtins.str, typing.Any]]] = None,
    port_level_settings: typing.Optional[typing.Sequence[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettings, typing.Dict[builtins.str, typing.Any]]]] = None,
    proxy_protocol: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyProxyProtocol, typing.Dict[builtins.str, typing.Any]]] = None,
    retry_budget: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyRetryBudget, typing.Dict[builtins.str, typing.Any]]] = None,
    tls: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyTls, typing.Dict[builtins.str, typing.Any]]] = None,
    tunnel: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyTunnel, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__c2516818cfbbfbd47f104e8e3f12daae9ee0ffc1a7ee9d3d152e5bd7fb52b0f6(
    *,
    http: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttp, typing.Dict[builtins.str, typing.Any]]] = None,
    tcp: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcp, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__0240fda000617fe5fd7123cf73549db621a76e08428a257fc3ecc85098fb0ae0(
    *,
    h2_upgrade_policy: typing.Optional[DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolHttpH2UpgradePolicy] = None,
    http1_max_pending_requests: typing.Optional[jsii.Number] = None,
    http2_max_requests: typing.Optional[jsii.Number] = None,
    idle_timeout: typing.Optional[builtins.str] = None,
    max_concurrent_streams: typing.Optional[jsii.Number] = None,
    max_requests_per_connection: typing.Optional[jsii.Number] = None,
    max_retries: typing.Optional[jsii.Number] = None,
    use_client_protocol: typing.Optional[builtins.bool] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__6e122da151b9826edf11fae783a6717e2135083b449260174801fd0c35b6b850(
    *,
    connect_timeout: typing.Optional[builtins.str] = None,
    idle_timeout: typing.Optional[builtins.str] = None,
    max_connection_duration: typing.Optional[builtins.str] = None,
    max_connections: typing.Optional[jsii.Number] = None,
    tcp_keepalive: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyConnectionPoolTcpTcpKeepalive, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__1a60252ea7cf48d7fd331ec1cae433791d3a2cefa3f40275b2d899772d5119b3(
    *,
    interval: typing.Optional[builtins.str] = None,
    probes: typing.Optional[jsii.Number] = None,
    time: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__ab9eb71f3e84c55784b373c28f6933610376cb7fa5c0e563870a6d93d3a6d9d7(
    *,
    consistent_hash: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHash, typing.Dict[builtins.str, typing.Any]]] = None,
    locality_lb_setting: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSetting, typing.Dict[builtins.str, typing.Any]]] = None,
    simple: typing.Optional[DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerSimple] = None,
    warmup: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerWarmup, typing.Dict[builtins.str, typing.Any]]] = None,
    warmup_duration_secs: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__02dd9a8a9ce590743b885aead6a7bb7a4965d0dbdd814f34a2080cdc21dcf070(
    *,
    http_cookie: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookie, typing.Dict[builtins.str, typing.Any]]] = None,
    http_header_name: typing.Optional[builtins.str] = None,
    http_query_parameter_name: typing.Optional[builtins.str] = None,
    maglev: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashMaglev, typing.Dict[builtins.str, typing.Any]]] = None,
    minimum_ring_size: typing.Optional[jsii.Number] = None,
    ring_hash: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashRingHash, typing.Dict[builtins.str, typing.Any]]] = None,
    use_source_ip: typing.Optional[builtins.bool] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__73f48d369e6a24861fdbc6a03481a06f401085b7439784bff13cc28a2e86ec1e(
    *,
    name: builtins.str,
    attributes: typing.Optional[typing.Sequence[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes, typing.Dict[builtins.str, typing.Any]]]] = None,
    path: typing.Optional[builtins.str] = None,
    ttl: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__ea4a9f2d942b54fabd9497695f1087abbeed16f756ab925134332e4698ae7e1c(
    *,
    name: builtins.str,
    value: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__006639b71ae5b2dce59fe4927774fea40573a416f51802731318261c4224c963(
    *,
    table_size: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__aa7619853ebb1f333101bfb42faed49bed6a16fc55a5fcb42b245411b29a36ab(
    *,
    minimum_ring_size: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__927a6db2fe929dd384a2d55e09cf42b425f49d0ebf4ef8b8b6b665b8ec1e1365(
    *,
    distribute: typing.Optional[typing.Sequence[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingDistribute, typing.Dict[builtins.str, typing.Any]]]] = None,
    enabled: typing.Optional[builtins.bool] = None,
    failover: typing.Optional[typing.Sequence[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyLoadBalancerLocalityLbSettingFailover, typing.Dict[builtins.str, typing.Any]]]] = None,
    failover_priority: typing.Optional[typing.Sequence[builtins.str]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__94c170f9331f91e4664d64c528170e6608e3377e11fd6bd4a2f8e4371b117fba(
    *,
    from_: typing.Optional[builtins.str] = None,
    to: typing.Optional[typing.Mapping[builtins.str, jsii.Number]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__a851f3304cb206a4219343f77d3c1f8feffb44698196f5ea5e25d42f0875099d(
    *,
    from_: typing.Optional[builtins.str] = None,
    to: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__89843e236678588e260619f989587267d6bb0667f0a22dad79034dd359f8e36d(
    *,
    duration: builtins.str,
    aggression: typing.Optional[jsii.Number] = None,
    minimum_percent: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__410a892232b6ff39d42214daa1023ee19b21a31c501001aa6669954a3df7f5f2(
    *,
    base_ejection_time: typing.Optional[builtins.str] = None,
    consecutive5_xx_errors: typing.Optional[jsii.Number] = None,
    consecutive_errors: typing.Optional[jsii.Number] = None,
    consecutive_gateway_errors: typing.Optional[jsii.Number] = None,
    consecutive_local_origin_failures: typing.Optional[jsii.Number] = None,
    interval: typing.Optional[builtins.str] = None,
    max_ejection_percent: typing.Optional[jsii.Number] = None,
    min_health_percent: typing.Optional[jsii.Number] = None,
    split_external_local_origin_errors: typing.Optional[builtins.bool] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__dd6777b4ca8192aa8d2314921f9e602c0cc9e06d17ec53c72ba68594ef20fc75(
    *,
    connection_pool: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPool, typing.Dict[builtins.str, typing.Any]]] = None,
    load_balancer: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancer, typing.Dict[builtins.str, typing.Any]]] = None,
    outlier_detection: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsOutlierDetection, typing.Dict[builtins.str, typing.Any]]] = None,
    port: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsPort, typing.Dict[builtins.str, typing.Any]]] = None,
    tls: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTls, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__3a214cd3a6e0b1f128418230e682c2ec5a6965fe7f5af93559306dddddc02efc(
    *,
    http: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttp, typing.Dict[builtins.str, typing.Any]]] = None,
    tcp: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcp, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__b210604831318e07cc3205abeb4877dff520f7e2dfd852978bec1819fcf456e3(
    *,
    h2_upgrade_policy: typing.Optional[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolHttpH2UpgradePolicy] = None,
    http1_max_pending_requests: typing.Optional[jsii.Number] = None,
    http2_max_requests: typing.Optional[jsii.Number] = None,
    idle_timeout: typing.Optional[builtins.str] = None,
    max_concurrent_streams: typing.Optional[jsii.Number] = None,
    max_requests_per_connection: typing.Optional[jsii.Number] = None,
    max_retries: typing.Optional[jsii.Number] = None,
    use_client_protocol: typing.Optional[builtins.bool] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__d1e3d375204cefe9ac41c8f4d53c4113673fe35a43fd78917cf0f672bda3d188(
    *,
    connect_timeout: typing.Optional[builtins.str] = None,
    idle_timeout: typing.Optional[builtins.str] = None,
    max_connection_duration: typing.Optional[builtins.str] = None,
    max_connections: typing.Optional[jsii.Number] = None,
    tcp_keepalive: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__22c5b786d78c4e56d36c2c937216b5cf46c9a1f895369e929e023beda9ce78f8(
    *,
    interval: typing.Optional[builtins.str] = None,
    probes: typing.Optional[jsii.Number] = None,
    time: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__4d474700061e4fa1f038addbff45e789638d475eb5d3bd5d862685c3c9d45bfb(
    *,
    consistent_hash: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash, typing.Dict[builtins.str, typing.Any]]] = None,
    locality_lb_setting: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting, typing.Dict[builtins.str, typing.Any]]] = None,
    simple: typing.Optional[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerSimple] = None,
    warmup: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerWarmup, typing.Dict[builtins.str, typing.Any]]] = None,
    warmup_duration_secs: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__c85dfe69a7104e3233884089b21d0afc44d4d14279f7f718c1ef6ea19be5c8ee(
    *,
    http_cookie: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie, typing.Dict[builtins.str, typing.Any]]] = None,
    http_header_name: typing.Optional[builtins.str] = None,
    http_query_parameter_name: typing.Optional[builtins.str] = None,
    maglev: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev, typing.Dict[builtins.str, typing.Any]]] = None,
    minimum_ring_size: typing.Optional[jsii.Number] = None,
    ring_hash: typing.Optional[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash, typing.Dict[builtins.str, typing.Any]]] = None,
    use_source_ip: typing.Optional[builtins.bool] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__4afb3ed57a9aa99408f5384cfe8698c8bf072b6710ec93f0313596b29e9263f9(
    *,
    name: builtins.str,
    attributes: typing.Optional[typing.Sequence[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes, typing.Dict[builtins.str, typing.Any]]]] = None,
    path: typing.Optional[builtins.str] = None,
    ttl: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__291c61eefd40c102a1f221732775e338e5fb14d47921f2df11895f64e6ac0bae(
    *,
    name: builtins.str,
    value: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__38c5cdb1429aee5c8330506884a57ca8ba75185a66a229d9274bc9e51c060811(
    *,
    table_size: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__7031766ccfdef898150c26827cc37307cd069c49f3ab62e4aaa0a0218262ecac(
    *,
    minimum_ring_size: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__803ee3284c28e825af055343c4806250f29011d47e5c745a297f9dc3d4367574(
    *,
    distribute: typing.Optional[typing.Sequence[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute, typing.Dict[builtins.str, typing.Any]]]] = None,
    enabled: typing.Optional[builtins.bool] = None,
    failover: typing.Optional[typing.Sequence[typing.Union[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover, typing.Dict[builtins.str, typing.Any]]]] = None,
    failover_priority: typing.Optional[typing.Sequence[builtins.str]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__f0db6ef93630916408511b20007a264516cb452e4a16a35ac5c446f99368c186(
    *,
    from_: typing.Optional[builtins.str] = None,
    to: typing.Optional[typing.Mapping[builtins.str, jsii.Number]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__6196d584bf08bc696239aa333764b6cff7d2fa4c10f3d3745243984b3e7cc088(
    *,
    from_: typing.Optional[builtins.str] = None,
    to: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__eb28cfaf040ec791a2e9be04ae3fae882d038d917c6ce0ca261011f533d10349(
    *,
    duration: builtins.str,
    aggression: typing.Optional[jsii.Number] = None,
    minimum_percent: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__fb4cdb682436770818ca646a0b2421f9e980ab292f5960385b3534a6396c94a8(
    *,
    base_ejection_time: typing.Optional[builtins.str] = None,
    consecutive5_xx_errors: typing.Optional[jsii.Number] = None,
    consecutive_errors: typing.Optional[jsii.Number] = None,
    consecutive_gateway_errors: typing.Optional[jsii.Number] = None,
    consecutive_local_origin_failures: typing.Optional[jsii.Number] = None,
    interval: typing.Optional[builtins.str] = None,
    max_ejection_percent: typing.Optional[jsii.Number] = None,
    min_health_percent: typing.Optional[jsii.Number] = None,
    split_external_local_origin_errors: typing.Optional[builtins.bool] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__501a81c257a3dc44a65562fd3660dcdcfc3a0225795b46710bdf91c349e8d52b(
    *,
    number: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__3df9369b7aa7c7c2d7787182553150020e060928018af720d64072b0d230d4f9(
    *,
    ca_certificates: typing.Optional[builtins.str] = None,
    ca_crl: typing.Optional[builtins.str] = None,
    client_certificate: typing.Optional[builtins.str] = None,
    credential_name: typing.Optional[builtins.str] = None,
    insecure_skip_verify: typing.Optional[builtins.bool] = None,
    mode: typing.Optional[DestinationRuleSpecSubsetsTrafficPolicyPortLevelSettingsTlsMode] = None,
    private_key: typing.Optional[builtins.str] = None,
    sni: typing.Optional[builtins.str] = None,
    subject_alt_names: typing.Optional[typing.Sequence[builtins.str]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__9a4ba910aea6762c3801d37c9f0352437e52de6340a32a80ae21a7177a298633(
    *,
    version: typing.Optional[DestinationRuleSpecSubsetsTrafficPolicyProxyProtocolVersion] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__85745e340a77b4eda30defde8a5411e6bf348988a9215da4d1482f6466115d83(
    *,
    min_retry_concurrency: typing.Optional[jsii.Number] = None,
    percent: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__20ac6a98446ae57d500354bdf0fc0e72384e754d7048425f69e5e6ed3cc0140a(
    *,
    ca_certificates: typing.Optional[builtins.str] = None,
    ca_crl: typing.Optional[builtins.str] = None,
    client_certificate: typing.Optional[builtins.str] = None,
    credential_name: typing.Optional[builtins.str] = None,
    insecure_skip_verify: typing.Optional[builtins.bool] = None,
    mode: typing.Optional[DestinationRuleSpecSubsetsTrafficPolicyTlsMode] = None,
    private_key: typing.Optional[builtins.str] = None,
    sni: typing.Optional[builtins.str] = None,
    subject_alt_names: typing.Optional[typing.Sequence[builtins.str]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__3cde1efdfe2ddbb321760f4b44d5d507c99131b0771c2cd24de90ce7282beae8(
    *,
    target_host: builtins.str,
    target_port: jsii.Number,
    protocol: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__197c5cff242931a03bfb62d5511a099027bd727e534a028139235ef027e85224(
    *,
    connection_pool: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyConnectionPool, typing.Dict[builtins.str, typing.Any]]] = None,
    load_balancer: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyLoadBalancer, typing.Dict[builtins.str, typing.Any]]] = None,
    outlier_detection: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyOutlierDetection, typing.Dict[builtins.str, typing.Any]]] = None,
    port_level_settings: typing.Optional[typing.Sequence[typing.Union[DestinationRuleSpecTrafficPolicyPortLevelSettings, typing.Dict[builtins.str, typing.Any]]]] = None,
    proxy_protocol: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyProxyProtocol, typing.Dict[builtins.str, typing.Any]]] = None,
    retry_budget: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyRetryBudget, typing.Dict[builtins.str, typing.Any]]] = None,
    tls: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyTls, typing.Dict[builtins.str, typing.Any]]] = None,
    tunnel: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyTunnel, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__49c4b69f9c6534af5795ded448dcb43bf90ee2942474cb015170046c93bcd02f(
    *,
    http: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyConnectionPoolHttp, typing.Dict[builtins.str, typing.Any]]] = None,
    tcp: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyConnectionPoolTcp, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__beda74ee3a2549498aa5147360cf89a420291f69da27abcb8570df9e4bd860f5(
    *,
    h2_upgrade_policy: typing.Optional[DestinationRuleSpecTrafficPolicyConnectionPoolHttpH2UpgradePolicy] = None,
    http1_max_pending_requests: typing.Optional[jsii.Number] = None,
    http2_max_requests: typing.Optional[jsii.Number] = None,
    idle_timeout: typing.Optional[builtins.str] = None,
    max_concurrent_streams: typing.Optional[jsii.Number] = None,
    max_requests_per_connection: typing.Optional[jsii.Number] = None,
    max_retries: typing.Optional[jsii.Number] = None,
    use_client_protocol: typing.Optional[builtins.bool] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__9bda2954afd7cbfcb6281760e69b585672b1e708febc8ad2910da31d8d706fd3(
    *,
    connect_timeout: typing.Optional[builtins.str] = None,
    idle_timeout: typing.Optional[builtins.str] = None,
    max_connection_duration: typing.Optional[builtins.str] = None,
    max_connections: typing.Optional[jsii.Number] = None,
    tcp_keepalive: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyConnectionPoolTcpTcpKeepalive, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__873c3ef54858f65d4bc1d7a4444cfef47172913d0e45724368ddca21a40eda40(
    *,
    interval: typing.Optional[builtins.str] = None,
    probes: typing.Optional[jsii.Number] = None,
    time: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__e4e3c10f1bc8ce25ab4de6120204e18f590deb685802ebd7fe37c57100e6df5e(
    *,
    consistent_hash: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHash, typing.Dict[builtins.str, typing.Any]]] = None,
    locality_lb_setting: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSetting, typing.Dict[builtins.str, typing.Any]]] = None,
    simple: typing.Optional[DestinationRuleSpecTrafficPolicyLoadBalancerSimple] = None,
    warmup: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyLoadBalancerWarmup, typing.Dict[builtins.str, typing.Any]]] = None,
    warmup_duration_secs: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__2d7e5e42b7db570be89b935fac2c4920ef52610e94fae01410008eccb7db6089(
    *,
    http_cookie: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookie, typing.Dict[builtins.str, typing.Any]]] = None,
    http_header_name: typing.Optional[builtins.str] = None,
    http_query_parameter_name: typing.Optional[builtins.str] = None,
    maglev: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashMaglev, typing.Dict[builtins.str, typing.Any]]] = None,
    minimum_ring_size: typing.Optional[jsii.Number] = None,
    ring_hash: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashRingHash, typing.Dict[builtins.str, typing.Any]]] = None,
    use_source_ip: typing.Optional[builtins.bool] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__0a99e5415afec774b226bd633e013e9df74a2481a9635029295a3fd1b6a16fe9(
    *,
    name: builtins.str,
    attributes: typing.Optional[typing.Sequence[typing.Union[DestinationRuleSpecTrafficPolicyLoadBalancerConsistentHashHttpCookieAttributes, typing.Dict[builtins.str, typing.Any]]]] = None,
    path: typing.Optional[builtins.str] = None,
    ttl: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__227173796b76cc9e4d2f3b6565756c6ccce0855c0310bc05dee5075ae0fc804f(
    *,
    name: builtins.str,
    value: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__ef191c0d09a07abf3d87360a20276466ffdc1e222efbbffa7bc0c68247770451(
    *,
    table_size: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__220a1294a7bab7630cc61fae25c9b9ece67af8bd32d0f4eee26a95afab0910b8(
    *,
    minimum_ring_size: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__838a2c702325af876bf4fe71b4b598ec11d876feaa0c045a235300af8ace9a65(
    *,
    distribute: typing.Optional[typing.Sequence[typing.Union[DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingDistribute, typing.Dict[builtins.str, typing.Any]]]] = None,
    enabled: typing.Optional[builtins.bool] = None,
    failover: typing.Optional[typing.Sequence[typing.Union[DestinationRuleSpecTrafficPolicyLoadBalancerLocalityLbSettingFailover, typing.Dict[builtins.str, typing.Any]]]] = None,
    failover_priority: typing.Optional[typing.Sequence[builtins.str]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__3a440d1cb1daee0d71dc8df4c824d602dffa5259d5bd8db46bbe778dd4577214(
    *,
    from_: typing.Optional[builtins.str] = None,
    to: typing.Optional[typing.Mapping[builtins.str, jsii.Number]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__5f0433559c94b64049d73b2f5b6a971767267023b0a4070341cb80d6fc2bd9a2(
    *,
    from_: typing.Optional[builtins.str] = None,
    to: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__fa661a4083fc14174df86795b026aa41a93581fc09c900b54028aabc4da795bc(
    *,
    duration: builtins.str,
    aggression: typing.Optional[jsii.Number] = None,
    minimum_percent: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__4b30038047f48ad90cb62cdb4574f09b9b2b8bd23eb0f06a329bd39505ff674b(
    *,
    base_ejection_time: typing.Optional[builtins.str] = None,
    consecutive5_xx_errors: typing.Optional[jsii.Number] = None,
    consecutive_errors: typing.Optional[jsii.Number] = None,
    consecutive_gateway_errors: typing.Optional[jsii.Number] = None,
    consecutive_local_origin_failures: typing.Optional[jsii.Number] = None,
    interval: typing.Optional[builtins.str] = None,
    max_ejection_percent: typing.Optional[jsii.Number] = None,
    min_health_percent: typing.Optional[jsii.Number] = None,
    split_external_local_origin_errors: typing.Optional[builtins.bool] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__e4d44e017708c168d49278cc4079f6f29cfc8c6a27f41ccaed4ca9ec6e5d795e(
    *,
    connection_pool: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPool, typing.Dict[builtins.str, typing.Any]]] = None,
    load_balancer: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancer, typing.Dict[builtins.str, typing.Any]]] = None,
    outlier_detection: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyPortLevelSettingsOutlierDetection, typing.Dict[builtins.str, typing.Any]]] = None,
    port: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyPortLevelSettingsPort, typing.Dict[builtins.str, typing.Any]]] = None,
    tls: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyPortLevelSettingsTls, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__c79a156624da502de95432a0c26dd063fa7d6f1ad0c986e6f67b61a827992116(
    *,
    http: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttp, typing.Dict[builtins.str, typing.Any]]] = None,
    tcp: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcp, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__00e7dc846628cd861b709ce7e7f48c818ee4edbcf680fc31120aa4a12ef0d328(
    *,
    h2_upgrade_policy: typing.Optional[DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolHttpH2UpgradePolicy] = None,
    http1_max_pending_requests: typing.Optional[jsii.Number] = None,
    http2_max_requests: typing.Optional[jsii.Number] = None,
    idle_timeout: typing.Optional[builtins.str] = None,
    max_concurrent_streams: typing.Optional[jsii.Number] = None,
    max_requests_per_connection: typing.Optional[jsii.Number] = None,
    max_retries: typing.Optional[jsii.Number] = None,
    use_client_protocol: typing.Optional[builtins.bool] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__59c9701dd94d3018d521b32fe197d05fffcbabb33ab493f33c363c92a454a3c0(
    *,
    connect_timeout: typing.Optional[builtins.str] = None,
    idle_timeout: typing.Optional[builtins.str] = None,
    max_connection_duration: typing.Optional[builtins.str] = None,
    max_connections: typing.Optional[jsii.Number] = None,
    tcp_keepalive: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyPortLevelSettingsConnectionPoolTcpTcpKeepalive, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__611cf8279be4d5248155da97d507928e7f49874e366852043344c59cdc965b38(
    *,
    interval: typing.Optional[builtins.str] = None,
    probes: typing.Optional[jsii.Number] = None,
    time: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__25a3be218752b5e6ee43a740efaa07b6597fc811381daf6c4c56aca73f2a14ab(
    *,
    consistent_hash: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHash, typing.Dict[builtins.str, typing.Any]]] = None,
    locality_lb_setting: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSetting, typing.Dict[builtins.str, typing.Any]]] = None,
    simple: typing.Optional[DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerSimple] = None,
    warmup: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerWarmup, typing.Dict[builtins.str, typing.Any]]] = None,
    warmup_duration_secs: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__a55d93dccc007dd53877016e4e59c72ad5dc0f8fefe5d8b7789f1c6b4e13f7d0(
    *,
    http_cookie: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookie, typing.Dict[builtins.str, typing.Any]]] = None,
    http_header_name: typing.Optional[builtins.str] = None,
    http_query_parameter_name: typing.Optional[builtins.str] = None,
    maglev: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashMaglev, typing.Dict[builtins.str, typing.Any]]] = None,
    minimum_ring_size: typing.Optional[jsii.Number] = None,
    ring_hash: typing.Optional[typing.Union[DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashRingHash, typing.Dict[builtins.str, typing.Any]]] = None,
    use_source_ip: typing.Optional[builtins.bool] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__6aa742f53699a998cca342c5a352632794af2a788f10ea7ee7ead19dc2286ce8(
    *,
    name: builtins.str,
    attributes: typing.Optional[typing.Sequence[typing.Union[DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerConsistentHashHttpCookieAttributes, typing.Dict[builtins.str, typing.Any]]]] = None,
    path: typing.Optional[builtins.str] = None,
    ttl: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__ebced93f3cfb730c6b7fa8dbede305a8cdf7a3799f50b795e5ffa6c126d55da3(
    *,
    name: builtins.str,
    value: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__1b8b6b17c5884ac267a849c7eb2f21c0f34be804462f679c32b9e9b243c2157e(
    *,
    table_size: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__7ed371d63653dfcbedc2f4bca4b81e63d7ca902a714cde3339308bcfa8f6d410(
    *,
    minimum_ring_size: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__644760badc9b5279f8020b5f917470231a9e7270594c77370c1c2d5fa9a0f663(
    *,
    distribute: typing.Optional[typing.Sequence[typing.Union[DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingDistribute, typing.Dict[builtins.str, typing.Any]]]] = None,
    enabled: typing.Optional[builtins.bool] = None,
    failover: typing.Optional[typing.Sequence[typing.Union[DestinationRuleSpecTrafficPolicyPortLevelSettingsLoadBalancerLocalityLbSettingFailover, typing.Dict[builtins.str, typing.Any]]]] = None,
    failover_priority: typing.Optional[typing.Sequence[builtins.str]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__7d7feb8b71d29966926bea4447dca8fea60a57b2c55033eb137e69ed9c0ec451(
    *,
    from_: typing.Optional[builtins.str] = None,
    to: typing.Optional[typing.Mapping[builtins.str, jsii.Number]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__bec1281af473a2b53c92e44d504488d518947d4b854a5a2415bbc623dadeb41d(
    *,
    from_: typing.Optional[builtins.str] = None,
    to: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__1fd0af038b0778ada712c6d1e0174f8c08ef153975024e726c76e28dc88bde8e(
    *,
    duration: builtins.str,
    aggression: typing.Optional[jsii.Number] = None,
    minimum_percent: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__9fc63bef56c2f6eb71a46918a12437b712acf77a8655f90d8cf7630ee20a8c98(
    *,
    base_ejection_time: typing.Optional[builtins.str] = None,
    consecutive5_xx_errors: typing.Optional[jsii.Number] = None,
    consecutive_errors: typing.Optional[jsii.Number] = None,
    consecutive_gateway_errors: typing.Optional[jsii.Number] = None,
    consecutive_local_origin_failures: typing.Optional[jsii.Number] = None,
    interval: typing.Optional[builtins.str] = None,
    max_ejection_percent: typing.Optional[jsii.Number] = None,
    min_health_percent: typing.Optional[jsii.Number] = None,
    split_external_local_origin_errors: typing.Optional[builtins.bool] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__af42588ab5e5bdec7373ed96470235b3e3c5072f7f52d0577cc76cafb1045b1c(
    *,
    number: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__ffc915b5e3fcc5413156b3a22797d5b7c387fe0cb5a05ce593c57ecdb4e5a8c8(
    *,
    ca_certificates: typing.Optional[builtins.str] = None,
    ca_crl: typing.Optional[builtins.str] = None,
    client_certificate: typing.Optional[builtins.str] = None,
    credential_name: typing.Optional[builtins.str] = None,
    insecure_skip_verify: typing.Optional[builtins.bool] = None,
    mode: typing.Optional[DestinationRuleSpecTrafficPolicyPortLevelSettingsTlsMode] = None,
    private_key: typing.Optional[builtins.str] = None,
    sni: typing.Optional[builtins.str] = None,
    subject_alt_names: typing.Optional[typing.Sequence[builtins.str]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__7a60487876c0b619a8007e85a9e826a91174cdeb1927388ec1734c6c946ae7d8(
    *,
    version: typing.Optional[DestinationRuleSpecTrafficPolicyProxyProtocolVersion] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__5b7a30e4c7a805f608db982d857cc3572dedbacebf21df074c5112ae852a2e2f(
    *,
    min_retry_concurrency: typing.Optional[jsii.Number] = None,
    percent: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__b8de71f7274c52c2677172d71fcbd3515121869a302d8c67dfd2bca6af2c2a2b(
    *,
    ca_certificates: typing.Optional[builtins.str] = None,
    ca_crl: typing.Optional[builtins.str] = None,
    client_certificate: typing.Optional[builtins.str] = None,
    credential_name: typing.Optional[builtins.str] = None,
    insecure_skip_verify: typing.Optional[builtins.bool] = None,
    mode: typing.Optional[DestinationRuleSpecTrafficPolicyTlsMode] = None,
    private_key: typing.Optional[builtins.str] = None,
    sni: typing.Optional[builtins.str] = None,
    subject_alt_names: typing.Optional[typing.Sequence[builtins.str]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__954ccb6f0116d97b544bcc6d1a544e32e9a89c294f94b7b7c0da0b141e95940d(
    *,
    target_host: builtins.str,
    target_port: jsii.Number,
    protocol: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__cd5ef30effa0ee11a7dbfacafea30424d986b0ee9bb1d47857414b297541452c(
    *,
    match_labels: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__a7ff7d0362891ae958bdef6d01b4d3f40035dbcb810b939b4ba7805189e52c63(
    scope: _constructs_77d1e7e8.Construct,
    id: builtins.str,
    *,
    metadata: typing.Optional[typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]]] = None,
    spec: typing.Optional[typing.Union[GatewaySpec, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__86b192209225d0de4e2f2a95cf087c81ff498155caa98c3f03d8b18ff91b6a24(
    *,
    metadata: typing.Optional[typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]]] = None,
    spec: typing.Optional[typing.Union[GatewaySpec, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__281f3e7196a0e30e49ff0b9f172ab7370157f0030710f517a138b06c0066e45c(
    *,
    selector: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
    servers: typing.Optional[typing.Sequence[typing.Union[GatewaySpecServers, typing.Dict[builtins.str, typing.Any]]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__6d18e07637168465bd3154ec56da06b068427cc1faaabd7adc0167857788fc83(
    *,
    hosts: typing.Sequence[builtins.str],
    port: typing.Union[GatewaySpecServersPort, typing.Dict[builtins.str, typing.Any]],
    bind: typing.Optional[builtins.str] = None,
    default_endpoint: typing.Optional[builtins.str] = None,
    name: typing.Optional[builtins.str] = None,
    tls: typing.Optional[typing.Union[GatewaySpecServersTls, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__6b85a28d8e51e90ee1966bfeab0e963b1033abb84667b16a3c3d3d932a898f5a(
    *,
    name: builtins.str,
    number: jsii.Number,
    protocol: builtins.str,
    target_port: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__a298a90c1d4a41dd0124f2327ae7792b63bf216dda9ab9259048c844d30f3126(
    *,
    ca_cert_credential_name: typing.Optional[builtins.str] = None,
    ca_certificates: typing.Optional[builtins.str] = None,
    ca_crl: typing.Optional[builtins.str] = None,
    cipher_suites: typing.Optional[typing.Sequence[builtins.str]] = None,
    credential_name: typing.Optional[builtins.str] = None,
    credential_names: typing.Optional[typing.Sequence[builtins.str]] = None,
    https_redirect: typing.Optional[builtins.bool] = None,
    max_protocol_version: typing.Optional[GatewaySpecServersTlsMaxProtocolVersion] = None,
    min_protocol_version: typing.Optional[GatewaySpecServersTlsMinProtocolVersion] = None,
    mode: typing.Optional[GatewaySpecServersTlsMode] = None,
    private_key: typing.Optional[builtins.str] = None,
    server_certificate: typing.Optional[builtins.str] = None,
    subject_alt_names: typing.Optional[typing.Sequence[builtins.str]] = None,
    tls_certificates: typing.Optional[typing.Sequence[typing.Union[GatewaySpecServersTlsTlsCertificates, typing.Dict[builtins.str, typing.Any]]]] = None,
    verify_certificate_hash: typing.Optional[typing.Sequence[builtins.str]] = None,
    verify_certificate_spki: typing.Optional[typing.Sequence[builtins.str]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__2d2e8d520ab54b176023261e1e2bc2a04d37dddca813b8f1411b534e1243dd6c(
    *,
    ca_certificates: typing.Optional[builtins.str] = None,
    private_key: typing.Optional[builtins.str] = None,
    server_certificate: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__c7a329f352b7304b6f4ba35a2da5b2c73a796e25f5690d38311897ac06a3dd0a(
    scope: _constructs_77d1e7e8.Construct,
    id: builtins.str,
    *,
    metadata: typing.Optional[typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]]] = None,
    spec: typing.Optional[typing.Union[VirtualServiceSpec, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__ea291212146131bbb572abe6c7214a96c22a1c7054ea535288e29b2e20ad68ce(
    *,
    metadata: typing.Optional[typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]]] = None,
    spec: typing.Optional[typing.Union[VirtualServiceSpec, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__137941366d3a24ac40f324ef8a3e7a4b3002865e3c01552d2d2cdbce61a07d7f(
    *,
    export_to: typing.Optional[typing.Sequence[builtins.str]] = None,
    gateways: typing.Optional[typing.Sequence[builtins.str]] = None,
    hosts: typing.Optional[typing.Sequence[builtins.str]] = None,
    http: typing.Optional[typing.Sequence[typing.Union[VirtualServiceSpecHttp, typing.Dict[builtins.str, typing.Any]]]] = None,
    tcp: typing.Optional[typing.Sequence[typing.Union[VirtualServiceSpecTcp, typing.Dict[builtins.str, typing.Any]]]] = None,
    tls: typing.Optional[typing.Sequence[typing.Union[VirtualServiceSpecTls, typing.Dict[builtins.str, typing.Any]]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__d60c5d7ccec0c215973a00582f8d5b4672b12036c302efc7d05d33a9eeee2733(
    *,
    cors_policy: typing.Optional[typing.Union[VirtualServiceSpecHttpCorsPolicy, typing.Dict[builtins.str, typing.Any]]] = None,
    delegate: typing.Optional[typing.Union[VirtualServiceSpecHttpDelegate, typing.Dict[builtins.str, typing.Any]]] = None,
    direct_response: typing.Optional[typing.Union[VirtualServiceSpecHttpDirectResponse, typing.Dict[builtins.str, typing.Any]]] = None,
    fault: typing.Optional[typing.Union[VirtualServiceSpecHttpFault, typing.Dict[builtins.str, typing.Any]]] = None,
    headers: typing.Optional[typing.Union[VirtualServiceSpecHttpHeaders, typing.Dict[builtins.str, typing.Any]]] = None,
    match: typing.Optional[typing.Sequence[typing.Union[VirtualServiceSpecHttpMatch, typing.Dict[builtins.str, typing.Any]]]] = None,
    mirror: typing.Optional[typing.Union[VirtualServiceSpecHttpMirror, typing.Dict[builtins.str, typing.Any]]] = None,
    mirror_percent: typing.Optional[jsii.Number] = None,
    mirror_percentage: typing.Optional[typing.Union[VirtualServiceSpecHttpMirrorPercentage, typing.Dict[builtins.str, typing.Any]]] = None,
    mirrors: typing.Optional[typing.Sequence[typing.Union[VirtualServiceSpecHttpMirrors, typing.Dict[builtins.str, typing.Any]]]] = None,
    name: typing.Optional[builtins.str] = None,
    redirect: typing.Optional[typing.Union[VirtualServiceSpecHttpRedirect, typing.Dict[builtins.str, typing.Any]]] = None,
    retries: typing.Optional[typing.Union[VirtualServiceSpecHttpRetries, typing.Dict[builtins.str, typing.Any]]] = None,
    rewrite: typing.Optional[typing.Union[VirtualServiceSpecHttpRewrite, typing.Dict[builtins.str, typing.Any]]] = None,
    route: typing.Optional[typing.Sequence[typing.Union[VirtualServiceSpecHttpRoute, typing.Dict[builtins.str, typing.Any]]]] = None,
    timeout: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__4fd9b17c71cbcf336fc927ccf7a93ad9a8e063496c88358cce46c4806b1e27ae(
    *,
    allow_credentials: typing.Optional[builtins.bool] = None,
    allow_headers: typing.Optional[typing.Sequence[builtins.str]] = None,
    allow_methods: typing.Optional[typing.Sequence[builtins.str]] = None,
    allow_origin: typing.Optional[typing.Sequence[builtins.str]] = None,
    allow_origins: typing.Optional[typing.Sequence[typing.Union[VirtualServiceSpecHttpCorsPolicyAllowOrigins, typing.Dict[builtins.str, typing.Any]]]] = None,
    expose_headers: typing.Optional[typing.Sequence[builtins.str]] = None,
    max_age: typing.Optional[builtins.str] = None,
    unmatched_preflights: typing.Optional[VirtualServiceSpecHttpCorsPolicyUnmatchedPreflights] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__1952f28f0e789078a25eeb420488dbbfe4d1b2e16e9ffae311c9f5448690d989(
    *,
    exact: typing.Optional[builtins.str] = None,
    prefix: typing.Optional[builtins.str] = None,
    regex: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__a128086c9815dc4dee81fb574e1201b95f6e5472a82fcc7e73147d8b44784e56(
    *,
    name: typing.Optional[builtins.str] = None,
    namespace: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__523eedce3d74e223235dfe979ea7629f3f61b2a2e3f24b0c0fa649837595663f(
    *,
    status: jsii.Number,
    body: typing.Optional[typing.Union[VirtualServiceSpecHttpDirectResponseBody, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__977113a0baf864141e1d7855511c23b4c02261f69e92614983af4f332dd738ca(
    *,
    bytes: typing.Optional[builtins.str] = None,
    string: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__eabf9e1cd2c50c0daed41a03fd03798e209c01c32b57baefa049d7adb4237e9f(
    *,
    abort: typing.Optional[typing.Union[VirtualServiceSpecHttpFaultAbort, typing.Dict[builtins.str, typing.Any]]] = None,
    delay: typing.Optional[typing.Union[VirtualServiceSpecHttpFaultDelay, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__193b2f98a83456ade41d9aa7e1d239c14019966380294674539c8c13618e72d7(
    *,
    grpc_status: typing.Optional[builtins.str] = None,
    http2_error: typing.Optional[builtins.str] = None,
    http_status: typing.Optional[jsii.Number] = None,
    percentage: typing.Optional[typing.Union[VirtualServiceSpecHttpFaultAbortPercentage, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__2367717e7ada85181449cfa93383dd396f7beb486bc645819332f1bb5d5724b0(
    *,
    value: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__9dd7dcda6d3562668c16896f8b7b0450b570ca728affe3f6d5ffb66fcf171c7f(
    *,
    exponential_delay: typing.Optional[builtins.str] = None,
    fixed_delay: typing.Optional[builtins.str] = None,
    percent: typing.Optional[jsii.Number] = None,
    percentage: typing.Optional[typing.Union[VirtualServiceSpecHttpFaultDelayPercentage, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__e7ecec86a8242193e585acbe8c605f420cbb4d4b91a6425726b3252479939da8(
    *,
    value: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__c7343bb192f829772c5bd108cbfa102e07ff488e6f6efc1e2fd0a274dec4d834(
    *,
    request: typing.Optional[typing.Union[VirtualServiceSpecHttpHeadersRequest, typing.Dict[builtins.str, typing.Any]]] = None,
    response: typing.Optional[typing.Union[VirtualServiceSpecHttpHeadersResponse, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__7ee9261b43423d2a69ae0078ceab35ef8fbe23ff78f228e755ed67657c52a91b(
    *,
    add: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
    remove: typing.Optional[typing.Sequence[builtins.str]] = None,
    set: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__a4a3e5ae4d5de5bcc5f0787c2effc9b93d9bbd3ad69b0e217c4ffb740869cddc(
    *,
    add: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
    remove: typing.Optional[typing.Sequence[builtins.str]] = None,
    set: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__7e6679c04e607646075aee5fa68635bde01655f6fc6849ade7948397bb34bfc9(
    *,
    authority: typing.Optional[typing.Union[VirtualServiceSpecHttpMatchAuthority, typing.Dict[builtins.str, typing.Any]]] = None,
    gateways: typing.Optional[typing.Sequence[builtins.str]] = None,
    headers: typing.Optional[typing.Mapping[builtins.str, typing.Union[VirtualServiceSpecHttpMatchHeaders, typing.Dict[builtins.str, typing.Any]]]] = None,
    ignore_uri_case: typing.Optional[builtins.bool] = None,
    method: typing.Optional[typing.Union[VirtualServiceSpecHttpMatchMethod, typing.Dict[builtins.str, typing.Any]]] = None,
    name: typing.Optional[builtins.str] = None,
    port: typing.Optional[jsii.Number] = None,
    query_params: typing.Optional[typing.Mapping[builtins.str, typing.Union[VirtualServiceSpecHttpMatchQueryParams, typing.Dict[builtins.str, typing.Any]]]] = None,
    scheme: typing.Optional[typing.Union[VirtualServiceSpecHttpMatchScheme, typing.Dict[builtins.str, typing.Any]]] = None,
    source_labels: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
    source_namespace: typing.Optional[builtins.str] = None,
    stat_prefix: typing.Optional[builtins.str] = None,
    uri: typing.Optional[typing.Union[VirtualServiceSpecHttpMatchUri, typing.Dict[builtins.str, typing.Any]]] = None,
    without_headers: typing.Optional[typing.Mapping[builtins.str, typing.Union[VirtualServiceSpecHttpMatchWithoutHeaders, typing.Dict[builtins.str, typing.Any]]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__e1b4382ccee48fcf2cd36945ff8f12fe694d5befa8beac06501dbd8513d9e539(
    *,
    exact: typing.Optional[builtins.str] = None,
    prefix: typing.Optional[builtins.str] = None,
    regex: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__9f6775ac88feb89402d4b4d0d395505a3809e99c454b91c48cd03f1275d0ae22(
    *,
    exact: typing.Optional[builtins.str] = None,
    prefix: typing.Optional[builtins.str] = None,
    regex: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__7c2475651d53eb91b3482e19ad1b749d6265146898f38e92e46a8be0dc5cdc75(
    *,
    exact: typing.Optional[builtins.str] = None,
    prefix: typing.Optional[builtins.str] = None,
    regex: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__612b53995446db2a985db53b447411f0ada83705f298a58bb130f4e32f234b43(
    *,
    exact: typing.Optional[builtins.str] = None,
    prefix: typing.Optional[builtins.str] = None,
    regex: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__d1014466e645e2d46693c1afd6e97187d9ab25b4cb5d26f340e4c81d211f6128(
    *,
    exact: typing.Optional[builtins.str] = None,
    prefix: typing.Optional[builtins.str] = None,
    regex: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__87e6fbaf31e37b46a430f0de4ea48db75969e2b55b953d26404fcd57071aaf90(
    *,
    exact: typing.Optional[builtins.str] = None,
    prefix: typing.Optional[builtins.str] = None,
    regex: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__5ce0c1c56f2acb6821f374dc85e3f18524c5a6b457e258129272f70625b9182d(
    *,
    exact: typing.Optional[builtins.str] = None,
    prefix: typing.Optional[builtins.str] = None,
    regex: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__6be57417319b9653937ca8951a5d82b8c573373e83972599b36ee6f860065d4e(
    *,
    host: builtins.str,
    port: typing.Optional[typing.Union[VirtualServiceSpecHttpMirrorPort, typing.Dict[builtins.str, typing.Any]]] = None,
    subset: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__6abb8faf8937004f61ad4c323b85fb600b8116fba6fa3f2da42ef52e26830475(
    *,
    value: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__359cf080bd1b5f3af09fd9373dee72788ee6a1311d07cf108fdef9309a6b02ba(
    *,
    number: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__f61653044b929380ffc6d5ded6c6722fcaa62846e6b0fbfba5793e194753d9e6(
    *,
    destination: typing.Union[VirtualServiceSpecHttpMirrorsDestination, typing.Dict[builtins.str, typing.Any]],
    percentage: typing.Optional[typing.Union[VirtualServiceSpecHttpMirrorsPercentage, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__03c16e529e42c0e772ac2528579e0fbad0a2b14af458ba03886ea8c07d5a6f11(
    *,
    host: builtins.str,
    port: typing.Optional[typing.Union[VirtualServiceSpecHttpMirrorsDestinationPort, typing.Dict[builtins.str, typing.Any]]] = None,
    subset: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__f86475e1cab607d7d60173a1efc0f1c9c6d6a7af7e7373dd672e995659fb6e75(
    *,
    number: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__1aa6785fd7c525bbaa57e60f6c626b240b1a1bb8bf09859edc69f1a19c97501a(
    *,
    value: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__55e5d44576e516e3bb4e0eaf57db524aafacbff2c87b80bceeb4cf04b3e8f960(
    *,
    authority: typing.Optional[builtins.str] = None,
    derive_port: typing.Optional[VirtualServiceSpecHttpRedirectDerivePort] = None,
    port: typing.Optional[jsii.Number] = None,
    redirect_code: typing.Optional[jsii.Number] = None,
    scheme: typing.Optional[builtins.str] = None,
    uri: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__1dfa557ebcfef7c405c6b962fc05c63b683a1f7cfcedf425d445ef3aaaa2fe6c(
    *,
    attempts: typing.Optional[jsii.Number] = None,
    backoff: typing.Optional[builtins.str] = None,
    per_try_timeout: typing.Optional[builtins.str] = None,
    retry_ignore_previous_hosts: typing.Optional[builtins.bool] = None,
    retry_on: typing.Optional[builtins.str] = None,
    retry_remote_localities: typing.Optional[builtins.bool] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__f322f1b3650874cd4a1aa7f13950db289a8d30d4e5974a009b852c0c305c4787(
    *,
    authority: typing.Optional[builtins.str] = None,
    uri: typing.Optional[builtins.str] = None,
    uri_regex_rewrite: typing.Optional[typing.Union[VirtualServiceSpecHttpRewriteUriRegexRewrite, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__7f6fea750802be9932e672b24e910bca72accd04b6d934f0fb412025625ab556(
    *,
    match: typing.Optional[builtins.str] = None,
    rewrite: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__36467b5047d97cf59f9edc3965e5b42908a70a8614c069eb29b24bc966ddf27f(
    *,
    destination: typing.Union[VirtualServiceSpecHttpRouteDestination, typing.Dict[builtins.str, typing.Any]],
    headers: typing.Optional[typing.Union[VirtualServiceSpecHttpRouteHeaders, typing.Dict[builtins.str, typing.Any]]] = None,
    weight: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__fd9f90d355e36a374dda9c919899ab911122aaf11047e8cc7a6562a152e2c802(
    *,
    host: builtins.str,
    port: typing.Optional[typing.Union[VirtualServiceSpecHttpRouteDestinationPort, typing.Dict[builtins.str, typing.Any]]] = None,
    subset: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__18ffbb0879514b6c7d658c7ffa0d478bdc1ac413f0bd760e684f97ad136120c0(
    *,
    number: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__39f60c255bfd6d5d848a248375a2de30dfa226e42c20e1783eaf6685c2149b05(
    *,
    request: typing.Optional[typing.Union[VirtualServiceSpecHttpRouteHeadersRequest, typing.Dict[builtins.str, typing.Any]]] = None,
    response: typing.Optional[typing.Union[VirtualServiceSpecHttpRouteHeadersResponse, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__35c55dd26e7184741fe8e4c6a64e0a67ebc724e049c0e046bd5d3def1ecfbc68(
    *,
    add: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
    remove: typing.Optional[typing.Sequence[builtins.str]] = None,
    set: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__bc13481dd0178c3e54b5cfb9b924d5922d0bbacb3c086f75cf9dce2d8a3057ab(
    *,
    add: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
    remove: typing.Optional[typing.Sequence[builtins.str]] = None,
    set: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__a8e792882448bb7f109ff3e373a0d7a281e3b7e202b3990ee893c2b7e7bb2458(
    *,
    match: typing.Optional[typing.Sequence[typing.Union[VirtualServiceSpecTcpMatch, typing.Dict[builtins.str, typing.Any]]]] = None,
    route: typing.Optional[typing.Sequence[typing.Union[VirtualServiceSpecTcpRoute, typing.Dict[builtins.str, typing.Any]]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__713403965d4b6e07254f4526414e3182830e602f78c58ddc62004ac25652c1fa(
    *,
    destination_subnets: typing.Optional[typing.Sequence[builtins.str]] = None,
    gateways: typing.Optional[typing.Sequence[builtins.str]] = None,
    port: typing.Optional[jsii.Number] = None,
    source_labels: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
    source_namespace: typing.Optional[builtins.str] = None,
    source_subnet: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__1de28344d5ad2260df808a8e575c49c89a71f73b85972d0dc8be6ff3bb5f125b(
    *,
    destination: typing.Union[VirtualServiceSpecTcpRouteDestination, typing.Dict[builtins.str, typing.Any]],
    weight: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__b8716779b34afea8ca7be413ceeaf311fd3adbb6a57d839b76fd60df0ce4e15c(
    *,
    host: builtins.str,
    port: typing.Optional[typing.Union[VirtualServiceSpecTcpRouteDestinationPort, typing.Dict[builtins.str, typing.Any]]] = None,
    subset: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__ad86a4dc84bb05a4554e1c8c8d431fa1484dde812abf505715515534388925a9(
    *,
    number: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__8b4c58ff9d31245efe79503b11b76f1a922da6a0bcad014536a18e2b9172982c(
    *,
    match: typing.Sequence[typing.Union[VirtualServiceSpecTlsMatch, typing.Dict[builtins.str, typing.Any]]],
    route: typing.Optional[typing.Sequence[typing.Union[VirtualServiceSpecTlsRoute, typing.Dict[builtins.str, typing.Any]]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__a23c536a4546bf03b33e1f7273cabfb4a746a9272c63540d7d4dcb13557ef146(
    *,
    sni_hosts: typing.Sequence[builtins.str],
    destination_subnets: typing.Optional[typing.Sequence[builtins.str]] = None,
    gateways: typing.Optional[typing.Sequence[builtins.str]] = None,
    port: typing.Optional[jsii.Number] = None,
    source_labels: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
    source_namespace: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__486a438678ba48cdc3e910ff6094f4466ed74795a4c5ad7d6f87424a3775f740(
    *,
    destination: typing.Union[VirtualServiceSpecTlsRouteDestination, typing.Dict[builtins.str, typing.Any]],
    weight: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__efded2158ab5449021049f4f922110bb19ff62a759bcda62cd47486d78816a03(
    *,
    host: builtins.str,
    port: typing.Optional[typing.Union[VirtualServiceSpecTlsRouteDestinationPort, typing.Dict[builtins.str, typing.Any]]] = None,
    subset: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__d9a9b966a48ff29942b16f20686b9da5413696505eb8ef4a46430a318fd07c3c(
    *,
    number: typing.Optional[jsii.Number] = None,
) -> None:
    """Type checking stubs"""
    pass
