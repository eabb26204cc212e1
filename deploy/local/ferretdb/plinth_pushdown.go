// Plinth patch (deploy/local/stackctl/ferretdb_patch.py copies this file into
// internal/backends/postgresql/ before the local stack builds FerretDB v1.24.2).
//
// Upstream pushes every filter down as JSON containment with the field name as a bind
// parameter (`_jsonb->$1 @> $2`), which no index can serve, and never pushes ORDER BY or LIMIT
// down: every lookup, conditional update, list and count scans the whole table. Here, for the
// top-level fields that have an index (and `_id`), equality, `$in` and range filters become
// comparisons on the indexed expression itself (`_jsonb->'status' = $1`), a sort on top-level
// fields becomes ORDER BY with the NULL placement MongoDB uses, and LIMIT (and COUNT) are
// pushed down when the WHERE clause is exact, i.e. selects the same documents as the filter.
// The handler still filters, sorts and limits what comes back, so a superset is always safe.
//
// Where this differs from MongoDB (documented in deploy/local/README.md):
//   - a filter on an indexed field does not match array elements (MongoDB's multikey
//     indexes): `{tags: "x"}` on an indexed `tags` misses documents whose `tags` is an array;
//   - sort + limit assume a sorted field holds one BSON type (nulls and missing apart) in the
//     collection: numbers and strings mixed in one field order as PostgreSQL's jsonb orders them.
//
// PLINTH_FERRETDB_PUSHDOWN=off in FerretDB's environment restores upstream's behaviour (the
// store benchmark measures both with one binary).

package postgresql

import (
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/FerretDB/FerretDB/internal/backends/postgresql/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/iterator"
	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
)

var plinthPushdown = os.Getenv("PLINTH_FERRETDB_PUSHDOWN") != "off"

func plinthLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// plinthField is the index expression FerretDB creates for a top-level field.
func plinthField(key string) string {
	return "(" + metadata.DefaultColumn + "->" + plinthLiteral(key) + ")"
}

// plinthType is the BSON type sjson records for a top-level field ("string", "date", ...).
func plinthType(key string) string {
	return metadata.DefaultColumn + "->'$s'->'p'->" + plinthLiteral(key) + "->'t'"
}

// plinthTypeCheck tests the BSON type sjson recorded for a field. It calls plinth_type_in, a
// PL/pgSQL function the local stack creates (deploy/local/stackctl/postgres.py), rather than
// comparing in line: the planner has no statistics for the type path and would price an in-line
// comparison at 0.5%, expect a handful of rows, and walk the wrong index (a date range with a
// cost range at 1M jobs: 583 ms); a function clause it prices at 1/3, near the truth (the check
// is nearly always true), so the sort's index is walked and the scan stops at the limit.
func plinthTypeCheck(typ, typesSQL string) string {
	return fmt.Sprintf("plinth_type_in(%s, ARRAY[%s]::jsonb[])", typ, typesSQL)
}

// plinthIndexed lists the top-level fields that appear in some index of the collection.
func plinthIndexed(meta *metadata.Collection) map[string]bool {
	fields := map[string]bool{"_id": true}
	for _, index := range meta.Indexes {
		for _, key := range index.Key {
			if !strings.Contains(key.Field, ".") {
				fields[key.Field] = true
			}
		}
	}

	return fields
}

// plinthScalar returns the JSON text of v and the sjson types that compare with it in
// MongoDB's order (a number matches int, long and double alike); ok is false for types this
// pushdown does not handle.
func plinthScalar(v any) (text string, typesSQL string, ok bool) {
	const numbers = `'"int"', '"long"', '"double"'`

	switch v := v.(type) {
	case string:
		typesSQL = `'"string"'`
	case types.ObjectID:
		typesSQL = `'"objectId"'`
	case bool:
		typesSQL = `'"bool"'`
	case time.Time:
		typesSQL = `'"date"'`
	case int32, int64:
		typesSQL = numbers
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > types.MaxSafeDouble {
			return "", "", false
		}

		typesSQL = numbers
	default:
		return "", "", false
	}

	b, err := sjson.MarshalSingleValue(v)
	if err != nil {
		return "", "", false
	}

	return string(b), typesSQL, true
}

// plinthAmbiguous tells whether a JSON value equal to v's may hold another BSON type: dates
// and numbers are both JSON numbers, an ObjectId is its hex string. The type check that
// settles it is left out otherwise, because the planner cannot estimate it and would pick
// a plan for a handful of rows.
func plinthAmbiguous(v any) bool {
	switch v := v.(type) {
	case string:
		return plinthHex24.MatchString(v)
	case bool:
		return false
	default:
		return true
	}
}

var plinthHex24 = regexp.MustCompile(`^[0-9a-f]{24}$`)

