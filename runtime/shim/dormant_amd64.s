// The ELF entry point of a wharf binary linked with -E=wharf_rt0 (see
// DormantEntry in dormant_linux.go). A process whose argv[0] is
// "wharf-shim-dormant" is a dormant shim: it polls the four descriptors
// named by argv[1..4] and, once one is ready, execs /proc/self/exe as
// `wharf shim --resume` with the environment it was given; it never
// starts the Go runtime, so it costs a few pages. Every other process
// continues at the Go runtime's own entry.

#include "textflag.h"

#define SYS_poll	7
#define SYS_nanosleep	35
#define SYS_execve	59
#define SYS_exit_group	231
#define POLLIN	1
#define EINTR	4

TEXT wharf_rt0(SB),NOSPLIT|NOFRAME,$0
	MOVQ	0(SP), R13		// argc
	MOVQ	8(SP), AX		// argv[0]
	LEAQ	dormantName<>(SB), BX
name:
	MOVBLZX	(AX), CX
	MOVBLZX	(BX), DX
	CMPL	CX, DX
	JNE	goruntime
	TESTL	CX, CX
	JEQ	dormant
	INCQ	AX
	INCQ	BX
	JMP	name
goruntime:
	JMP	_rt0_amd64_linux(SB)

dormant:
	CMPQ	R13, $5
	JNE	fail
	MOVQ	SP, R12			// R12: argc, argv, envp as the kernel left them
	SUBQ	$128, SP		// pollfds at 0(SP), argv at 64(SP), timespec at 96(SP)
	XORQ	R8, R8
parse:
	MOVQ	16(R12)(R8*8), SI	// argv[1+R8]
	XORQ	AX, AX
	MOVBLZX	(SI), CX
	TESTL	CX, CX
	JEQ	fail
digit:
	MOVBLZX	(SI), CX
	TESTL	CX, CX
	JEQ	parsed
	SUBL	$'0', CX
	CMPL	CX, $9
	JHI	fail
	IMULQ	$10, AX
	ADDQ	CX, AX
	INCQ	SI
	JMP	digit
parsed:
	MOVL	AX, 0(SP)(R8*8)		// struct pollfd {int fd; short events, revents}
	MOVW	$POLLIN, 4(SP)(R8*8)
	MOVW	$0, 6(SP)(R8*8)
	INCQ	R8
	CMPQ	R8, $4
	JNE	parse
poll:
	MOVQ	SP, DI
	MOVQ	$4, SI
	MOVQ	$-1, DX
	MOVQ	$SYS_poll, AX
	SYSCALL
	CMPQ	AX, $-EINTR
	JEQ	poll
resume:
	LEAQ	resume0<>(SB), AX
	MOVQ	AX, 64(SP)
	LEAQ	resume1<>(SB), AX
	MOVQ	AX, 72(SP)
	LEAQ	resume2<>(SB), AX
	MOVQ	AX, 80(SP)
	MOVQ	$0, 88(SP)
	LEAQ	exePath<>(SB), DI
	LEAQ	64(SP), SI
	LEAQ	56(R12), DX		// envp: after argc, five argv and their NULL
	MOVQ	$SYS_execve, AX
	SYSCALL
	// The exec failed (out of memory?): the container still needs its
	// shim, so try again in a second.
	MOVQ	$1, 96(SP)
	MOVQ	$0, 104(SP)
	LEAQ	96(SP), DI
	XORQ	SI, SI
	MOVQ	$SYS_nanosleep, AX
	SYSCALL
	JMP	resume
fail:
	MOVQ	$2, DI
	MOVQ	$SYS_exit_group, AX
	SYSCALL
	JMP	fail

DATA dormantName<>+0(SB)/8, $"wharf-sh"
DATA dormantName<>+8(SB)/8, $"im-dorma"
DATA dormantName<>+16(SB)/3, $"nt\x00"
GLOBL dormantName<>(SB), RODATA, $19

DATA exePath<>+0(SB)/8, $"/proc/se"
DATA exePath<>+8(SB)/7, $"lf/exe\x00"
GLOBL exePath<>(SB), RODATA, $15

DATA resume0<>+0(SB)/6, $"wharf\x00"
GLOBL resume0<>(SB), RODATA, $6
DATA resume1<>+0(SB)/5, $"shim\x00"
GLOBL resume1<>(SB), RODATA, $5
DATA resume2<>+0(SB)/8, $"--resume"
DATA resume2<>+8(SB)/1, $"\x00"
GLOBL resume2<>(SB), RODATA, $9
