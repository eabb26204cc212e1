"""The part of kustomize that deploy/k8s uses, in Python: no binary, no network, no cluster.

``build(directory)`` renders a kustomization the way ``kubectl kustomize`` does for the fields
used here, and refuses every other field (so a kustomization that starts using one fails the
test instead of being rendered wrongly):

- ``resources``: YAML files (several documents each) and directories holding a kustomization;
- ``patches`` with ``path``: strategic merge patches matched by apiVersion, kind and name (lists
  merged by their Kubernetes merge key inside pod templates, other lists replaced; ``null``
  deletes a key; ``$patch: delete`` deletes the object), or, with a ``target`` (kind, name,
  labelSelector of ``key=value`` pairs), JSON 6902 patches (add, replace, remove);
- ``images``: ``name`` with ``newName`` and/or ``newTag`` on the containers of pod templates;
- ``namespace``: set on every namespaced object.

When ``kubectl`` is installed, tests/deploy/test_k8s_manifests.py also compares this renderer's
output with ``kubectl kustomize``.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}
PATCH_FIELDS = {"path", "target"}
TARGET_FIELDS = {"kind", "name", "labelSelector"}
IMAGE_FIELDS = {"name", "newName", "newTag"}
CLUSTER_SCOPED_KINDS = {"Namespace"}
POD_TEMPLATE_KINDS = {"Deployment"}

# Strategic-merge keys of the lists inside a pod template (k8s.io/api core/v1 patchMergeKey);
# a list not named here is replaced by the patch's, as Kubernetes does for lists without one.
POD_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
}


class KustomizeError(ValueError):
    """A kustomization this subset cannot render (or kustomize itself would refuse)."""


def load_documents(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def build(directory: Path) -> list[Obj]:
    """The objects ``kubectl kustomize directory`` would print, in resource order."""
    directory = Path(directory)
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KUSTOMIZATION_FIELDS
    if unknown:
        raise KustomizeError(f"{directory}: fields this subset does not render: {sorted(unknown)}")
    objects: list[Obj] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            objects.extend(build(path))
        elif path.is_file():
            objects.extend(load_documents(path))
        else:
            raise KustomizeError(f"{directory}: resource {entry} does not exist")
    _check_unique(objects, directory)
    for patch in kustomization.get("patches", []):
        objects = _apply_patch(objects, directory, patch)
    for image in kustomization.get("images", []):
        _apply_image(objects, image, directory)
    if "namespace" in kustomization:
        for obj in objects:
            if obj.get("kind") not in CLUSTER_SCOPED_KINDS:
                obj.setdefault("metadata", {})["namespace"] = kustomization["namespace"]
    return objects


def object_id(obj: Obj) -> tuple[str, str, str]:
    return (obj.get("apiVersion", ""), obj.get("kind", ""), obj.get("metadata", {}).get("name", ""))


def _check_unique(objects: list[Obj], directory: Path) -> None:
    seen: set[tuple[str, str, str]] = set()
    for obj in objects:
        key = object_id(obj)
        if key in seen:
            raise KustomizeError(f"{directory}: {key} is defined twice")
        seen.add(key)


# ------------------------------------------------------------------------------------ patches
def _apply_patch(objects: list[Obj], directory: Path, patch: Obj) -> list[Obj]:
    unknown = set(patch) - PATCH_FIELDS
    if unknown or "path" not in patch:
        raise KustomizeError(f"{directory}: a patch needs `path` (and maybe `target`): {patch}")
    documents = load_documents(directory / patch["path"])
    if "target" in patch:
        target = patch["target"]
        if set(target) - TARGET_FIELDS:
            raise KustomizeError(f"{directory}: unsupported target fields in {target}")
        matched = [obj for obj in objects if _matches(obj, target)]
        if not matched:
            raise KustomizeError(f"{directory}: patch {patch['path']} matches nothing")
        if len(documents) == 1 and isinstance(documents[0], list):
            for obj in matched:
                _json_patch(obj, documents[0], patch["path"])
            return objects
        for obj in matched:
            for document in documents:
                _strategic_merge(obj, document, obj.get("kind", ""))
        return objects
    for document in documents:
        if not isinstance(document, dict):
            raise KustomizeError(f"{patch['path']}: a JSON 6902 patch needs a target")
        key = object_id(document)
        found = [obj for obj in objects if object_id(obj) == key]
        if not found:
            raise KustomizeError(f"{directory}: patch {patch['path']} matches no {key}")
        if document.get("$patch") == "delete":
            objects = [obj for obj in objects if object_id(obj) != key]
            continue
        _strategic_merge(found[0], document, document["kind"])
    return objects


def _matches(obj: Obj, target: Obj) -> bool:
    if "kind" in target and obj.get("kind") != target["kind"]:
        return False
    name = obj.get("metadata", {}).get("name", "")
    if "name" in target and not re.fullmatch(target["name"], name):
        return False
    if "labelSelector" in target:
        labels = obj.get("metadata", {}).get("labels", {})
        for requirement in target["labelSelector"].split(","):
            key, _, value = requirement.strip().partition("=")
            if labels.get(key) != value:
                return False
    return True


def _strategic_merge(obj: Obj, patch: Obj, kind: str, path: tuple[str, ...] = ()) -> None:
    for key, value in patch.items():
        if not path and key in ("apiVersion", "kind"):
            continue
        if key == "$patch":
            raise KustomizeError(f"$patch: {value} is only supported at the top of a patch")
        if value is None:
            obj.pop(key, None)
        elif isinstance(value, dict) and isinstance(obj.get(key), dict):
            _strategic_merge(obj[key], value, kind, (*path, key))
        elif isinstance(value, list) and isinstance(obj.get(key), list):
            obj[key] = _merge_list(obj[key], value, key, kind, (*path, key))
        else:
            obj[key] = copy.deepcopy(value)


def _merge_list(
    original: list[Any], patch: list[Any], key: str, kind: str, path: tuple[str, ...]
) -> list[Any]:
    merge_key = POD_MERGE_KEYS.get(key) if kind in POD_TEMPLATE_KINDS else None
    if merge_key is None or not all(isinstance(item, dict) for item in original + patch):
        return copy.deepcopy(patch)
    merged = copy.deepcopy(original)
    index = {item.get(merge_key): item for item in merged}
    added = []
    for item in patch:
        if item.get(merge_key) in index:
            _strategic_merge(index[item[merge_key]], item, kind, path)
        else:
            added.append(copy.deepcopy(item))
    # kustomize puts the patch's new items first
    return added + merged


def _json_patch(obj: Obj, operations: list[Obj], source: str) -> None:
    for operation in operations:
        op, pointer = operation.get("op"), operation.get("path", "")
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]
        if not tokens:
            raise KustomizeError(f"{source}: cannot patch the whole object ({operation})")
        parent: Any = obj
        for token in tokens[:-1]:
            parent = parent[int(token)] if isinstance(parent, list) else parent[token]
        last = tokens[-1]
        if op in ("replace", "remove"):
            exists = (int(last) < len(parent)) if isinstance(parent, list) else last in parent
            if not exists:
                raise KustomizeError(f"{source}: {pointer} does not exist in {object_id(obj)}")
        if op == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        elif op in ("replace", "add"):
            value = copy.deepcopy(operation["value"])
            if isinstance(parent, list):
                if last == "-":
                    parent.append(value)
                elif op == "add":
                    parent.insert(int(last), value)
                else:
                    parent[int(last)] = value
            else:
                parent[last] = value
        else:
            raise KustomizeError(f"{source}: JSON patch op {op!r} is not supported here")


# ------------------------------------------------------------------------------------- images
def split_image(image: str) -> tuple[str, str | None]:
    """``registry/name:tag`` -> (``registry/name``, ``tag``); no tag -> None."""
    name, _, _digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :]
    return name, None


def _apply_image(objects: list[Obj], image: Obj, directory: Path) -> None:
    if set(image) - IMAGE_FIELDS or "name" not in image:
        raise KustomizeError(f"{directory}: unsupported image entry {image}")
    for container in pod_containers(objects):
        name, tag = split_image(container.get("image", ""))
        if name != image["name"]:
            continue
        name = image.get("newName", name)
        tag = str(image["newTag"]) if "newTag" in image else tag
        container["image"] = f"{name}:{tag}" if tag else name


def pod_containers(objects: list[Obj]) -> list[Obj]:
    containers = []
    for obj in objects:
        if obj.get("kind") in POD_TEMPLATE_KINDS:
            spec = obj.get("spec", {}).get("template", {}).get("spec", {})
            containers.extend(spec.get("containers", []) + spec.get("initContainers", []))
    return containers
