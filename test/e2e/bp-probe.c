/*
 * An independent check of whether an x86 hardware execute breakpoint set
 * through ptrace fires on this machine, to compare with what criu found
 * ('criu check --feature ptrace_breakpoints').  Prints "fires" or
 * "does not fire"; exits 2 when it cannot tell.
 */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static void __attribute__((noinline)) target(void)
{
	asm volatile("" ::: "memory");
}

int main(void)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		raise(SIGSTOP);
		target();
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status))
		return 2;
	if (ptrace(PTRACE_POKEUSER, pid, offsetof(struct user, u_debugreg[0]), (void *)target) ||
	    ptrace(PTRACE_POKEUSER, pid, offsetof(struct user, u_debugreg[7]), (void *)1UL) ||
	    ptrace(PTRACE_CONT, pid, NULL, NULL)) {
		perror("ptrace");
		kill(pid, SIGKILL);
		return 2;
	}
	if (waitpid(pid, &status, 0) != pid)
		return 2;
	if (WIFSTOPPED(status)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	puts(WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP ? "fires" : "does not fire");
	return 0;
}
