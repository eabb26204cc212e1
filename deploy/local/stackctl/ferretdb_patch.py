"""Changes applied to FerretDB v1.24's source before the local stack builds it.

Two fix bugs that Plinth's code would hit (a real mongod has neither, so code written against
the local stack stays correct against MongoDB); the third makes the PostgreSQL backend use its
indexes (deploy/local/ferretdb/plinth_pushdown.go says what and where it differs from MongoDB).
Each edit must match exactly once, otherwise the build stops instead of producing a
half-patched server.
"""

# ruff: noqa: E501  (the edits are lines of Go source, kept whole so they can be read as Go)

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from .config import REPO_ROOT

PATCH_DIR = REPO_ROOT / "deploy" / "local" / "ferretdb"
# our Go file -> where it goes in the module
GO_FILES: dict[str, str] = {
    "serialize_writes.go": "internal/handler/plinth_serialize_writes.go",
    "plinth_pushdown.go": "internal/backends/postgresql/plinth_pushdown.go",
}

# (file in the module, upstream text, replacement)
EDITS: list[tuple[str, str, str]] = [
    # 1. Conditional updates must have one winner: hook in serialize_writes.go.
    (
        "internal/handler/commands.go",
        "\tfor name, cmd := range h.commands {\n",
        "\th.plinthSerializeWrites()\n\n\tfor name, cmd := range h.commands {\n",
    ),
    # 2. $group with several accumulators: upstream feeds one shared iterator to all of
    #    them, so every accumulator after the first sees it exhausted and yields 0.
    (
        "internal/handler/common/aggregations/stages/group.go",
        "\t\tgroupIter := iterator.Values(iterator.ForSlice(groupedDocument.documents))\n"
        "\t\tdefer groupIter.Close()\n"
        "\n"
        "\t\tfor _, accumulation := range g.groupBy {\n"
        "\t\t\tout, err := accumulation.accumulator.Accumulate(groupIter)\n",
        "\t\tfor _, accumulation := range g.groupBy {\n"
        "\t\t\t// Plinth patch: a fresh iterator for each accumulator.\n"
        "\t\t\tgroupIter := iterator.Values(iterator.ForSlice(groupedDocument.documents))\n"
        "\t\t\tout, err := accumulation.accumulator.Accumulate(groupIter)\n"
        "\t\t\tgroupIter.Close()\n",
    ),
    # 3. Index-friendly pushdown on PostgreSQL (plinth_pushdown.go): the fields that carry it,
    (
        "internal/backends/collection.go",
        "\tOnlyRecordIDs bool\n\tComment       string\n}\n",
        "\tOnlyRecordIDs bool\n\tComment       string\n"
        "\n"
        "\t// Plinth patch: a sort on fields, the skip+limit it may serve (for a count: the most\n"
        "\t// to count), and a place for a count that the backend may compute itself; backends\n"
        "\t// that ignore them stay correct.\n"
        "\tPlinthSort  *types.Document\n"
        "\tPlinthLimit int64\n"
        "\tPlinthCount *int64\n"
        "}\n",
    ),
    #    find passes its sort and limit (unless the handler dropped part of the filter),
    (
        "internal/handler/msg_find.go",
        "\th.L.DebugContext(ctx, fmt.Sprintf(\"Converted %+v for %+v to %+v.\", params, cInfo, qp))\n",
        "\tif !h.DisablePushdown && qp.Sort.Len() == 0 && qp.Filter.Len() == params.Filter.Len() {\n"
        "\t\tqp.PlinthSort = params.Sort\n"
        "\t\tif params.Limit > 0 {\n"
        "\t\t\tqp.PlinthLimit = params.Limit + params.Skip\n"
        "\t\t}\n"
        "\t}\n"
        "\n"
        "\th.L.DebugContext(ctx, fmt.Sprintf(\"Converted %+v for %+v to %+v.\", params, cInfo, qp))\n",
    ),
    #    count asks the backend to count,
    (
        "internal/handler/msg_count.go",
        "\tqueryRes, err := c.Query(connCtx, &qp)\n"
        "\tif err != nil {\n"
        "\t\treturn nil, lazyerrors.Error(err)\n"
        "\t}\n",
        "\tplinthCount := int64(-1)\n"
        "\tif !h.DisablePushdown && params.Skip == 0 {\n"
        "\t\tqp.PlinthCount = &plinthCount\n"
        "\t\tqp.PlinthLimit = params.Limit // count up to limit (0: all)\n"
        "\t}\n"
        "\n"
        "\tqueryRes, err := c.Query(connCtx, &qp)\n"
        "\tif err != nil {\n"
        "\t\treturn nil, lazyerrors.Error(err)\n"
        "\t}\n"
        "\n"
        "\tif plinthCount >= 0 {\n"
        "\t\tqueryRes.Iter.Close()\n"
        "\n"
        "\t\treturn documentOpMsg(must.NotFail(types.NewDocument(\n"
        "\t\t\t\"n\", int32(plinthCount),\n"
        "\t\t\t\"ok\", float64(1),\n"
        "\t\t)))\n"
        "\t}\n",
    ),
    #    the PostgreSQL query uses plinth_pushdown.go,
    (
        "internal/backends/postgresql/collection.go",
        "\twhere, args, err = prepareWhereClause(&placeholder, params.Filter)\n"
        "\tif err != nil {\n"
        "\t\treturn nil, lazyerrors.Error(err)\n"
        "\t}\n"
        "\n"
        "\tq += where\n"
        "\n"
        "\tsort, sortArgs := prepareOrderByClause(params.Sort)\n"
        "\n"
        "\tq += sort\n"
        "\targs = append(args, sortArgs...)\n"
        "\n"
        "\tif params.Limit != 0 {\n"
        "\t\tq += fmt.Sprintf(` LIMIT %s`, placeholder.Next())\n"
        "\t\targs = append(args, params.Limit)\n"
        "\t}\n",
        "\texact := false\n"
        "\tif plinthPushdown {\n"
        "\t\twhere, args, exact, err = plinthWhere(&placeholder, params.Filter, meta)\n"
        "\t} else {\n"
        "\t\twhere, args, err = prepareWhereClause(&placeholder, params.Filter)\n"
        "\t}\n"
        "\tif err != nil {\n"
        "\t\treturn nil, lazyerrors.Error(err)\n"
        "\t}\n"
        "\n"
        "\tif params.PlinthCount != nil && exact {\n"
        "\t\tcountQuery := `SELECT count(*) FROM ` + pgx.Identifier{c.dbName, meta.TableName}.Sanitize() + where\n"
        "\t\tif params.PlinthLimit > 0 {\n"
        "\t\t\tcountQuery = `SELECT count(*) FROM (SELECT 1 FROM ` + pgx.Identifier{c.dbName, meta.TableName}.Sanitize() +\n"
        "\t\t\t\twhere + ` LIMIT ` + placeholder.Next() + `) AS plinth_capped`\n"
        "\t\t\targs = append(args, params.PlinthLimit)\n"
        "\t\t}\n"
        "\n"
        "\t\tif err = p.QueryRow(ctx, countQuery, args...).Scan(params.PlinthCount); err != nil {\n"
        "\t\t\treturn nil, lazyerrors.Error(err)\n"
        "\t\t}\n"
        "\n"
        "\t\treturn &backends.QueryResult{Iter: newQueryIterator(ctx, nil, params.OnlyRecordIDs)}, nil\n"
        "\t}\n"
        "\n"
        "\tq += where\n"
        "\n"
        "\tsort, sortArgs := prepareOrderByClause(params.Sort)\n"
        "\n"
        "\tq += sort\n"
        "\targs = append(args, sortArgs...)\n"
        "\n"
        "\tlimit := params.Limit\n"
        "\tif plinthPushdown && sort == \"\" && exact && params.PlinthLimit > 0 {\n"
        "\t\torderBy, sorted := plinthOrderBy(params.PlinthSort)\n"
        "\t\tif sorted || params.PlinthSort.Len() == 0 {\n"
        "\t\t\tq += orderBy\n"
        "\t\t\tlimit = params.PlinthLimit\n"
        "\t\t}\n"
        "\t}\n"
        "\n"
        "\tif limit != 0 {\n"
        "\t\tq += fmt.Sprintf(` LIMIT %s`, placeholder.Next())\n"
        "\t\targs = append(args, limit)\n"
        "\t}\n",
    ),
    #    and indexes place missing fields where MongoDB sorts them, so ORDER BY can walk them.
    (
        "internal/backends/postgresql/metadata/registry.go",
        "\t\t\tif key.Descending {\n"
        "\t\t\t\tcolumns[i] += \" DESC\"\n"
        "\t\t\t}\n",
        "\t\t\t// Plinth patch: missing fields first ascending, last descending, as in MongoDB.\n"
        "\t\t\tif key.Descending {\n"
        "\t\t\t\tcolumns[i] += \" DESC NULLS LAST\"\n"
        "\t\t\t} else {\n"
        "\t\t\t\tcolumns[i] += \" ASC NULLS FIRST\"\n"
        "\t\t\t}\n",
    ),
]


class PatchError(Exception):
    """The upstream source no longer looks the way the edits expect."""


def fingerprint() -> str:
    """Changes whenever the patch changes, so the install is rebuilt."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for name in sorted(GO_FILES):
        digest.update((PATCH_DIR / name).read_bytes())
    return digest.hexdigest()[:12]


def apply(src: Path) -> None:
    for name, target in GO_FILES.items():
        shutil.copy(PATCH_DIR / name, src / target)
    for relative, old, new in EDITS:
        path = src / relative
        text = path.read_text()
        if text.count(old) != 1:
            raise PatchError(f"FerretDB source {relative} does not match the expected text")
        path.write_text(text.replace(old, new))
