"""IAM roles: what moto 5.2.5 lacks or gets wrong for the calls the provider makes.

* CreateRole accepted any AssumeRolePolicyDocument, even text that is not JSON; AWS (and
  moto's own UpdateAssumeRolePolicy) answer MalformedPolicyDocument. CreateRole now runs the
  same trust-policy validation as UpdateAssumeRolePolicy.

Everything else the provider uses (tags, inline policies, DeleteConflict on a role that still
has inline policies, URL-encoded policy documents on the wire) matches AWS already.
"""

from __future__ import annotations

from typing import Any

from moto.iam.models import IAMBackend
from moto.iam.policy_validation import IAMTrustPolicyDocumentValidator

from ._support import override


def register() -> None:
    @override(IAMBackend, "create_role")
    def create_role(original: Any, self: IAMBackend, role_name: str, assume_role_policy_document: str,
                    *args: Any, **kwargs: Any) -> Any:
        IAMTrustPolicyDocumentValidator(assume_role_policy_document).validate()
        return original(self, role_name, assume_role_policy_document, *args, **kwargs)
