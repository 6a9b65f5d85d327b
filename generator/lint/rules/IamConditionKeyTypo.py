"""E9801: policy condition keys are not misspellings of real condition keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.lint.rules._helpers import IDENTITY, KEY, RESOURCE, TRUST, is_intrinsic, statements
from generator.lint.rules._pipeline import edit_distance, where

# Condition keys by service prefix, from the IAM global condition context keys page and the
# Service Authorization Reference. A key ending in "/" or ":" is a prefix (tag keys, encryption
# context). The lists need not be complete: only a key that is one or two edits away from a
# listed key (and is not listed itself) is reported, so an unlisted real key is never flagged
# unless it looks like a typo of a listed one.
KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "aws": (
        "AssumedRoot", "CalledVia", "CalledViaFirst", "CalledViaLast", "ChatbotSourceArn",
        "CurrentTime", "Ec2InstanceSourcePrivateIPv4", "Ec2InstanceSourceVpc", "EpochTime",
        "FederatedProvider", "MultiFactorAuthAge", "MultiFactorAuthPresent", "PrincipalAccount",
        "PrincipalArn", "PrincipalIsAWSService", "PrincipalOrgID", "PrincipalOrgPaths",
        "PrincipalServiceName", "PrincipalServiceNamesList", "PrincipalTag/", "PrincipalType",
        "Referer", "RequestedRegion", "RequestTag/", "ResourceAccount", "ResourceOrgID",
        "ResourceOrgPaths", "ResourceTag/", "SecureTransport", "SourceAccount", "SourceArn",
        "SourceIdentity", "SourceIp", "SourceOrgID", "SourceOrgPaths", "SourceOwner",
        "SourceVpc", "SourceVpcArn", "SourceVpce", "TagKeys", "TokenIssueTime", "UserAgent",
        "userid", "username", "ViaAWSService", "VpcSourceIp", "VpceAccount", "VpceOrgID",
        "VpceOrgPaths",
    ),
    "iam": (
        "AssociatedResourceArn", "AWSServiceName", "FIDO-certification",
        "FIDO-FIPS-140-2-certification", "FIDO-FIPS-140-3-certification",
        "OrganizationsPolicyId", "PassedToService", "PermissionsBoundary", "PolicyARN",
        "RegisterSecurityKey", "ResourceTag/", "ServiceSpecificCredentialAgeDays",
        "ServiceSpecificCredentialServiceName",
    ),
    "sts": (
        "AWSServiceName", "DurationSeconds", "ExternalId", "RequestContext",
        "RequestContextProviders", "RoleSessionName", "SourceIdentity", "TransitiveTagKeys",
    ),
    "kms": (
        "BypassPolicyLockoutSafetyCheck", "CallerAccount", "CustomerMasterKeySpec",
        "CustomerMasterKeyUsage", "DataKeyPairSpec", "EncryptionAlgorithm", "EncryptionContext:",
        "EncryptionContextKeys", "ExpirationModel", "GrantConstraintType",
        "GrantIsForAWSResource", "GrantOperations", "GranteePrincipal", "KeyAgreementAlgorithm",
        "KeyOrigin", "KeySpec", "KeyUsage", "MacAlgorithm", "MessageType", "MultiRegion",
        "MultiRegionKeyType", "PrimaryRegion", "ReEncryptOnSameKey", "RecipientAttestation:",
        "ReplicaRegion", "RequestAlias", "ResourceAliases", "RetiringPrincipal",
        "RotationPeriodInDays", "ScheduleKeyDeletionPendingWindowInDays", "SigningAlgorithm",
        "ValidTo", "ViaService", "WrappingAlgorithm", "WrappingKeySpec",
    ),
    "codestar-connections": (
        "BranchName", "FullRepositoryId", "HostArn", "InstallationId", "OwnerId",
        "PassedToService", "ProviderAction", "ProviderPermissionsRequired", "ProviderType",
        "ProviderTypeFilter", "RepositoryName",
    ),
    "codeconnections": (
        "BranchName", "FullRepositoryId", "HostArn", "InstallationId", "OwnerId",
        "PassedToService", "ProviderAction", "ProviderPermissionsRequired", "ProviderType",
        "ProviderTypeFilter", "RepositoryName",
    ),
    "cloudformation": (
        "ChangeSetName", "ImportResourceTypes", "ResourceTypes", "RoleArn", "StackPolicyUrl",
        "TemplateUrl", "TargetRegion",
    ),
}  # fmt: skip
KINDS = (IDENTITY, RESOURCE, KEY, TRUST)


def stem(key: str) -> str:
    """The part of a key that names it: `aws:ResourceTag/` for `aws:ResourceTag/team`,
    `kms:EncryptionContext:` for `kms:EncryptionContext:aws:logs:arn`."""
    if "/" in key:
        return key[: key.index("/") + 1]
    parts = key.split(":")
    if len(parts) > 2:
        return f"{parts[0]}:{parts[1]}:"
    return key


def misspelling(key: str) -> str | None:
    """The listed key `key` is probably a misspelling of; None when it is listed or not close
    to a listed key (or its service is not listed)."""
    service, sep, _ = key.partition(":")
    known = KNOWN_KEYS.get(service.lower())
    if not sep or known is None:
        return None
    name = stem(key)[len(service) + 1 :]
    if any(name.lower() == k.lower() for k in known):
        return None
    best: tuple[int, str] | None = None
    for candidate in known:
        limit = 1 if len(candidate) < 8 else 2
        distance = edit_distance(name.lower(), candidate.lower())
        if distance <= limit and (best is None or distance < best[0]):
            best = (distance, candidate)
    if best is None:
        return None
    suffix = key[len(service) + 1 + len(name) :]
    return f"{service}:{best[1]}{suffix}"


class IamConditionKeyTypo(CloudFormationLintRule):  # type: ignore[misc]
    id = "E9801"
    shortdesc = "Policy condition keys are not misspelled"
    description = (
        "A condition key one or two edits away from a real global (aws:) or service key "
        "(iam:, sts:, kms:, codestar-connections:, codeconnections:, cloudformation:), such as "
        "iam:PermissionBoundary for iam:PermissionsBoundary, is a typo: IAM accepts it, the key "
        "is never in the request context, so the condition silently tests nothing useful (an "
        "Allow that never applies, or a Deny that never protects). Checked in identity, "
        "resource, key and trust policies."
    )
    source_url = (
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html"
    )
    tags = ["pipegen", "semantics", "iam", "condition-keys"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for statement in statements(cfn, *KINDS):
            condition = statement.body.get("Condition")
            if not isinstance(condition, Mapping) or is_intrinsic(condition):
                continue
            for operator, block in condition.items():
                if not isinstance(block, Mapping) or is_intrinsic(block):
                    continue
                for key in block:
                    guess = misspelling(str(key))
                    if guess is None:
                        continue
                    at = [*statement.path, "Condition", operator, key]
                    matches.append(
                        RuleMatch(
                            at,
                            f"{where(at)}: condition key {key!r} is not a condition key: IAM "
                            "accepts it, but no request carries it, so the condition does not "
                            f"test what it says; did you mean {guess!r}?",
                        )
                    )
        return matches
