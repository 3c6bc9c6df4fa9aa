//go:build !amd64

package jsonscan

// StringStop returns the index of the first byte in b that ends the fast
// path of a string: '"', '\\', a control character or a non-ASCII byte;
// len(b) if there is none.
func StringStop(b []byte) int { return stringStopSWAR(b) }