// plinthCondition translates one top-level key of the filter, or returns ok=false.
func plinthCondition(p *metadata.Placeholder, key string, value any) (conds []string, args []any, ok bool) {
	field, typ := plinthField(key), plinthType(key)

	scalar := func(op string, v any) bool {
		text, typesSQL, ok := plinthScalar(v)
		if !ok {
			return false
		}
		conds = append(conds, fmt.Sprintf("%s %s %s", field, op, p.Next()))
		args = append(args, text)
		if op != "=" || plinthAmbiguous(v) {
			conds = append(conds, plinthTypeCheck(typ, typesSQL))
		}
		return true
	}

	ops, isDoc := value.(*types.Document)
	if !isDoc {
		return conds, args, scalar("=", value)
	}

	if ops.Len() == 0 {
		return nil, nil, false
	}

	for _, op := range ops.Keys() {
		v, _ := ops.Get(op)

		switch op {
		case "$eq":
			if !scalar("=", v) {
				return nil, nil, false
			}
		case "$gt", "$gte", "$lt", "$lte":
			sqlOp := map[string]string{"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[op]
			if _, isBool := v.(bool); isBool || !scalar(sqlOp, v) {
				return nil, nil, false
			}
		case "$regex":
			pattern, isString := v.(string)
			if options, _ := ops.Get("$options"); !isString || (options != nil && options != "") {
				return nil, nil, false
			}

			prefix, isPrefix := plinthRegexPrefix(pattern)
			if !isPrefix {
				return nil, nil, false
			}

			// Strings that start with prefix sort from prefix up to prefix + the last code point.
			low, _ := sjson.MarshalSingleValue(prefix)
			high, _ := sjson.MarshalSingleValue(prefix + "\U0010FFFF")
			conds = append(conds,
				fmt.Sprintf("%s >= %s", field, p.Next()),
				fmt.Sprintf("%s < %s", field, p.Next()),
				fmt.Sprintf(`%s IN ('"string"')`, typ),
			)
			args = append(args, string(low), string(high))
		case "$options":
			// checked with $regex
		case "$in":
			values, isArray := v.(*types.Array)
			if !isArray || values.Len() == 0 {
				return nil, nil, false
			}

			var alternatives []string
			typesSeen := map[string]bool{}
			ambiguous := false

			for i := 0; i < values.Len(); i++ {
				item, _ := values.Get(i)

				text, typesSQL, ok := plinthScalar(item)
				if !ok {
					return nil, nil, false
				}

				alternatives = append(alternatives, p.Next())
				args = append(args, text)
				typesSeen[typesSQL] = true
				ambiguous = ambiguous || plinthAmbiguous(item)
			}

			conds = append(conds, fmt.Sprintf("%s IN (%s)", field, strings.Join(alternatives, ", ")))
			if !ambiguous {
				continue
			}

			var typeList []string
			for t := range typesSeen {
				typeList = append(typeList, t)
			}

			conds = append(conds, plinthTypeCheck(typ, strings.Join(typeList, ", ")))
		default:
			return nil, nil, false
		}
	}

	return conds, args, true
}

// plinthRegexPrefix returns the literal prefix of an anchored pattern that is nothing else,
// such as "^SKU\\-12" (Python's re.escape): any other pattern gives ok=false.
func plinthRegexPrefix(pattern string) (prefix string, ok bool) {
	rest, anchored := strings.CutPrefix(pattern, "^")
	if !anchored {
		return "", false
	}

	var b strings.Builder

	for i := 0; i < len(rest); i++ {
		c := rest[i]

		switch {
		case c == '\\':
			if i+1 == len(rest) {
				return "", false
			}

			next := rest[i+1]
			if (next >= '0' && next <= '9') || (next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z') {
				return "", false // \d, \w, \1...: a class or a reference, not a character
			}

			b.WriteByte(next)
			i++
		case strings.IndexByte(".+*?()|[]{}^$", c) >= 0:
			return "", false
		default:
			b.WriteByte(c)
		}
	}

	return b.String(), true
}

// plinthWhere is prepareWhereClause for a collection with indexes: conditions on indexed
// top-level fields are index-friendly and exact; every other key goes through upstream's
// containment pushdown and makes the clause inexact.
func plinthWhere(p *metadata.Placeholder, filter *types.Document, meta *metadata.Collection) (string, []any, bool, error) {
	if filter.Len() == 0 {
		return "", nil, true, nil
	}

	indexed := plinthIndexed(meta)
	rest := types.MakeDocument(0)
	exact := true

	var conds []string
	var args []any

	iter := filter.Iterator()
	defer iter.Close()

	for {
		key, value, err := iter.Next()
		if err != nil {
			if errors.Is(err, iterator.ErrIteratorDone) {
				break
			}

			return "", nil, false, lazyerrors.Error(err)
		}

		if key == "$comment" {
			continue
		}

		if indexed[key] {
			if c, a, ok := plinthCondition(p, key, value); ok {
				conds = append(conds, c...)
				args = append(args, a...)

				continue
			}
		}

		exact = false
		rest.Set(key, value)
	}

	if rest.Len() > 0 {
		where, restArgs, err := prepareWhereClause(p, rest)
		if err != nil {
			return "", nil, false, lazyerrors.Error(err)
		}

		if where != "" {
			conds = append(conds, strings.TrimPrefix(where, " WHERE "))
			args = append(args, restArgs...)
		}
	}

	if len(conds) == 0 {
		return "", args, exact, nil
	}

	return " WHERE " + strings.Join(conds, " AND "), args, exact, nil
}

// plinthOrderBy turns a sort on top-level fields into ORDER BY with MongoDB's placement of
// missing fields (first when ascending, last when descending), matching the indexes that
// plinthIndexColumn creates; ok is false for anything else ($natural, dotted paths).
func plinthOrderBy(sort *types.Document) (string, bool) {
	if sort.Len() == 0 {
		return "", false
	}

	var keys []string

	for _, key := range sort.Keys() {
		if key == "" || strings.HasPrefix(key, "$") || strings.Contains(key, ".") {
			return "", false
		}

		v, _ := sort.Get(key)

		switch v {
		case int64(1):
			keys = append(keys, plinthField(key)+" ASC NULLS FIRST")
		case int64(-1):
			keys = append(keys, plinthField(key)+" DESC NULLS LAST")
		default:
			return "", false
		}
	}

	return " ORDER BY " + strings.Join(keys, ", "), true
}
