#include "textflag.h"

DATA quotes<>+0(SB)/8, $0x2222222222222222
DATA quotes<>+8(SB)/8, $0x2222222222222222
GLOBL quotes<>(SB), RODATA|NOPTR, $16
DATA backslashes<>+0(SB)/8, $0x5c5c5c5c5c5c5c5c
DATA backslashes<>+8(SB)/8, $0x5c5c5c5c5c5c5c5c
GLOBL backslashes<>(SB), RODATA|NOPTR, $16
DATA controls<>+0(SB)/8, $0x1f1f1f1f1f1f1f1f
DATA controls<>+8(SB)/8, $0x1f1f1f1f1f1f1f1f
GLOBL controls<>(SB), RODATA|NOPTR, $16

// func stringStopSSE2(b []byte) int
//
// The index of the first byte of b that is '"', '\\', below 0x20 or at or
// above 0x80; len(b) if none. SSE2 is in every amd64 CPU: 16 bytes a step
// (four compares and a mask), where the portable SWAR loop takes 8.
TEXT ·stringStopSSE2(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), BX
	MOVOU quotes<>(SB), X1
	MOVOU backslashes<>(SB), X2
	MOVOU controls<>(SB), X3
	XORQ CX, CX

loop:
	LEAQ 16(CX), DX
	CMPQ DX, BX
	JGT  tail
	MOVOU (SI)(CX*1), X0
	MOVO  X0, X4
	PCMPEQB X1, X4 // == '"'
	MOVO  X0, X5
	PCMPEQB X2, X5 // == '\\'
	POR   X5, X4
	MOVO  X0, X5
	PMINUB X3, X5
	PCMPEQB X0, X5 // <= 0x1f: min(x, 0x1f) == x
	POR   X5, X4
	POR   X0, X4 // >= 0x80: the byte's own high bit
	PMOVMSKB X4, DX
	TESTL DX, DX
	JNZ   found
	ADDQ  $16, CX
	JMP   loop

found:
	BSFL DX, DX
	ADDQ DX, CX
	MOVQ CX, ret+24(FP)
	RET

tail:
	CMPQ CX, BX
	JGE  none
	MOVBLZX (SI)(CX*1), DX
	CMPB DL, $0x22
	JEQ  done
	CMPB DL, $0x5c
	JEQ  done
	CMPB DL, $0x20
	JCS  done // below 0x20
	CMPB DL, $0x80
	JCC  done // 0x80 or above
	INCQ CX
	JMP  tail

done:
	MOVQ CX, ret+24(FP)
	RET

none:
	MOVQ BX, ret+24(FP)
	RET
