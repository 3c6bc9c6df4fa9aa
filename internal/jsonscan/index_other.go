//go:build !amd64

package jsonscan

// indexOn: no vector builder for the structural index on this
// architecture; the byte-wise paths do the work alone.
var indexOn = false

func buildIndex(dst []sblock, src []byte) { indexGo(dst, src) }
