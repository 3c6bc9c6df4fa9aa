package jsonscan

import "golang.org/x/sys/cpu"

// indexOn: the scanner keeps a structural index (index.go) where there is
// a vector builder for it; without AVX2 the byte-wise paths do the work
// alone (the index built in Go would cost what it saves).
var indexOn = cpu.X86.HasAVX2

func buildIndex(dst []sblock, src []byte) { indexAVX2(dst, src) }

// indexAVX2 is indexGo in AVX2 (index_amd64.s); len(src) is 64*len(dst).
//
//go:noescape
func indexAVX2(dst []sblock, src []byte)
