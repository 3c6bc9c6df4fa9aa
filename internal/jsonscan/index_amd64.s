#include "textflag.h"

// func indexAVX2(dst []sblock, src []byte)
//
// For each 64-byte block of src, three masks (a bit per byte, the lowest
// for the block's first byte) into dst: '"'; '\\', a byte below 0x20 or a
// byte at or above 0x80; '.'. len(src) is 64*len(dst).
TEXT ·indexAVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ src_base+24(FP), SI
	MOVQ $0x22, AX
	MOVQ AX, X1
	VPBROADCASTB X1, Y1 // '"'
	MOVQ $0x5c, AX
	MOVQ AX, X2
	VPBROADCASTB X2, Y2 // '\\'
	MOVQ $0x1f, AX
	MOVQ AX, X3
	VPBROADCASTB X3, Y3 // 0x1f
	MOVQ $0x2e, AX
	MOVQ AX, X4
	VPBROADCASTB X4, Y4 // '.'

loop:
	TESTQ CX, CX
	JZ    done
	VMOVDQU (SI), Y8
	VMOVDQU 32(SI), Y9

	VPCMPEQB  Y1, Y8, Y10
	VPCMPEQB  Y1, Y9, Y11
	VPMOVMSKB Y10, AX
	VPMOVMSKB Y11, BX
	SHLQ      $32, BX
	ORQ       BX, AX
	MOVQ      AX, 0(DI)

	VPCMPEQB  Y2, Y8, Y10 // == '\\'
	VPMINUB   Y3, Y8, Y12
	VPCMPEQB  Y8, Y12, Y12 // <= 0x1f: min(x, 0x1f) == x
	VPOR      Y12, Y10, Y10
	VPOR      Y8, Y10, Y10 // >= 0x80: the byte's own high bit
	VPCMPEQB  Y2, Y9, Y11
	VPMINUB   Y3, Y9, Y13
	VPCMPEQB  Y9, Y13, Y13
	VPOR      Y13, Y11, Y11
	VPOR      Y9, Y11, Y11
	VPMOVMSKB Y10, AX
	VPMOVMSKB Y11, BX
	SHLQ      $32, BX
	ORQ       BX, AX
	MOVQ      AX, 8(DI)

	VPCMPEQB  Y4, Y8, Y10
	VPCMPEQB  Y4, Y9, Y11
	VPMOVMSKB Y10, AX
	VPMOVMSKB Y11, BX
	SHLQ      $32, BX
	ORQ       BX, AX
	MOVQ      AX, 16(DI)

	ADDQ $64, SI
	ADDQ $24, DI
	DECQ CX
	JMP  loop

done:
	VZEROUPPER
	RET
