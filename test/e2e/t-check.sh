# criu check passes, and says which way the parasite and the restorer are
# stopped; its breakpoint probe agrees with an independent one.
. "$(dirname "$0")/lib.sh"

out=$(criu_t check 2>&1)
check "check: criu check looks good" grep -qx "Looks good." <<<"$out"
check "check: criu check names the stop method" grep -q "^Parasite and restorer stop " <<<"$out"
check "check: criu --version says 4.1.1" grep -q "^Version: 4.1.1" <<<"$(criu_t --version)"

probe=$(e2e_cc bp-probe) && fires=$("$probe")
if [ -z "${fires:-}" ]; then
	not_ok "check: the independent breakpoint probe ran"
else
	criu_t check --feature ptrace_breakpoints >/dev/null 2>&1 && criu=fires || criu="does not fire"
	check "check: criu finds a ptrace breakpoint $criu, as an independent probe does ($fires)" \
		test "$criu" = "$fires"
fi
exit $T_FAILED
