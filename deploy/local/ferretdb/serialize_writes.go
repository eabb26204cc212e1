// Added to FerretDB v1.24 by Plinth's deploy/local/stack at build time; not upstream code.
//
// FerretDB 1.x runs update, findAndModify and delete as "query matching documents, then
// write them back by _id" without re-checking the filter at write time. Two clients that
// race on a conditional update ({_id: X, status: "NEW"} -> $set status) can therefore
// both be told they matched and modified the document, which MongoDB never does. Plinth's
// job repository relies on exactly that compare-and-set, so the local stack serialises
// the write commands in this one process (SQLite allows one writer at a time anyway).
// Reads are not affected.

package handler

import (
	"context"
	"sync"

	"github.com/FerretDB/wire"
)

var plinthWriteMu sync.Mutex

// plinthSerializeWrites wraps the write commands' handlers in one process-wide mutex.
func (h *Handler) plinthSerializeWrites() {
	for _, name := range []string{"delete", "findAndModify", "insert", "update"} {
		cmd := h.commands[name]
		if cmd == nil {
			panic("plinth patch: FerretDB has no command " + name)
		}

		next := cmd.Handler
		cmd.Handler = func(ctx context.Context, msg *wire.OpMsg) (*wire.OpMsg, error) {
			plinthWriteMu.Lock()
			defer plinthWriteMu.Unlock()

			return next(ctx, msg)
		}
	}
}
