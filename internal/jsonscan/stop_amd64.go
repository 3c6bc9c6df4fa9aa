package jsonscan

// StringStop returns the index of the first byte in b that ends the fast
// path of a string: '"', '\\', a control character or a non-ASCII byte;
// len(b) if there is none. On amd64 it is SSE2 assembly (stop_amd64.s):
// string scanning is most of what the rewriter does per byte, and the
// standard library has no vector search for a set of bytes.
func StringStop(b []byte) int { return stringStopSSE2(b) }

//go:noescape
func stringStopSSE2(b []byte) int
