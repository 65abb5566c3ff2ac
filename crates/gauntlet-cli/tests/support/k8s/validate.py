"""Validate the manifests `gauntlet capacity --out k8s=DIR` writes.

The HPA (autoscaling/v2) is checked whole, in strict mode (no unknown
fields), against the Kubernetes API's JSON schemas that the
`kubernetes-validate` package ships. The VPA is a custom resource whose
schema no package ships, so its parts of core Kubernetes types are checked
the same way: its `targetRef` and metadata as those of an autoscaling/v1
HPA, its resource lists as a container's requests; its own fields are
compared with the VPA API (autoscaling.k8s.io/v1).

Prints {file name: {"object": ..., "checked": [...]}} as JSON; exits 1 with
the reason on the first failure. Usage: validate.py FILE...
"""

import json
import os
import sys

import kubernetes_validate
import yaml

VERSION = "1.37.0"

VPA_SPEC = {"targetRef", "updatePolicy", "resourcePolicy", "recommenders"}
VPA_UPDATE_MODES = {"Off", "Initial", "Recreate", "InPlaceOrRecreate", "Auto"}
VPA_CONTAINER_POLICY = {
    "containerName",
    "mode",
    "minAllowed",
    "maxAllowed",
    "controlledResources",
    "controlledValues",
}


def check(obj):
    kubernetes_validate.validate(obj, VERSION, strict=True)


def vpa(obj):
    checked = []
    assert obj["apiVersion"] == "autoscaling.k8s.io/v1", obj["apiVersion"]
    spec = obj["spec"]
    unknown = set(spec) - VPA_SPEC
    assert not unknown, f"unknown VPA spec fields {unknown}"
    check(
        {
            "apiVersion": "autoscaling/v1",
            "kind": "HorizontalPodAutoscaler",
            "metadata": obj["metadata"],
            "spec": {"scaleTargetRef": spec["targetRef"], "maxReplicas": 1},
        }
    )
    checked.append("metadata and targetRef (ObjectMeta, CrossVersionObjectReference)")
    mode = spec["updatePolicy"]["updateMode"]
    assert mode in VPA_UPDATE_MODES, mode
    checked.append("updatePolicy.updateMode")
    for p in spec["resourcePolicy"]["containerPolicies"]:
        unknown = set(p) - VPA_CONTAINER_POLICY
        assert not unknown, f"unknown container policy fields {unknown}"
        assert p.get("controlledValues") in (None, "RequestsAndLimits", "RequestsOnly")
        for key in ("minAllowed", "maxAllowed"):
            if key in p:
                assert set(p[key]) <= {"cpu", "memory"}, p[key]
                check(
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {"name": "check"},
                        "spec": {
                            "containers": [
                                {
                                    "name": "c",
                                    "image": "c",
                                    "resources": {"requests": p[key]},
                                }
                            ]
                        },
                    }
                )
                checked.append(f"{key} (ResourceList)")
    return checked


def main(paths):
    report = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            obj = yaml.safe_load(f)
        name = os.path.basename(path)
        try:
            if obj["kind"] == "HorizontalPodAutoscaler":
                check(obj)
                checked = [f"whole object, strict, Kubernetes {VERSION}"]
            elif obj["kind"] == "VerticalPodAutoscaler":
                checked = vpa(obj)
            else:
                raise AssertionError(f"unexpected kind {obj['kind']}")
        except Exception as e:  # noqa: BLE001 - the reason is the output
            print(f"{name}: {type(e).__name__}: {e}", file=sys.stderr)
            sys.exit(1)
        report[name] = {"object": obj, "checked": checked}
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
