"""Shopify's calculated query cost, as documented: scalar and enum 0, object 1, connection
2 + ``first``/``last`` x the per-item cost, mutation 10; and the actual cost of a result."""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
)

MAX_SINGLE_QUERY_COST = 1000
MUTATION_COST = 10


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict[str, Any],
) -> int:
    """Shopify's requested cost of ``operation`` (see the module docstring for the rules)."""
    if operation.operation is OperationType.MUTATION:
        return MUTATION_COST * sum(
            1 for s in operation.selection_set.selections if isinstance(s, FieldNode)
        )
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = schema.query_type
    assert root is not None
    return _selection_cost(schema, operation.selection_set, root, fragments, variables)


def _selection_cost(
    schema: GraphQLSchema,
    selection_set: SelectionSetNode | None,
    parent: GraphQLNamedType,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += _field_cost(schema, selection, parent, fragments, variables)
        elif isinstance(selection, InlineFragmentNode):
            target = (
                schema.get_type(selection.type_condition.name.value)
                if selection.type_condition
                else parent
            )
            total += _selection_cost(
                schema, selection.selection_set, target or parent, fragments, variables
            )
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments[selection.name.value]
            target = schema.get_type(fragment.type_condition.name.value) or parent
            total += _selection_cost(schema, fragment.selection_set, target, fragments, variables)
    return total


def _field_cost(
    schema: GraphQLSchema,
    node: FieldNode,
    parent: GraphQLNamedType,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> int:
    if node.name.value.startswith("__") or not isinstance(
        parent, GraphQLObjectType | GraphQLInterfaceType
    ):
        return 0
    definition = parent.fields.get(node.name.value)
    if definition is None:
        return 0
    named = get_named_type(definition.type)
    if is_leaf_type(named):
        return 0
    inner = _selection_cost(schema, node.selection_set, named, fragments, variables)
    if named.name.endswith("Connection"):
        size = _int_argument(node, "first", variables) or _int_argument(node, "last", variables)
        return 2 + (size or 0) * max(1, inner)
    return 1 + inner


def returned_objects(data: Any) -> int:
    """Objects in a result: what a query actually cost (Shopify refunds the rest)."""
    if isinstance(data, dict):
        return 1 + sum(returned_objects(v) for v in data.values())
    if isinstance(data, list):
        return sum(returned_objects(v) for v in data)
    return 0


def _int_argument(node: FieldNode, name: str, variables: dict[str, Any]) -> int | None:
    for argument in node.arguments or ():
        if argument.name.value != name:
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            given = variables.get(value.name.value)
            return int(given) if isinstance(given, int) else None
    return None
