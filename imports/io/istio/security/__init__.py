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


class AuthorizationPolicy(
    _cdk8s_d3d9af27.ApiObject,
    metaclass=jsii.JSIIMeta,
    jsii_type="ioistiosecurity.AuthorizationPolicy",
):
    '''
    :schema: AuthorizationPolicy
    '''

    def __init__(
        self,
        scope: "_constructs_77d1e7e8.Construct",
        id: builtins.str,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["AuthorizationPolicySpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Defines a "AuthorizationPolicy" API object.

        :param scope: the scope in which to define this object.
        :param id: a scope-local name for the object.
        :param metadata: 
        :param spec: Configuration for access control on workloads. See more details at: https://istio.io/docs/reference/config/security/authorization-policy.html
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__348e8ee96999ec5c43d6837e112bd8b6f34c7a9e37d81bb7c6ba5c4def88a4f5)
            check_type(argname="argument scope", value=scope, expected_type=type_hints["scope"])
            check_type(argname="argument id", value=id, expected_type=type_hints["id"])
        props = AuthorizationPolicyProps(metadata=metadata, spec=spec)

        jsii.create(self.__class__, self, [scope, id, props])

    @jsii.member(jsii_name="manifest")
    @builtins.classmethod
    def manifest(
        cls,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["AuthorizationPolicySpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> typing.Any:
        '''Renders a Kubernetes manifest for "AuthorizationPolicy".

        This can be used to inline resource manifests inside other objects (e.g. as templates).

        :param metadata: 
        :param spec: Configuration for access control on workloads. See more details at: https://istio.io/docs/reference/config/security/authorization-policy.html
        '''
        props = AuthorizationPolicyProps(metadata=metadata, spec=spec)

        return typing.cast(typing.Any, jsii.sinvoke(cls, "manifest", [props]))

    @jsii.member(jsii_name="toJson")
    def to_json(self) -> typing.Any:
        '''Renders the object to Kubernetes JSON.'''
        return typing.cast(typing.Any, jsii.invoke(self, "toJson", []))

    @jsii.python.classproperty
    @jsii.member(jsii_name="GVK")
    def GVK(cls) -> "_cdk8s_d3d9af27.GroupVersionKind":
        '''Returns the apiVersion and kind for "AuthorizationPolicy".'''
        return typing.cast("_cdk8s_d3d9af27.GroupVersionKind", jsii.sget(cls, "GVK"))


@jsii.data_type(
    jsii_type="ioistiosecurity.AuthorizationPolicyProps",
    jsii_struct_bases=[],
    name_mapping={"metadata": "metadata", "spec": "spec"},
)
class AuthorizationPolicyProps:
    def __init__(
        self,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["AuthorizationPolicySpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''
        :param metadata: 
        :param spec: Configuration for access control on workloads. See more details at: https://istio.io/docs/reference/config/security/authorization-policy.html

        :schema: AuthorizationPolicy
        '''
        if isinstance(metadata, dict):
            metadata = _cdk8s_d3d9af27.ApiObjectMetadata(**metadata)
        if isinstance(spec, dict):
            spec = AuthorizationPolicySpec(**spec)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__fa9bde6e4e21c45c49a0c99d2dbce5617d78a3124f31ea643719f91bcf122fdb)
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
        :schema: AuthorizationPolicy#metadata
        '''
        result = self._values.get("metadata")
        return typing.cast(typing.Optional["_cdk8s_d3d9af27.ApiObjectMetadata"], result)

    @builtins.property
    def spec(self) -> typing.Optional["AuthorizationPolicySpec"]:
        '''Configuration for access control on workloads.

        See more details at: https://istio.io/docs/reference/config/security/authorization-policy.html

        :schema: AuthorizationPolicy#spec
        '''
        result = self._values.get("spec")
        return typing.cast(typing.Optional["AuthorizationPolicySpec"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "AuthorizationPolicyProps(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistiosecurity.AuthorizationPolicySpec",
    jsii_struct_bases=[],
    name_mapping={
        "action": "action",
        "provider": "provider",
        "rules": "rules",
        "selector": "selector",
        "target_ref": "targetRef",
        "target_refs": "targetRefs",
    },
)
class AuthorizationPolicySpec:
    def __init__(
        self,
        *,
        action: typing.Optional["AuthorizationPolicySpecAction"] = None,
        provider: typing.Optional[typing.Union["AuthorizationPolicySpecProvider", typing.Dict[builtins.str, typing.Any]]] = None,
        rules: typing.Optional[typing.Sequence[typing.Union["AuthorizationPolicySpecRules", typing.Dict[builtins.str, typing.Any]]]] = None,
        selector: typing.Optional[typing.Union["AuthorizationPolicySpecSelector", typing.Dict[builtins.str, typing.Any]]] = None,
        target_ref: typing.Optional[typing.Union["AuthorizationPolicySpecTargetRef", typing.Dict[builtins.str, typing.Any]]] = None,
        target_refs: typing.Optional[typing.Sequence[typing.Union["AuthorizationPolicySpecTargetRefs", typing.Dict[builtins.str, typing.Any]]]] = None,
    ) -> None:
        '''Configuration for access control on workloads.

        See more details at: https://istio.io/docs/reference/config/security/authorization-policy.html

        :param action: Optional. Valid Options: ALLOW, DENY, AUDIT, CUSTOM
        :param provider: Specifies detailed configuration of the CUSTOM action.
        :param rules: Optional.
        :param selector: Optional.
        :param target_ref: 
        :param target_refs: Optional.

        :schema: AuthorizationPolicySpec
        '''
        if isinstance(provider, dict):
            provider = AuthorizationPolicySpecProvider(**provider)
        if isinstance(selector, dict):
            selector = AuthorizationPolicySpecSelector(**selector)
        if isinstance(target_ref, dict):
            target_ref = AuthorizationPolicySpecTargetRef(**target_ref)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__6d1af1bfbfc12288409c253efde44e9235314a49f6c422d879b23f3b67dfc700)
            check_type(argname="argument action", value=action, expected_type=type_hints["action"])
            check_type(argname="argument provider", value=provider, expected_type=type_hints["provider"])
            check_type(argname="argument rules", value=rules, expected_type=type_hints["rules"])
            check_type(argname="argument selector", value=selector, expected_type=type_hints["selector"])
            check_type(argname="argument target_ref", value=target_ref, expected_type=type_hints["target_ref"])
            check_type(argname="argument target_refs", value=target_refs, expected_type=type_hints["target_refs"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if action is not None:
            self._values["action"] = action
        if provider is not None:
            self._values["provider"] = provider
        if rules is not None:
            self._values["rules"] = rules
        if selector is not None:
            self._values["selector"] = selector
        if target_ref is not None:
            self._values["target_ref"] = target_ref
        if target_refs is not None:
            self._values["target_refs"] = target_refs

    @builtins.property
    def action(self) -> typing.Optional["AuthorizationPolicySpecAction"]:
        '''Optional.

        Valid Options: ALLOW, DENY, AUDIT, CUSTOM

        :schema: AuthorizationPolicySpec#action
        '''
        result = self._values.get("action")
        return typing.cast(typing.Optional["AuthorizationPolicySpecAction"], result)

    @builtins.property
    def provider(self) -> typing.Optional["AuthorizationPolicySpecProvider"]:
        '''Specifies detailed configuration of the CUSTOM action.

        :schema: AuthorizationPolicySpec#provider
        '''
        result = self._values.get("provider")
        return typing.cast(typing.Optional["AuthorizationPolicySpecProvider"], result)

    @builtins.property
    def rules(self) -> typing.Optional[typing.List["AuthorizationPolicySpecRules"]]:
        '''Optional.

        :schema: AuthorizationPolicySpec#rules
        '''
        result = self._values.get("rules")
        return typing.cast(typing.Optional[typing.List["AuthorizationPolicySpecRules"]], result)

    @builtins.property
    def selector(self) -> typing.Optional["AuthorizationPolicySpecSelector"]:
        '''Optional.

        :schema: AuthorizationPolicySpec#selector
        '''
        result = self._values.get("selector")
        return typing.cast(typing.Optional["AuthorizationPolicySpecSelector"], result)

    @builtins.property
    def target_ref(self) -> typing.Optional["AuthorizationPolicySpecTargetRef"]:
        '''
        :schema: AuthorizationPolicySpec#targetRef
        '''
        result = self._values.get("target_ref")
        return typing.cast(typing.Optional["AuthorizationPolicySpecTargetRef"], result)

    @builtins.property
    def target_refs(
        self,
    ) -> typing.Optional[typing.List["AuthorizationPolicySpecTargetRefs"]]:
        '''Optional.

        :schema: AuthorizationPolicySpec#targetRefs
        '''
        result = self._values.get("target_refs")
        return typing.cast(typing.Optional[typing.List["AuthorizationPolicySpecTargetRefs"]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "AuthorizationPolicySpec(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(jsii_type="ioistiosecurity.AuthorizationPolicySpecAction")
class AuthorizationPolicySpecAction(enum.Enum):
    '''Optional.

    Valid Options: ALLOW, DENY, AUDIT, CUSTOM

    :schema: AuthorizationPolicySpecAction
    '''

    ALLOW = "ALLOW"
    '''ALLOW.'''
    DENY = "DENY"
    '''DENY.'''
    AUDIT = "AUDIT"
    '''AUDIT.'''
    CUSTOM = "CUSTOM"
    '''CUSTOM.'''


@jsii.data_type(
    jsii_type="ioistiosecurity.AuthorizationPolicySpecProvider",
    jsii_struct_bases=[],
    name_mapping={"name": "name"},
)
class AuthorizationPolicySpecProvider:
    def __init__(self, *, name: typing.Optional[builtins.str] = None) -> None:
        '''Specifies detailed configuration of the CUSTOM action.

        :param name: Specifies the name of the extension provider.

        :schema: AuthorizationPolicySpecProvider
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__6d6bd5587d7ffcf2348b903661f150cf9724820c5648384395eba72623054355)
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if name is not None:
            self._values["name"] = name

    @builtins.property
    def name(self) -> typing.Optional[builtins.str]:
        '''Specifies the name of the extension provider.

        :schema: AuthorizationPolicySpecProvider#name
        '''
        result = self._values.get("name")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "AuthorizationPolicySpecProvider(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistiosecurity.AuthorizationPolicySpecRules",
    jsii_struct_bases=[],
    name_mapping={"from_": "from", "to": "to", "when": "when"},
)
class AuthorizationPolicySpecRules:
    def __init__(
        self,
        *,
        from_: typing.Optional[typing.Sequence[typing.Union["AuthorizationPolicySpecRulesFrom", typing.Dict[builtins.str, typing.Any]]]] = None,
        to: typing.Optional[typing.Sequence[typing.Union["AuthorizationPolicySpecRulesTo", typing.Dict[builtins.str, typing.Any]]]] = None,
        when: typing.Optional[typing.Sequence[typing.Union["AuthorizationPolicySpecRulesWhen", typing.Dict[builtins.str, typing.Any]]]] = None,
    ) -> None:
        '''
        :param from_: Optional.
        :param to: Optional.
        :param when: Optional.

        :schema: AuthorizationPolicySpecRules
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__8b03c66bb2a3f6491292d8a873ce7d625059c65619cd914f011b76ef11aa92d3)
            check_type(argname="argument from_", value=from_, expected_type=type_hints["from_"])
            check_type(argname="argument to", value=to, expected_type=type_hints["to"])
            check_type(argname="argument when", value=when, expected_type=type_hints["when"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if from_ is not None:
            self._values["from_"] = from_
        if to is not None:
            self._values["to"] = to
        if when is not None:
            self._values["when"] = when

    @builtins.property
    def from_(self) -> typing.Optional[typing.List["AuthorizationPolicySpecRulesFrom"]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRules#from
        '''
        result = self._values.get("from_")
        return typing.cast(typing.Optional[typing.List["AuthorizationPolicySpecRulesFrom"]], result)

    @builtins.property
    def to(self) -> typing.Optional[typing.List["AuthorizationPolicySpecRulesTo"]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRules#to
        '''
        result = self._values.get("to")
        return typing.cast(typing.Optional[typing.List["AuthorizationPolicySpecRulesTo"]], result)

    @builtins.property
    def when(self) -> typing.Optional[typing.List["AuthorizationPolicySpecRulesWhen"]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRules#when
        '''
        result = self._values.get("when")
        return typing.cast(typing.Optional[typing.List["AuthorizationPolicySpecRulesWhen"]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "AuthorizationPolicySpecRules(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistiosecurity.AuthorizationPolicySpecRulesFrom",
    jsii_struct_bases=[],
    name_mapping={"source": "source"},
)
class AuthorizationPolicySpecRulesFrom:
    def __init__(
        self,
        *,
        source: typing.Optional[typing.Union["AuthorizationPolicySpecRulesFromSource", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''
        :param source: Source specifies the source of a request.

        :schema: AuthorizationPolicySpecRulesFrom
        '''
        if isinstance(source, dict):
            source = AuthorizationPolicySpecRulesFromSource(**source)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__dd1b9370b3778fba94a38bc6dc7afddb9d8ed8804abca3b525c3fb0d721c9eb5)
            check_type(argname="argument source", value=source, expected_type=type_hints["source"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if source is not None:
            self._values["source"] = source

    @builtins.property
    def source(self) -> typing.Optional["AuthorizationPolicySpecRulesFromSource"]:
        '''Source specifies the source of a request.

        :schema: AuthorizationPolicySpecRulesFrom#source
        '''
        result = self._values.get("source")
        return typing.cast(typing.Optional["AuthorizationPolicySpecRulesFromSource"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "AuthorizationPolicySpecRulesFrom(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistiosecurity.AuthorizationPolicySpecRulesFromSource",
    jsii_struct_bases=[],
    name_mapping={
        "ip_blocks": "ipBlocks",
        "namespaces": "namespaces",
        "not_ip_blocks": "notIpBlocks",
        "not_namespaces": "notNamespaces",
        "not_principals": "notPrincipals",
        "not_remote_ip_blocks": "notRemoteIpBlocks",
        "not_request_principals": "notRequestPrincipals",
        "not_service_accounts": "notServiceAccounts",
        "not_trust_domains": "notTrustDomains",
        "principals": "principals",
        "remote_ip_blocks": "remoteIpBlocks",
        "request_principals": "requestPrincipals",
        "service_accounts": "serviceAccounts",
        "trust_domains": "trustDomains",
    },
)
class AuthorizationPolicySpecRulesFromSource:
    def __init__(
        self,
        *,
        ip_blocks: typing.Optional[typing.Sequence[builtins.str]] = None,
        namespaces: typing.Optional[typing.Sequence[builtins.str]] = None,
        not_ip_blocks: typing.Optional[typing.Sequence[builtins.str]] = None,
        not_namespaces: typing.Optional[typing.Sequence[builtins.str]] = None,
        not_principals: typing.Optional[typing.Sequence[builtins.str]] = None,
        not_remote_ip_blocks: typing.Optional[typing.Sequence[builtins.str]] = None,
        not_request_principals: typing.Optional[typing.Sequence[builtins.str]] = None,
        not_service_accounts: typing.Optional[typing.Sequence[builtins.str]] = None,
        not_trust_domains: typing.Optional[typing.Sequence[builtins.str]] = None,
        principals: typing.Optional[typing.Sequence[builtins.str]] = None,
        remote_ip_blocks: typing.Optional[typing.Sequence[builtins.str]] = None,
        request_principals: typing.Optional[typing.Sequence[builtins.str]] = None,
        service_accounts: typing.Optional[typing.Sequence[builtins.str]] = None,
        trust_domains: typing.Optional[typing.Sequence[builtins.str]] = None,
    ) -> None:
        '''Source specifies the source of a request.

        :param ip_blocks: Optional.
        :param namespaces: Optional.
        :param not_ip_blocks: Optional.
        :param not_namespaces: Optional.
        :param not_principals: Optional.
        :param not_remote_ip_blocks: Optional.
        :param not_request_principals: Optional.
        :param not_service_accounts: Optional.
        :param not_trust_domains: Optional.
        :param principals: Optional.
        :param remote_ip_blocks: Optional.
        :param request_principals: Optional.
        :param service_accounts: Optional.
        :param trust_domains: Optional.

        :schema: AuthorizationPolicySpecRulesFromSource
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__966c5221ecd28d4de86557fe3bb05c2619627a5f682773509319961cb8885300)
            check_type(argname="argument ip_blocks", value=ip_blocks, expected_type=type_hints["ip_blocks"])
            check_type(argname="argument namespaces", value=namespaces, expected_type=type_hints["namespaces"])
            check_type(argname="argument not_ip_blocks", value=not_ip_blocks, expected_type=type_hints["not_ip_blocks"])
            check_type(argname="argument not_namespaces", value=not_namespaces, expected_type=type_hints["not_namespaces"])
            check_type(argname="argument not_principals", value=not_principals, expected_type=type_hints["not_principals"])
            check_type(argname="argument not_remote_ip_blocks", value=not_remote_ip_blocks, expected_type=type_hints["not_remote_ip_blocks"])
            check_type(argname="argument not_request_principals", value=not_request_principals, expected_type=type_hints["not_request_principals"])
            check_type(argname="argument not_service_accounts", value=not_service_accounts, expected_type=type_hints["not_service_accounts"])
            check_type(argname="argument not_trust_domains", value=not_trust_domains, expected_type=type_hints["not_trust_domains"])
            check_type(argname="argument principals", value=principals, expected_type=type_hints["principals"])
            check_type(argname="argument remote_ip_blocks", value=remote_ip_blocks, expected_type=type_hints["remote_ip_blocks"])
            check_type(argname="argument request_principals", value=request_principals, expected_type=type_hints["request_principals"])
            check_type(argname="argument service_accounts", value=service_accounts, expected_type=type_hints["service_accounts"])
            check_type(argname="argument trust_domains", value=trust_domains, expected_type=type_hints["trust_domains"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if ip_blocks is not None:
            self._values["ip_blocks"] = ip_blocks
        if namespaces is not None:
            self._values["namespaces"] = namespaces
        if not_ip_blocks is not None:
            self._values["not_ip_blocks"] = not_ip_blocks
        if not_namespaces is not None:
            self._values["not_namespaces"] = not_namespaces
        if not_principals is not None:
            self._values["not_principals"] = not_principals
        if not_remote_ip_blocks is not None:
            self._values["not_remote_ip_blocks"] = not_remote_ip_blocks
        if not_request_principals is not None:
            self._values["not_request_principals"] = not_request_principals
        if not_service_accounts is not None:
            self._values["not_service_accounts"] = not_service_accounts
        if not_trust_domains is not None:
            self._values["not_trust_domains"] = not_trust_domains
        if principals is not None:
            self._values["principals"] = principals
        if remote_ip_blocks is not None:
            self._values["remote_ip_blocks"] = remote_ip_blocks
        if request_principals is not None:
            self._values["request_principals"] = request_principals
        if service_accounts is not None:
            self._values["service_accounts"] = service_accounts
        if trust_domains is not None:
            self._values["trust_domains"] = trust_domains

    @builtins.property
    def ip_blocks(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesFromSource#ipBlocks
        '''
        result = self._values.get("ip_blocks")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def namespaces(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesFromSource#namespaces
        '''
        result = self._values.get("namespaces")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def not_ip_blocks(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesFromSource#notIpBlocks
        '''
        result = self._values.get("not_ip_blocks")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def not_namespaces(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesFromSource#notNamespaces
        '''
        result = self._values.get("not_namespaces")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def not_principals(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesFromSource#notPrincipals
        '''
        result = self._values.get("not_principals")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def not_remote_ip_blocks(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesFromSource#notRemoteIpBlocks
        '''
        result = self._values.get("not_remote_ip_blocks")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def not_request_principals(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesFromSource#notRequestPrincipals
        '''
        result = self._values.get("not_request_principals")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def not_service_accounts(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesFromSource#notServiceAccounts
        '''
        result = self._values.get("not_service_accounts")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def not_trust_domains(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesFromSource#notTrustDomains
        '''
        result = self._values.get("not_trust_domains")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def principals(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesFromSource#principals
        '''
        result = self._values.get("principals")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def remote_ip_blocks(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesFromSource#remoteIpBlocks
        '''
        result = self._values.get("remote_ip_blocks")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def request_principals(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesFromSource#requestPrincipals
        '''
        result = self._values.get("request_principals")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def service_accounts(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesFromSource#serviceAccounts
        '''
        result = self._values.get("service_accounts")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def trust_domains(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesFromSource#trustDomains
        '''
        result = self._values.get("trust_domains")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "AuthorizationPolicySpecRulesFromSource(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistiosecurity.AuthorizationPolicySpecRulesTo",
    jsii_struct_bases=[],
    name_mapping={"operation": "operation"},
)
class AuthorizationPolicySpecRulesTo:
    def __init__(
        self,
        *,
        operation: typing.Optional[typing.Union["AuthorizationPolicySpecRulesToOperation", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''
        :param operation: Operation specifies the operation of a request.

        :schema: AuthorizationPolicySpecRulesTo
        '''
        if isinstance(operation, dict):
            operation = AuthorizationPolicySpecRulesToOperation(**operation)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__35036e485aa6401904adcd3ed932a0c600eca39323ad55c89f23b4c9d95ae36e)
            check_type(argname="argument operation", value=operation, expected_type=type_hints["operation"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if operation is not None:
            self._values["operation"] = operation

    @builtins.property
    def operation(self) -> typing.Optional["AuthorizationPolicySpecRulesToOperation"]:
        '''Operation specifies the operation of a request.

        :schema: AuthorizationPolicySpecRulesTo#operation
        '''
        result = self._values.get("operation")
        return typing.cast(typing.Optional["AuthorizationPolicySpecRulesToOperation"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "AuthorizationPolicySpecRulesTo(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistiosecurity.AuthorizationPolicySpecRulesToOperation",
    jsii_struct_bases=[],
    name_mapping={
        "hosts": "hosts",
        "methods": "methods",
        "not_hosts": "notHosts",
        "not_methods": "notMethods",
        "not_paths": "notPaths",
        "not_ports": "notPorts",
        "paths": "paths",
        "ports": "ports",
    },
)
class AuthorizationPolicySpecRulesToOperation:
    def __init__(
        self,
        *,
        hosts: typing.Optional[typing.Sequence[builtins.str]] = None,
        methods: typing.Optional[typing.Sequence[builtins.str]] = None,
        not_hosts: typing.Optional[typing.Sequence[builtins.str]] = None,
        not_methods: typing.Optional[typing.Sequence[builtins.str]] = None,
        not_paths: typing.Optional[typing.Sequence[builtins.str]] = None,
        not_ports: typing.Optional[typing.Sequence[builtins.str]] = None,
        paths: typing.Optional[typing.Sequence[builtins.str]] = None,
        ports: typing.Optional[typing.Sequence[builtins.str]] = None,
    ) -> None:
        '''Operation specifies the operation of a request.

        :param hosts: Optional.
        :param methods: Optional.
        :param not_hosts: Optional.
        :param not_methods: Optional.
        :param not_paths: Optional.
        :param not_ports: Optional.
        :param paths: Optional.
        :param ports: Optional.

        :schema: AuthorizationPolicySpecRulesToOperation
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__2286e8d40d97079a2623a6169af2ea50d8a8e45c9667e7ee1803a0e460ad6a6a)
            check_type(argname="argument hosts", value=hosts, expected_type=type_hints["hosts"])
            check_type(argname="argument methods", value=methods, expected_type=type_hints["methods"])
            check_type(argname="argument not_hosts", value=not_hosts, expected_type=type_hints["not_hosts"])
            check_type(argname="argument not_methods", value=not_methods, expected_type=type_hints["not_methods"])
            check_type(argname="argument not_paths", value=not_paths, expected_type=type_hints["not_paths"])
            check_type(argname="argument not_ports", value=not_ports, expected_type=type_hints["not_ports"])
            check_type(argname="argument paths", value=paths, expected_type=type_hints["paths"])
            check_type(argname="argument ports", value=ports, expected_type=type_hints["ports"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if hosts is not None:
            self._values["hosts"] = hosts
        if methods is not None:
            self._values["methods"] = methods
        if not_hosts is not None:
            self._values["not_hosts"] = not_hosts
        if not_methods is not None:
            self._values["not_methods"] = not_methods
        if not_paths is not None:
            self._values["not_paths"] = not_paths
        if not_ports is not None:
            self._values["not_ports"] = not_ports
        if paths is not None:
            self._values["paths"] = paths
        if ports is not None:
            self._values["ports"] = ports

    @builtins.property
    def hosts(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesToOperation#hosts
        '''
        result = self._values.get("hosts")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def methods(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesToOperation#methods
        '''
        result = self._values.get("methods")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def not_hosts(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesToOperation#notHosts
        '''
        result = self._values.get("not_hosts")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def not_methods(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesToOperation#notMethods
        '''
        result = self._values.get("not_methods")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def not_paths(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesToOperation#notPaths
        '''
        result = self._values.get("not_paths")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def not_ports(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesToOperation#notPorts
        '''
        result = self._values.get("not_ports")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def paths(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesToOperation#paths
        '''
        result = self._values.get("paths")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def ports(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesToOperation#ports
        '''
        result = self._values.get("ports")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "AuthorizationPolicySpecRulesToOperation(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistiosecurity.AuthorizationPolicySpecRulesWhen",
    jsii_struct_bases=[],
    name_mapping={"key": "key", "not_values": "notValues", "values": "values"},
)
class AuthorizationPolicySpecRulesWhen:
    def __init__(
        self,
        *,
        key: builtins.str,
        not_values: typing.Optional[typing.Sequence[builtins.str]] = None,
        values: typing.Optional[typing.Sequence[builtins.str]] = None,
    ) -> None:
        '''
        :param key: The name of an Istio attribute.
        :param not_values: Optional.
        :param values: Optional.

        :schema: AuthorizationPolicySpecRulesWhen
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__07db048a44ed93a902343852f76b47a198fdad75b0be006a97e73730ac35a256)
            check_type(argname="argument key", value=key, expected_type=type_hints["key"])
            check_type(argname="argument not_values", value=not_values, expected_type=type_hints["not_values"])
            check_type(argname="argument values", value=values, expected_type=type_hints["values"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "key": key,
        }
        if not_values is not None:
            self._values["not_values"] = not_values
        if values is not None:
            self._values["values"] = values

    @builtins.property
    def key(self) -> builtins.str:
        '''The name of an Istio attribute.

        :schema: AuthorizationPolicySpecRulesWhen#key
        '''
        result = self._values.get("key")
        assert result is not None, "Required property 'key' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def not_values(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesWhen#notValues
        '''
        result = self._values.get("not_values")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def values(self) -> typing.Optional[typing.List[builtins.str]]:
        '''Optional.

        :schema: AuthorizationPolicySpecRulesWhen#values
        '''
        result = self._values.get("values")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "AuthorizationPolicySpecRulesWhen(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistiosecurity.AuthorizationPolicySpecSelector",
    jsii_struct_bases=[],
    name_mapping={"match_labels": "matchLabels"},
)
class AuthorizationPolicySpecSelector:
    def __init__(
        self,
        *,
        match_labels: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
    ) -> None:
        '''Optional.

        :param match_labels: One or more labels that indicate a specific set of pods/VMs on which a policy should be applied.

        :schema: AuthorizationPolicySpecSelector
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__659ea97d8ba8eb2faa8e0917e58b58b9667614604fe6f88d5ce337e2f546f022)
            check_type(argname="argument match_labels", value=match_labels, expected_type=type_hints["match_labels"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if match_labels is not None:
            self._values["match_labels"] = match_labels

    @builtins.property
    def match_labels(
        self,
    ) -> typing.Optional[typing.Mapping[builtins.str, builtins.str]]:
        '''One or more labels that indicate a specific set of pods/VMs on which a policy should be applied.

        :schema: AuthorizationPolicySpecSelector#matchLabels
        '''
        result = self._values.get("match_labels")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, builtins.str]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "AuthorizationPolicySpecSelector(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistiosecurity.AuthorizationPolicySpecTargetRef",
    jsii_struct_bases=[],
    name_mapping={
        "kind": "kind",
        "name": "name",
        "group": "group",
        "namespace": "namespace",
    },
)
class AuthorizationPolicySpecTargetRef:
    def __init__(
        self,
        *,
        kind: builtins.str,
        name: builtins.str,
        group: typing.Optional[builtins.str] = None,
        namespace: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param kind: kind is kind of the target resource.
        :param name: name is the name of the target resource.
        :param group: group is the group of the target resource.
        :param namespace: namespace is the namespace of the referent.

        :schema: AuthorizationPolicySpecTargetRef
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__724b4043edb3ff1d64e09477a79fbadbba148fee481110f7f47b674a9a3f63eb)
            check_type(argname="argument kind", value=kind, expected_type=type_hints["kind"])
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument group", value=group, expected_type=type_hints["group"])
            check_type(argname="argument namespace", value=namespace, expected_type=type_hints["namespace"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "kind": kind,
            "name": name,
        }
        if group is not None:
            self._values["group"] = group
        if namespace is not None:
            self._values["namespace"] = namespace

    @builtins.property
    def kind(self) -> builtins.str:
        '''kind is kind of the target resource.

        :schema: AuthorizationPolicySpecTargetRef#kind
        '''
        result = self._values.get("kind")
        assert result is not None, "Required property 'kind' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def name(self) -> builtins.str:
        '''name is the name of the target resource.

        :schema: AuthorizationPolicySpecTargetRef#name
        '''
        result = self._values.get("name")
        assert result is not None, "Required property 'name' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def group(self) -> typing.Optional[builtins.str]:
        '''group is the group of the target resource.

        :schema: AuthorizationPolicySpecTargetRef#group
        '''
        result = self._values.get("group")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def namespace(self) -> typing.Optional[builtins.str]:
        '''namespace is the namespace of the referent.

        :schema: AuthorizationPolicySpecTargetRef#namespace
        '''
        result = self._values.get("namespace")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "AuthorizationPolicySpecTargetRef(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistiosecurity.AuthorizationPolicySpecTargetRefs",
    jsii_struct_bases=[],
    name_mapping={
        "kind": "kind",
        "name": "name",
        "group": "group",
        "namespace": "namespace",
    },
)
class AuthorizationPolicySpecTargetRefs:
    def __init__(
        self,
        *,
        kind: builtins.str,
        name: builtins.str,
        group: typing.Optional[builtins.str] = None,
        namespace: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param kind: kind is kind of the target resource.
        :param name: name is the name of the target resource.
        :param group: group is the group of the target resource.
        :param namespace: namespace is the namespace of the referent.

        :schema: AuthorizationPolicySpecTargetRefs
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__a56646aebd25eee8257620b1ebd60622995e072087383128baefc06693a5facb)
            check_type(argname="argument kind", value=kind, expected_type=type_hints["kind"])
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument group", value=group, expected_type=type_hints["group"])
            check_type(argname="argument namespace", value=namespace, expected_type=type_hints["namespace"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "kind": kind,
            "name": name,
        }
        if group is not None:
            self._values["group"] = group
        if namespace is not None:
            self._values["namespace"] = namespace

    @builtins.property
    def kind(self) -> builtins.str:
        '''kind is kind of the target resource.

        :schema: AuthorizationPolicySpecTargetRefs#kind
        '''
        result = self._values.get("kind")
        assert result is not None, "Required property 'kind' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def name(self) -> builtins.str:
        '''name is the name of the target resource.

        :schema: AuthorizationPolicySpecTargetRefs#name
        '''
        result = self._values.get("name")
        assert result is not None, "Required property 'name' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def group(self) -> typing.Optional[builtins.str]:
        '''group is the group of the target resource.

        :schema: AuthorizationPolicySpecTargetRefs#group
        '''
        result = self._values.get("group")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def namespace(self) -> typing.Optional[builtins.str]:
        '''namespace is the namespace of the referent.

        :schema: AuthorizationPolicySpecTargetRefs#namespace
        '''
        result = self._values.get("namespace")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "AuthorizationPolicySpecTargetRefs(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


class PeerAuthentication(
    _cdk8s_d3d9af27.ApiObject,
    metaclass=jsii.JSIIMeta,
    jsii_type="ioistiosecurity.PeerAuthentication",
):
    '''
    :schema: PeerAuthentication
    '''

    def __init__(
        self,
        scope: "_constructs_77d1e7e8.Construct",
        id: builtins.str,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["PeerAuthenticationSpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Defines a "PeerAuthentication" API object.

        :param scope: the scope in which to define this object.
        :param id: a scope-local name for the object.
        :param metadata: 
        :param spec: Peer authentication configuration for workloads. See more details at: https://istio.io/docs/reference/config/security/peer_authentication.html
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__596082aca4feac362a02ef959e057611060567e661f2c4556cf32cc0b31d7e28)
            check_type(argname="argument scope", value=scope, expected_type=type_hints["scope"])
            check_type(argname="argument id", value=id, expected_type=type_hints["id"])
        props = PeerAuthenticationProps(metadata=metadata, spec=spec)

        jsii.create(self.__class__, self, [scope, id, props])

    @jsii.member(jsii_name="manifest")
    @builtins.classmethod
    def manifest(
        cls,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["PeerAuthenticationSpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> typing.Any:
        '''Renders a Kubernetes manifest for "PeerAuthentication".

        This can be used to inline resource manifests inside other objects (e.g. as templates).

        :param metadata: 
        :param spec: Peer authentication configuration for workloads. See more details at: https://istio.io/docs/reference/config/security/peer_authentication.html
        '''
        props = PeerAuthenticationProps(metadata=metadata, spec=spec)

        return typing.cast(typing.Any, jsii.sinvoke(cls, "manifest", [props]))

    @jsii.member(jsii_name="toJson")
    def to_json(self) -> typing.Any:
        '''Renders the object to Kubernetes JSON.'''
        return typing.cast(typing.Any, jsii.invoke(self, "toJson", []))

    @jsii.python.classproperty
    @jsii.member(jsii_name="GVK")
    def GVK(cls) -> "_cdk8s_d3d9af27.GroupVersionKind":
        '''Returns the apiVersion and kind for "PeerAuthentication".'''
        return typing.cast("_cdk8s_d3d9af27.GroupVersionKind", jsii.sget(cls, "GVK"))


@jsii.data_type(
    jsii_type="ioistiosecurity.PeerAuthenticationProps",
    jsii_struct_bases=[],
    name_mapping={"metadata": "metadata", "spec": "spec"},
)
class PeerAuthenticationProps:
    def __init__(
        self,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["PeerAuthenticationSpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''
        :param metadata: 
        :param spec: Peer authentication configuration for workloads. See more details at: https://istio.io/docs/reference/config/security/peer_authentication.html

        :schema: PeerAuthentication
        '''
        if isinstance(metadata, dict):
            metadata = _cdk8s_d3d9af27.ApiObjectMetadata(**metadata)
        if isinstance(spec, dict):
            spec = PeerAuthenticationSpec(**spec)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__ed9efd1e87aacc3719e25f784796b7a20f83256c90c3f8524d074acf31a4d99b)
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
        :schema: PeerAuthentication#metadata
        '''
        result = self._values.get("metadata")
        return typing.cast(typing.Optional["_cdk8s_d3d9af27.ApiObjectMetadata"], result)

    @builtins.property
    def spec(self) -> typing.Optional["PeerAuthenticationSpec"]:
        '''Peer authentication configuration for workloads.

        See more details at: https://istio.io/docs/reference/config/security/peer_authentication.html

        :schema: PeerAuthentication#spec
        '''
        result = self._values.get("spec")
        return typing.cast(typing.Optional["PeerAuthenticationSpec"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "PeerAuthenticationProps(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistiosecurity.PeerAuthenticationSpec",
    jsii_struct_bases=[],
    name_mapping={
        "mtls": "mtls",
        "port_level_mtls": "portLevelMtls",
        "selector": "selector",
    },
)
class PeerAuthenticationSpec:
    def __init__(
        self,
        *,
        mtls: typing.Optional[typing.Union["PeerAuthenticationSpecMtls", typing.Dict[builtins.str, typing.Any]]] = None,
        port_level_mtls: typing.Optional[typing.Mapping[builtins.str, typing.Union["PeerAuthenticationSpecPortLevelMtls", typing.Dict[builtins.str, typing.Any]]]] = None,
        selector: typing.Optional[typing.Union["PeerAuthenticationSpecSelector", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Peer authentication configuration for workloads.

        See more details at: https://istio.io/docs/reference/config/security/peer_authentication.html

        :param mtls: Mutual TLS settings for workload.
        :param port_level_mtls: Port specific mutual TLS settings.
        :param selector: The selector determines the workloads to apply the PeerAuthentication on.

        :schema: PeerAuthenticationSpec
        '''
        if isinstance(mtls, dict):
            mtls = PeerAuthenticationSpecMtls(**mtls)
        if isinstance(selector, dict):
            selector = PeerAuthenticationSpecSelector(**selector)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__acd326f95d78a6aa78f8cbd32ebe28b923f8e2d550ff5ef630dce5043dc0581e)
            check_type(argname="argument mtls", value=mtls, expected_type=type_hints["mtls"])
            check_type(argname="argument port_level_mtls", value=port_level_mtls, expected_type=type_hints["port_level_mtls"])
            check_type(argname="argument selector", value=selector, expected_type=type_hints["selector"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if mtls is not None:
            self._values["mtls"] = mtls
        if port_level_mtls is not None:
            self._values["port_level_mtls"] = port_level_mtls
        if selector is not None:
            self._values["selector"] = selector

    @builtins.property
    def mtls(self) -> typing.Optional["PeerAuthenticationSpecMtls"]:
        '''Mutual TLS settings for workload.

        :schema: PeerAuthenticationSpec#mtls
        '''
        result = self._values.get("mtls")
        return typing.cast(typing.Optional["PeerAuthenticationSpecMtls"], result)

    @builtins.property
    def port_level_mtls(
        self,
    ) -> typing.Optional[typing.Mapping[builtins.str, "PeerAuthenticationSpecPortLevelMtls"]]:
        '''Port specific mutual TLS settings.

        :schema: PeerAuthenticationSpec#portLevelMtls
        '''
        result = self._values.get("port_level_mtls")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, "PeerAuthenticationSpecPortLevelMtls"]], result)

    @builtins.property
    def selector(self) -> typing.Optional["PeerAuthenticationSpecSelector"]:
        '''The selector determines the workloads to apply the PeerAuthentication on.

        :schema: PeerAuthenticationSpec#selector
        '''
        result = self._values.get("selector")
        return typing.cast(typing.Optional["PeerAuthenticationSpecSelector"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "PeerAuthenticationSpec(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistiosecurity.PeerAuthenticationSpecMtls",
    jsii_struct_bases=[],
    name_mapping={"mode": "mode"},
)
class PeerAuthenticationSpecMtls:
    def __init__(
        self,
        *,
        mode: typing.Optional["PeerAuthenticationSpecMtlsMode"] = None,
    ) -> None:
        '''Mutual TLS settings for workload.

        :param mode: Defines the mTLS mode used for peer authentication. Valid Options: DISABLE, PERMISSIVE, STRICT

        :schema: PeerAuthenticationSpecMtls
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__15a6a992a970001bd9dd4135cf99a31cf7c5cf02896ed0da1b383b9770dc819e)
            check_type(argname="argument mode", value=mode, expected_type=type_hints["mode"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if mode is not None:
            self._values["mode"] = mode

    @builtins.property
    def mode(self) -> typing.Optional["PeerAuthenticationSpecMtlsMode"]:
        '''Defines the mTLS mode used for peer authentication.

        Valid Options: DISABLE, PERMISSIVE, STRICT

        :schema: PeerAuthenticationSpecMtls#mode
        '''
        result = self._values.get("mode")
        return typing.cast(typing.Optional["PeerAuthenticationSpecMtlsMode"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "PeerAuthenticationSpecMtls(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(jsii_type="ioistiosecurity.PeerAuthenticationSpecMtlsMode")
class PeerAuthenticationSpecMtlsMode(enum.Enum):
    '''Defines the mTLS mode used for peer authentication.

    Valid Options: DISABLE, PERMISSIVE, STRICT

    :schema: PeerAuthenticationSpecMtlsMode
    '''

    UNSET = "UNSET"
    '''UNSET.'''
    DISABLE = "DISABLE"
    '''DISABLE.'''
    PERMISSIVE = "PERMISSIVE"
    '''PERMISSIVE.'''
    STRICT = "STRICT"
    '''STRICT.'''


@jsii.data_type(
    jsii_type="ioistiosecurity.PeerAuthenticationSpecPortLevelMtls",
    jsii_struct_bases=[],
    name_mapping={"mode": "mode"},
)
class PeerAuthenticationSpecPortLevelMtls:
    def __init__(
        self,
        *,
        mode: typing.Optional["PeerAuthenticationSpecPortLevelMtlsMode"] = None,
    ) -> None:
        '''
        :param mode: Defines the mTLS mode used for peer authentication. Valid Options: DISABLE, PERMISSIVE, STRICT

        :schema: PeerAuthenticationSpecPortLevelMtls
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__4e296706208d2e4e2fd252d298c6beb52d60ff7d214537a509259a806a5d11b9)
            check_type(argname="argument mode", value=mode, expected_type=type_hints["mode"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if mode is not None:
            self._values["mode"] = mode

    @builtins.property
    def mode(self) -> typing.Optional["PeerAuthenticationSpecPortLevelMtlsMode"]:
        '''Defines the mTLS mode used for peer authentication.

        Valid Options: DISABLE, PERMISSIVE, STRICT

        :schema: PeerAuthenticationSpecPortLevelMtls#mode
        '''
        result = self._values.get("mode")
        return typing.cast(typing.Optional["PeerAuthenticationSpecPortLevelMtlsMode"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "PeerAuthenticationSpecPortLevelMtls(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.enum(jsii_type="ioistiosecurity.PeerAuthenticationSpecPortLevelMtlsMode")
class PeerAuthenticationSpecPortLevelMtlsMode(enum.Enum):
    '''Defines the mTLS mode used for peer authentication.

    Valid Options: DISABLE, PERMISSIVE, STRICT

    :schema: PeerAuthenticationSpecPortLevelMtlsMode
    '''

    UNSET = "UNSET"
    '''UNSET.'''
    DISABLE = "DISABLE"
    '''DISABLE.'''
    PERMISSIVE = "PERMISSIVE"
    '''PERMISSIVE.'''
    STRICT = "STRICT"
    '''STRICT.'''


@jsii.data_type(
    jsii_type="ioistiosecurity.PeerAuthenticationSpecSelector",
    jsii_struct_bases=[],
    name_mapping={"match_labels": "matchLabels"},
)
class PeerAuthenticationSpecSelector:
    def __init__(
        self,
        *,
        match_labels: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
    ) -> None:
        '''The selector determines the workloads to apply the PeerAuthentication on.

        :param match_labels: One or more labels that indicate a specific set of pods/VMs on which a policy should be applied.

        :schema: PeerAuthenticationSpecSelector
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__e4f67f5e3956c7c3c679a976f26a9989f59f924b97aa8bb2cca711dbd58f8620)
            check_type(argname="argument match_labels", value=match_labels, expected_type=type_hints["match_labels"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if match_labels is not None:
            self._values["match_labels"] = match_labels

    @builtins.property
    def match_labels(
        self,
    ) -> typing.Optional[typing.Mapping[builtins.str, builtins.str]]:
        '''One or more labels that indicate a specific set of pods/VMs on which a policy should be applied.

        :schema: PeerAuthenticationSpecSelector#matchLabels
        '''
        result = self._values.get("match_labels")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, builtins.str]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "PeerAuthenticationSpecSelector(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


class RequestAuthentication(
    _cdk8s_d3d9af27.ApiObject,
    metaclass=jsii.JSIIMeta,
    jsii_type="ioistiosecurity.RequestAuthentication",
):
    '''
    :schema: RequestAuthentication
    '''

    def __init__(
        self,
        scope: "_constructs_77d1e7e8.Construct",
        id: builtins.str,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["RequestAuthenticationSpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''Defines a "RequestAuthentication" API object.

        :param scope: the scope in which to define this object.
        :param id: a scope-local name for the object.
        :param metadata: 
        :param spec: Request authentication configuration for workloads. See more details at: https://istio.io/docs/reference/config/security/request_authentication.html
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__b6089e073355ea2c0bf7750201f30b0d5a390e28f47b5ab221511383c43b6b50)
            check_type(argname="argument scope", value=scope, expected_type=type_hints["scope"])
            check_type(argname="argument id", value=id, expected_type=type_hints["id"])
        props = RequestAuthenticationProps(metadata=metadata, spec=spec)

        jsii.create(self.__class__, self, [scope, id, props])

    @jsii.member(jsii_name="manifest")
    @builtins.classmethod
    def manifest(
        cls,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["RequestAuthenticationSpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> typing.Any:
        '''Renders a Kubernetes manifest for "RequestAuthentication".

        This can be used to inline resource manifests inside other objects (e.g. as templates).

        :param metadata: 
        :param spec: Request authentication configuration for workloads. See more details at: https://istio.io/docs/reference/config/security/request_authentication.html
        '''
        props = RequestAuthenticationProps(metadata=metadata, spec=spec)

        return typing.cast(typing.Any, jsii.sinvoke(cls, "manifest", [props]))

    @jsii.member(jsii_name="toJson")
    def to_json(self) -> typing.Any:
        '''Renders the object to Kubernetes JSON.'''
        return typing.cast(typing.Any, jsii.invoke(self, "toJson", []))

    @jsii.python.classproperty
    @jsii.member(jsii_name="GVK")
    def GVK(cls) -> "_cdk8s_d3d9af27.GroupVersionKind":
        '''Returns the apiVersion and kind for "RequestAuthentication".'''
        return typing.cast("_cdk8s_d3d9af27.GroupVersionKind", jsii.sget(cls, "GVK"))


@jsii.data_type(
    jsii_type="ioistiosecurity.RequestAuthenticationProps",
    jsii_struct_bases=[],
    name_mapping={"metadata": "metadata", "spec": "spec"},
)
class RequestAuthenticationProps:
    def __init__(
        self,
        *,
        metadata: typing.Optional[typing.Union["_cdk8s_d3d9af27.ApiObjectMetadata", typing.Dict[builtins.str, typing.Any]]] = None,
        spec: typing.Optional[typing.Union["RequestAuthenticationSpec", typing.Dict[builtins.str, typing.Any]]] = None,
    ) -> None:
        '''
        :param metadata: 
        :param spec: Request authentication configuration for workloads. See more details at: https://istio.io/docs/reference/config/security/request_authentication.html

        :schema: RequestAuthentication
        '''
        if isinstance(metadata, dict):
            metadata = _cdk8s_d3d9af27.ApiObjectMetadata(**metadata)
        if isinstance(spec, dict):
            spec = RequestAuthenticationSpec(**spec)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__bd90e752f8428608a40d9c4c0389a3eb76249ddf70557d07b3b6ccb76f59399c)
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
        :schema: RequestAuthentication#metadata
        '''
        result = self._values.get("metadata")
        return typing.cast(typing.Optional["_cdk8s_d3d9af27.ApiObjectMetadata"], result)

    @builtins.property
    def spec(self) -> typing.Optional["RequestAuthenticationSpec"]:
        '''Request authentication configuration for workloads.

        See more details at: https://istio.io/docs/reference/config/security/request_authentication.html

        :schema: RequestAuthentication#spec
        '''
        result = self._values.get("spec")
        return typing.cast(typing.Optional["RequestAuthenticationSpec"], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "RequestAuthenticationProps(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistiosecurity.RequestAuthenticationSpec",
    jsii_struct_bases=[],
    name_mapping={
        "jwt_rules": "jwtRules",
        "selector": "selector",
        "target_ref": "targetRef",
        "target_refs": "targetRefs",
    },
)
class RequestAuthenticationSpec:
    def __init__(
        self,
        *,
        jwt_rules: typing.Optional[typing.Sequence[typing.Union["RequestAuthenticationSpecJwtRules", typing.Dict[builtins.str, typing.Any]]]] = None,
        selector: typing.Optional[typing.Union["RequestAuthenticationSpecSelector", typing.Dict[builtins.str, typing.Any]]] = None,
        target_ref: typing.Optional[typing.Union["RequestAuthenticationSpecTargetRef", typing.Dict[builtins.str, typing.Any]]] = None,
        target_refs: typing.Optional[typing.Sequence[typing.Union["RequestAuthenticationSpecTargetRefs", typing.Dict[builtins.str, typing.Any]]]] = None,
    ) -> None:
        '''Request authentication configuration for workloads.

        See more details at: https://istio.io/docs/reference/config/security/request_authentication.html

        :param jwt_rules: Define the list of JWTs that can be validated at the selected workloads' proxy.
        :param selector: Optional.
        :param target_ref: 
        :param target_refs: Optional.

        :schema: RequestAuthenticationSpec
        '''
        if isinstance(selector, dict):
            selector = RequestAuthenticationSpecSelector(**selector)
        if isinstance(target_ref, dict):
            target_ref = RequestAuthenticationSpecTargetRef(**target_ref)
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__eb92708e06c04e2b78cd3c162463b6fff0808ca4c51897a63fd620d482f9ac20)
            check_type(argname="argument jwt_rules", value=jwt_rules, expected_type=type_hints["jwt_rules"])
            check_type(argname="argument selector", value=selector, expected_type=type_hints["selector"])
            check_type(argname="argument target_ref", value=target_ref, expected_type=type_hints["target_ref"])
            check_type(argname="argument target_refs", value=target_refs, expected_type=type_hints["target_refs"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if jwt_rules is not None:
            self._values["jwt_rules"] = jwt_rules
        if selector is not None:
            self._values["selector"] = selector
        if target_ref is not None:
            self._values["target_ref"] = target_ref
        if target_refs is not None:
            self._values["target_refs"] = target_refs

    @builtins.property
    def jwt_rules(
        self,
    ) -> typing.Optional[typing.List["RequestAuthenticationSpecJwtRules"]]:
        '''Define the list of JWTs that can be validated at the selected workloads' proxy.

        :schema: RequestAuthenticationSpec#jwtRules
        '''
        result = self._values.get("jwt_rules")
        return typing.cast(typing.Optional[typing.List["RequestAuthenticationSpecJwtRules"]], result)

    @builtins.property
    def selector(self) -> typing.Optional["RequestAuthenticationSpecSelector"]:
        '''Optional.

        :schema: RequestAuthenticationSpec#selector
        '''
        result = self._values.get("selector")
        return typing.cast(typing.Optional["RequestAuthenticationSpecSelector"], result)

    @builtins.property
    def target_ref(self) -> typing.Optional["RequestAuthenticationSpecTargetRef"]:
        '''
        :schema: RequestAuthenticationSpec#targetRef
        '''
        result = self._values.get("target_ref")
        return typing.cast(typing.Optional["RequestAuthenticationSpecTargetRef"], result)

    @builtins.property
    def target_refs(
        self,
    ) -> typing.Optional[typing.List["RequestAuthenticationSpecTargetRefs"]]:
        '''Optional.

        :schema: RequestAuthenticationSpec#targetRefs
        '''
        result = self._values.get("target_refs")
        return typing.cast(typing.Optional[typing.List["RequestAuthenticationSpecTargetRefs"]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "RequestAuthenticationSpec(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistiosecurity.RequestAuthenticationSpecJwtRules",
    jsii_struct_bases=[],
    name_mapping={
        "audiences": "audiences",
        "forward_original_token": "forwardOriginalToken",
        "from_cookies": "fromCookies",
        "from_headers": "fromHeaders",
        "from_params": "fromParams",
        "issuer": "issuer",
        "jwks": "jwks",
        "jwks_uri": "jwksUri",
        "output_claim_to_headers": "outputClaimToHeaders",
        "output_payload_to_header": "outputPayloadToHeader",
        "space_delimited_claims": "spaceDelimitedClaims",
        "timeout": "timeout",
    },
)
class RequestAuthenticationSpecJwtRules:
    def __init__(
        self,
        *,
        audiences: typing.Optional[typing.Sequence[builtins.str]] = None,
        forward_original_token: typing.Optional[builtins.bool] = None,
        from_cookies: typing.Optional[typing.Sequence[builtins.str]] = None,
        from_headers: typing.Optional[typing.Sequence[typing.Union["RequestAuthenticationSpecJwtRulesFromHeaders", typing.Dict[builtins.str, typing.Any]]]] = None,
        from_params: typing.Optional[typing.Sequence[builtins.str]] = None,
        issuer: typing.Optional[builtins.str] = None,
        jwks: typing.Optional[builtins.str] = None,
        jwks_uri: typing.Optional[builtins.str] = None,
        output_claim_to_headers: typing.Optional[typing.Sequence[typing.Union["RequestAuthenticationSpecJwtRulesOutputClaimToHeaders", typing.Dict[builtins.str, typing.Any]]]] = None,
        output_payload_to_header: typing.Optional[builtins.str] = None,
        space_delimited_claims: typing.Optional[typing.Sequence[builtins.str]] = None,
        timeout: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param audiences: The list of JWT `audiences <https://tools.ietf.org/html/rfc7519#section-4.1.3>`_ that are allowed to access.
        :param forward_original_token: If set to true, the original token will be kept for the upstream request.
        :param from_cookies: List of cookie names from which JWT is expected.
        :param from_headers: List of header locations from which JWT is expected.
        :param from_params: List of query parameters from which JWT is expected.
        :param issuer: Identifies the issuer that issued the JWT.
        :param jwks: JSON Web Key Set of public keys to validate signature of the JWT.
        :param jwks_uri: URL of the provider's public key set to validate signature of the JWT.
        :param output_claim_to_headers: This field specifies a list of operations to copy the claim to HTTP headers on a successfully verified token.
        :param output_payload_to_header: This field specifies the header name to output a successfully verified JWT payload to the backend.
        :param space_delimited_claims: List of JWT claim names that should be treated as space-delimited strings.
        :param timeout: The maximum amount of time that the resolver, determined by the PILOT_JWT_ENABLE_REMOTE_JWKS environment variable, will spend waiting for the JWKS to be fetched.

        :schema: RequestAuthenticationSpecJwtRules
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__5bd70ffd861c0a7854520eecc4c9ab3ce2d5903b44cec650d927140ffe1e9425)
            check_type(argname="argument audiences", value=audiences, expected_type=type_hints["audiences"])
            check_type(argname="argument forward_original_token", value=forward_original_token, expected_type=type_hints["forward_original_token"])
            check_type(argname="argument from_cookies", value=from_cookies, expected_type=type_hints["from_cookies"])
            check_type(argname="argument from_headers", value=from_headers, expected_type=type_hints["from_headers"])
            check_type(argname="argument from_params", value=from_params, expected_type=type_hints["from_params"])
            check_type(argname="argument issuer", value=issuer, expected_type=type_hints["issuer"])
            check_type(argname="argument jwks", value=jwks, expected_type=type_hints["jwks"])
            check_type(argname="argument jwks_uri", value=jwks_uri, expected_type=type_hints["jwks_uri"])
            check_type(argname="argument output_claim_to_headers", value=output_claim_to_headers, expected_type=type_hints["output_claim_to_headers"])
            check_type(argname="argument output_payload_to_header", value=output_payload_to_header, expected_type=type_hints["output_payload_to_header"])
            check_type(argname="argument space_delimited_claims", value=space_delimited_claims, expected_type=type_hints["space_delimited_claims"])
            check_type(argname="argument timeout", value=timeout, expected_type=type_hints["timeout"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if audiences is not None:
            self._values["audiences"] = audiences
        if forward_original_token is not None:
            self._values["forward_original_token"] = forward_original_token
        if from_cookies is not None:
            self._values["from_cookies"] = from_cookies
        if from_headers is not None:
            self._values["from_headers"] = from_headers
        if from_params is not None:
            self._values["from_params"] = from_params
        if issuer is not None:
            self._values["issuer"] = issuer
        if jwks is not None:
            self._values["jwks"] = jwks
        if jwks_uri is not None:
            self._values["jwks_uri"] = jwks_uri
        if output_claim_to_headers is not None:
            self._values["output_claim_to_headers"] = output_claim_to_headers
        if output_payload_to_header is not None:
            self._values["output_payload_to_header"] = output_payload_to_header
        if space_delimited_claims is not None:
            self._values["space_delimited_claims"] = space_delimited_claims
        if timeout is not None:
            self._values["timeout"] = timeout

    @builtins.property
    def audiences(self) -> typing.Optional[typing.List[builtins.str]]:
        '''The list of JWT `audiences <https://tools.ietf.org/html/rfc7519#section-4.1.3>`_ that are allowed to access.

        :schema: RequestAuthenticationSpecJwtRules#audiences
        '''
        result = self._values.get("audiences")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def forward_original_token(self) -> typing.Optional[builtins.bool]:
        '''If set to true, the original token will be kept for the upstream request.

        :schema: RequestAuthenticationSpecJwtRules#forwardOriginalToken
        '''
        result = self._values.get("forward_original_token")
        return typing.cast(typing.Optional[builtins.bool], result)

    @builtins.property
    def from_cookies(self) -> typing.Optional[typing.List[builtins.str]]:
        '''List of cookie names from which JWT is expected.

        :schema: RequestAuthenticationSpecJwtRules#fromCookies
        '''
        result = self._values.get("from_cookies")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def from_headers(
        self,
    ) -> typing.Optional[typing.List["RequestAuthenticationSpecJwtRulesFromHeaders"]]:
        '''List of header locations from which JWT is expected.

        :schema: RequestAuthenticationSpecJwtRules#fromHeaders
        '''
        result = self._values.get("from_headers")
        return typing.cast(typing.Optional[typing.List["RequestAuthenticationSpecJwtRulesFromHeaders"]], result)

    @builtins.property
    def from_params(self) -> typing.Optional[typing.List[builtins.str]]:
        '''List of query parameters from which JWT is expected.

        :schema: RequestAuthenticationSpecJwtRules#fromParams
        '''
        result = self._values.get("from_params")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def issuer(self) -> typing.Optional[builtins.str]:
        '''Identifies the issuer that issued the JWT.

        :schema: RequestAuthenticationSpecJwtRules#issuer
        '''
        result = self._values.get("issuer")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def jwks(self) -> typing.Optional[builtins.str]:
        '''JSON Web Key Set of public keys to validate signature of the JWT.

        :schema: RequestAuthenticationSpecJwtRules#jwks
        '''
        result = self._values.get("jwks")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def jwks_uri(self) -> typing.Optional[builtins.str]:
        '''URL of the provider's public key set to validate signature of the JWT.

        :schema: RequestAuthenticationSpecJwtRules#jwks_uri
        '''
        result = self._values.get("jwks_uri")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def output_claim_to_headers(
        self,
    ) -> typing.Optional[typing.List["RequestAuthenticationSpecJwtRulesOutputClaimToHeaders"]]:
        '''This field specifies a list of operations to copy the claim to HTTP headers on a successfully verified token.

        :schema: RequestAuthenticationSpecJwtRules#outputClaimToHeaders
        '''
        result = self._values.get("output_claim_to_headers")
        return typing.cast(typing.Optional[typing.List["RequestAuthenticationSpecJwtRulesOutputClaimToHeaders"]], result)

    @builtins.property
    def output_payload_to_header(self) -> typing.Optional[builtins.str]:
        '''This field specifies the header name to output a successfully verified JWT payload to the backend.

        :schema: RequestAuthenticationSpecJwtRules#outputPayloadToHeader
        '''
        result = self._values.get("output_payload_to_header")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def space_delimited_claims(self) -> typing.Optional[typing.List[builtins.str]]:
        '''List of JWT claim names that should be treated as space-delimited strings.

        :schema: RequestAuthenticationSpecJwtRules#spaceDelimitedClaims
        '''
        result = self._values.get("space_delimited_claims")
        return typing.cast(typing.Optional[typing.List[builtins.str]], result)

    @builtins.property
    def timeout(self) -> typing.Optional[builtins.str]:
        '''The maximum amount of time that the resolver, determined by the PILOT_JWT_ENABLE_REMOTE_JWKS environment variable, will spend waiting for the JWKS to be fetched.

        :schema: RequestAuthenticationSpecJwtRules#timeout
        '''
        result = self._values.get("timeout")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "RequestAuthenticationSpecJwtRules(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistiosecurity.RequestAuthenticationSpecJwtRulesFromHeaders",
    jsii_struct_bases=[],
    name_mapping={"name": "name", "prefix": "prefix"},
)
class RequestAuthenticationSpecJwtRulesFromHeaders:
    def __init__(
        self,
        *,
        name: builtins.str,
        prefix: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param name: The HTTP header name.
        :param prefix: The prefix that should be stripped before decoding the token.

        :schema: RequestAuthenticationSpecJwtRulesFromHeaders
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__41cf53a7210fab506d8f9bdd6ef081c360d9d32b9bc861432cd41cca9b734333)
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument prefix", value=prefix, expected_type=type_hints["prefix"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "name": name,
        }
        if prefix is not None:
            self._values["prefix"] = prefix

    @builtins.property
    def name(self) -> builtins.str:
        '''The HTTP header name.

        :schema: RequestAuthenticationSpecJwtRulesFromHeaders#name
        '''
        result = self._values.get("name")
        assert result is not None, "Required property 'name' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def prefix(self) -> typing.Optional[builtins.str]:
        '''The prefix that should be stripped before decoding the token.

        :schema: RequestAuthenticationSpecJwtRulesFromHeaders#prefix
        '''
        result = self._values.get("prefix")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "RequestAuthenticationSpecJwtRulesFromHeaders(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistiosecurity.RequestAuthenticationSpecJwtRulesOutputClaimToHeaders",
    jsii_struct_bases=[],
    name_mapping={"claim": "claim", "header": "header"},
)
class RequestAuthenticationSpecJwtRulesOutputClaimToHeaders:
    def __init__(self, *, claim: builtins.str, header: builtins.str) -> None:
        '''
        :param claim: The name of the claim to be copied from.
        :param header: The name of the header to be created.

        :schema: RequestAuthenticationSpecJwtRulesOutputClaimToHeaders
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__7ffec7a9e3ad00ea2c41483cc0ce6049f6b241b003124942df7cf0cc13e4accb)
            check_type(argname="argument claim", value=claim, expected_type=type_hints["claim"])
            check_type(argname="argument header", value=header, expected_type=type_hints["header"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "claim": claim,
            "header": header,
        }

    @builtins.property
    def claim(self) -> builtins.str:
        '''The name of the claim to be copied from.

        :schema: RequestAuthenticationSpecJwtRulesOutputClaimToHeaders#claim
        '''
        result = self._values.get("claim")
        assert result is not None, "Required property 'claim' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def header(self) -> builtins.str:
        '''The name of the header to be created.

        :schema: RequestAuthenticationSpecJwtRulesOutputClaimToHeaders#header
        '''
        result = self._values.get("header")
        assert result is not None, "Required property 'header' is missing"
        return typing.cast(builtins.str, result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "RequestAuthenticationSpecJwtRulesOutputClaimToHeaders(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistiosecurity.RequestAuthenticationSpecSelector",
    jsii_struct_bases=[],
    name_mapping={"match_labels": "matchLabels"},
)
class RequestAuthenticationSpecSelector:
    def __init__(
        self,
        *,
        match_labels: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
    ) -> None:
        '''Optional.

        :param match_labels: One or more labels that indicate a specific set of pods/VMs on which a policy should be applied.

        :schema: RequestAuthenticationSpecSelector
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__5e1470fae462f007bd3d78d9838f95b3a50d348bb1e25cfeca1f8383b2028342)
            check_type(argname="argument match_labels", value=match_labels, expected_type=type_hints["match_labels"])
        self._values: typing.Dict[builtins.str, typing.Any] = {}
        if match_labels is not None:
            self._values["match_labels"] = match_labels

    @builtins.property
    def match_labels(
        self,
    ) -> typing.Optional[typing.Mapping[builtins.str, builtins.str]]:
        '''One or more labels that indicate a specific set of pods/VMs on which a policy should be applied.

        :schema: RequestAuthenticationSpecSelector#matchLabels
        '''
        result = self._values.get("match_labels")
        return typing.cast(typing.Optional[typing.Mapping[builtins.str, builtins.str]], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "RequestAuthenticationSpecSelector(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistiosecurity.RequestAuthenticationSpecTargetRef",
    jsii_struct_bases=[],
    name_mapping={
        "kind": "kind",
        "name": "name",
        "group": "group",
        "namespace": "namespace",
    },
)
class RequestAuthenticationSpecTargetRef:
    def __init__(
        self,
        *,
        kind: builtins.str,
        name: builtins.str,
        group: typing.Optional[builtins.str] = None,
        namespace: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param kind: kind is kind of the target resource.
        :param name: name is the name of the target resource.
        :param group: group is the group of the target resource.
        :param namespace: namespace is the namespace of the referent.

        :schema: RequestAuthenticationSpecTargetRef
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__b67d3d0e2a795271799bb0d2580387c957501fbac11aa1ce93b874f7badb2f0f)
            check_type(argname="argument kind", value=kind, expected_type=type_hints["kind"])
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument group", value=group, expected_type=type_hints["group"])
            check_type(argname="argument namespace", value=namespace, expected_type=type_hints["namespace"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "kind": kind,
            "name": name,
        }
        if group is not None:
            self._values["group"] = group
        if namespace is not None:
            self._values["namespace"] = namespace

    @builtins.property
    def kind(self) -> builtins.str:
        '''kind is kind of the target resource.

        :schema: RequestAuthenticationSpecTargetRef#kind
        '''
        result = self._values.get("kind")
        assert result is not None, "Required property 'kind' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def name(self) -> builtins.str:
        '''name is the name of the target resource.

        :schema: RequestAuthenticationSpecTargetRef#name
        '''
        result = self._values.get("name")
        assert result is not None, "Required property 'name' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def group(self) -> typing.Optional[builtins.str]:
        '''group is the group of the target resource.

        :schema: RequestAuthenticationSpecTargetRef#group
        '''
        result = self._values.get("group")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def namespace(self) -> typing.Optional[builtins.str]:
        '''namespace is the namespace of the referent.

        :schema: RequestAuthenticationSpecTargetRef#namespace
        '''
        result = self._values.get("namespace")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "RequestAuthenticationSpecTargetRef(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


@jsii.data_type(
    jsii_type="ioistiosecurity.RequestAuthenticationSpecTargetRefs",
    jsii_struct_bases=[],
    name_mapping={
        "kind": "kind",
        "name": "name",
        "group": "group",
        "namespace": "namespace",
    },
)
class RequestAuthenticationSpecTargetRefs:
    def __init__(
        self,
        *,
        kind: builtins.str,
        name: builtins.str,
        group: typing.Optional[builtins.str] = None,
        namespace: typing.Optional[builtins.str] = None,
    ) -> None:
        '''
        :param kind: kind is kind of the target resource.
        :param name: name is the name of the target resource.
        :param group: group is the group of the target resource.
        :param namespace: namespace is the namespace of the referent.

        :schema: RequestAuthenticationSpecTargetRefs
        '''
        if __debug__:
            type_hints = cached_type_hints(_typecheckingstub__e17ab2044afbc39b3d002e609c9c724df444f6fd24e70c00623b81f732bd95f9)
            check_type(argname="argument kind", value=kind, expected_type=type_hints["kind"])
            check_type(argname="argument name", value=name, expected_type=type_hints["name"])
            check_type(argname="argument group", value=group, expected_type=type_hints["group"])
            check_type(argname="argument namespace", value=namespace, expected_type=type_hints["namespace"])
        self._values: typing.Dict[builtins.str, typing.Any] = {
            "kind": kind,
            "name": name,
        }
        if group is not None:
            self._values["group"] = group
        if namespace is not None:
            self._values["namespace"] = namespace

    @builtins.property
    def kind(self) -> builtins.str:
        '''kind is kind of the target resource.

        :schema: RequestAuthenticationSpecTargetRefs#kind
        '''
        result = self._values.get("kind")
        assert result is not None, "Required property 'kind' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def name(self) -> builtins.str:
        '''name is the name of the target resource.

        :schema: RequestAuthenticationSpecTargetRefs#name
        '''
        result = self._values.get("name")
        assert result is not None, "Required property 'name' is missing"
        return typing.cast(builtins.str, result)

    @builtins.property
    def group(self) -> typing.Optional[builtins.str]:
        '''group is the group of the target resource.

        :schema: RequestAuthenticationSpecTargetRefs#group
        '''
        result = self._values.get("group")
        return typing.cast(typing.Optional[builtins.str], result)

    @builtins.property
    def namespace(self) -> typing.Optional[builtins.str]:
        '''namespace is the namespace of the referent.

        :schema: RequestAuthenticationSpecTargetRefs#namespace
        '''
        result = self._values.get("namespace")
        return typing.cast(typing.Optional[builtins.str], result)

    def __eq__(self, rhs: typing.Any) -> builtins.bool:
        return isinstance(rhs, self.__class__) and rhs._values == self._values

    def __ne__(self, rhs: typing.Any) -> builtins.bool:
        return not (rhs == self)

    def __repr__(self) -> str:
        return "RequestAuthenticationSpecTargetRefs(%s)" % ", ".join(
            k + "=" + repr(v) for k, v in self._values.items()
        )


__all__ = [
    "AuthorizationPolicy",
    "AuthorizationPolicyProps",
    "AuthorizationPolicySpec",
    "AuthorizationPolicySpecAction",
    "AuthorizationPolicySpecProvider",
    "AuthorizationPolicySpecRules",
    "AuthorizationPolicySpecRulesFrom",
    "AuthorizationPolicySpecRulesFromSource",
    "AuthorizationPolicySpecRulesTo",
    "AuthorizationPolicySpecRulesToOperation",
    "AuthorizationPolicySpecRulesWhen",
    "AuthorizationPolicySpecSelector",
    "AuthorizationPolicySpecTargetRef",
    "AuthorizationPolicySpecTargetRefs",
    "PeerAuthentication",
    "PeerAuthenticationProps",
    "PeerAuthenticationSpec",
    "PeerAuthenticationSpecMtls",
    "PeerAuthenticationSpecMtlsMode",
    "PeerAuthenticationSpecPortLevelMtls",
    "PeerAuthenticationSpecPortLevelMtlsMode",
    "PeerAuthenticationSpecSelector",
    "RequestAuthentication",
    "RequestAuthenticationProps",
    "RequestAuthenticationSpec",
    "RequestAuthenticationSpecJwtRules",
    "RequestAuthenticationSpecJwtRulesFromHeaders",
    "RequestAuthenticationSpecJwtRulesOutputClaimToHeaders",
    "RequestAuthenticationSpecSelector",
    "RequestAuthenticationSpecTargetRef",
    "RequestAuthenticationSpecTargetRefs",
]

publication.publish()

def _typecheckingstub__348e8ee96999ec5c43d6837e112bd8b6f34c7a9e37d81bb7c6ba5c4def88a4f5(
    scope: _constructs_77d1e7e8.Construct,
    id: builtins.str,
    *,
    metadata: typing.Optional[typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]]] = None,
    spec: typing.Optional[typing.Union[AuthorizationPolicySpec, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__fa9bde6e4e21c45c49a0c99d2dbce5617d78a3124f31ea643719f91bcf122fdb(
    *,
    metadata: typing.Optional[typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]]] = None,
    spec: typing.Optional[typing.Union[AuthorizationPolicySpec, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__6d1af1bfbfc12288409c253efde44e9235314a49f6c422d879b23f3b67dfc700(
    *,
    action: typing.Optional[AuthorizationPolicySpecAction] = None,
    provider: typing.Optional[typing.Union[AuthorizationPolicySpecProvider, typing.Dict[builtins.str, typing.Any]]] = None,
    rules: typing.Optional[typing.Sequence[typing.Union[AuthorizationPolicySpecRules, typing.Dict[builtins.str, typing.Any]]]] = None,
    selector: typing.Optional[typing.Union[AuthorizationPolicySpecSelector, typing.Dict[builtins.str, typing.Any]]] = None,
    target_ref: typing.Optional[typing.Union[AuthorizationPolicySpecTargetRef, typing.Dict[builtins.str, typing.Any]]] = None,
    target_refs: typing.Optional[typing.Sequence[typing.Union[AuthorizationPolicySpecTargetRefs, typing.Dict[builtins.str, typing.Any]]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__6d6bd5587d7ffcf2348b903661f150cf9724820c5648384395eba72623054355(
    *,
    name: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__8b03c66bb2a3f6491292d8a873ce7d625059c65619cd914f011b76ef11aa92d3(
    *,
    from_: typing.Optional[typing.Sequence[typing.Union[AuthorizationPolicySpecRulesFrom, typing.Dict[builtins.str, typing.Any]]]] = None,
    to: typing.Optional[typing.Sequence[typing.Union[AuthorizationPolicySpecRulesTo, typing.Dict[builtins.str, typing.Any]]]] = None,
    when: typing.Optional[typing.Sequence[typing.Union[AuthorizationPolicySpecRulesWhen, typing.Dict[builtins.str, typing.Any]]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__dd1b9370b3778fba94a38bc6dc7afddb9d8ed8804abca3b525c3fb0d721c9eb5(
    *,
    source: typing.Optional[typing.Union[AuthorizationPolicySpecRulesFromSource, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__966c5221ecd28d4de86557fe3bb05c2619627a5f682773509319961cb8885300(
    *,
    ip_blocks: typing.Optional[typing.Sequence[builtins.str]] = None,
    namespaces: typing.Optional[typing.Sequence[builtins.str]] = None,
    not_ip_blocks: typing.Optional[typing.Sequence[builtins.str]] = None,
    not_namespaces: typing.Optional[typing.Sequence[builtins.str]] = None,
    not_principals: typing.Optional[typing.Sequence[builtins.str]] = None,
    not_remote_ip_blocks: typing.Optional[typing.Sequence[builtins.str]] = None,
    not_request_principals: typing.Optional[typing.Sequence[builtins.str]] = None,
    not_service_accounts: typing.Optional[typing.Sequence[builtins.str]] = None,
    not_trust_domains: typing.Optional[typing.Sequence[builtins.str]] = None,
    principals: typing.Optional[typing.Sequence[builtins.str]] = None,
    remote_ip_blocks: typing.Optional[typing.Sequence[builtins.str]] = None,
    request_principals: typing.Optional[typing.Sequence[builtins.str]] = None,
    service_accounts: typing.Optional[typing.Sequence[builtins.str]] = None,
    trust_domains: typing.Optional[typing.Sequence[builtins.str]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__35036e485aa6401904adcd3ed932a0c600eca39323ad55c89f23b4c9d95ae36e(
    *,
    operation: typing.Optional[typing.Union[AuthorizationPolicySpecRulesToOperation, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__2286e8d40d97079a2623a6169af2ea50d8a8e45c9667e7ee1803a0e460ad6a6a(
    *,
    hosts: typing.Optional[typing.Sequence[builtins.str]] = None,
    methods: typing.Optional[typing.Sequence[builtins.str]] = None,
    not_hosts: typing.Optional[typing.Sequence[builtins.str]] = None,
    not_methods: typing.Optional[typing.Sequence[builtins.str]] = None,
    not_paths: typing.Optional[typing.Sequence[builtins.str]] = None,
    not_ports: typing.Optional[typing.Sequence[builtins.str]] = None,
    paths: typing.Optional[typing.Sequence[builtins.str]] = None,
    ports: typing.Optional[typing.Sequence[builtins.str]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__07db048a44ed93a902343852f76b47a198fdad75b0be006a97e73730ac35a256(
    *,
    key: builtins.str,
    not_values: typing.Optional[typing.Sequence[builtins.str]] = None,
    values: typing.Optional[typing.Sequence[builtins.str]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__659ea97d8ba8eb2faa8e0917e58b58b9667614604fe6f88d5ce337e2f546f022(
    *,
    match_labels: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__724b4043edb3ff1d64e09477a79fbadbba148fee481110f7f47b674a9a3f63eb(
    *,
    kind: builtins.str,
    name: builtins.str,
    group: typing.Optional[builtins.str] = None,
    namespace: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__a56646aebd25eee8257620b1ebd60622995e072087383128baefc06693a5facb(
    *,
    kind: builtins.str,
    name: builtins.str,
    group: typing.Optional[builtins.str] = None,
    namespace: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__596082aca4feac362a02ef959e057611060567e661f2c4556cf32cc0b31d7e28(
    scope: _constructs_77d1e7e8.Construct,
    id: builtins.str,
    *,
    metadata: typing.Optional[typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]]] = None,
    spec: typing.Optional[typing.Union[PeerAuthenticationSpec, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__ed9efd1e87aacc3719e25f784796b7a20f83256c90c3f8524d074acf31a4d99b(
    *,
    metadata: typing.Optional[typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]]] = None,
    spec: typing.Optional[typing.Union[PeerAuthenticationSpec, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__acd326f95d78a6aa78f8cbd32ebe28b923f8e2d550ff5ef630dce5043dc0581e(
    *,
    mtls: typing.Optional[typing.Union[PeerAuthenticationSpecMtls, typing.Dict[builtins.str, typing.Any]]] = None,
    port_level_mtls: typing.Optional[typing.Mapping[builtins.str, typing.Union[PeerAuthenticationSpecPortLevelMtls, typing.Dict[builtins.str, typing.Any]]]] = None,
    selector: typing.Optional[typing.Union[PeerAuthenticationSpecSelector, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__15a6a992a970001bd9dd4135cf99a31cf7c5cf02896ed0da1b383b9770dc819e(
    *,
    mode: typing.Optional[PeerAuthenticationSpecMtlsMode] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__4e296706208d2e4e2fd252d298c6beb52d60ff7d214537a509259a806a5d11b9(
    *,
    mode: typing.Optional[PeerAuthenticationSpecPortLevelMtlsMode] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__e4f67f5e3956c7c3c679a976f26a9989f59f924b97aa8bb2cca711dbd58f8620(
    *,
    match_labels: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__b6089e073355ea2c0bf7750201f30b0d5a390e28f47b5ab221511383c43b6b50(
    scope: _constructs_77d1e7e8.Construct,
    id: builtins.str,
    *,
    metadata: typing.Optional[typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]]] = None,
    spec: typing.Optional[typing.Union[RequestAuthenticationSpec, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__bd90e752f8428608a40d9c4c0389a3eb76249ddf70557d07b3b6ccb76f59399c(
    *,
    metadata: typing.Optional[typing.Union[_cdk8s_d3d9af27.ApiObjectMetadata, typing.Dict[builtins.str, typing.Any]]] = None,
    spec: typing.Optional[typing.Union[RequestAuthenticationSpec, typing.Dict[builtins.str, typing.Any]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__eb92708e06c04e2b78cd3c162463b6fff0808ca4c51897a63fd620d482f9ac20(
    *,
    jwt_rules: typing.Optional[typing.Sequence[typing.Union[RequestAuthenticationSpecJwtRules, typing.Dict[builtins.str, typing.Any]]]] = None,
    selector: typing.Optional[typing.Union[RequestAuthenticationSpecSelector, typing.Dict[builtins.str, typing.Any]]] = None,
    target_ref: typing.Optional[typing.Union[RequestAuthenticationSpecTargetRef, typing.Dict[builtins.str, typing.Any]]] = None,
    target_refs: typing.Optional[typing.Sequence[typing.Union[RequestAuthenticationSpecTargetRefs, typing.Dict[builtins.str, typing.Any]]]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__5bd70ffd861c0a7854520eecc4c9ab3ce2d5903b44cec650d927140ffe1e9425(
    *,
    audiences: typing.Optional[typing.Sequence[builtins.str]] = None,
    forward_original_token: typing.Optional[builtins.bool] = None,
    from_cookies: typing.Optional[typing.Sequence[builtins.str]] = None,
    from_headers: typing.Optional[typing.Sequence[typing.Union[RequestAuthenticationSpecJwtRulesFromHeaders, typing.Dict[builtins.str, typing.Any]]]] = None,
    from_params: typing.Optional[typing.Sequence[builtins.str]] = None,
    issuer: typing.Optional[builtins.str] = None,
    jwks: typing.Optional[builtins.str] = None,
    jwks_uri: typing.Optional[builtins.str] = None,
    output_claim_to_headers: typing.Optional[typing.Sequence[typing.Union[RequestAuthenticationSpecJwtRulesOutputClaimToHeaders, typing.Dict[builtins.str, typing.Any]]]] = None,
    output_payload_to_header: typing.Optional[builtins.str] = None,
    space_delimited_claims: typing.Optional[typing.Sequence[builtins.str]] = None,
    timeout: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__41cf53a7210fab506d8f9bdd6ef081c360d9d32b9bc861432cd41cca9b734333(
    *,
    name: builtins.str,
    prefix: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__7ffec7a9e3ad00ea2c41483cc0ce6049f6b241b003124942df7cf0cc13e4accb(
    *,
    claim: builtins.str,
    header: builtins.str,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__5e1470fae462f007bd3d78d9838f95b3a50d348bb1e25cfeca1f8383b2028342(
    *,
    match_labels: typing.Optional[typing.Mapping[builtins.str, builtins.str]] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__b67d3d0e2a795271799bb0d2580387c957501fbac11aa1ce93b874f7badb2f0f(
    *,
    kind: builtins.str,
    name: builtins.str,
    group: typing.Optional[builtins.str] = None,
    namespace: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass

def _typecheckingstub__e17ab2044afbc39b3d002e609c9c724df444f6fd24e70c00623b81f732bd95f9(
    *,
    kind: builtins.str,
    name: builtins.str,
    group: typing.Optional[builtins.str] = None,
    namespace: typing.Optional[builtins.str] = None,
) -> None:
    """Type checking stubs"""
    pass
