//go:build !amd64

package masking

// stringStop returns the index of the first byte in b that ends the fast
// path of a string: '"', '\\', a control character or a non-ASCII byte;
// len(b) if there is none.
func stringStop(b []byte) int { return stringStopSWAR(b) }
